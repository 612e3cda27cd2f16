"""Grading a planted class: every row is asserted, and one broken learner never stops the rest."""

from __future__ import annotations

import csv
import json
import re
import shutil
import textwrap
import time
from pathlib import Path

import pytest

from minituner import workspace
from minituner.grading import grade

ROOT = Path(__file__).parent.parent
EXAMPLE = ROOT / "learners" / "example"


def edit_notebook(path: Path, edit: object) -> None:
    nb = json.loads(path.read_text())
    before = json.dumps(nb)
    for cell in nb["cells"]:
        cell["source"] = edit("".join(cell["source"]))  # type: ignore[operator]
    assert json.dumps(nb) != before, f"the planted edit found nothing to change in {path.name}"
    path.write_text(json.dumps(nb))


@pytest.fixture(scope="module")
def gradebook(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    learners = tmp_path_factory.mktemp("class")
    workspace.new("blank", "es", learners=learners)
    for name in ("example", "wrong", "hang", "tamper"):
        shutil.copytree(EXAMPLE, learners / name)
    wrong = learners / "wrong/phase-28"
    (wrong / "lab/lora.py").write_text(
        (wrong / "lab/lora.py").read_text().replace("torch.zeros(base.out", "torch.randn(base.out")
    )
    edit_notebook(
        wrong / "notebooks/00-lora-by-hand.ipynb",
        lambda s: s.replace("torch.zeros(base.out", "torch.randn(base.out"),
    )
    edit_notebook(
        learners / "hang/phase-28/notebooks/00-lora-by-hand.ipynb",
        lambda s: s.replace("TARGETS = (", "while True:\n    pass\nTARGETS = ("),
    )
    edit_notebook(
        learners / "tamper/phase-28/notebooks/00-lora-by-hand.ipynb",
        lambda s: s.replace("assert init_diff < 1e-6 and trainable == 1024", "pass"),
    )
    start = time.perf_counter()
    book = grade(learners, jobs=2, timeout=240, cell_timeout=15, rerun=True)
    print(f"\ngraded 5 planted workspaces in {time.perf_counter() - start:.1f} s")
    with book.open() as f:
        rows = {r["learner"]: r for r in csv.DictReader(f)}
    assert (learners / "gradebook.md").read_text().count("\n| ") == 6
    return rows


def test_blank_workspace_fails_every_item(gradebook: dict[str, dict[str, str]]) -> None:
    row = gradebook["blank"]
    assert row["notebooks"].startswith("fail: ") and "NotImplementedError" in row["notebooks"]
    assert row["contract"].startswith("fail: ") and "NotImplementedError" in row["contract"]
    assert row["breaks"] == "missing: no break attempted"


def test_example_passes(gradebook: dict[str, dict[str, str]]) -> None:
    assert gradebook["example"] == {
        "learner": "example",
        "notebooks": "pass",
        "contract": "pass",
        "breaks": "pass",
    }


def test_random_B_is_named(gradebook: dict[str, dict[str, str]]) -> None:
    row = gradebook["wrong"]
    assert row["contract"].startswith("fail: test_lora_init_identity")
    assert row["notebooks"].startswith("fail: ") and row["breaks"] == "pass"


def test_hanging_notebook_times_out_alone(gradebook: dict[str, dict[str, str]]) -> None:
    row = gradebook["hang"]
    assert row["notebooks"].startswith("timeout")
    assert row["contract"] == "pass" and row["breaks"] == "pass"


def test_tampered_check_cell_fails(gradebook: dict[str, dict[str, str]]) -> None:
    assert gradebook["tamper"]["notebooks"] == (
        "fail: notebooks/00-lora-by-hand.ipynb: a check cell was edited or deleted"
    )


def test_new_workspace_is_never_overwritten(tmp_path: Path) -> None:
    home = workspace.new("ana", "en", learners=tmp_path)
    (home / "lab/lora.py").write_text("# my work\n")
    with pytest.raises(FileExistsError, match="already exists"):
        workspace.new("ana", "es", learners=tmp_path)
    assert (home / "lab/lora.py").read_text() == "# my work\n"
    with pytest.raises(ValueError, match="'Ana B'"):
        workspace.new("Ana B", learners=tmp_path)


def test_example_lora_is_the_published_solution() -> None:
    page = (ROOT / "solutions/00-lora-by-hand.md").read_text()
    block = re.search(r"^    ```python\n(.*?)^    ```", page, re.S | re.M)
    assert block is not None
    assert (EXAMPLE / "phase-28/lab/lora.py").read_text() == textwrap.dedent(block.group(1))
