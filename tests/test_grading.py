"""Grading a planted class: every row is asserted, one broken learner never stops the rest, and no
cheat passes what it targets.

The worked example and a blank workspace are graded first; the planted learners are copies of
one of them with one thing changed, graded next in the same folder, so that their unchanged
notebooks are cache hits (or not handed in at all) and each row shows exactly what was planted.
The cheats are the ones that fool a pytest-based grader in public reports, each tried the way a
clever learner would.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from minituner.course import handin, workspace
from minituner.course.grading import ITEMS, LABS, grade, markdown_cell
from minituner.course.workspace import Learner

ROOT = Path(__file__).parent.parent
EXAMPLE = ROOT / "learners" / "example"
PASS = {item: "pass" for item in ITEMS} | {"total": f"{len(ITEMS)}/{len(ITEMS)}"}
LAB00, LAB01 = "notebooks/00-lora-by-hand.ipynb", "notebooks/01-lora-counts.ipynb"
MARK = "minituner-cheat-marker"  # in every file or process a cheat tries to leave behind


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


def insert_cells(path: Path, sources: list[str]) -> None:
    """New code cells after the notebook's first code cell (its imports), as a learner adds them."""
    nb = json.loads(path.read_text())
    first = next(i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code")
    cells = [
        {"cell_type": "code", "metadata": {}, "source": s, "outputs": [], "execution_count": None}
        for s in sources
    ]
    nb["cells"][first + 1 : first + 1] = cells
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


# --- The cheats ------------------------------------------------------------------------------------

PASS_EVERYTHING = """import pytest

@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    report.outcome = "passed"
    return report
"""
FORGE_JUNIT = """import atexit, sys
XML = ('<testsuites><testsuite name="pytest" tests="1" failures="0" errors="0">'
       '<testcase classname="test_contract" name="test_lora_init_identity"/></testsuite></testsuites>')
def forge():
    for arg in sys.argv:
        if arg.startswith("--junitxml="):
            open(arg.split("=", 1)[1], "w").write(XML)
forge()
atexit.register(forge)
raise SystemExit(0)
"""
SKIP_ALL = "import pytest\npytest.skip('nothing to see', allow_module_level=True)\n"
FAKE_CHECK = 'def check(name, value):\n    print(f"\\u2713 {name}")\n'
PATCH_CHECKS = """import minituner.course.checks as checks
for spec in checks.CHECKS.values():  # every function of every check now says 'right'
    for field, value in list(vars(spec).items()):
        if callable(value):
            object.__setattr__(spec, field, lambda *args, **kwargs: None)
"""
SWALLOW = """def mark(shell, etype, value, tb, tb_offset=None):
    print("\\u2713 " + str(value).split(":")[0])  # the check's name, as if it had passed

get_ipython().set_custom_exc((BaseException,), mark)
"""
COUNT_ONLY_A = ("return r * (d_in + d_out)", "return r * d_in")  # a plausible wrong count
SHADOW = 'def check(name, value):\n    print(f"\\u2713 {name}")\n'


def escapes(classmate: Path, port: int) -> list[str]:
    """Cells that try to get out of the sandbox, each on its own (a failure does not stop the next)."""
    attempts = [
        f"open('/tmp/{MARK}', 'w').write('x')",
        f"open('{Path.home()}/{MARK}', 'w').write('x')",
        f"open('/home/{MARK}', 'w').write('x')",
        f"print(open('{classmate}').read()[:20])",
        f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=3).send(b'{MARK}')",
        f"import subprocess; subprocess.Popen(['sh', '-c', 'sleep 600', '{MARK}'], start_new_session=True)",
        "blob = bytearray(3 * 2**30)",
        # what the grader reads after the run: a pipe where learner.toml was, a link for the records
        "import os; os.remove('/graded/phase-28/learner.toml'); os.mkfifo('/graded/phase-28/learner.toml')",
        "import os; os.symlink('/etc/shadow', '/graded/run/checks.jsonl')",
        "while True:\n    pass",
    ]
    return attempts


def cheater(learners: Path, name: str, base: Path) -> Path:
    shutil.copytree(base, learners / name)
    return learners / name / "phase-28"


def keep_only(home: Path, *names: str) -> None:
    """Take every notebook but `names` out of a planted workspace: each plants one case, and graded
    notebooks that it does not need would only cost time (a notebook not handed in is never run)."""
    for path in (home / "notebooks").glob("*.ipynb"):
        if path.name not in names:
            path.unlink()


@pytest.fixture(scope="module")
def planted(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, dict[str, dict[str, str]], socket.socket]:
    learners = tmp_path_factory.mktemp("course") / "learners"
    shutil.copytree(EXAMPLE, learners / "example")
    workspace.new(Learner(learners.parent, "blank"), "es")
    blank = learners / "blank"
    start = time.perf_counter()
    book, n, passed = grade(learners, jobs=2, timeout=300, cell_timeout=60, rerun=True)
    print(f"\nthe worked example and a blank workspace, all five labs: {time.perf_counter() - start:.1f} s")
    assert (n, passed) == (2, 1)

    # Copies of the example (or of the blank workspace) with one thing changed, and only the
    # notebooks that the change needs: the unchanged ones are cache hits, or not handed in.
    for name in ("wrong", "hang", "tamper", "silent", *(f"only{c[4:]}" for c in LABS)):
        shutil.copytree(EXAMPLE, learners / name)
    wrong = learners / "wrong/phase-28"
    (wrong / "lab/lora.py").write_text(
        (wrong / "lab/lora.py").read_text().replace("torch.zeros(base.out", "torch.randn(base.out")
    )
    edit_notebook(wrong / LAB00, lambda s: s.replace("torch.zeros(base.out", "torch.randn(base.out"))
    keep_only(wrong, Path(LAB00).name, Path(LAB01).name)  # a new lab/lora.py: nothing is a cache hit
    edit_notebook(  # a hang that burns no CPU: the cell's timeout ends it
        learners / "hang/phase-28" / LAB00,
        lambda s: s.replace("TARGETS = (", "import time\ntime.sleep(3600)\nTARGETS = ("),
    )
    edit_notebook(
        learners / "tamper/phase-28" / LAB00,
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
    for column, name in LABS.items():  # lab 02: every solution raises, or the rest would train on
        path = learners / f"only{column[4:]}/phase-28/notebooks/{name}.ipynb"
        edit_notebook(path, plant_bug, count=0 if name == "02-lora-finetune" else 1)

    # The cheats, on blank workspaces: configuration files in every folder, a forged result file, a
    # skip at import, a redefined or patched check, errors swallowed, a shadow package, links to a
    # classmate's files, and cells that try to get out.
    configs = cheater(learners, "configs", blank)
    keep_only(configs, Path(LAB00).name)  # pytest's configuration, were it read, would act on any lab
    for folder in (configs, *[p for p in configs.rglob("*") if p.is_dir()]):
        (folder / "conftest.py").write_text(PASS_EVERYTHING)
        (folder / "pytest.ini").write_text("[pytest]\naddopts = -p no:nbval --co\n")
        (folder / "pytest.py").write_text("import sys\nsys.exit(0)\n")
    for name, code in (("forge", FORGE_JUNIT), ("skipper", SKIP_ALL)):
        home = cheater(learners, name, blank)
        (home / "lab/lora.py").write_text(code)
        keep_only(home)  # the contract is what they target
    # Lab 01 with a wrong count that raises nothing, and a way to print the check's mark anyway.
    for name, cells in (
        ("redefine", [FAKE_CHECK]),
        ("patcher", [PATCH_CHECKS]),
        ("swallow", [SWALLOW]),
        ("shadow", []),
    ):
        home = cheater(learners, name, EXAMPLE)
        edit_notebook(home / LAB01, lambda s: s.replace(*COUNT_ONLY_A))
        if cells:
            insert_cells(home / LAB01, cells)
    shadow = learners / "shadow/phase-28"
    for folder in (shadow / "notebooks/minituner/course", shadow / "lab/minituner/course"):
        folder.mkdir(parents=True)
        (folder.parent / "__init__.py").write_text("")
        (folder / "__init__.py").write_text("")
        (folder / "checks.py").write_text(SHADOW)
    linker = cheater(learners, "linker", blank)
    keep_only(linker)
    for relative in ("lab/lora.py", LAB01):
        (linker / relative).unlink(missing_ok=True)
        (linker / relative).symlink_to(learners / "example/phase-28" / relative)
    (linker / "notes").rename(linker / "notes-mine")
    (linker / "notes").symlink_to(learners / "example/phase-28/notes")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.5)
    escape = cheater(learners, "escape", blank)
    keep_only(escape, Path(LAB00).name)
    insert_cells(
        escape / LAB00, escapes(learners / "example/phase-28/lab/lora.py", listener.getsockname()[1])
    )

    start = time.perf_counter()
    # 30 s a cell: five times what importing torch and peft takes on a loaded machine (no cell of
    # these workspaces trains), and the two that never end are stopped by it.
    book, n, passed = grade(learners, jobs=2, timeout=300, cell_timeout=30)
    print(f"graded {n - 2} planted workspaces in {time.perf_counter() - start:.1f} s")
    assert (learners / "gradebook.md").read_text().count("\n| ") == 2 * n + 3  # points, verdicts
    return learners, rows(book), listener


@pytest.fixture(scope="module")
def gradebook(planted: tuple[Path, dict[str, dict[str, str]], socket.socket]) -> dict[str, dict[str, str]]:
    return planted[1]


@pytest.mark.slow
def test_blank_workspace_fails_every_item(gradebook: dict[str, dict[str, str]]) -> None:
    row = gradebook["blank"]  # a Spanish workspace: each lab stops at its first TODO, in Spanish
    assert all(row[column].startswith("fail: ") for column in LABS), row
    assert all("NotImplementedError: TODO: escribe esta parte" in row[column] for column in LABS), row
    assert "NotImplementedError" in row["lab 00"] and "NotImplementedError" in row["contract"]
    assert row["predictions"].startswith("missing: 00.trainable, 00.merge, 01.")
    assert "02.budget" in row["predictions"]
    assert row["breaks"] == "missing: no break attempted" and row["total"] == "0/8"


@pytest.mark.slow
def test_example_passes_everything(gradebook: dict[str, dict[str, str]]) -> None:
    assert gradebook["example"] == {"learner": "example", **PASS}


@pytest.mark.slow
@pytest.mark.parametrize("column", list(LABS))
def test_a_bug_in_one_lab_fails_that_lab_only(gradebook: dict[str, dict[str, str]], column: str) -> None:
    row = gradebook[f"only{column[4:]}"]
    assert row[column].startswith("fail: ") and "planted" in row[column], row
    assert {k: v for k, v in row.items() if k not in (column, "learner", "total")} == {
        k: v for k, v in PASS.items() if k not in (column, "total")
    }
    assert row["total"] == "7/8"


@pytest.mark.slow
def test_random_B_points_at_its_break(gradebook: dict[str, dict[str, str]]) -> None:
    row = gradebook["wrong"]
    assert row["contract"].startswith("fail: test_lora_init_identity")
    assert row["contract"].endswith("— see break 01 (B initialised randomly instead of zeros)")
    assert row["lab 00"].startswith("fail: ") and row["lab 01"] == "pass" and row["breaks"] == "pass"


@pytest.mark.slow
def test_an_empty_prediction_is_reported(gradebook: dict[str, dict[str, str]]) -> None:
    row = gradebook["silent"]
    assert row["predictions"] == "missing: 02.rank" and row["lab 02"] == "pass" and row["total"] == "7/8"


@pytest.mark.slow
def test_hanging_notebook_times_out_alone(gradebook: dict[str, dict[str, str]]) -> None:
    row = gradebook["hang"]
    assert row["lab 00"].startswith("timeout")
    assert row["contract"] == "pass" and row["lab 01"] == "pass" and row["breaks"] == "pass"


@pytest.mark.slow
def test_tampered_check_cell_fails(gradebook: dict[str, dict[str, str]]) -> None:
    assert gradebook["tamper"]["lab 00"] == (
        "fail: notebooks/00-lora-by-hand.ipynb: a check cell was edited or deleted"
    )


# --- No cheat passes what it targets ----------------------------------------------------------------


def passes(row: dict[str, str]) -> set[str]:
    return {item for item in ITEMS if row[item] == "pass"}


@pytest.mark.slow
def test_pytest_configuration_in_every_folder_passes_nothing(gradebook: dict[str, dict[str, str]]) -> None:
    """conftest.py, pytest.ini and pytest.py are not handed in, and pytest would not read them."""
    assert passes(gradebook["configs"]) == set(), gradebook["configs"]
    for item in ("lab 00", "contract", "breaks"):  # graded as if the files were not there
        assert gradebook["configs"][item] == gradebook["blank"][item], item


@pytest.mark.slow
def test_a_forged_result_file_or_a_skip_at_import_is_not_a_pass(gradebook: dict[str, dict[str, str]]) -> None:
    assert not gradebook["forge"]["contract"].startswith("pass"), gradebook["forge"]
    # Its import ends the process: one error for every test, named, and no /break it would show.
    assert "importing it raised SystemExit(0)" in gradebook["forge"]["contract"], gradebook["forge"]
    assert "see break" not in gradebook["forge"]["contract"]
    assert gradebook["skipper"]["contract"].startswith("fail: test_"), gradebook["skipper"]
    assert "skipped, not passed" in gradebook["skipper"]["contract"]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["redefine", "patcher", "swallow", "shadow"])
def test_a_notebook_cannot_print_its_way_past_a_check(
    gradebook: dict[str, dict[str, str]], name: str
) -> None:
    """Lab 01 counts only A, and the notebook prints '✓ 01.per_linear' anyway: the grader trusts
    only the check's record, judged outside the sandbox."""
    row = gradebook[name]
    assert row["lab 01"].startswith("fail: "), row
    assert row["lab 00"] == row["contract"] == "pass", row


@pytest.mark.slow
def test_links_to_a_classmate_s_files_are_refused_and_named(gradebook: dict[str, dict[str, str]]) -> None:
    row = gradebook["linker"]
    assert row["contract"] == "error: lab/lora.py: refused: a symbolic link: only regular files are graded"
    assert row["lab 01"] == f"error: {LAB01}: refused: a symbolic link: only regular files are graded"
    assert row["breaks"] == "error: notes: refused: a symbolic link: only regular files are graded"
    assert passes(row) == set()


@pytest.mark.slow
def test_nothing_gets_out_of_the_sandbox(
    planted: tuple[Path, dict[str, dict[str, str]], socket.socket],
) -> None:
    learners, book, listener = planted
    row = book["escape"]
    assert row["lab 00"].startswith(("fail: ", "timeout")) and passes(row) == set(), row
    for path in (Path("/tmp") / MARK, Path.home() / MARK, Path("/home") / MARK):
        assert not path.exists(), f"{path} was written from inside the sandbox"
    with pytest.raises(TimeoutError):
        listener.accept()  # no connection ever arrived
    survivors = []
    for proc in Path("/proc").iterdir():
        try:
            if MARK.encode() in (proc / "cmdline").read_bytes():
                survivors.append(proc.name)
        except OSError:
            continue
    assert not survivors, f"processes left by a graded notebook: {survivors}"
    for honest in ("example", "only00", "silent"):
        assert book[honest]["contract"] == "pass"


@pytest.mark.slow
def test_a_blank_workspace_after_a_cheater_is_not_passed_from_the_cache(
    planted: tuple[Path, dict[str, dict[str, str]], socket.socket], tmp_path: Path
) -> None:
    """The cache is keyed on what was graded: a blank workspace with the cheater's code gets the
    cheater's verdicts, which are fails. Released feedback lands in the workspace, beside (never
    over) a file of the learner's, and nowhere else."""
    learners = tmp_path / "learners"
    learners.mkdir()
    shutil.copytree(planted[0] / ".grading-cache", learners / ".grading-cache")
    home = workspace.new(Learner(tmp_path, "late"), "es")
    (home / "feedback").mkdir()
    (home / "feedback" / "index.md").write_text("# my own notes\n")
    before = {p for p in tmp_path.rglob("*")}
    book, n, passed = grade(learners, jobs=1, timeout=300, cell_timeout=45, release=True)
    row = rows(book)["late"]
    assert passes(row) == set() and passed == 0, row
    new = {p.relative_to(tmp_path) for p in tmp_path.rglob("*")} - {p.relative_to(tmp_path) for p in before}
    in_workspace = {p for p in new if p.parts[:3] == ("learners", "late", "phase-28")}
    assert (home / "feedback" / "index.html").exists()
    assert all(p.parts[3] == "feedback" for p in in_workspace), in_workspace
    kept = [p for p in (home / "feedback").iterdir() if p.read_text() == "# my own notes\n"]
    assert len(kept) == 1 and kept[0].name != "index.md"
    assert (home / "feedback" / "index.md").read_text().splitlines()[1] == "# Comentarios para late"


@pytest.mark.slow
def test_points_add_up_and_a_partly_right_lab_earns_part_of_its_points(
    planted: tuple[Path, dict[str, dict[str, str]], socket.socket],
) -> None:
    with (planted[0] / "points.csv").open() as f:
        header, possible, *learners = list(csv.reader(f))
    table = {row[0]: [float(x) for x in row[1:]] for row in learners}
    maximum = [float(x) for x in possible[1:]]
    assert maximum[-1] == sum(maximum[:-1]) and all(row[-1] == sum(row[:-1]) for row in table.values())
    breaks = header.index("breaks") - 1  # the example started one break of ten
    assert table["example"][:breaks] == maximum[:breaks] and table["blank"][:5] == [0.0] * 5
    assert 0 < table["example"][breaks] < maximum[breaks]
    lab01 = header.index("lab 01") - 1
    assert 0 < table["only01"][lab01] < maximum[lab01], table["only01"]  # one check wrong, not all


@pytest.mark.slow
def test_each_feedback_report_names_every_check_and_hides_what_it_should(
    planted: tuple[Path, dict[str, dict[str, str]], socket.socket],
) -> None:
    from minituner.course.grading import lab_checks

    reports = planted[0] / "feedback"
    checks = [c for name in handin.EXERCISES for c in lab_checks(name)]
    tests = (Path(workspace.__file__).parent / "tests" / "test_contract.py").read_text()
    for learner in ("example", "blank", "wrong", "only01", "forge"):
        sections = (reports / learner / "index.md").read_text().split("\n## ")
        # A check's expected value is never told; a prediction is shown beside the measured value.
        told = [s for s in sections if not s.startswith(("Predictions", "Predicciones"))]
        assert not any("18432" in s or "18,432" in s or "18 432" in s for s in told), learner
        for page in ("index.md", "index.html"):
            text = (reports / learner / page).read_text()
            assert all(check in text for check in checks), (learner, page)
            assert "assert " not in text and "def test_" not in text
            for link in re.findall(r"http://127\.0\.0\.1:8000/(?:es/)?(break/[\w-]+)/", text):
                assert (ROOT / f"{link}.md").exists(), link
    assert "# Comentarios para blank" in (reports / "blank" / "index.md").read_text()
    assert "# Feedback for wrong" in (reports / "wrong" / "index.md").read_text()
    wrong = (reports / "wrong" / "index.md").read_text()
    assert "test_lora_init_identity" in wrong and "break/01-b-random/" in wrong
    assert "torch.zeros" not in wrong and tests.count("def test_") > 10
    example = (reports / "example" / "index.md").read_text()
    assert re.search(r"00\.trainable — you predicted: .* — the reference run: .*18,432", example)


def test_the_handed_in_copy_is_the_allowlist_and_nothing_else(tmp_path: Path) -> None:
    home = workspace.new(Learner(tmp_path, "ana"), "en")
    (home / "notebooks" / "conftest.py").write_text("x")
    (home / "notebooks" / "extra.ipynb").write_text("{}")
    (home / "lab" / "helper.py").write_text("x = 1\n")
    (home / "lab" / "sub").mkdir()
    (home / "lab" / "sub" / "deep.py").write_text("x")
    (home / "notes" / "big.md").write_bytes(b"x" * (handin.FILE_LIMIT + 1))
    os.mkfifo(home / "notes" / "pipe.md")
    copy = tmp_path / "copy"
    refused = handin.copy(home, copy)
    handed = sorted(str(p.relative_to(copy)) for p in copy.rglob("*") if p.is_file())
    assert handed == sorted(
        [
            "learner.toml",
            "lab/lora.py",
            "lab/helper.py",
            "notes/notes.md",
            "notes/breaks.md",
            *(f"notebooks/{name}.ipynb" for name in handin.EXERCISES),
        ]
    )
    assert {(r.path, r.reason) for r in refused} == {
        ("notes/big.md", "larger than the limit of 8 MiB"),
        ("notes/pipe.md", "not a regular file (a pipe, a socket or a device)"),
    }
    assert all(p.stat().st_mode & 0o077 == 0 for p in copy.rglob("*"))  # modes not kept: ours, 0600/0700


def test_the_gradebook_escapes_what_a_learner_printed() -> None:
    printed = "| pass | <script>alert(1)</script> [link](http://x) **bold**\nnew row"
    cell = markdown_cell(printed)
    assert "\n" not in cell and "<script>" not in cell and "](" not in cell and "**" not in cell
    assert re.search(r"(?<!\\)\|", cell) is None


def test_new_workspace_is_never_overwritten(tmp_path: Path) -> None:
    home = workspace.new(Learner(tmp_path, "ana"), "en")
    (home / "lab/lora.py").write_text("# my work\n")
    with pytest.raises(FileExistsError, match="already exists"):
        workspace.new(Learner(tmp_path, "ana"), "es")
    assert (home / "lab/lora.py").read_text() == "# my work\n"
    with pytest.raises(ValueError, match="'Ana B'"):
        Learner(tmp_path, "Ana B")


def test_a_new_workbook_has_no_output_under_any_check_cell(tmp_path: Path) -> None:
    home = workspace.new(Learner(tmp_path, "ana"), "en")
    for name in handin.EXERCISES:
        cells = json.loads((home / "notebooks" / f"{name}.ipynb").read_text())["cells"]
        assert all(c["outputs"] == [] for c in cells if c["cell_type"] == "code"), name


def test_the_solution_pages_include_the_example_lora() -> None:
    """One copy: both solution pages include the worked example's file (snippets checks the path)."""
    for page in ("solutions/00-lora-by-hand.md", "solutions/00-lora-by-hand.es.md"):
        assert '--8<-- "learners/example/phase-28/lab/lora.py"' in (ROOT / page).read_text(), page


@pytest.mark.slow
def test_gradebook_in_spanish(
    planted: tuple[Path, dict[str, dict[str, str]], socket.socket], tmp_path: Path
) -> None:
    """A blank workspace again (its verdicts come from the planted class's cache: a verdict is
    kept without a language), written in Spanish."""
    learners = tmp_path / "learners"
    learners.mkdir()
    shutil.copytree(planted[0] / ".grading-cache", learners / ".grading-cache")
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


@pytest.mark.parametrize("lang", ["en", "es"])
def test_the_skeleton_declares_what_the_contract_calls(tmp_path: Path, lang: str) -> None:
    """A new workspace's lab/lora.py (lab 00's cells tagged `lab/lora.py`, from the learner's workbook)
    declares every class method and function of the reference, same signatures, and each of its
    eight solutions is a TODO in the workspace's language."""
    import importlib.util
    import inspect

    from torch import nn

    from minituner import lora as reference
    from minituner.i18n import gettext_for

    path = workspace.new(Learner(tmp_path, "ana"), lang) / "lab/lora.py"
    todo = gettext_for(lang)("TODO: write this part")
    assert path.read_text().count(f'raise NotImplementedError("{todo}")') == 8
    assert "SOLUTION" not in path.read_text()
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
    with pytest.raises(NotImplementedError, match=todo):
        skeleton.LoRALinear(nn.Linear(2, 2))


@pytest.mark.slow
def test_the_canvas_file_matches_the_points(
    planted: tuple[Path, dict[str, dict[str, str]], socket.socket],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from minituner.course import cli, export

    points = tmp_path / "points.csv"
    shutil.copyfile(planted[0] / "points.csv", points)
    roster = tmp_path / "roster.csv"
    roster.write_text("learner,sis_id\nexample,S1\nonly01,S2\nnobody-here,S3\n")
    cli.write_export("canvas", points, export.read_roster(roster))
    said = capsys.readouterr().out
    assert "nobody-here" in said and "blank" in said  # in the roster only, and graded only: listed
    with (tmp_path / "canvas.csv").open() as f:
        canvas = list(csv.DictReader(f))
    with points.open() as f:
        table = {row[0]: row[1:] for row in csv.reader(f)}
    by_sis = {row["SIS User ID"]: row for row in canvas}
    assert by_sis["S2"]["minituner lab 01"] == table["only01"][1]
    assert [by_sis["S1"][f"minituner {item}"] for item in ITEMS] == table["example"][:-1]
