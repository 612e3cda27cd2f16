"""Build the course notebooks from their bilingual sources and execute them.

Each source (`NN_name.py` here) defines CELLS: `md(english, spanish)` and `code(source)` cells.
The English notebook is executed top to bottom with a fresh kernel; the Spanish twin gets the very
same code cells and outputs, and its own markdown. Run: `make notebooks` (or `python -m ...`).
"""

from __future__ import annotations

import argparse
import configparser
import re
import runpy
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from minituner.grading import SANITIZE

HERE = Path(__file__).parent
OUT = HERE.parent.parent / "notebooks"


@dataclass(frozen=True)
class Md:
    en: str
    es: str


@dataclass(frozen=True)
class Code:
    source: str


def md(en: str, es: str) -> Md:
    return Md(en.strip(), es.strip())


def code(source: str) -> Code:
    return Code(source.strip())


def notebook(cells: list[Md | Code], lang: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for cell in cells:
        if isinstance(cell, Md) or hasattr(cell, "en"):  # the sources import this file as `build`
            nb.cells.append(nbformat.v4.new_markdown_cell(cell.en if lang == "en" else cell.es))
        else:
            nb.cells.append(nbformat.v4.new_code_cell(cell.source))
    for i, c in enumerate(nb.cells):
        c["id"] = f"cell-{i:02d}"  # stable ids keep diffs small
    return nb


def build(source: Path) -> None:
    """A source defines CELLS (one notebook named after it) or NOTEBOOKS (name -> cells)."""
    namespace = runpy.run_path(str(source))
    notebooks = namespace.get("NOTEBOOKS") or {source.stem.replace("_", "-"): namespace["CELLS"]}
    for name, cells in notebooks.items():
        print(f"{name}: {execute(name, cells):.1f} s", flush=True)


def execute(name: str, cells: list[Md | Code]) -> float:
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
