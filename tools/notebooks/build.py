"""Build the course notebooks from their bilingual sources and execute them.

Each source here (`NN_name.py`) is a notebook in jupytext's percent format: `# %%` code cells, shared by
both languages, and `# %% [markdown] lang="en"` / `lang="es"` markdown twins (an untagged markdown cell
goes into both). `break_NN.py` is the template of the /break notebooks, one per break of the catalogue,
with BREAK_ID, BREAK_SLUG and BREAK_TITLE in place of each break's own (the title in the language of
its cell, by gettext).
The English notebook is executed top to bottom with a fresh kernel; the Spanish twin gets the very
same code cells and outputs, and its own markdown. Then what learners get is written from the
references (`exercises`): the exercise notebooks, and the worked example's notebooks and lab/lora.py.
Run: `make notebooks` (or `python build.py [names]`).
"""

from __future__ import annotations

import argparse
import configparser
import json
import re
import sys
import time
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient
from nbformat import NotebookNode

from minituner.course.breaks import CATALOGUE, Break
from minituner.course.grading import SANITIZE
from minituner.course.workspace import EXERCISES, exercise, exercise_path, lora_file
from minituner.i18n import gettext_for

HERE = Path(__file__).parent
OUT = HERE.parent.parent / "notebooks"
EXAMPLE = HERE.parent.parent / "learners" / "example" / "phase-28"
TEMPLATE = "break_NN"
TOKEN = re.compile(r"\bBREAK_[A-Z_]+\b")  # a whole token of the template: BREAK_ID, BREAK_TITLE, ...


def read(source: Path) -> dict[str, list[NotebookNode]]:
    """Notebook name -> cells: one notebook per source, one per break for the break template."""
    cells = jupytext.read(source, fmt="py:percent").cells
    if source.stem != TEMPLATE:
        return {source.stem.replace("_", "-"): cells}
    return {f"break-{brk.id}-{brk.slug}": [fill(cell, brk) for cell in cells] for brk in CATALOGUE}


def fill(cell: NotebookNode, brk: Break) -> NotebookNode:
    """A template cell with the break's own id, slug and title, the title in the cell's language:
    each whole token replaced in one pass, so no token depends on the order of the others."""
    values = {
        "BREAK_ID": brk.id,
        "BREAK_SLUG": brk.slug,
        "BREAK_TITLE": gettext_for(cell.metadata.get("lang", "en"))(brk.title),
    }

    def value(token: re.Match[str]) -> str:
        if token.group() not in values:
            raise ValueError(f"{TEMPLATE}.py: unknown token {token.group()}; the tokens are {sorted(values)}")
        return values[token.group()]

    return nbformat.from_dict({**cell, "source": TOKEN.sub(value, cell.source)})


def notebook(cells: list[NotebookNode], lang: str) -> NotebookNode:
    """The notebook of one language: every code cell, and the markdown tagged `lang` or untagged."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for cell in cells:
        if cell.cell_type == "code":  # its tags kept: lab 00's `lab/lora.py` marks what goes into that file
            tags = {"tags": cell.metadata["tags"]} if "tags" in cell.metadata else {}
            nb.cells.append(nbformat.v4.new_code_cell(cell.source.strip(), metadata=tags))
        elif cell.cell_type == "markdown" and cell.metadata.get("lang", lang) == lang:
            nb.cells.append(nbformat.v4.new_markdown_cell(cell.source.strip()))
    for i, c in enumerate(nb.cells):
        c["id"] = f"cell-{i:02d}"  # stable ids keep diffs small
    return nb


def build(source: Path) -> None:
    for name, cells in read(source).items():
        print(f"{name}: {execute(name, cells):.1f} s", flush=True)


def execute(name: str, cells: list[NotebookNode]) -> float:
    en, es = notebook(cells, "en"), notebook(cells, "es")
    start = time.perf_counter()
    client = NotebookClient(
        en, timeout=300, kernel_name="python3", record_timing=False, coalesce_streams=True,
        resources={"metadata": {"path": str(OUT)}},
    )
    client.execute()
    seconds = time.perf_counter() - start
    for en_cell, es_cell in zip(en.cells, es.cells, strict=True):
        if en_cell.cell_type == "code":
            es_cell.outputs, es_cell.execution_count = en_cell.outputs, en_cell.execution_count
    for nb, path in ((en, OUT / f"{name}.ipynb"), (es, OUT / f"{name}.es.ipynb")):
        if not path.exists() or sanitized(nbformat.writes(nb)) != sanitized(path.read_text()):
            nbformat.write(nb, path)  # a re-run that differs only in wall-clock time keeps the file
    return seconds


def sanitized(text: str) -> str:
    """The notebook as nbval compares it: wall-clock times and temporary paths replaced."""
    rules = configparser.ConfigParser()
    rules.read(SANITIZE)
    for section in rules.sections():
        text = re.sub(rules[section]["regex"], rules[section]["replace"], text)
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="source names to build (default: all)")
    args = parser.parse_args()
    sources = sorted(p for p in HERE.glob("*.py") if p.name != "build.py")
    if args.names:
        sources = [p for p in sources if any(n in p.stem for n in args.names)]
    for source in sources:
        build(source)
    write_exercises()
    return 0


def exercises() -> dict[Path, str]:
    """What learners get, from the executed references: each file's path and text. The learners'
    notebooks (package data: solutions made TODOs, no output under a check cell; a new workspace's
    lab/lora.py is made from lab 00's), and the worked example's, solutions kept, with its lab/lora.py
    made from lab 00's solution cells."""
    files: dict[Path, str] = {}
    for name in EXERCISES:
        for lang in ("en", "es"):
            reference = json.loads((OUT / exercise_path(name, lang).name).read_text())
            files[exercise_path(name, lang)] = dumps(exercise(reference, lang))
        example = exercise(reference_en(name), "en", keep_solutions=True)
        files[EXAMPLE / "notebooks" / f"{name}.ipynb"] = dumps(example)
        if name == "00-lora-by-hand":
            files[EXAMPLE / "lab" / "lora.py"] = lora_file(example, "en")
    return files


def dumps(nb: dict[str, object]) -> str:
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def reference_en(name: str) -> dict[str, object]:
    return dict(json.loads((OUT / f"{name}.ipynb").read_text()))


def write_exercises() -> None:
    for path, text in exercises().items():
        path.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
