"""The notebooks: executed, in order, error-free, and with Spanish twins identical in code and outputs.

`make test` also runs nbval over the English notebooks (strict output comparison); the Spanish ones
are checked here to hold exactly the same code cells and stored outputs, so nbval covers both.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

NOTEBOOKS = Path(__file__).parent.parent / "notebooks"
EXAMPLE_LORA = Path(__file__).parent.parent / "learners" / "example" / "phase-28" / "lab" / "lora.py"
ENGLISH = sorted(p for p in NOTEBOOKS.glob("*.ipynb") if not p.name.endswith(".es.ipynb"))


def cells(path: Path) -> list[dict]:  # type: ignore[type-arg]
    return json.loads(path.read_text())["cells"]


def test_there_are_notebooks() -> None:
    assert {p.stem for p in ENGLISH} >= {
        "00-lora-by-hand",
        "01-lora-counts",
        "02-lora-finetune",
        "03-merge-and-ship",
        "04-minituner-to-peft",
        "theory-03-svd",
    }


@pytest.mark.parametrize("path", ENGLISH, ids=lambda p: p.stem)
def test_spanish_twin_has_the_same_code_and_outputs(path: Path) -> None:
    twin = path.with_suffix(".es.ipynb")
    assert twin.is_file(), f"{path.name} has no Spanish twin"
    en, es = cells(path), cells(twin)
    assert [c["cell_type"] for c in en] == [c["cell_type"] for c in es]
    for a, b in zip(en, es, strict=True):
        if a["cell_type"] == "code":
            assert a["source"] == b["source"] and a["outputs"] == b["outputs"]
        else:
            assert a["source"] != b["source"], (
                f"untranslated markdown cell in {twin.name}: {a['source'][:60]}"
            )


@pytest.mark.parametrize("path", ENGLISH, ids=lambda p: p.stem)
def test_executed_in_order_without_errors(path: Path) -> None:
    code = [c for c in cells(path) if c["cell_type"] == "code" and "".join(c["source"]).strip()]
    counts = [c["execution_count"] for c in code]
    assert all(counts), f"{path.name}: unexecuted code cells (nbval never compares those)"
    assert counts == list(range(1, len(code) + 1)), f"{path.name}: cells executed out of order: {counts}"
    errors = [o for c in code for o in c["outputs"] if o["output_type"] == "error"]
    assert not errors, f"{path.name}: error output {errors[0].get('ename')}"
    streams = "".join("".join(o.get("text", "")) for c in code for o in c["outputs"])
    assert "Warning" not in streams, f"{path.name}: a warning in the stored outputs"


def builder() -> ModuleType:
    sys.path.insert(0, str(Path(__file__).parent.parent / "tools" / "notebooks"))
    import build  # noqa: PLC0415 - the notebook builder is a script, not a package

    return build


def test_every_notebook_holds_the_cells_its_source_makes() -> None:
    """Each reference notebook, in both languages, has the cells (type, source, tags) that build.py
    makes from its source in tools/notebooks; nbval checks their outputs."""
    build = builder()
    sources = sorted(p for p in build.HERE.glob("*.py") if p.name != "build.py")
    built = {name: (source.stem, made) for source in sources for name, made in build.read(source).items()}
    assert {f"{name}.ipynb" for name in built} == {p.name for p in ENGLISH}
    for name, (stem, made) in built.items():
        for lang, path in (("en", NOTEBOOKS / f"{name}.ipynb"), ("es", NOTEBOOKS / f"{name}.es.ipynb")):
            want = [(c.cell_type, c.source, c.metadata.get("tags")) for c in build.notebook(made, lang).cells]
            have = [(c["cell_type"], "".join(c["source"]), c["metadata"].get("tags")) for c in cells(path)]
            assert have == want, f"{path.name} is stale: run `python build.py {stem}` in tools/notebooks"


def test_a_template_token_is_replaced_whole_and_an_unknown_one_is_refused() -> None:
    import nbformat

    from minituner.course.breaks import CATALOGUE
    from minituner.i18n import gettext_for

    build, brk = builder(), CATALOGUE[0]
    cell = nbformat.v4.new_markdown_cell("BREAK_ID — BREAK_TITLE", metadata={"lang": "es"})
    assert build.fill(cell, brk).source == f"{brk.id} — {gettext_for('es')(brk.title)}"
    with pytest.raises(ValueError, match="BREAK_TITLE_ES"):
        build.fill(nbformat.v4.new_markdown_cell("BREAK_TITLE_ES"), brk)


def test_exercise_notebooks_and_the_example_are_built_from_the_references() -> None:
    """The learners' notebooks, and the worked example's notebooks and lab/lora.py."""
    files = builder().exercises()
    assert EXAMPLE_LORA in files
    for path, text in files.items():
        assert path.read_text() == text, f"{path.name} is stale: run `make notebooks`"


@pytest.mark.slow
def test_the_worked_example_lora_passes_mypy_strict() -> None:
    """The example's lab/lora.py is lab 00's cells tagged `lab/lora.py`, solved (the test above
    proves it is what the build makes): the code a learner copies from lab 00 into lab/lora.py."""
    from mypy import api

    code = EXAMPLE_LORA.read_text()
    assert "class LoRALinear" in code and "def load_lora_state_dict" in code
    out, err, status = api.run(["--strict", "--no-incremental", str(EXAMPLE_LORA)])
    assert status == 0, out + err
