"""The measured figures (figures.toml): each has a reason for its tolerance, and each is checked."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from minituner.figures import FIGURES, compare

ROOT = Path(__file__).parent.parent


# A line of figures.compare() that held on the reference run: "lora.r8.irregular: measured 96.7%,
# reference run 96.7% ±5 points: True".
HELD = re.compile(r"^([\w.]+): measured [^\n]*?, reference run [^\n]*?: True\b", re.M)
UNCOMPARED = ("NBVAL_IGNORE_OUTPUT", "NBVAL_SKIP")  # nbval does not compare such a cell's output


def compared_by_nbval(folder: Path = ROOT / "notebooks") -> dict[str, list[str]]:
    """Each figure whose compare() line held in a stored output that nbval compares when `make test`
    runs the notebooks (the English ones, cells without NBVAL_IGNORE_OUTPUT or NBVAL_SKIP): a fresh
    run must print the same line, its measured value sanitized, ': True' and all. Figure -> notebooks."""
    found: dict[str, list[str]] = {}
    for path in sorted(folder.glob("*.ipynb")):
        if path.name.endswith(".es.ipynb"):
            continue
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] != "code" or any(flag in "".join(cell["source"]) for flag in UNCOMPARED):
                continue
            text = "".join("".join(o.get("text", "")) for o in cell.get("outputs", []))
            for name in HELD.findall(text):
                found.setdefault(name, []).append(path.name)
    return found


def test_every_figure_is_compared_by_a_notebook_that_nbval_runs() -> None:
    compared = compared_by_nbval()
    unchecked = [n for n in FIGURES if n not in compared]
    assert not unchecked, f"figures that no notebook compares under nbval: {unchecked}"
    assert not set(compared) - set(FIGURES)  # compare() refuses an unknown name


def test_only_a_line_that_held_in_a_compared_cell_counts(tmp_path: Path) -> None:
    def cell(source: str, name: str, measured: float) -> dict[str, object]:
        text = compare(name, measured) + " (28 of 120 cells)\n"
        return {"cell_type": "code", "source": source, "outputs": [{"name": "stdout", "text": text}]}

    held = {n: FIGURES[n].value for n in ("base.heldout", "base.irregular", "lora.r1.irregular")}
    cells = [
        cell("print(figures.compare(...))", "base.heldout", held["base.heldout"]),
        cell("# NBVAL_IGNORE_OUTPUT\nprint(figures.compare(...))", "base.irregular", held["base.irregular"]),
        cell("print(figures.compare(...))", "lora.r1.irregular", 0.0),  # did not hold
    ]
    (tmp_path / "02-x.ipynb").write_text(json.dumps({"cells": cells}))
    (tmp_path / "02-x.es.ipynb").write_text(json.dumps({"cells": cells[:2] + [cells[0]]}))
    assert compared_by_nbval(tmp_path) == {"base.heldout": ["02-x.ipynb"]}


def test_every_tolerance_says_why_it_is_enough_from_four_machines() -> None:
    for f in FIGURES.values():
        assert len(f.why.split()) >= 20 and "four machines" in " ".join(f.why.split()), f.name
        if f.at_most is None:
            assert f.tolerance is not None and 0 < f.tolerance < 0.1, f.name
        else:
            assert f.tolerance is None and f.value <= f.at_most < 1, f.name


def test_a_chaotic_figure_is_checked_against_the_bound_its_page_teaches() -> None:
    f = FIGURES["alone.retention"]
    assert f.at_most == 0.10
    shown = f.show(f.value)
    assert compare(f.name, 0.046) == f"{f.name}: measured 4.6%, reference run {shown}, at most 10%: True"
    assert compare(f.name, 0.30).endswith(": False")


def test_compare_reads_the_same_on_every_machine_within_tolerance() -> None:
    f = FIGURES["lora.r1.irregular"]
    assert compare(f.name, f.value + f.tolerance).endswith(": True")
    assert compare(f.name, f.value - f.tolerance - 0.001).endswith(": False")
    shown = f.show(f.value)
    assert compare(f.name, f.value) == f"{f.name}: measured {shown}, reference run {shown} {f.margin()}: True"


def test_an_unknown_figure_is_named() -> None:
    with pytest.raises(KeyError, match="no figure named 'lora.r3.irregular'"):
        compare("lora.r3.irregular", 0.5)


def test_a_workbook_of_an_older_workspace_still_compares() -> None:
    """Workspaces created before compare had its name call figures.check: the same function."""
    from minituner import figures

    assert figures.check is figures.compare
