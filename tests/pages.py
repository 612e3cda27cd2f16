"""What the tests of the pages share: where the pages are, their twins, their prose and numbers, the
glossary, and a notebook's stored output."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).parent.parent
FOLDERS = ["theory", "lab", "break", "solutions", "docs"]
ENGLISH = sorted(
    p
    for folder in FOLDERS
    for p in (ROOT / folder).glob("*.md")
    if not p.name.endswith(".es.md") and not (ROOT / folder).is_symlink()
)


def twin(path: Path) -> Path:
    return path.with_name(path.name[: -len(".md")] + ".es.md")


FENCE = re.compile(r"^([ \t]*)```.*?^\1```", re.S | re.M)  # also fences inside lists and admonitions


def prose(text: str) -> str:
    """The words a reader reads: no code, no math, no link targets."""
    text = FENCE.sub(" ", text)
    text = re.sub(r"\\\[.*?\\\]|\\\(.*?\\\)|\$\$.*?\$\$|(?<![\\$])\$[^$\n]+\$", " ", text, flags=re.S)  # math
    text = re.sub(r"`[^`]*`", " ", text)  # inline code
    text = re.sub(r"\]\([^)]*\)", "]", text)  # keep a link's text, drop its target
    return text


# The twins compare values, not characters: English prose writes 103,680, 2,304 and 17.78%; Spanish
# prose writes 103 680, 2304 and 17,78 % (thousands grouped by a plain space from five digits on,
# decimal comma, a space before %), in tables too; only code keeps Python's format.
_EDGE, _END = r"(?<![\w.,:-])", r"(?!\w|[.,]\d)"
ENGLISH_NUMBER = re.compile(
    rf"{_EDGE}(?:\d{{1,3}}(?:,\d{{3}})+(?:\.\d+)?%?|\d{{4,}}{_END}%?|\d+(?:\.\d+)?%)"
)
SPANISH_NUMBER = re.compile(
    rf"{_EDGE}(?:\d{{1,3}}(?: \d{{3}})+(?:,\d+)?(?: ?%)?{_END}|\d{{4,}}{_END}(?: ?%)?|\d+(?:,\d+)? ?%)"
)


def value(number: str, spanish: bool = False) -> str:
    """One spelling for a value: '103,680' and '103 680' are '103680'; '17.78%' and '17,78 %' are
    '17.78%'."""
    number = number.replace(" ", "")
    number = number.replace(",", ".") if spanish else number.replace(",", "")
    return number


def numbers(text: str, spanish: bool = False) -> list[str]:
    found = []
    for line in prose(text).splitlines():
        if spanish:
            found += [value(n, spanish=True) for n in SPANISH_NUMBER.findall(line)]
        else:
            found += [value(n) for n in ENGLISH_NUMBER.findall(line)]
    return sorted(found)


GLOSSARY_PAGES = ("docs/glossary.md", "docs/glossary.es.md")


def glossary_rows(page: str) -> list[list[str]]:
    """The cells of each row of a glossary page's table: the English term, the Spanish term(s), the
    words to avoid in Spanish, and the definition in the page's language."""
    below_header = (ROOT / page).read_text().split("\n|---|", 1)[1]
    return [
        [c.strip() for c in line.strip().strip("|").split("|")]
        for line in below_header.splitlines()
        if line.startswith("|")
    ]


def glossary() -> list[tuple[str, list[str], list[str]]]:
    rows = []
    for cells in glossary_rows(GLOSSARY_PAGES[0]):
        split = [[t.strip() for t in c.split(",") if t.strip()] for c in cells[1:3]]
        rows.append((cells[0], split[0], split[1]))
    return rows


def stored_output(notebook: str) -> str:
    cells = json.loads((ROOT / "notebooks" / f"{notebook}.ipynb").read_text())["cells"]
    return "\n".join(
        "".join(out.get("text", ""))
        for cell in cells
        if cell["cell_type"] == "code"
        for out in cell["outputs"]
    )
