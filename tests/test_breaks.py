"""The /break exercises: each bug is caught by its named contract test, and the workflow loses nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from minituner import i18n
from minituner import lora as reference
from minituner.course import breaks, contract

PRISTINE = breaks.LORA_FILE.read_text()


# Each break's catching test run on its broken copy, in one fresh Python: pytest's exit code and the
# failure texts, as JSON. (Run in-process, inside a worker of the whole suite, the same ten runs took
# 80-90 s instead of 5.)
CATCH = """
import json, sys
from pathlib import Path

import pytest

from minituner.course import breaks, contract


class FailedTests:
    def __init__(self):
        self.texts = []

    def pytest_runtest_logreport(self, report):
        if report.failed:
            self.texts.append(report.longreprtext)


runs = {}
for brk in breaks.CATALOGUE:
    broken = Path(sys.argv[1]) / f"break-{brk.id}" / "lora.py"
    broken.parent.mkdir()
    broken.write_text(breaks.apply(breaks.LORA_FILE.read_text(), brk))
    failed = FailedTests()
    args = ["-q", "-p", "no:cacheprovider", "-p", "no:xdist", str(contract.TESTS)]
    code = pytest.main([*args, "--impl", str(broken), "-k", brk.catching_test], plugins=[failed])
    runs[brk.id] = (int(code), failed.texts)
print(json.dumps(runs))
"""


@pytest.fixture(scope="module")
def caught(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, list[str]]]:
    """Each break's catching test run on its broken copy: pytest's exit code and its failure texts."""
    tmp = tmp_path_factory.mktemp("breaks")
    done = subprocess.run([sys.executable, "-c", CATCH, str(tmp)], capture_output=True, text=True, cwd=tmp)
    assert done.returncode == 0, done.stderr[-2000:]
    last = done.stdout.strip().splitlines()[-1]
    return {brk: (code, texts) for brk, (code, texts) in json.loads(last).items()}


@pytest.mark.parametrize("brk", breaks.CATALOGUE, ids=lambda b: f"{b.id}-{b.slug}")
def test_break_is_caught_by_its_named_test(
    brk: breaks.Break, caught: dict[str, tuple[int, list[str]]]
) -> None:
    code, texts = caught[brk.id]
    assert code == pytest.ExitCode.TESTS_FAILED
    assert any(brk.symptom in contract.error_lines(text) for text in texts), texts
    assert breaks.revert(breaks.apply(PRISTINE, brk), brk) == PRISTINE  # the fix restores every byte


def test_each_symptom_is_shown_by_its_own_break_only(caught: dict[str, tuple[int, list[str]]]) -> None:
    """A symptom is specific: no other break's failing run shows it (not "assert", which any failed
    assertion shows), so a failure of a test that catches several breaks points to the right one."""
    for brk in breaks.CATALOGUE:
        shown_by = [
            i
            for i, (_, texts) in caught.items()
            if any(brk.symptom in contract.error_lines(t) for t in texts)
        ]
        assert shown_by == [brk.id], (brk.id, brk.symptom, shown_by)
        texts = caught[brk.id][1]
        assert any(contract.points_to(brk.catching_test, t) == brk.id for t in texts), brk.id


@pytest.mark.parametrize("brk", breaks.CATALOGUE, ids=lambda b: f"{b.id}-{b.slug}")
def test_symptom_shows_within_seconds_and_differs_from_the_fixed_code(brk: breaks.Break) -> None:
    start = time.perf_counter()
    broken = breaks.observe(brk.id, breaks.broken_module(brk.id))
    seconds = time.perf_counter() - start
    print(f"\nbreak {brk.id}: symptom in {seconds:.1f} s: {broken[0][:100]}")
    assert seconds < 10
    assert broken != breaks.observe(brk.id, reference)


@pytest.mark.parametrize("brk", breaks.CATALOGUE, ids=lambda b: f"{b.id}-{b.slug}")
def test_symptom_lines_are_in_the_language_of_the_messages(brk: breaks.Break) -> None:
    """`break run ID --lang es` prints the symptom in Spanish: every line is a message of the catalogue."""
    broken = breaks.broken_module(brk.id)
    try:
        i18n.use("en")
        english = breaks.observe(brk.id, broken)
        i18n.use("es")
        spanish = breaks.observe(brk.id, broken)
    finally:
        i18n.use("en")
    assert len(spanish) == len(english) and all(es != en for es, en in zip(spanish, english, strict=True))


def test_diffs_are_the_edits() -> None:
    for brk in breaks.CATALOGUE:
        text = breaks.diff(brk.id)
        assert text.startswith("--- a/lora.py")
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


# --- the learner's workflow, in a scratch course folder, as the CLI runs it ---------------------


@pytest.fixture()
def course(tmp_path: Path) -> Path:
    (tmp_path / "course" / "learners").mkdir(parents=True)
    return tmp_path / "course"


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("MINITUNER_LANG", None)
    return subprocess.run(
        [sys.executable, "-m", "minituner", *args], cwd=cwd, env=env, capture_output=True, text=True
    )


@pytest.mark.slow
def test_workflow_predict_break_observe_fix_reset(course: Path) -> None:
    library = breaks.LORA_FILE.read_bytes()
    home = course / "learners/ana/phase-28"
    notes, broken = home / "notes/breaks.md", home / "breaks/03/lora.py"

    refused = cli(course, "break", "start", "03", "--learner", "ana")  # no prediction yet
    assert refused.returncode == 1 and "write your prediction" in refused.stderr
    assert not broken.exists() and "## Break 03" in notes.read_text()

    notes.write_text(notes.read_text() + "All 103,680 base parameters will train.\n")
    started = cli(home, "break", "start", "03", "--learner", "ana")  # from inside the workspace too
    assert started.returncode == 0 and str(broken) in started.stdout
    assert broken.read_text() == breaks.apply(PRISTINE, breaks.get("03"))
    assert cli(course, "break", "start", "01", "--learner", "ana").returncode == 1  # 01 has no prediction
    assert "122,112 of 122,112" in cli(course, "break", "run", "03", "--learner", "ana").stdout
    assert "03  The base model is not frozen" in cli(course, "break", "list", "--learner", "ana").stdout
    failing = cli(course, "break", "check", "03", "--learner", "ana")
    assert failing.returncode == 1 and "the contract tests: fail: test_" in failing.stdout

    fixed = breaks.revert(broken.read_text(), breaks.get("03")) + "# my note on the fix\n"
    broken.write_text(fixed)  # the learner's fix
    assert "18,432 of 122,112" in cli(course, "break", "run", "03", "--learner", "ana").stdout
    assert cli(course, "break", "check", "03", "--learner", "ana").returncode == 0
    listing = cli(course, "break", "list", "--learner", "ana", "--lang", "es").stdout
    assert "03  El modelo base no está congelado" in listing and "arreglado" in listing
    reset = cli(course, "break", "reset", "03", "--learner", "ana")
    assert reset.returncode == 0 and "your edits of lora.py are kept in" in reset.stdout
    kept = Path(reset.stdout.strip().rsplit(" ", 1)[-1])
    assert kept.read_text() == fixed  # nothing the learner wrote is lost
    assert broken.read_text() == breaks.apply(PRISTINE, breaks.get("03"))
    log = (home / "notes/breaks-log.jsonl").read_text()
    assert log.index('"predicted"') < log.index('"applied"') < log.index('"fixed"')
    assert breaks.LORA_FILE.read_bytes() == library  # the reference library is only ever read


def test_a_second_start_keeps_the_learners_edits(course: Path) -> None:
    notes = course / "learners/bo/phase-28/notes/breaks.md"
    cli(course, "break", "start", "00", "--learner", "bo")
    notes.write_text(notes.read_text() + "ZeroDivisionError\n")
    assert cli(course, "break", "start", "00", "--learner", "bo").returncode == 0
    broken = course / "learners/bo/phase-28/breaks/00/lora.py"
    broken.write_text(broken.read_text() + "# my own experiment\n")
    assert cli(course, "break", "start", "00", "--learner", "bo").returncode == 0
    assert broken.read_text().endswith("# my own experiment\n")


@pytest.mark.slow
def test_refusals_are_one_line_and_change_nothing(course: Path, tmp_path: Path) -> None:
    result = cli(course, "break", "run", "04", "--learner", "bo")
    assert result.returncode == 1 and "break 04 is not started for bo" in result.stderr
    notes = course / "learners/bo/phase-28/notes/breaks.md"
    notes.parent.mkdir(parents=True)
    notes.write_text("## Break 00 — x\nfirst\n## Break 00 — x\nsecond\n")
    result = cli(course, "break", "start", "00", "--learner", "bo")
    assert result.returncode == 1 and "appears twice" in result.stderr
    assert result.stderr.count("\n") == 1
    assert notes.read_text() == "## Break 00 — x\nfirst\n## Break 00 — x\nsecond\n"
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    result = cli(outside, "break", "list")
    assert result.returncode == 1 and "is not in a course folder" in result.stderr
    assert result.stderr.count("\n") == 1
    assert cli(outside, "--course", str(course), "break", "list").returncode == 0
