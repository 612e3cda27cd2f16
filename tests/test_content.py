"""How the pages teach: objectives and key points, exercises, breaks that ask before they tell,
solution pages that show the workbook's reference code, no drafting history, Spanish that reads as
Spanish, and the corrections that are numbers recomputed from the code."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from minituner.checkpoint import base_path
from minituner.course.workspace import EXERCISES
from minituner.figures import FIGURES
from minituner.grammar import conjugate_regular, make_splits
from pages import ENGLISH, FENCE, ROOT, numbers, prose, stored_output, twin

sys.path.insert(0, str(ROOT / "tools"))
import mkdocs_solutions as solutions  # noqa: E402


def pages(folder: str) -> list[Path]:
    return [page for path in ENGLISH if path.parent.name == folder for page in (path, twin(path))]


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def spanish(page: Path) -> bool:
    return page.name.endswith(".es.md")


def opened(line: str) -> tuple[int, str] | None:
    """(indentation, kind) of an admonition's opening line: '!!!', '???' or '???+'."""
    m = re.match(r"^( *)(!!!|\?\?\?\+?) \w+", line)
    return (len(m.group(1)), m.group(2)) if m else None


def enclosing(lines: list[str], index: int) -> list[str]:
    """The kinds of the admonitions that hold line `index`, innermost first."""
    indent = len(lines[index]) - len(lines[index].lstrip(" "))
    kinds = []
    for line in reversed(lines[:index]):
        if not line.strip():
            continue
        own = len(line) - len(line.lstrip(" "))
        if own < indent:
            found = opened(line)
            if found is None:
                break  # a less indented line that opens nothing: the block has ended
            kinds.append(found[1])
            indent = own
        if indent == 0:
            break
    return kinds


# --- objectives, key points and exercises --------------------------------------------------------

OBJECTIVES = {False: '!!! abstract "Learning objectives"', True: '!!! abstract "Objetivos de aprendizaje"'}
KEY_POINTS = {False: '!!! success "Key points"', True: '!!! success "Puntos clave"'}
REFERENCES = {"## References", "## Referencias"}


def block(lines: list[str], start: int) -> list[str]:
    """The indented body of the admonition opened at line `start`."""
    body = []
    for line in lines[start + 1 :]:
        if line.strip() and not line.startswith("    "):
            break
        body.append(line)
    return body


@pytest.mark.parametrize("page", pages("theory") + pages("lab"), ids=rel)
def test_a_page_opens_with_objectives_and_ends_with_key_points(page: Path) -> None:
    lines = page.read_text().splitlines()
    es = spanish(page)
    headings = [i for i, line in enumerate(lines) if line.startswith("## ")]
    starts = [i for i, line in enumerate(lines) if line.strip() == OBJECTIVES[es]]
    assert len(starts) == 1, f"one {OBJECTIVES[es]}"
    assert not headings or starts[0] < headings[0], "the learning objectives come before the first section"
    items = [line for line in block(lines, starts[0]) if re.match(r"\s{4}(-|\d+\.) ", line)]
    enough = 2 <= len(items) <= 4 if page.parent.name == "lab" else len(items) >= 2
    assert enough, f"{len(items)} learning objectives"
    ends = [i for i, line in enumerate(lines) if line.strip() == KEY_POINTS[es]]
    assert len(ends) == 1, f"one {KEY_POINTS[es]}"
    after = [lines[i] for i in headings if i > ends[0] and lines[i].strip() not in REFERENCES]
    assert not after, f"the key points close the page (only References may follow): {after}"
    assert [line for line in block(lines, ends[0]) if line.strip()], "the key points are empty"


EXERCISES_HEADING = {False: "## Exercises", True: "## Ejercicios"}
SOLUTION = {False: '??? success "Solution"', True: '??? success "Solución"'}


@pytest.mark.parametrize("page", pages("theory"), ids=rel)
def test_a_theory_page_has_three_exercises_with_collapsed_solutions(page: Path) -> None:
    text = page.read_text()
    es = spanish(page)
    assert EXERCISES_HEADING[es] in text.splitlines(), f"no {EXERCISES_HEADING[es]} section"
    section = text.split(f"\n{EXERCISES_HEADING[es]}\n", 1)[1].split("\n## ", 1)[0]
    word = "Ejercicio" if es else "Exercise"
    exercises = re.split(rf"^### {word} \d+ — \S.*$", section, flags=re.M)[1:]
    assert len(exercises) >= 3, f"{len(exercises)} exercises under {EXERCISES_HEADING[es]}"
    for n, exercise in enumerate(exercises, 1):
        assert SOLUTION[es] in exercise, f"exercise {n}: no collapsed {SOLUTION[es]} block"
        assert "???+" not in exercise, f"exercise {n}: a solution open by default (???+)"


# --- break pages ask before they tell ------------------------------------------------------------

OPEN_SECTIONS_THAT_TELL = {
    "## Observe", "## Symptom", "## Hidden cause", "## Fix", "## Why this teaches the concept",
    "## Observa", "## Síntoma", "## Causa oculta", "## Arreglo", "## Por qué esto enseña el concepto",
}


@pytest.mark.parametrize("page", [p for p in pages("break") if p.name[:2].isdigit()], ids=rel)
def test_a_break_page_asks_before_it_tells(page: Path) -> None:
    lines = page.read_text().splitlines()
    telling = [line for line in lines if line.strip() in OPEN_SECTIONS_THAT_TELL]
    assert not telling, f"open sections that give the answer away: {telling}"
    outputs = [i for i, line in enumerate(lines) if line.strip() == "```text"]
    assert outputs, "the observed output is on the page"
    for i in outputs:
        assert "???" in enclosing(lines, i), f"line {i + 1}: observed output outside a collapsed block"
    (fix,) = [i for i, line in enumerate(lines) if line.strip() == "<!-- fix-diff -->"]
    assert "???" in enclosing(lines, fix), "the fix diff outside a collapsed block"
    (change,) = [i for i, line in enumerate(lines) if line.strip() == "<!-- break-diff -->"]
    assert not enclosing(lines, change), "the break itself is shown in the open"
    runs = [i for i, line in enumerate(lines) if re.search(r"minituner break run \d\d", line)]
    assert any(not enclosing(lines, i) for i in runs), "the command that runs the break is in the open"
    first_answer = min(i for i, line in enumerate(lines) if "???" in line and "tip" not in line)
    questions = [i for i, line in enumerate(lines[:first_answer]) if re.match(r"\d\. ", line)]
    assert len(questions) >= 3, "three questions before any answer"
    collapsed = [line.strip() for line in lines if (opened(line) or (0, ""))[1] == "???"]
    for kind in ("note", "warning", "bug", "success"):
        assert any(line.startswith(f"??? {kind} ") for line in collapsed), f"no collapsed ??? {kind} block"
    assert not [line for line in lines if line.lstrip().startswith("???+")], "a block open by default"


# --- solution pages show the workbook's reference code -------------------------------------------


@pytest.mark.parametrize("name", EXERCISES[1:], ids=str)
def test_a_solution_page_shows_every_function_the_workbook_asks_for(name: str) -> None:
    lab = name[:2]
    code = solutions.regions(solutions.source(lab))
    assert len(code) >= 3, f"{lab}: the workbook's solution regions were not found"
    for page in (ROOT / f"solutions/{name}.md", ROOT / f"solutions/{name}.es.md"):
        text = page.read_text()
        rendered = solutions.on_page_markdown(
            text, SimpleNamespace(file=SimpleNamespace(src_uri=f"solutions/{page.name}"))
        )
        lines = text.splitlines()
        for function, source in code.items():
            marker = f"<!-- solution: {function} -->"
            (at,) = [i for i, line in enumerate(lines) if line.strip() == marker]
            assert enclosing(lines, at)[:1] == ["???"], f"{page.name}: {function} not in a collapsed block"
            block = "".join("    " + line for line in f"```python\n{source}```".splitlines(keepends=True))
            assert block in rendered, f"{page.name}: {function} is not the workbook's reference code"


def test_the_solution_hook_refuses_a_page_that_misses_a_function() -> None:
    page = ROOT / "solutions/01-lora-counts.md"
    text = page.read_text().replace("<!-- solution: break_even_rank -->", "")
    page_object = SimpleNamespace(file=SimpleNamespace(src_uri="solutions/01-lora-counts.md"))
    with pytest.raises(ValueError, match="break_even_rank"):
        solutions.on_page_markdown(text, page_object)


# --- no drafting history -------------------------------------------------------------------------

# A random seed is a word of the course (glossary: seed, semilla); the numbered seeds the course was
# drafted from (seed 002) are not.
DRAFTING = re.compile(r"\b(draft|borrador)(s|es|ed|ing)?\b|\b(seed|semilla)s? \d{3}\b", re.I)
PROSE_PAGES = sorted(
    [page for path in ENGLISH for page in (path, twin(path)) if path.name != "glossary.md"]
    + [ROOT / "README.md", ROOT / "README.es.md", *sorted((ROOT / "learners").glob("README*.md"))]
)  # the glossary names the words to avoid: it is the one page that may say them


def markdown_of_notebook(path: Path) -> str:
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text())["cells"]
        return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    cells = re.split(r"^# %%", path.read_text(), flags=re.M)
    return "\n".join(
        re.sub(r"^# ?", "", cell, flags=re.M) for cell in cells if cell.startswith(" [markdown]")
    )


NOTEBOOK_SOURCES = [
    *sorted((ROOT / "notebooks").glob("*.ipynb")),
    *sorted((ROOT / "tools/notebooks").glob("*.py")),
]


@pytest.mark.parametrize("path", PROSE_PAGES + NOTEBOOK_SOURCES, ids=rel)
def test_no_drafting_history_in_what_a_learner_reads(path: Path) -> None:
    text = path.read_text() if path.suffix == ".md" else markdown_of_notebook(path)
    text = re.sub(r"<!--.*?-->", " ", prose(text), flags=re.S)
    said = [line.strip() for line in text.splitlines() if DRAFTING.search(line)]
    assert not said, f"drafting history in prose (a draft, seed 002): {said}"


# --- Spanish -------------------------------------------------------------------------------------

WITHOUT_GLOSSARY = [p for p in ENGLISH if p.name != "glossary.md"]
CALQUES = {
    r"\bdentro de \d": "con una tolerancia de …",
    r"\bfracción de un uno por ciento": "menos del uno por ciento",
    r"\bpuerta de un solo sentido": "una operación sin vuelta atrás",
    r"\bdecisiones pequeñas deciden": "tres pequeñas elecciones determinan",
    r"\btiempo real\b": "tiempo de reloj (wall time)",
    r"\bsin repetición\b": "sin repaso (*replay*)",
    r"\b(?:celda|comprobación)\s+imprimiendo\b": "una celda que imprime ✓",
    r"\bel MLP solo\b(?!\s+\d)": "el MLP por sí solo",
}


@pytest.mark.parametrize("path", WITHOUT_GLOSSARY, ids=lambda p: rel(twin(p)))
def test_spanish_avoids_the_known_calques(path: Path) -> None:
    text = prose(twin(path).read_text())
    found = [
        f"{m.group(0)!r}: {fix}" for calque, fix in CALQUES.items() for m in re.finditer(calque, text, re.I)
    ]
    assert not found, found


MATH = re.compile(r"\\\[.*?\\\]|\\\(.*?\\\)|\$\$.*?\$\$|(?<![\\$])\$[^$\n]+\$", re.S)


def formulas(text: str) -> list[str]:
    """The formulas of a page, \\(...\\), \\[...\\], $...$ and $$...$$, outside code."""
    text = re.sub(r"`[^`]*`", " ", FENCE.sub(" ", text))
    return MATH.findall(text)


def spanish_number_slips(text: str) -> list[str]:
    """Numbers in English or Python format in Spanish markdown: in prose and in tables 103 680,
    2304, 0,64 and 15,09 %; in formulas 103\\,680, 2304\\,r and 1{,}5 (TeX drops a plain space and
    puts one after a bare comma). Code blocks and inline code keep Python's format. A table's 1,215 is
    a decimal comma: its twin's 1,215 or 1.215 tells them apart (pages.numbers)."""
    wrong = []
    for line in prose(text).splitlines():
        wrong += re.findall(r"(?<![\w.,:])\d{1,3}(?:,\d{3}){2,}(?!\d)", line)  # 6,738,415,616
        wrong += re.findall(r"(?<![\w.,:])\d{2,3},\d{3}(?![\d,]| ?%)", line)  # 18,432
        wrong += re.findall(r"(?<![\w.,:])\d+(?:[.,]\d+)?%", line)  # 15,09% or 15.09%: no space
        wrong += re.findall(r"(?<![\w.,:])\d+\.\d+ ?%", line)  # a decimal point
        wrong += re.findall(r"(?<![\w.,:])\d{5,}(?!\d|[.,]\d)", line)  # 103680: ungrouped
        wrong += re.findall(r"(?<![\w.,: -])\d (?:\d{3})(?!\w)(?! \d{3})", line)  # 2 304: four digits
        if line.lstrip().startswith("|"):  # a table: 0.64 (prose keeps §4.1 and Python 3.11)
            wrong += re.findall(r"(?<![\w.,:§])\d+\.\d+(?![\w.])", line)
    for formula in formulas(text):
        wrong += re.findall(r"(?<![\d}])\d+\.\d+", formula)  # 1.5: 1{,}5
        wrong += re.findall(r"(?<![\d}])[1-9]\d{0,2}(?:\{,\}\d{3})+(?!\d)", formula)  # 2{,}304: 2304
        wrong += re.findall(r"(?<![\d}])\d{5,}", formula)  # 103680: 103\,680
        wrong += re.findall(r"(?<![\d}{,])\d\\,\d{3}(?!\d|\\,\d)", formula)  # 2\,304: 2304
        wrong += re.findall(r"\d \d{3}(?!\d)", formula)  # 103 680: TeX prints 103680
        wrong += re.findall(r"\d\\%", formula)  # 18{,}75\%: 18{,}75\,\%
    return wrong


def test_the_spanish_number_check_reads_tables_and_formulas() -> None:
    good = (
        "103 680, 2304, 15,09 %\n| 4096 | 103 680 | 0,64 | 17,78 % |\n\\(2304\\,r\\), \\(1{,}5\\,r/h\\), "
        "\\(103\\,680\\), \\(\\eta = 0{,}01\\), \\(0{,}125\\), \\(18{,}75\\,\\%\\), §4.1, Python 3.11"
    )
    assert spanish_number_slips(good) == []
    bad = {
        "| 18,432 | x |": ["18,432"], "| 13,476,831,232 |": ["13,476,831,232"], "| 0.64 |": ["0.64"],
        "| 18.75% |": ["18.75%", "18.75%", "18.75"], "\\(2{,}304\\,r\\)": ["2{,}304"],
        "\\(1.5\\,r/h\\)": ["1.5"], "$\\eta = 0.01$": ["0.01"], "$$103680$$": ["103680"],
        "\\[2\\,304\\]": ["2\\,304"], "\\(103 680\\)": ["3 680"], "\\(25\\%\\)": ["5\\%"],
    }
    for text, slips in bad.items():
        assert spanish_number_slips(text) == slips, text


SPANISH_MARKDOWN = [
    *(twin(p) for p in ENGLISH),
    *sorted((ROOT / "learners").glob("*.es.md")),
    ROOT / "tools/benchmark-results.es.md",
    ROOT / "README.es.md",
    *(p for p in sorted((ROOT / "tools/notebooks").glob("*.py")) if p.name != "build.py"),
]


def spanish_markdown(path: Path) -> str:
    if path.suffix == ".py":  # a notebook source: its Spanish markdown cells
        cells = re.split(r"^# %%", path.read_text(), flags=re.M)
        spanish_cells = [cell for cell in cells if cell.startswith(' [markdown] lang="es"')]
        return "\n".join(re.sub(r"^# ?", "", cell, flags=re.M) for cell in spanish_cells)
    return path.read_text()


@pytest.mark.parametrize("path", SPANISH_MARKDOWN, ids=rel)
def test_spanish_numbers_follow_spanish_usage(path: Path) -> None:
    """Prose, tables and formulas: 103 680 and 2304, 15,09 %, 1{,}5\\,r/h."""
    wrong = spanish_number_slips(spanish_markdown(path))
    assert not wrong, f"Spanish writes 103 680, 2304, 0,64 and 15,09 % (1{{,}}5 in a formula): {wrong}"


def test_the_benchmark_writes_its_spanish_tables_in_spanish() -> None:
    import bench

    speed = [("1024→1024", "8", "16", "fwd+bwd", "2,589.7 µs", "53,360.3 µs", "9.3 µs", "0.7 µs", "1.00")]
    merged = [("64→64", "16", "18.8 µs", "20.7 µs", "1.104")]
    setup = {"versions": "torch 2.13.0", "threads": 2, "machine": "x86_64, Python 3.11.7"}
    spanish = bench.render("es", setup, speed, [1.17, 0.56], merged, bench.memory_rows())
    assert "| 2589,7 µs | 53 360,3 µs |" in spanish and "| 6 738 415 616 |" in spanish
    assert "peor 1,17, mejor 0,56" in spanish and spanish_number_slips(spanish) == []
    english = bench.render("en", setup, speed, [1.17, 0.56], merged, bench.memory_rows())
    assert "| 2,589.7 µs | 53,360.3 µs |" in english and "worst 1.17, best 0.56" in english


@pytest.mark.parametrize("path", SPANISH_MARKDOWN, ids=rel)
def test_the_placeholder_of_a_name_is_nombre_in_spanish(path: Path) -> None:
    """learners/NOMBRE/ and --learner NOMBRE, in prose and in code blocks alike: a word for the reader."""
    found = re.findall(r".{0,30}\bNAME\b", spanish_markdown(path))
    assert not found, found


FEMININE_LINEAR = re.compile(
    r"\b(?:la|una|esa|esta|ninguna|otra|misma)\s+`?nn\.Linear\b"
    r"|\bnn\.Linear`?(?:\([^)]*\))?`?\s+(?:congelada|elegida|envuelta|adaptada|cuadrada)\b",
    re.I,
)


@pytest.mark.parametrize("path", SPANISH_MARKDOWN, ids=rel)
def test_nn_linear_is_masculine_in_spanish(path: Path) -> None:
    """el nn.Linear, un nn.Linear congelado: one gender for the module on every Spanish page."""
    text = FENCE.sub(" ", spanish_markdown(path))
    assert not FEMININE_LINEAR.findall(text), FEMININE_LINEAR.findall(text)


# --- the corrections that are numbers, recomputed ------------------------------------------------

MY_PAGES = [*(p for folder in ("lab", "break", "solutions", "docs") for p in pages(folder))]
MY_PAGES += [ROOT / "README.md", ROOT / "README.es.md"]


def test_the_regular_cells_among_the_irregular_ones_are_counted() -> None:
    irregular = make_splits().irregular
    regular = sum(e.answer == conjugate_regular(e.verb, e.tense, e.person) for e in irregular)
    assert (regular, len(irregular)) == (34, 120)
    claims = {
        "docs/index.md": f"{regular} of them follow the regular rule",
        "docs/index.es.md": f"{regular} de ellas siguen la regla regular",
        "lab/02-lora-finetune.md": f"{regular} of the {len(irregular)} cells follow the regular rule",
        "lab/02-lora-finetune.es.md": f"{regular} de las {len(irregular)} celdas siguen la regla regular",
    }
    for page, claim in claims.items():
        assert claim in " ".join((ROOT / page).read_text().split()), f"{page}: {claim!r}"
    base = FIGURES["base.irregular"].value
    assert base < regular / len(irregular), "the base knows less than the rules would give it"


def test_the_adapter_example_is_what_notebook_03_prints() -> None:
    printed = re.search(r"^irregular +adapter: (\[.*?\])", stored_output("03-merge-and-ship"), re.M)
    assert printed, "notebook 03 no longer prints the swap cell"
    answers = printed.group(1)
    assert answers == "['tingo', 'hizo', 'voy']", "notebook 03's answers changed: update the pages"
    wrong = round((1 - FIGURES["lora.r8.irregular"].value) * 120)
    assert wrong == 4
    claims = re.compile(r"teaches (the model |it )?\*?`?tengo|enseña al modelo \*?tengo")
    for page in ("README.md", "docs/index.md", "docs/index.es.md", "lab/03-merge-and-ship.md",
                 "lab/03-merge-and-ship.es.md"):
        text = (ROOT / page).read_text()
        assert answers in text, f"{page} does not show what the shipped adapter answers"
        assert not claims.search(text), f"{page} says the adapter teaches tengo: it writes tingo"
    for page in ("docs/index.md", "lab/03-merge-and-ship.md"):
        assert f"{wrong} of the 120" in " ".join((ROOT / page).read_text().split()), page


def test_the_base_file_size_is_the_one_notebook_01_prints() -> None:
    size = base_path().stat().st_size
    assert f"base: {size:,} bytes on disk" in stored_output("01-lora-counts")
    for name in ("theory/05-lora-on-mini-gpt-exact-count", "lab/03-merge-and-ship"):
        for page in (ROOT / f"{name}.md", ROOT / f"{name}.es.md"):
            text = " ".join(page.read_text().split())
            said = f"{size:,}".replace(",", " ") if spanish(page) else f"{size:,}"
            assert f"{said} bytes" in text and "415 KB" not in text, f"{rel(page)}: the base is {said} bytes"


def test_theory_01_credits_notebook_01_only_with_what_it_prints() -> None:
    printed = stored_output("01-lora-counts")
    assert "6,742,609,920" in printed and "107,814,649,856" not in printed  # counts, not memory bills
    for page, says in (("theory/01-why-lora.md", "no notebook prints them"),
                       ("theory/01-why-lora.es.md", "ningún cuaderno las imprime")):
        (paragraph,) = [p for p in paragraphs((ROOT / page).read_text()) if "01-lora-counts.ipynb" in p]
        assert says in paragraph, f"{page}: notebook 01 does not print the memory bill"


def test_the_held_out_cells_are_counted_as_cells_of_100_verbs() -> None:
    heldout = make_splits().heldout
    cells, verbs = len(heldout), len({e.verb for e in heldout})
    assert (cells, verbs) == (1500, 100)
    source = ROOT / "tools/notebooks/02_lora_finetune.py"
    text = " ".join(markdown_of_notebook(source).split())
    assert f"{cells:,} held-out regular cells ({verbs} verbs" in text
    assert f"{cells} celdas regulares reservadas ({verbs} verbos" in text
    for path in [*PROSE_PAGES, *NOTEBOOK_SOURCES]:
        text = " ".join((path.read_text() if path.suffix == ".md" else markdown_of_notebook(path)).split())
        wrong = re.findall(r"1[,  ]?500 (?:held-out regular verbs|verbos regulares reservados)", text)
        assert not wrong, f"{rel(path)}: {wrong}: 1,500 cells of {verbs} verbs"


def test_the_accuracy_per_tense_is_the_printed_one() -> None:
    per_tense = re.search(r"per tense, r=8 with replay: (\{.*\})", stored_output("02-lora-finetune"))
    assert per_tense
    presente = re.search(r"'presente': '(\d+)%'", per_tense.group(1))
    assert presente
    for page in ("lab/02-lora-finetune.md", "docs/index.md"):
        assert f"presente: {presente.group(1)}%" in (ROOT / page).read_text(), page
    for page in ("lab/02-lora-finetune.es.md", "docs/index.es.md"):
        assert f"presente: {presente.group(1)} %" in (ROOT / page).read_text(), page


def paragraphs(text: str) -> list[str]:
    return [" ".join(p.split()) for p in re.split(r"\n\s*\n", prose(text))]


def shown(figure: str, page: Path) -> str:
    f = FIGURES[figure]
    return f.show(f.value).replace(".", ",").replace("%", " %") if spanish(page) else f.show(f.value)


@pytest.mark.parametrize("page", MY_PAGES, ids=rel)
def test_full_fine_tuning_against_lora_is_one_run(page: Path) -> None:
    caveat = r"una sola ejecución" if spanish(page) else r"one run"
    for paragraph in paragraphs(page.read_text()):
        if shown("full.irregular", page) in paragraph:
            assert re.search(caveat, paragraph), f"full fine-tuning without '{caveat}': {paragraph[:160]}"


@pytest.mark.parametrize("page", MY_PAGES, ids=rel)
def test_irregular_accuracy_is_said_to_be_measured_on_the_training_cells(page: Path) -> None:
    said = r"conjunto de entrenamiento|memoriza" if spanish(page) else r"training set|memoris"
    trained = [name for name in FIGURES if name.endswith(".irregular") and not name.startswith("base.")]
    figures = [shown(name, page) for name in trained]
    quoted = [p for p in paragraphs(page.read_text()) if any(f in p and "±" in p for f in figures)]
    says_so = bool(re.search(said, page.read_text()))
    assert says_so or not quoted, f"{rel(page)} quotes irregular accuracy: say that it is the training set"


@pytest.mark.parametrize("page", [p for p in pages("lab") if p.name.startswith("04-")], ids=rel)
def test_lab_04_cites_dora_pissa_and_olora(page: Path) -> None:
    text = page.read_text()
    for arxiv in ("2402.09353", "2404.02948", "2406.01775"):
        assert f"arXiv:{arxiv}" in text, arxiv


def test_the_numbers_helper_reads_both_languages() -> None:
    assert numbers("103,680 and 2,304 and 17.78% and 2021") == ["103680", "17.78%", "2021", "2304"]
    assert numbers("103 680 y 2304 y 17,78 % y 2021", spanish=True) == ["103680", "17.78%", "2021", "2304"]
    assert numbers("| 18 432 | 17,78 % |", spanish=True) == ["17.78%", "18432"]
    assert numbers("| 18,432 | 17.78% |", spanish=True) == []  # Python's format in a Spanish table
    assert numbers("arXiv:2106.09685, 1.5·r/h, float16") == numbers("arXiv:2106.09685", spanish=True) == []


def test_lab_01_is_the_learners_computation_not_a_copy_of_the_theory_tables() -> None:
    for page in pages("lab"):
        if page.name.startswith("01-"):
            rows = [line for line in page.read_text().splitlines() if line.startswith("|")]
            counts = [row for row in rows if numbers(row, spanish(page))]
            assert not counts, f"{page.name}: a table of counts that theory 05 or notebook 01 already shows"
