# %% [markdown] lang="en"
# # Break BREAK_ID — BREAK_TITLE
#
# **Predict first.** Before you run anything, write in `learners/<you>/phase-28/notes/breaks.md`
# what you expect this bug to do (the page `break/BREAK_ID-BREAK_SLUG.md` asks the questions). Then run
# the cells: the first shows the bug as a diff of `lora.py`, the second loads that broken `lora.py`
# in memory (no file is written) and prints what it does, the third prints what the reference code
# does on the same experiment.

# %% [markdown] lang="es"
# # Break BREAK_ID — BREAK_TITLE
#
# **Predice primero.** Antes de ejecutar nada, escribe en `learners/<tú>/phase-28/notes/breaks.md`
# qué esperas que haga este error (la página `break/BREAK_ID-BREAK_SLUG.es.md` plantea las preguntas).
# Después ejecuta las celdas: la primera muestra el error como un diff de `lora.py`, la segunda carga
# ese `lora.py` roto en memoria (no se escribe ningún archivo) e imprime lo que hace, y la tercera
# imprime lo que hace el código de referencia con el mismo experimento.

# %%
from minituner import lora as reference
from minituner.course import breaks

print(breaks.diff("BREAK_ID"))

# %% [markdown] lang="en"
# ## With the bug

# %% [markdown] lang="es"
# ## Con el error

# %%
broken = breaks.broken_module("BREAK_ID")
for line in breaks.observe("BREAK_ID", broken):
    print(line)

# %% [markdown] lang="en"
# ## With the reference code

# %% [markdown] lang="es"
# ## Con el código de referencia

# %%
for line in breaks.observe("BREAK_ID", reference):
    print(line)
print("caught by the contract test", breaks.get("BREAK_ID").catching_test)

# %% [markdown] lang="en"
# Compare with your prediction: which part held, which did not? Then fix it for real:
# `minituner break start BREAK_ID --learner NAME` writes this broken `lora.py` into your workspace
# (`learners/NAME/phase-28/breaks/BREAK_ID/lora.py`); fix that file by hand, and
# `minituner break check BREAK_ID --learner NAME` tells you when your fix works.

# %% [markdown] lang="es"
# Compara con tu predicción: ¿qué parte se cumplió y cuál no? Después arréglalo de verdad:
# `minituner break start BREAK_ID --learner NOMBRE` escribe este `lora.py` roto en tu espacio de
# trabajo (`learners/NOMBRE/phase-28/breaks/BREAK_ID/lora.py`); arregla ese archivo a mano y
# `minituner break check BREAK_ID --learner NOMBRE` te dice cuándo funciona tu arreglo.
