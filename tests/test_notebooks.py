"""The notebooks: executed, in order, error-free, and with Spanish twins identical in code and outputs.

`make test` also runs nbval over the English notebooks (strict output comparison); the Spanish ones
are checked here to hold exactly the same code cells and stored outputs, so nbval covers both.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).parent.parent / "notebooks"
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


def test_exercise_notebooks_and_the_example_are_built_from_the_references() -> None:
    sys.path.insert(0, str(Path(__file__).parent.parent / "tools" / "notebooks"))
    import build  # noqa: PLC0415 - the notebook builder is a script, not a package

    for path, text in build.exercises().items():
        assert path.read_text() == text, f"{path.name} is stale: run `make notebooks`"


@pytest.mark.slow
def test_the_code_a_learner_copies_from_lab_00_passes_mypy_strict(tmp_path: Path) -> None:
    """Lab 00's implementation cells (not its checks) are what goes into lab/lora.py."""
    from mypy import api

    code = [
        "".join(c["source"])
        for c in cells(NOTEBOOKS / "00-lora-by-hand.ipynb")
        if c["cell_type"] == "code" and not "".join(c["source"]).startswith("# Check")
        and "ReferenceLoRALinear" not in "".join(c["source"])
    ]
    assert any("class LoRALinear" in c for c in code) and any("def load_lora_state_dict" in c for c in code)
    (tmp_path / "lora_from_notebook.py").write_text("\n\n".join(code) + "\n")
    out, err, status = api.run(["--strict", "--no-incremental", str(tmp_path / "lora_from_notebook.py")])
    assert status == 0, out + err
