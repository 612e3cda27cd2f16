"""Two layers: the library imports nothing of the course layer, and the course names what it lacks."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

from minituner.course import contract

PACKAGE = Path(__file__).parent.parent / "src" / "minituner"
LIBRARY = [
    "model",
    "lora",
    "grammar",
    "train",
    "evaluate",
    "checkpoint",
    "recipes",
    "interop",
    "figures",
    "i18n",
    "errors",
]


def imported(path: Path) -> set[str]:
    """Every module `path` imports, relative imports resolved against the minituner package."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = "minituner." * bool(node.level) + (node.module or "")
            names |= {base.rstrip(".")} | {f"{base}.{a.name}".replace("..", ".") for a in node.names}
    return names


@pytest.mark.parametrize("module", LIBRARY)
def test_the_library_imports_nothing_of_the_course(module: str) -> None:
    names = imported(PACKAGE / f"{module}.py")
    assert names, module
    assert not [n for n in names if n.startswith("minituner.course")], names


def test_every_library_module_is_listed() -> None:
    shell = {"__init__", "__main__", "cli"}  # the command line stands on both layers
    assert {p.stem for p in PACKAGE.glob("*.py")} - shell == set(LIBRARY)


def test_a_missing_grading_extra_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "nbval" else real(name))
    with pytest.raises(RuntimeError, match=r"this needs nbval: pip install 'minituner\[grade\]'"):
        contract.require_extra()
