"""Grade a class: every lab's notebook (nbval), the predictions, lab/lora.py (the contract) and the
breaks, one row per learner and a total.

The grader treats every file of a workspace as written by someone who wants the grade without the
work. It grades a copy of what the learner handed in (`handin`: an allowlist, regular files only),
runs the learner's code only in a sandbox of its own (`sandbox`: bubblewrap, rlimits, no network,
nothing outliving it) under a pytest it cannot configure (`contract`, `harness`), and trusts only
what arrives outside the sandbox: the outcomes on a descriptor, and the self-checks' records judged
by this process (`checks.judge`), never what a notebook prints. Verdicts are data (`verdict`); each
is kept in the cache under a hash of everything it depends on (the graded files, the library's
code, the checks), without a language, and translated only in the gradebook.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import json
import os
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..errors import NotFound
from ..i18n import N_, gettext_for
from . import breaks, checks, contract, feedback, handin, mystery, sandbox
from .predictions import Said, workbooks
from .predictions import read as read_predictions
from .predictions import report as write_predictions
from .rubric import Rubric
from .verdict import PASS, Status, Verdict
from .workspace import (
    EXERCISES,
    EXPECTED,
    PHASE,
    Workspace,
    check_ids,
    exercise_path,
    is_check,
    predictions,
)

LABS = {f"lab {name[:2]}": name for name in EXERCISES}  # column -> notebook
ITEMS = [*LABS, "predictions", "contract", "breaks"]
HEADERS = {
    "lab": N_("lab {n}"),
    "predictions": N_("predictions"),
    "contract": N_("contract"),
    "breaks": N_("breaks"),
}
SANITIZE = Path(__file__).parent.parent / "nbval-sanitize.cfg"
NO_SANDBOX = N_("Graded without a sandbox (--no-sandbox): the learners' code ran with the grader's rights.")


@dataclass(frozen=True)
class Settings:
    cell_timeout: float = 60.0  # seconds per notebook cell
    timeout: float = 300.0  # seconds per learner, all their runs together
    limits: sandbox.Limits = sandbox.Limits()
    sandboxed: bool = True
    hidden: Path | None = None  # the class's folder: never mounted in a sandbox


@functools.cache
def library_version() -> str:
    """A hash of the installed package's code, checks and exercises: a cached verdict holds only for it."""
    digest = hashlib.sha256()
    package = Path(__file__).parent.parent
    for path in sorted([*package.rglob("*.py"), *package.rglob("*.ipynb"), SANITIZE]):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def key(*parts: str | bytes) -> str:
    digest = hashlib.sha256(library_version().encode())
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()


class Cache:
    """Verdicts by key, one small JSON file each, written only by the grader. A file that does not
    read back as a verdict (truncated, edited) is a miss, never an error."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def get(self, k: str) -> Verdict | None:
        try:
            return Verdict.from_json(json.loads((self.folder / f"{k}.json").read_text()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def put(self, k: str, verdict: Verdict) -> None:
        """Keep a verdict, but never a timeout: it may be the machine's load, not the learner's code."""
        if verdict.status is Status.TIMEOUT:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        partial = self.folder / f"{k}.{os.getpid()}.{secrets.token_hex(4)}"
        partial.write_text(json.dumps(verdict.to_json()))
        partial.replace(self.folder / f"{k}.json")  # atomic: a parallel grader never reads half a file


# --- What needs no run: the predictions and the breaks, read from the copy -------------------------


def prediction_ids() -> list[str]:
    """Every prediction cell of the five workbooks, in order."""
    return list(workbooks("en").questions)


def grade_predictions(said: Said) -> Verdict:
    """Pass when every prediction cell holds the learner's own text (what the class report shows of
    it: more than the cell's question), else which ones are empty; a part per prediction."""
    parts = [passed_at(i) if said.cells.get(i) else Verdict(Status.MISSING, i) for i in prediction_ids()]
    empty = [p.where for p in parts if not p.passed]
    if empty:
        return Verdict(Status.MISSING, "", "{error}", {"error": ", ".join(empty)}, parts=tuple(parts))
    return PASS.with_parts(parts)


def grade_breaks(ws: Workspace) -> Verdict:
    """The named breaks' verdict, with the mystery break's diagnosis as one more part: a part that
    earns its points or not, without changing whether the column passes (see `mystery`)."""
    named = grade_named_breaks(ws)
    return named.with_parts([*named.parts, mystery.part(ws)])


def grade_named_breaks(ws: Workspace) -> Verdict:
    """Pass when every break applied had a written prediction first; a part per break of the
    catalogue (missing until it is started)."""
    ids = [b.id for b in breaks.CATALOGUE]
    if not ws.log_file.exists():
        return Verdict(
            Status.MISSING, "", N_("no break attempted"), parts=tuple(Verdict(Status.MISSING, i) for i in ids)
        )
    try:
        events = [json.loads(line) for line in ws.log_file.read_text().splitlines() if line.strip()]
        written = predictions(ws.notes) if ws.notes.exists() else {}
        predicted: set[str] = set()
        state: dict[str, Verdict] = {}
        first: Verdict | None = None
        for event in events:
            brk = str(event["break"])
            if event["event"] == "predicted" and written.get(brk):
                predicted.add(brk)
            if event["event"] == "applied" and brk in ids and brk not in state:
                if brk in predicted:
                    state[brk] = passed_at(brk)
                else:
                    state[brk] = Verdict(
                        Status.FAIL,
                        brk,
                        N_("break {id} was applied before a prediction was written"),
                        {"id": brk},
                    )
                    first = first or Verdict(Status.FAIL, "", state[brk].detail, state[brk].args)
    except (ValueError, OSError, KeyError, TypeError) as err:
        return Verdict(
            Status.ERROR,
            "notes/",
            "{error}",
            {"error": str(err)[:200]},
            parts=tuple(Verdict(Status.ERROR, i) for i in ids),
        )
    parts = tuple(state.get(i, Verdict(Status.MISSING, i)) for i in ids)
    return (first or PASS).with_parts(list(parts))


def passed_at(where: str) -> Verdict:
    return Verdict(Status.PASS, where)


# --- What runs the learner's code: the contract and the notebooks, each in a sandbox ---------------


class Runner:
    """One workspace's sandboxed runs: a fresh scratch folder each, and a deadline for them all."""

    def __init__(self, copy: Path, tmp: Path, settings: Settings) -> None:
        self.copy, self.tmp, self.settings = copy, tmp, settings
        self.deadline = time.monotonic() + settings.timeout
        self.runs = 0

    def scratch(self) -> tuple[Path, str]:
        """A new scratch folder (the run's root and working folder): its path here and inside."""
        self.runs += 1
        folder = self.tmp / f"run{self.runs}"
        folder.mkdir(mode=0o700)
        (folder / "pytest.ini").write_text(contract.TRUSTED_INI)
        sandbox.prepare(folder)
        return folder, sandbox.inside(folder, self.copy, folder, self.settings.sandboxed)

    def path(self, inside_copy: Path) -> str:
        return sandbox.inside(inside_copy, self.copy, self.tmp, self.settings.sandboxed)

    def __call__(
        self, argv: list[str], scratch: Path, *, writable: bool, env: dict[str, str], fd: int
    ) -> sandbox.Run:
        left = max(1.0, self.deadline - time.monotonic())
        return sandbox.run(
            argv,
            self.copy,
            scratch,
            writable=writable,
            limits=self.settings.limits,
            env=env,
            timeout=left,
            pass_fds=(fd,),
            sandboxed=self.settings.sandboxed,
            hidden=self.settings.hidden,
        )


def grade_contract(ws: Workspace, run: Runner, cache: Cache, lab_files: bytes) -> Verdict:
    """The contract on lab/lora.py, its copy mounted read-only; a failing test points at its /break."""
    if not ws.lora.exists():
        return everywhere(
            Verdict(Status.MISSING, "lab/lora.py"), contract.groups(list(contract.expected_tests()))
        )
    k = key("contract", lab_files)
    cached = cache.get(k)
    if cached is not None:
        return cached
    scratch, inside = run.scratch()
    with tempfile.TemporaryFile("w+", dir=run.tmp) as results:
        args = contract.contract_args(run.path(ws.lora))
        argv = contract.pytest_command(args, inside, results.fileno(), (contract.FIXTURES,))
        done = run(argv, scratch, writable=False, env={}, fd=results.fileno())
        results.seek(0)
        outcome = contract.read_results(results.read())
        verdict = contract.judge(outcome, list(contract.expected_tests()), done.output, done.timed_out)
    cache.put(k, verdict)
    return verdict


def lab_checks(name: str) -> list[str]:
    """Every check of a lab, from the package's copy of its workbook."""
    return list(workbooks("en").lab_checks[name])


@dataclass(frozen=True)
class Prepared:
    code: list[str]  # the code cells, what runs
    checks: list[tuple[int, list[str]]]  # each check cell's index among the code cells, its checks


def prepare_notebook(ws: Workspace, name: str) -> Verdict | Prepared:
    """A lab's verdict when it needs no run (missing, not a notebook, a check cell edited); else the
    notebook made ready (its check cells hold the reference's outputs) and what runs in it."""
    path, where = ws.notebook(name), f"notebooks/{name}.ipynb"
    every = [Verdict(Status.MISSING, i) for i in lab_checks(name)]
    if not path.exists():
        return Verdict(Status.MISSING, where, parts=tuple(every))
    try:
        nb = json.loads(path.read_text())
        cells = [c for c in nb["cells"] if isinstance(c, dict)]
        code = ["".join(c["source"]) for c in cells if c.get("cell_type") == "code"]
    except (ValueError, KeyError, TypeError) as err:
        detail, args = N_("not a notebook: {error}"), {"error": str(err)[:200]}
        return Verdict(
            Status.ERROR, where, detail, args, parts=tuple(replace(v, status=Status.ERROR) for v in every)
        )
    expected = [c for c in json.loads(exercise_path(name, "en").read_text())["cells"] if is_check(c)]
    found = [c for c in cells if is_check(c)]
    if ["".join(c["source"]) for c in found] != ["".join(c["source"]) for c in expected]:
        edited = N_("a check cell was edited or deleted")
        return Verdict(
            Status.FAIL,
            where,
            edited,
            parts=tuple(replace(v, status=Status.FAIL, detail=edited) for v in every),
        )
    for cell, reference in zip(found, expected, strict=True):
        cell["outputs"] = reference["metadata"][EXPECTED]  # compare with the reference, not what was saved
        cell["metadata"] = {}  # no nbval option (skip, raises-exception) slipped into a check cell
        cell["execution_count"] = 1
    nb["cells"] = cells
    path.write_text(json.dumps(nb, sort_keys=True))
    code_cells = [c for c in cells if c.get("cell_type") == "code"]
    marks = [(i, check_ids(name, "".join(c["source"]))) for i, c in enumerate(code_cells) if is_check(c)]
    return Prepared(code, marks)


def grade_notebooks(ws: Workspace, run: Runner, cache: Cache, others: bytes) -> dict[str, Verdict]:
    """Every lab's verdict, with a part per check. The notebooks that need a run go through nbval
    together, in one sandbox; a check passes when its cell ran and its record is judged right here."""
    verdicts: dict[str, Verdict] = {}
    pending: dict[str, tuple[str, Prepared]] = {}  # name -> (cache key, what runs)
    for name in EXERCISES:
        prepared = prepare_notebook(ws, name)
        if isinstance(prepared, Verdict):
            verdicts[name] = prepared
            continue
        k = key("notebook", name, json.dumps(prepared.code), others)
        cached = cache.get(k)
        if cached is not None:
            verdicts[name] = cached
        else:
            pending[name] = (k, prepared)
    if not pending:
        return verdicts
    seed = secrets.randbelow(2**31)
    scratch, inside = run.scratch()
    args = ["--nbval-lax", "--nbval-current-env", f"--nbval-cell-timeout={run.settings.cell_timeout}"]
    args += ["--nbval-sanitize-with", str(SANITIZE), *(run.path(ws.notebook(name)) for name in pending)]
    env = {"MINITUNER_CHECK_SEED": str(seed), "MINITUNER_CHECK_RECORD": f"{inside}/checks.jsonl"}
    with tempfile.TemporaryFile("w+", dir=run.tmp) as results:
        argv = contract.pytest_command(args, inside, results.fileno(), ("nbval.plugin",))
        done = run(argv, scratch, writable=True, env=env, fd=results.fileno())
        results.seek(0)
        outcome = contract.read_results(results.read())
    written = handin.read_regular(scratch / "checks.jsonl")  # the notebooks could have made it a link
    records = written.decode(errors="replace").splitlines() if written else []
    judged = checks.judge(records, seed)  # here, outside the sandbox: the records are only data
    for name, (k, prepared) in pending.items():
        mine = outcome.of_file(f"{name}.ipynb")
        cells = [f"Cell {i}" for i in range(len(prepared.code))]
        verdict = contract.judge(mine, cells, done.output, done.timed_out, where=f"notebooks/{name}.ipynb")
        parts = [
            part for index, ids in prepared.checks for part in check_parts(ids, mine, index, verdict, judged)
        ]
        if verdict.passed:
            verdict = next((p for p in parts if not p.passed), verdict)
        verdicts[name] = verdict.with_parts(parts)
        cache.put(k, verdicts[name])
    return verdicts


def check_parts(
    ids: list[str], results: contract.Results, index: int, run: Verdict, judged: dict[str, str | None]
) -> list[Verdict]:
    """The verdict on each check of one check cell: its cell's outcome, then its judged record."""
    cell = {contract.test_name(i): o for i, o in results.outcomes.items()}.get(f"Cell {index}")
    parts = []
    for check in ids:
        if cell is None:  # the run never reached the cell: the run's own verdict
            parts.append(Verdict(run.status if not run.passed else Status.ERROR, check, run.detail, run.args))
        elif cell["outcome"] != "passed":
            parts.append(Verdict(Status.FAIL, check, "{error}", {"error": contract.reason(cell["message"])}))
        elif check in checks.CHECKS and check not in judged:
            parts.append(Verdict(Status.FAIL, check, N_("the check did not run")))
        elif check in checks.CHECKS and judged[check] is not None:
            parts.append(Verdict(Status.FAIL, check, str(judged[check])))
        else:
            parts.append(passed_at(check))
    return parts


REFUSAL_ITEM = {"notebooks": "lab", "lab": "contract", "notes": "breaks", "learner.toml": "predictions"}


def grade_workspace(home: Path, settings: Settings, cache: Cache) -> tuple[dict[str, Verdict], Said]:
    """One learner's row, and what they predicted (in their workspace's language): graded on a copy
    of what they handed in, their code run in sandboxes."""
    with tempfile.TemporaryDirectory(prefix="minituner-grade-", ignore_cleanup_errors=True) as tmp:
        copy = Path(tmp) / PHASE
        refused = handin.copy(home, copy)
        ws = Workspace(copy)
        files = sorted(p for p in copy.rglob("*") if p.is_file())
        lab = b"".join(
            str(p.relative_to(copy)).encode() + b"\0" + p.read_bytes()
            for p in files
            if p.parent == copy / "lab"
        )
        others = b"".join(
            str(p.relative_to(copy)).encode() + b"\0" + p.read_bytes()
            for p in files
            if p.parent != ws.notebooks
        )
        run = Runner(copy, Path(tmp), settings)
        sandbox.prepare(copy)
        lang = ws.language  # read, as everything of the copy, before any of the learner's code runs
        said = replace(read_predictions(copy), language=lang)
        row = {"predictions": grade_predictions(said), "breaks": grade_breaks(ws)}
        row["contract"] = grade_contract(ws, run, cache, lab)
        notebooks = grade_notebooks(ws, run, cache, others)
        row |= {column: notebooks[name] for column, name in LABS.items()}
    for refusal in refused:
        top = refusal.path.split("/")[0]
        item = REFUSAL_ITEM.get(top, "contract")
        if item == "lab":
            item = next((c for c, n in LABS.items() if refusal.path.endswith(f"{n}.ipynb")), "lab 00")
        refused_here = Verdict(Status.ERROR, refusal.path, N_("refused: {error}"), {"error": refusal.reason})
        row[item] = everywhere(refused_here, [p.where for p in row[item].parts])
    return {item: row[item] for item in ITEMS}, said


def everywhere(verdict: Verdict, ids: list[str]) -> Verdict:
    """`verdict`, and the same for each of its parts: nothing of the item could be graded."""
    return verdict.with_parts([replace(verdict, where=i) for i in ids])


def known_parts() -> dict[str, set[str]]:
    """Every part a rubric can give points to, by kind."""
    return {
        "checks": {i for name in EXERCISES for i in lab_checks(name)},
        "contract": set(contract.groups(list(contract.expected_tests()))),
        "predictions": set(),
        "breaks": {mystery.WHERE},
    }


def kind_of(item: str) -> str:
    return "checks" if item in LABS else item


# --- The class -----------------------------------------------------------------------------------


def grade(
    learners: Path,
    jobs: int = 2,
    timeout: float = 300,
    cell_timeout: float = 60,
    rerun: bool = False,
    lang: str = "en",
    sandboxed: bool = True,
    memory: int = 2 * sandbox.GiB,
    rubric: Path | None = None,
    release: bool = False,
) -> tuple[Path, int, int]:
    """Grade every learners/NAME/phase-28 and write into `learners` gradebook.csv (a verdict per
    item), points.csv (points per item and the total, by `rubric`) and gradebook.md (both),
    predictions.html and predictions.md (every learner's predictions beside what the reference run
    measured), and a feedback report per learner in feedback/NAME/, copied into their workspace
    with `release`.

    Returns the csv's path, the number of workspaces and how many passed every item.
    """
    _ = gettext_for(lang)  # the gradebook's language
    require_grader(sandboxed)
    homes = workspaces(learners, _)
    cache = open_cache(learners / ".grading-cache", rerun)
    settings = Settings(cell_timeout, timeout, sandbox.Limits(memory=memory), sandboxed, learners)
    contract.expected_tests()  # collected once, before any learner's code runs
    points = Rubric.load(rubric)
    points.refuse_unknown(known_parts(), rubric)
    graded = grade_all(homes, settings, cache, jobs, lang)
    rows = [row for row, _said in graded]
    write_gradebook(learners, [h.parent.name for h in homes], rows, lang, sandboxed, points)
    said = {home.parent.name: mine for home, (_row, mine) in zip(homes, graded, strict=True)}
    write_predictions(learners, said, lang)  # predictions.html and .md: the class's predictions
    write_feedback(learners, homes, graded, points, release)
    return learners / "gradebook.csv", len(rows), sum(all(v.passed for v in r.values()) for r in rows)


def require_grader(sandboxed: bool) -> None:
    """Refuse at once, in one line, when what grading needs is missing: the grade extra, and
    bubblewrap (or, without it, a Python that the unprivileged account can run)."""
    contract.require_extra()
    if sandboxed:
        sandbox.bwrap()
    else:
        sandbox.require_unsandboxed_python()


def workspaces(learners: Path, _: Callable[[str], str]) -> list[Path]:
    """Every learners/NAME/phase-28 (no link), sorted; at least one."""
    if not learners.is_dir():
        raise NotFound(_("no such folder: {path}").format(path=learners))
    homes = sorted(
        p / PHASE for p in learners.iterdir() if not p.is_symlink() and p.is_dir() and (p / PHASE).is_dir()
    )
    if not homes:
        raise NotFound(_("no workspace (NAME/phase-28/) under {path}").format(path=learners))
    return homes


def open_cache(folder: Path, rerun: bool) -> Cache:
    """The verdicts of earlier gradings, emptied first with `rerun`."""
    if rerun:
        shutil.rmtree(folder, ignore_errors=True)
    return Cache(folder)


def grade_all(
    homes: list[Path], settings: Settings, cache: Cache, jobs: int, lang: str
) -> list[tuple[dict[str, Verdict], Said]]:
    """Each workspace's verdicts and predictions, `jobs` at once; a workspace that breaks the grader
    gets an error on every item, and the others are graded."""

    def one(home: Path) -> tuple[dict[str, Verdict], Said]:
        try:
            return grade_workspace(home, settings, cache)
        except Exception as err:  # noqa: BLE001 - one workspace never stops the class
            broken = Verdict(
                Status.ERROR,
                "",
                N_("the grader failed on this workspace: {error}"),
                {"error": repr(err)[:200]},
            )
            return dict.fromkeys(ITEMS, broken), Said(lang)

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(one, homes))


def write_feedback(
    learners: Path,
    homes: list[Path],
    graded: list[tuple[dict[str, Verdict], Said]],
    points: Rubric,
    release: bool,
) -> None:
    """A feedback report per learner in feedback/NAME/, in their language; copied into their
    workspace with `release`."""
    kinds = {item: kind_of(item) for item in ITEMS}
    for home, (row, mine) in zip(homes, graded, strict=True):
        report = feedback.write(
            learners / "feedback", home.parent.name, row, points, mine.language, kinds, mine
        )
        if release:
            feedback.release(report, home)


def header(_: Callable[[str], str]) -> list[str]:
    """The gradebook's column names in the language of `_`: learner, the eight items, total."""
    templates = [HEADERS["lab" if i in LABS else i] for i in ITEMS]
    items = [_(template).format(n=i[4:]) for template, i in zip(templates, ITEMS, strict=True)]
    return [_("learner"), *items, _("total")]


def score(row: dict[str, Verdict], rubric: Rubric) -> list[tuple[float, float]]:
    """(earned, possible) per item, then for the total."""
    each = [rubric.score(kind_of(item), row[item]) for item in ITEMS]
    return [*each, (sum(e for e, _p in each), sum(p for _e, p in each))]


def write_gradebook(
    learners: Path,
    names: list[str],
    rows: list[dict[str, Verdict]],
    lang: str,
    sandboxed: bool,
    rubric: Rubric,
) -> None:
    """gradebook.csv and points.csv (numbers as a spreadsheet reads them: 0.5), and gradebook.md
    with both tables (numbers as the gradebook's language writes them: 0,5 in Spanish)."""
    _ = gettext_for(lang)
    columns = header(_)
    verdicts, points = [], []
    for name, row in zip(names, rows, strict=True):
        passed = sum(row[k].passed for k in ITEMS)
        verdicts.append([name, *(row[k].text(_) for k in ITEMS), f"{passed}/{len(ITEMS)}"])
        points.append([name, *(earned for earned, _possible in score(row, rubric))])
    possible = [_("points possible"), *(p for _e, p in score(rows[0], rubric))] if rows else []

    def written(table: list[list[Any]], as_number: Callable[[float], str]) -> list[list[str]]:
        return [[c if isinstance(c, str) else as_number(c) for c in row] for row in table]

    csv_points = written([possible, *points], lambda x: f"{x:g}")
    for path, table in (("gradebook.csv", verdicts), ("points.csv", csv_points)):
        with (learners / path).open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(columns)
            writer.writerows(table)
    lines = [_("# Gradebook"), ""]
    if not sandboxed:
        lines += [_(NO_SANDBOX), ""]
    shown_points = written([possible, *points], lambda x: feedback.points_text(x, lang))
    for title, table in ((_("## Points"), shown_points), (_("## Verdicts"), verdicts)):
        lines += [title, "", "| " + " | ".join(columns) + " |", "|---" * len(columns) + "|"]
        lines += ["| " + " | ".join(markdown_cell(c) for c in row) + " |" for row in table]
        lines.append("")
    (learners / "gradebook.md").write_text("\n".join(lines))


MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|<>~])")


def markdown_cell(text: str) -> str:
    """Text a learner's code may have written, made inert in a Markdown table: no markup, no HTML,
    no line break."""
    return MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(text.split())).replace("&", "&amp;")
