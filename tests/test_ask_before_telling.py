"""Ask before telling, everywhere: a break page asks for a hypothesis before it gives its own, no
page shows a lab's result in the open before the lab that measures it, the solved lab notebooks sit
under Solutions, and every step of a lab page names the exercise, check or prediction of its
workbook that it is about."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import yaml

import minituner
from minituner import checkpoint, evaluate, grammar, interop, lora, model, recipes, train
from minituner.course.workspace import (
    EXERCISES,
    PREDICTION,
    REFERENCE_ONLY,
    check_ids,
    exercise_path,
    is_check,
)
from minituner.figures import FIGURES

ROOT = Path(__file__).parent.parent
FENCE = re.compile(r"^([ \t]*)```.*?^\1```", re.S | re.M)  # also fences inside lists and admonitions
ADMONITION = re.compile(r"^( *)(!!!|\?\?\?\+?) \w+")


def twin(path: Path) -> Path:
    return path.with_name(path.name[: -len(".md")] + ".es.md")


def spanish(page: Path) -> bool:
    return page.name.endswith(".es.md")


def rel(page: Path) -> str:
    return str(page.relative_to(ROOT))


def unfolded(text: str, code: bool = False) -> str:
    """What a reader sees without opening anything: the page without its collapsed `???` blocks
    (a `???+` block is open), and without code blocks and inline code unless `code`. A block ends
    at the first non-blank line indented no deeper than its marker."""
    if not code:
        text = FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    kept: list[str] = []
    blocks: list[tuple[int, bool]] = []  # (indentation of the marker, collapsed) of the open blocks
    for line in text.splitlines():
        if line.strip():
            indent = len(line) - len(line.lstrip(" "))
            while blocks and indent <= blocks[-1][0]:
                blocks.pop()
            marker = ADMONITION.match(line)
            if marker:
                if not any(collapsed for _, collapsed in blocks):
                    kept.append(line)  # a block's title is shown even when its body is not
                blocks.append((len(marker.group(1)), marker.group(2) == "???"))
                continue
        if not any(collapsed for _, collapsed in blocks):
            kept.append(line)
    text = "\n".join(kept)
    return text if code else re.sub(r"`[^`\n]*`", " ", text)


def test_unfolded_leaves_out_collapsed_blocks_and_code() -> None:
    page = (
        'Open 1.0%.\n\n??? note "Later"\n    Hidden 2.0%.\n\n    ```text\n    3.0%\n    ```\n\n'
        '!!! warning "Now"\n    Shown 4.0%.\n\n    ??? tip "Nested"\n        Hidden 5.0%.\n\n'
        '???+ note "Open"\n    Shown 6.0% and `7.0%`.\n\nBack 8.0%.\n'
    )
    assert re.findall(r"\d\.0%", unfolded(page)) == ["1.0%", "4.0%", "6.0%", "8.0%"]
    assert "Later" in unfolded(page) and "Nested" in unfolded(page)
    assert "3.0%" not in unfolded(page, code=True) and "7.0%" in unfolded(page, code=True)


# --- the site's order, and the pages in it ---------------------------------------------------------


def nav() -> list[tuple[str, str]]:
    """Every page of mkdocs.yml's nav, in order: (top-level section, path under docs/)."""
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())

    def walk(items: list[object], section: str) -> list[tuple[str, str]]:
        found = []
        for item in items:
            if isinstance(item, str):
                found.append((section, item))
            else:
                assert isinstance(item, dict)
                for title, value in item.items():
                    inner = section or title
                    found += walk(value, inner) if isinstance(value, list) else [(inner, value)]
        return found

    return walk(config["nav"], "")


PAGES = [path for _, path in nav() if path.endswith(".md")]


def page_file(path: str, es: bool = False) -> Path:
    page = ROOT / "docs" / path
    return twin(page) if es else page


def after(lab: str) -> set[str]:
    """The nav pages that come after a lab's page."""
    return set(PAGES[PAGES.index(f"lab/{lab}.md") + 1 :])


# --- break pages: the hypothesis is a question, the course's own waits in a collapsed block ------

BREAKS = sorted(p for p in (ROOT / "break").glob("0*.md") if not spanish(p))
HYPOTHESIS = {False: "## Hypothesis", True: "## Hipótesis"}
THEIRS = {
    False: re.compile(r'^\?\?\? note ".*hypothesis', re.I),
    True: re.compile(r'^\?\?\? note ".*hipótesis', re.I),
}
NOTES = {False: r"\bnotes\b", True: r"\bnotas\b"}


@pytest.mark.parametrize("page", [p for path in BREAKS for p in (path, twin(path))], ids=rel)
def test_a_break_page_asks_for_a_hypothesis_before_it_states_one(page: Path) -> None:
    es = spanish(page)
    text = page.read_text()
    assert f"\n{HYPOTHESIS[es]}\n" in text, f"no {HYPOTHESIS[es]} section"
    section = text.split(f"\n{HYPOTHESIS[es]}\n", 1)[1].split("\n## ", 1)[0]
    shown = " ".join(unfolded(section, code=True).split())
    sentences = [s for s in re.split(r"(?<=[.?!])\s+(?=[A-Z¿¡])", shown) if s]
    assert any(s.endswith("?") for s in sentences), f"the open {HYPOTHESIS[es]} asks nothing: {shown[:120]}"
    statements = [s for s in sentences if not s.endswith("?") and not re.search(NOTES[es], s)]
    assert not statements, f"the open {HYPOTHESIS[es]} states what the learner should predict: {statements}"
    lines = text.splitlines()
    questions = [i for i, line in enumerate(lines) if re.match(r"\d\. ", line)]
    theirs = [i for i, line in enumerate(lines) if THEIRS[es].match(line)]
    assert len(theirs) == 1, "the course's hypothesis is not in one collapsed ??? note block"
    assert len(questions) >= 3 and theirs[0] > questions[2], (
        "the course's hypothesis comes before the questions"
    )
    body = []
    for line in lines[theirs[0] + 1 :]:
        if line.strip() and not line.startswith("    "):
            break
        body.append(line)
    assert len(" ".join(body).split()) >= 25, "the collapsed hypothesis block is empty"


# --- no lab result before the lab that measures it -----------------------------------------------


def stored_output(notebook: str) -> str:
    cells = json.loads((ROOT / "notebooks" / f"{notebook}.ipynb").read_text())["cells"]
    return "\n".join(
        "".join(o.get("text", "")) for c in cells if c["cell_type"] == "code" for o in c["outputs"]
    )


RANKS = (1, 2, 4, 8, 16, 32)
# Which measured figures of figures.toml each lab asks the learner to predict: the prediction cell of
# its workbook (or the question of its page, beyond the workbook) and the figures that answer it.
ASKED: dict[str, dict[str, set[str]]] = {
    "02-lora-finetune": {
        "02.base": {"base.irregular", "base.heldout"},
        "02.rank": {f"lora.r{r}.{m}" for r in (1, 8) for m in ("irregular", "retention")},
        "02.budget": {"lora.r8.irregular"},  # the placement on all 12 Linears is the rank-8 run
        "the full sweep (beyond the workbook)": {
            f"{run}.{m}"
            for run in [f"lora.r{r}" for r in RANKS] + ["full"]
            for m in ("irregular", "retention")
        },
        "without replay (beyond the workbook)": {"alone.irregular", "alone.retention"},
        "one run is not a law (pitfall 5)": {
            f"{run}.irregular.seed{s}" for run in ("lora.r8", "full") for s in (1, 2)
        },
    },
}


def measured_by(lab: str) -> set[str]:
    return {name for name in FIGURES if f"{name}: measured" in stored_output(lab)}


def test_every_figure_a_lab_measures_first_is_asked_by_that_lab() -> None:
    seen: set[str] = set()
    for lab in EXERCISES:
        first = measured_by(lab) - seen
        asked = set().union(*ASKED.get(lab, {}).values())
        assert first <= asked, (
            f"{lab} measures {sorted(first - asked)}: say which of its questions asks for them"
        )
        assert asked <= set(FIGURES), sorted(asked - set(FIGURES))
        seen |= first
    workbook = {
        lab: PREDICTION.findall(json.dumps(json.loads(exercise_path(lab, "en").read_text()))) for lab in ASKED
    }
    for lab, questions in ASKED.items():
        cells = [q for q in questions if re.fullmatch(r"\d\d\.\w+", q)]
        assert cells and set(cells) <= set(workbook[lab]), (
            f"{lab}: not prediction cells of its workbook: {cells}"
        )


def shown(name: str, es: bool) -> str:
    f = FIGURES[name]
    return f.show(f.value).replace(".", ",").replace("%", " %") if es else f.show(f.value)


PERCENT = {False: re.compile(r"(?<![\w.,])\d+\.\d%"), True: re.compile(r"(?<![\w.,])\d+,\d %")}


def other_results() -> dict[str, dict[bool, set[str]]]:
    """Results that are not figures of figures.toml: what the shipped adapter answers in lab 03's
    swap cell, and lab 02's accuracy per tense where it is not 100%."""
    swap = re.search(r"^irregular +adapter: (\[.*?\])", stored_output("03-merge-and-ship"), re.M)
    tenses = re.search(r"per tense, r=8 with replay: (\{.*\})", stored_output("02-lora-finetune"))
    assert swap and tenses, "notebooks 02 and 03 no longer print what the pages quote"
    answers = set(re.findall(r"'(\w+)'", swap.group(1))) - {"hizo", "voy"}  # words pages use anyway
    per_tense = re.findall(r"'(\w+)': '(\d+)%'", tenses.group(1))
    return {
        "03-merge-and-ship": {False: answers, True: answers},
        "02-lora-finetune": {
            False: {f"{t}: {v}%" for t, v in per_tense if v != "100"},
            True: {f"{t}: {v} %" for t, v in per_tense if v != "100"},
        },
    }


@pytest.mark.parametrize("path", PAGES, ids=str)
def test_no_page_shows_a_lab_result_in_the_open_before_that_lab(path: str) -> None:
    others = other_results()
    for es in (False, True):
        page = page_file(path, es)
        prose = unfolded(page.read_text())
        everything = unfolded(page.read_text(), code=True)
        found = set(PERCENT[es].findall(prose))
        for lab in EXERCISES:
            if path in after(lab):
                continue
            figures = {shown(n, es) for questions in ASKED.get(lab, {}).values() for n in questions}
            told = sorted(found & figures)
            assert not told, (
                f"{rel(page)} shows {lab}'s results in the open: {told}; collapse them (??? note)"
            )
            results = others.get(lab, {}).get(es, set())
            told = sorted(r for r in results if re.search(rf"(?<!\w){re.escape(r)}(?!\w)", everything))
            assert not told, (
                f"{rel(page)} shows {lab}'s results in the open: {told}; collapse them (??? note)"
            )


def test_the_nav_puts_the_labs_before_their_solutions_and_the_breaks() -> None:
    labs = [PAGES.index(f"lab/{lab}.md") for lab in EXERCISES]
    assert labs == sorted(labs) and PAGES.index("index.md") == 0
    assert all(PAGES.index(f"solutions/{lab}.md") > labs[-1] for lab in EXERCISES)
    assert all(PAGES.index(p) > labs[-1] for p in PAGES if p.startswith("break/"))


# --- the solved lab notebooks: under Solutions only ---------------------------------------------


def test_the_nav_has_the_solved_lab_notebooks_under_solutions_only() -> None:
    entries = nav()
    for lab in EXERCISES:
        sections = [section for section, path in entries if path == f"notebooks/{lab}.ipynb"]
        assert sections == ["Solutions"], f"notebooks/{lab}.ipynb is in the nav under {sections}"
    translations = yaml.safe_load((ROOT / "mkdocs.yml").read_text())["plugins"]
    i18n = next(p["i18n"] for p in translations if isinstance(p, dict) and "i18n" in p)
    spanish_titles = next(lang["nav_translations"] for lang in i18n["languages"] if lang["locale"] == "es")
    sections = {title for item in yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"] for title in item}
    inner = {
        title for title in re.findall(r"^ +- ([A-Z][\w ]+):\s*$", (ROOT / "mkdocs.yml").read_text(), re.M)
    }
    assert sections | inner <= set(spanish_titles), "a nav section without a Spanish title"


LINK = re.compile(r"\]\(([^)\s#]+)")


@pytest.mark.parametrize(
    "path", [p for p in PAGES if p.startswith(("theory/", "lab/")) or p == "index.md"], ids=str
)
def test_no_theory_or_lab_page_links_a_solved_lab_notebook(path: str) -> None:
    solved = {f"notebooks/{lab}.ipynb" for lab in EXERCISES}
    for es in (False, True):
        page = page_file(path, es)
        folder = Path(path).parent
        targets = {os.path.normpath(folder / t) for t in LINK.findall(FENCE.sub("", page.read_text()))}
        linked = sorted(targets & solved)
        assert not linked, f"{rel(page)} links the solved notebook {linked}: link the lab or its workbook"


# --- lab pages: every step names its exercise, check or prediction -------------------------------

TODOS = re.compile(r"^## (?:TODOs|Tareas \(TODO\))\n(.*?)(?=^## )", re.S | re.M)
ID = re.compile(r"`(\d\d\.\w+)`")


def steps(text: str) -> list[tuple[str, str]]:
    """The numbered steps of a lab page's TODOs, each with the heading of its block."""
    match = TODOS.search(text)
    assert match, "no TODOs section"
    found: list[tuple[str, list[str]]] = []
    heading, current = "", None
    for line in match.group(1).splitlines():
        if line.startswith("### "):
            heading, current = line, None
        elif re.match(r"\d+\. ", line):
            current = [line]
            found.append((heading, current))
        elif current is not None and (line.startswith(" ") or not line.strip()):
            current.append(line)
        else:
            current = None
    return [(h, "\n".join(s).strip()) for h, s in found]


def workbook(lab: str) -> tuple[set[str], str]:
    """A lab's ids (its check cells' checks and its prediction cells) from the learner's workbook, and
    the source of the reference workbook: the learner's cells with their solutions."""
    cells = json.loads(exercise_path(lab, "en").read_text())["cells"]
    ids = {i for c in cells if is_check(c) for i in check_ids(lab, "".join(c["source"]))}
    ids |= {
        i for c in cells if c["cell_type"] == "markdown" for i in PREDICTION.findall("".join(c["source"]))
    }
    reference = json.loads((ROOT / "notebooks" / f"{lab}.ipynb").read_text())["cells"]
    source = "\n".join(
        "".join(c["source"])
        for c in reference
        if not "".join(c["source"]).lstrip().startswith(REFERENCE_ONLY)
    )
    return ids, source


LIBRARY = {
    name
    for module in (minituner, checkpoint, evaluate, grammar, interop, lora, model, recipes, train)
    for name in dir(module)
    if not name.startswith("_") and callable(getattr(module, name))
}


def calls(step: str) -> set[str]:
    """The functions of minituner that a step's inline code calls: `finetune(load_base(), ...)` calls
    finetune and load_base."""
    spans = re.findall(r"`([^`\n]+)`", step)
    return {name for span in spans for name in re.findall(r"(\w+)\(", span) if name in LIBRARY}


@pytest.mark.parametrize(
    "page", [p for lab in EXERCISES for p in (ROOT / f"lab/{lab}.md", ROOT / f"lab/{lab}.es.md")], ids=rel
)
def test_every_step_of_a_lab_page_names_its_exercise_check_or_prediction(page: Path) -> None:
    lab = page.name.removesuffix(".es.md").removesuffix(".md")
    ids, source = workbook(lab)
    assert len(ids) >= 3, f"{lab}: the workbook's ids were not found"
    text = page.read_text()
    found = steps(text)
    assert len(found) >= 3, "no numbered steps in the TODOs"
    unnamed = [step[:70] for heading, step in found if not set(ID.findall(heading + step)) & ids]
    assert not unnamed, (
        f"steps that name no exercise, check or prediction of the workbook (`{lab[:2]}.x`): {unnamed}"
    )
    unknown = sorted(set(ID.findall(TODOS.search(text).group(1))) - ids)  # type: ignore[union-attr]
    assert not unknown, f"ids that the workbook does not have: {unknown}"
    unsaid = sorted(ids - set(ID.findall(text)))
    assert not unsaid, f"the workbook's {unsaid} are never named on the page"
    foreign = sorted(
        {(name, step[:50]) for _, step in found for name in calls(step) if f"{name}(" not in source}
    )
    assert not foreign, f"steps that call what the workbook never calls (of minituner): {foreign}"


# --- solution pages: the lab's blocks, and computed counts ----------------------------------------


def script(solution: Path) -> str:
    """The whole-lab script of a solution page: its one python block, unindented."""
    (code,) = re.findall(r"^    ```python\n(.*?)^    ```$", solution.read_text(), re.S | re.M)
    return re.sub(r"^    ", "", code, flags=re.M)


@pytest.mark.parametrize("lab", EXERCISES[1:], ids=str)
def test_a_solution_script_follows_the_blocks_of_its_lab_page(lab: str) -> None:
    blocks = re.findall(r"^### Block ([A-Z]) — ", (ROOT / f"lab/{lab}.md").read_text(), re.M)
    for page in (ROOT / f"solutions/{lab}.md", ROOT / f"solutions/{lab}.es.md"):
        labels = re.findall(r"^# Block ([A-Z])\b", script(page), re.M)
        assert labels == blocks, f"{rel(page)}: the script's blocks {labels}, the lab page's {blocks}"


def test_solution_01_computes_its_counts_and_types_them_only_in_assertions() -> None:
    for page in (ROOT / "solutions/01-lora-counts.md", ROOT / "solutions/01-lora-counts.es.md"):
        typed = [
            line.strip()
            for line in script(page).splitlines()
            if re.search(r"(?<![\w.])(?:\d{1,3}(?:_\d{3})+|\d{4,})(?![\w.])", line.split("#")[0])
            and not line.lstrip().startswith("assert")
        ]
        assert not typed, f"{rel(page)}: counts typed outside an assertion: {typed}"
