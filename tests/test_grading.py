"""Grading a planted class: every row is asserted, and one broken learner never stops the rest."""

from __future__ import annotations

import csv
import json
import shutil
import time
from pathlib import Path

import pytest

from minituner.course import workspace
from minituner.course.grading import grade
from minituner.course.workspace import Learner

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
    learners = tmp_path_factory.mktemp("course") / "learners"
    workspace.new(Learner(learners.parent, "blank"), "es")
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
    book, n, passed = grade(learners, jobs=2, timeout=240, cell_timeout=15, rerun=True)
    assert (n, passed) == (5, 1)
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
    home = workspace.new(Learner(tmp_path, "ana"), "en")
    (home / "lab/lora.py").write_text("# my work\n")
    with pytest.raises(FileExistsError, match="already exists"):
        workspace.new(Learner(tmp_path, "ana"), "es")
    assert (home / "lab/lora.py").read_text() == "# my work\n"
    with pytest.raises(ValueError, match="'Ana B'"):
        Learner(tmp_path, "Ana B")


def test_the_solution_pages_include_the_example_lora() -> None:
    """One copy: both solution pages include the worked example's file (snippets checks the path)."""
    for page in ("solutions/00-lora-by-hand.md", "solutions/00-lora-by-hand.es.md"):
        assert '--8<-- "learners/example/phase-28/lab/lora.py"' in (ROOT / page).read_text(), page


def test_gradebook_in_spanish(tmp_path: Path) -> None:
    learners = tmp_path / "learners"
    workspace.new(Learner(tmp_path, "eva"), "es")
    book, n, passed = grade(learners, jobs=1, timeout=120, cell_timeout=15, lang="es")
    assert (n, passed) == (1, 0)
    header, row = book.read_text().splitlines()
    assert header == "estudiante,cuadernos,contrato,breaks"
    assert row.startswith("eva,suspenso: ") and row.endswith(",falta: no se intentó ningún break")
    assert (learners / "gradebook.md").read_text().startswith("# Libro de notas\n")
