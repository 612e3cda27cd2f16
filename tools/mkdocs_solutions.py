"""mkdocs hook: a solution page's `<!-- solution: NAME -->` becomes the reference code the learner
writes in that lab's workbook, read at build time from the notebook's source
(tools/notebooks/NN_*.py), so the page never holds a copy that can drift.

NAME is the function that holds a `### BEGIN SOLUTION ... ### END SOLUTION` region (a method is
`Class.method`), and the page shows that whole function: its signature and docstring are what the
workbook gives, the region is what the learner writes. A region outside any function is named by
the last variable its cell assigns before the region, and the page shows that cell. Solution pages
01-04 must show every region of their lab: a page that misses one, or names a function that holds
none, stops the build."""

from __future__ import annotations

import ast
import re
import textwrap
from pathlib import Path

from mkdocs.structure.pages import Page

SOURCES = Path(__file__).parent / "notebooks"
PAGE = re.compile(r"solutions/(\d\d)-[\w-]+(\.es)?\.md$")
REQUIRED = {"01", "02", "03", "04"}  # solution 00 includes the worked example's whole lora.py instead
MARKER = re.compile(r"^([ \t]*)<!-- solution: ([\w.]+) -->[ \t]*$", re.M)
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"


def source(lab: str) -> Path:
    (path,) = SOURCES.glob(f"{lab}_*.py")
    return path


def regions(path: Path) -> dict[str, str]:
    """{name: code} for every solution region of a notebook source, in the order they appear."""
    text = path.read_text()
    lines = text.splitlines()
    starts = [i + 1 for i, line in enumerate(lines) if line.strip() == BEGIN]  # 1-based line numbers
    functions = []  # (qualified name, first line with its decorators, last line), 1-based
    for node in ast.parse(text).body:
        members = [(node.name, node)] if isinstance(node, ast.FunctionDef) else []
        if isinstance(node, ast.ClassDef):
            members = [(f"{node.name}.{n.name}", n) for n in node.body if isinstance(n, ast.FunctionDef)]
        for name, fn in members:
            first = min([fn.lineno] + [d.lineno for d in fn.decorator_list])
            last = fn.end_lineno or fn.lineno
            indent = len(lines[fn.lineno - 1]) - len(lines[fn.lineno - 1].lstrip())
            while last < len(lines) and lines[last].lstrip().startswith("#") and (
                len(lines[last]) - len(lines[last].lstrip()) > indent
            ):
                last += 1  # the comments that close the body, `### END SOLUTION` among them
            functions.append((name, first, last))
    found: dict[str, str] = {}
    for start in starts:
        inside = [(name, first, last) for name, first, last in functions if first < start <= last]
        if inside:
            name, first, last = inside[0]
            found[name] = textwrap.dedent("\n".join(lines[first - 1 : last])) + "\n"
            continue
        cell_start = max(i for i in range(start) if lines[i].startswith("# %%"))
        cell_end = next((i for i in range(start, len(lines)) if lines[i].startswith("# %%")), len(lines))
        before = ast.parse("\n".join(lines[cell_start + 1 : start - 1]))
        assigned = [t.id for node in before.body if isinstance(node, ast.Assign) for t in node.targets
                    if isinstance(t, ast.Name)]
        found[assigned[-1]] = "\n".join(lines[cell_start + 1 : cell_end]).strip("\n") + "\n"
    return found


def fenced(code: str, indent: str) -> str:
    return "".join(indent + line for line in f"```python\n{code}```".splitlines(keepends=True))


def on_page_markdown(markdown: str, page: Page, **_: object) -> str:
    found = PAGE.search(page.file.src_uri)
    if found is None or not list(SOURCES.glob(f"{found.group(1)}_*.py")):
        return markdown
    lab = found.group(1)
    code = regions(source(lab))
    named = [m.group(2) for m in MARKER.finditer(markdown)]
    unknown = sorted(set(named) - set(code))
    missing = [name for name in code if name not in named] if lab in REQUIRED else []
    if unknown or missing:
        raise ValueError(
            f"{page.file.src_uri}: <!-- solution: NAME --> markers for {source(lab).name}: "
            f"unknown {unknown}, missing {missing}; its regions are {list(code)}"
        )
    return MARKER.sub(lambda m: fenced(code[m.group(2)], m.group(1)), markdown)
