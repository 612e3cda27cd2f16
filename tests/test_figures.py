"""The measured figures (figures.toml): each has a reason for its tolerance, and each is checked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from minituner.figures import FIGURES, compare

ROOT = Path(__file__).parent.parent


def stored_outputs() -> str:
    text = []
    for path in (ROOT / "notebooks").glob("*.ipynb"):
        for cell in json.loads(path.read_text())["cells"]:
            text += ["".join(o.get("text", "")) for o in cell.get("outputs", [])]
    return "\n".join(text)


def test_every_figure_is_checked_by_a_notebook_or_a_test() -> None:
    outputs = stored_outputs()
    tests = "".join(p.read_text() for p in (ROOT / "tests").glob("test_*.py") if p.name != "test_figures.py")
    unchecked = [n for n in FIGURES if f"{n}: measured" not in outputs and f'"{n}"' not in tests]
    assert not unchecked, f"figures nobody checks: {unchecked}"


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
