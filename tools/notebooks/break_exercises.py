# Notebooks of the /break exercises (break/NN-slug.md): one per break, generated from the catalogue.
from build import code, md

from minituner.breaks import CATALOGUE


def cells(brk):
    return [
        md(
            f"""
# Break {brk.id} — {brk.title}

**Predict first.** Before you run anything, write in `learners/<you>/phase-28/notes/breaks.md`
what you expect this bug to do (the page `break/{brk.id}-{brk.slug}.md` asks the questions). Then run
the cells: the first shows the bug as a diff of `src/minituner/lora.py`, the second loads that
broken `lora.py` in memory (the file on disk is not touched) and prints what it does, the third
prints what the reference code does on the same experiment.
""",
            f"""
# Break {brk.id} — {brk.title_es}

**Predice primero.** Antes de ejecutar nada, escribe en `learners/<tú>/phase-28/notes/breaks.md`
qué esperas que haga este error (la página `break/{brk.id}-{brk.slug}.es.md` plantea las preguntas).
Después ejecuta las celdas: la primera muestra el error como un diff de `src/minituner/lora.py`, la
segunda carga ese `lora.py` roto en memoria (el archivo en disco no se toca) e imprime lo que hace,
y la tercera imprime lo que hace el código de referencia con el mismo experimento.
""",
        ),
        code(
            f"""
from minituner import breaks
from minituner import lora as reference

print(breaks.diff("{brk.id}"))
"""
        ),
        md("## With the bug", "## Con el error"),
        code(
            f"""
broken = breaks.broken_module("{brk.id}")
for line in breaks.observe("{brk.id}", broken):
    print(line)
"""
        ),
        md("## With the reference code", "## Con el código de referencia"),
        code(
            f"""
for line in breaks.observe("{brk.id}", reference):
    print(line)
print("caught by: tests/test_minituner.py::" + breaks.get("{brk.id}").catching_test)
"""
        ),
        md(
            """
Compare with your prediction: which part held, which did not? Then fix it for real:
`minituner break start` applies this bug to your tree, `minituner break check` tells you when
your fix works, and `minituner break reset` puts the pristine file back.
""",
            """
Compara con tu predicción: ¿qué parte se cumplió y cuál no? Después arréglalo de verdad:
`minituner break start` aplica este error a tu árbol, `minituner break check` te dice cuándo
funciona tu arreglo y `minituner break reset` devuelve el archivo intacto.
""",
        ),
    ]


NOTEBOOKS = {f"break-{b.id}-{b.slug}": cells(b) for b in CATALOGUE}
