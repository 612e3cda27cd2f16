"""Grading a planted class: every row is asserted, and one broken learner never stops the rest.

The worked example is graded alone first; the planted learners are copies of it with one thing
broken, graded next in the same folder, so their unchanged notebooks are cache hits and each row
shows exactly the planted failure.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from minituner.course import workspace
from minituner.course.grading import ITEMS, LABS, grade
from minituner.course.workspace import Learner

ROOT = Path(__file__).parent.parent
EXAMPLE = ROOT / "learners" / "example"
PASS = {item: "pass" for item in ITEMS} | {"total": f"{len(ITEMS)}/{len(ITEMS)}"}


def edit_notebook(path: Path, edit: Callable[[str], str], count: int = 0) -> None:
    """Apply `edit` to the source of every cell (or only of the first `count` cells it changes)."""
    nb = json.loads(path.read_text())
    changed = 0
    for cell in nb["cells"]:
        source = "".join(cell["source"])
        if (count == 0 or changed < count) and edit(source) != source:
            cell["source"] = edit(source)
            changed += 1
    assert changed, f"the planted edit found nothing to change in {path.name}"
    path.write_text(json.dumps(nb))


def plant_bug(source: str) -> str:
    """The first solution of a cell raises, as a learner's wrong code would."""
    return re.sub(
        r"^([ \t]*)### BEGIN SOLUTION\n",
        r"\1### BEGIN SOLUTION\n\1raise ValueError('planted')\n",
        source,
        count=1,
        flags=re.M,
    )


def rows(book: Path) -> dict[str, dict[str, str]]:
    with book.open() as f:
        reader = csv.reader(f)
        next(reader)
        return {r[0]: dict(zip(["learner", *ITEMS, "total"], r, strict=True)) for r in reader}


@pytest.fixture(scope="module")
def gradebook(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    learners = tmp_path_factory.mktemp("course") / "learners"
    shutil.copytree(EXAMPLE, learners / "example")
    start = time.perf_counter()
    book, n, passed = grade(learners, jobs=1, timeout=300, cell_timeout=60, rerun=True)
    print(f"\nthe worked example, all five labs: {time.perf_counter() - start:.1f} s")
    assert (n, passed) == (1, 1)

    workspace.new(Learner(learners.parent, "blank"), "es")
    for name in ("wrong", "hang", "tamper", "silent", *(f"only{c[4:]}" for c in LABS)):
        shutil.copytree(EXAMPLE, learners / name)
    wrong = learners / "wrong/phase-28"
    (wrong / "lab/lora.py").write_text(
        (wrong / "lab/lora.py").read_text().replace("torch.zeros(base.out", "torch.randn(base.out")
    )
    lab00 = "notebooks/00-lora-by-hand.ipynb"
    edit_notebook(wrong / lab00, lambda s: s.replace("torch.zeros(base.out", "torch.randn(base.out"))
    edit_notebook(
        learners / "hang/phase-28" / lab00,
        lambda s: s.replace("TARGETS = (", "while True:\n    pass\nTARGETS = ("),
    )
    edit_notebook(
        learners / "tamper/phase-28" / lab00,
        lambda s: s.replace("assert init_diff < 1e-6 and trainable == 1024", "pass"),
    )
    edit_notebook(
        learners / "silent/phase-28/notebooks/02-lora-finetune.ipynb",
        lambda s: (
            re.sub(r"<!-- BEGIN ANSWER -->.*<!-- END ANSWER -->", "", s, flags=re.S)
            if "prediction: 02.rank" in s
            else s
        ),
    )
    for column, name in LABS.items():
        edit_notebook(learners / f"only{column[4:]}/phase-28/notebooks/{name}.ipynb", plant_bug, count=1)
    start = time.perf_counter()
    # 45 s a cell: a loaded machine takes long to import torch and peft, and a timeout is not a fail.
    book, n, passed = grade(learners, jobs=2, timeout=300, cell_timeout=45)
    print(f"graded {n - 1} planted workspaces in {time.perf_counter() - start:.1f} s")
    assert (learners / "gradebook.md").read_text().count("\n| ") == n + 1
    return rows(book)


def test_blank_workspace_fails_every_item(gradebook: dict[str, dict[str, str]]) -> None:
    row = gradebook["blank"]
    assert all(row[column].startswith("fail: ") for column in LABS), row
    assert "NotImplementedError" in row["lab 00"] and "NotImplementedError" in row["contract"]
    assert row["predictions"].startswith("missing: 00.trainable, 00.merge, 01.")
    assert "02.budget" in row["predictions"]
    assert row["breaks"] == "missing: no break attempted" and row["total"] == "0/8"


def test_example_passes_everything(gradebook: dict[str, dict[str, str]]) -> None:
    assert gradebook["example"] == {"learner": "example", **PASS}


@pytest.mark.parametrize("column", list(LABS))
def test_a_bug_in_one_lab_fails_that_lab_only(gradebook: dict[str, dict[str, str]], column: str) -> None:
    row = gradebook[f"only{column[4:]}"]
    assert row[column].startswith("fail: ") and "planted" in row[column], row
    assert {k: v for k, v in row.items() if k not in (column, "learner", "total")} == {
        k: v for k, v in PASS.items() if k not in (column, "total")
    }
    assert row["total"] == "7/8"


def test_random_B_points_at_its_break(gradebook: dict[str, dict[str, str]]) -> None:
    row = gradebook["wrong"]
    assert row["contract"].startswith("fail: test_lora_init_identity")
    assert row["contract"].endswith("— see break 01 (B initialised randomly instead of zeros)")
    assert row["lab 00"].startswith("fail: ") and row["lab 01"] == "pass" and row["breaks"] == "pass"


def test_an_empty_prediction_is_reported(gradebook: dict[str, dict[str, str]]) -> None:
    row = gradebook["silent"]
    assert row["predictions"] == "missing: 02.rank" and row["lab 02"] == "pass" and row["total"] == "7/8"


def test_hanging_notebook_times_out_alone(gradebook: dict[str, dict[str, str]]) -> None:
    row = gradebook["hang"]
    assert row["lab 00"].startswith("timeout")
    assert row["contract"] == "pass" and row["lab 01"] == "pass" and row["breaks"] == "pass"


def test_tampered_check_cell_fails(gradebook: dict[str, dict[str, str]]) -> None:
    assert gradebook["tamper"]["lab 00"] == (
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
    book, n, passed = grade(learners, jobs=1, timeout=300, cell_timeout=45, lang="es")
    assert (n, passed) == (1, 0)
    header, row = book.read_text().splitlines()
    assert header == (
        "estudiante,laboratorio 00,laboratorio 01,laboratorio 02,laboratorio 03,laboratorio 04,"
        "predicciones,contrato,breaks,total"
    )
    assert row.startswith("eva,suspenso: ") and ",falta: no se intentó ningún break,0/8" in row
    assert (learners / "gradebook.md").read_text().startswith("# Libro de notas\n")


def test_the_skeleton_declares_what_the_contract_calls() -> None:
    """lab/lora.py starts with every class method and function of the reference, same signatures."""
    import importlib.util
    import inspect

    from minituner import lora as reference

    path = Path(workspace.__file__).with_name("lora_skeleton.py")
    spec = importlib.util.spec_from_file_location("skeleton", path)
    assert spec is not None and spec.loader is not None
    skeleton = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(skeleton)
    for name in ("wrap_minigpt_with_lora", "lora_state_dict", "load_lora_state_dict"):
        assert list(inspect.signature(getattr(skeleton, name)).parameters) == list(
            inspect.signature(getattr(reference, name)).parameters
        ), name
    for name in ("__init__", "forward", "delta_weight", "merge_", "unmerge_"):
        mine, ref = getattr(skeleton.LoRALinear, name, None), getattr(reference.LoRALinear, name)
        assert mine is not None, f"the skeleton's LoRALinear has no {name}"
        assert list(inspect.signature(mine).parameters) == list(inspect.signature(ref).parameters), name
