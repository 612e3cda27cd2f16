"""The /break exercises: each bug is caught by its named contract test, and the workflow loses nothing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from minituner import breaks
from minituner import lora as reference

ROOT = Path(__file__).parent.parent
PRISTINE = breaks.LORA_FILE.read_text()


class FailedTests:
    """A pytest plugin that keeps the failure text of every test that failed."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.failed:
            self.texts.append(report.longreprtext)


@pytest.mark.parametrize("brk", breaks.CATALOGUE, ids=lambda b: f"{b.id}-{b.slug}")
def test_break_is_caught_by_its_named_test(brk: breaks.Break, tmp_path: Path) -> None:
    broken = tmp_path / "lora.py"
    broken.write_text(breaks.apply(PRISTINE, brk))
    failed = FailedTests()
    args = ["-q", "-p", "no:cacheprovider", "-p", "no:xdist", str(ROOT / "tests/test_minituner.py")]
    code = pytest.main([*args, "--impl", str(broken), "-k", brk.catching_test], plugins=[failed])
    assert code == pytest.ExitCode.TESTS_FAILED
    assert any(brk.symptom in text for text in failed.texts), failed.texts
    assert breaks.revert(breaks.apply(PRISTINE, brk), brk) == PRISTINE  # the fix restores every byte


@pytest.mark.parametrize("brk", breaks.CATALOGUE, ids=lambda b: f"{b.id}-{b.slug}")
def test_symptom_shows_within_seconds_and_differs_from_the_fixed_code(brk: breaks.Break) -> None:
    start = time.perf_counter()
    broken = breaks.observe(brk.id, breaks.broken_module(brk.id))
    seconds = time.perf_counter() - start
    print(f"\nbreak {brk.id}: symptom in {seconds:.1f} s: {broken[0][:100]}")
    assert seconds < 10
    assert broken != breaks.observe(brk.id, reference)


def test_diffs_are_the_edits() -> None:
    for brk in breaks.CATALOGUE:
        text = breaks.diff(brk.id)
        assert text.startswith("--- a/src/minituner/lora.py")
        assert all(
            line[1:] in breaks.apply(PRISTINE, brk) for line in text.splitlines() if line.startswith("+ ")
        )
        fix = breaks.diff(brk.id, fix=True).splitlines()[2:]
        changed = [line for line in text.splitlines()[2:] if line[:1] in "+-"]
        assert sorted(line[1:] for line in fix if line[:1] == "-") == sorted(
            line[1:] for line in changed if line[:1] == "+"
        )


def test_unknown_break_lists_the_real_ones() -> None:
    with pytest.raises(KeyError, match="00, 01, 02"):
        breaks.get("42")


# --- the learner's workflow on a scratch copy of the tree ---------------------------------------


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    copy = tmp_path / "course"
    shutil.copytree(ROOT / "src", copy / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copytree(ROOT / "tests", copy / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", copy)
    for cmd in (
        ["init", "-q"],
        ["add", "-A"],
        ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"],
    ):
        subprocess.run(["git", *cmd], cwd=copy, check=True)
    return copy


def cli(tree: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree / "src"), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "minituner", *args], cwd=tree, env=env, capture_output=True, text=True
    )


def test_workflow_predict_break_observe_fix_reset(tree: Path) -> None:
    lora_file = tree / "src/minituner/lora.py"
    notes = tree / "learners/ana/phase-28/notes/breaks.md"
    original = lora_file.read_bytes()

    refused = cli(tree, "break", "start", "03", "--learner", "ana")  # no prediction yet
    assert refused.returncode == 1 and "write your prediction" in refused.stderr
    assert lora_file.read_bytes() == original and "## Break 03" in notes.read_text()

    notes.write_text(notes.read_text() + "All 103,680 base parameters will train.\n")
    assert cli(tree, "break", "start", "03", "--learner", "ana").returncode == 0
    assert lora_file.read_bytes() != original
    second = cli(tree, "break", "start", "01", "--learner", "ana")
    assert second.returncode == 1 and "break 03 is already applied" in second.stderr
    assert "122,112 of 122,112" in cli(tree, "break", "run", "03").stdout
    assert "broken" in cli(tree, "break", "list", "--learner", "ana").stdout

    fixed = breaks.revert(lora_file.read_text(), breaks.get("03")) + "# my note on the fix\n"
    lora_file.write_text(fixed)  # the learner's fix
    assert cli(tree, "break", "check", "03").returncode == 0
    before_reset = notes.read_text()
    reset = cli(tree, "break", "reset")
    assert reset.returncode == 0 and "your edits of lora.py are kept in" in reset.stdout
    kept = Path(reset.stdout.strip().rsplit(" ", 1)[-1])
    assert kept.read_text() == fixed  # nothing the learner wrote is lost
    assert lora_file.read_bytes() == original and notes.read_text() == before_reset
    listing = cli(tree, "--lang", "es", "break", "list", "--learner", "ana").stdout
    assert "03  El modelo base no está congelado" in listing and "arreglado" in listing
    log = (notes.parent / "breaks-log.jsonl").read_text()
    assert log.index('"predicted"') < log.index('"applied"') < log.index('"fixed"')


def test_hand_edits_are_refused_and_kept(tree: Path) -> None:
    lora_file = tree / "src/minituner/lora.py"
    lora_file.write_text(lora_file.read_text() + "# my own experiment\n")
    result = cli(tree, "break", "start", "00", "--learner", "ana")
    assert result.returncode == 1 and "+# my own experiment" in result.stderr
    assert lora_file.read_text().endswith("# my own experiment\n")


def test_reset_without_a_break_and_unparseable_notes(tree: Path) -> None:
    assert "nothing to reset" in cli(tree, "break", "reset").stdout
    notes = tree / "learners/bo/phase-28/notes/breaks.md"
    notes.parent.mkdir(parents=True)
    notes.write_text("## Break 00 — x\nfirst\n## Break 00 — x\nsecond\n")
    result = cli(tree, "break", "start", "00", "--learner", "bo")
    assert result.returncode == 1 and "appears twice" in result.stderr
    assert result.stderr.count("\n") == 1
    assert notes.read_text() == "## Break 00 — x\nfirst\n## Break 00 — x\nsecond\n"
