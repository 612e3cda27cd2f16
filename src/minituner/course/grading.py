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
from dataclasses import dataclass
from pathlib import Path

from ..i18n import N_, gettext_for
from . import checks, contract, handin, sandbox
from .verdict import PASS, Status, Verdict
from .workspace import (
    ANSWER,
    EXERCISES,
    EXPECTED,
    PHASE,
    PREDICTION,
    Workspace,
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
CHECK_CALL = re.compile(r"""check\(\s*["'](\d\d\.\w+)["']""")


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


def grade_predictions(ws: Workspace) -> Verdict:
    """Pass when every prediction cell holds the learner's text, else which ones are empty."""
    empty = []
    for name in EXERCISES:
        template = json.loads(exercise_path(name, ws.language).read_text())["cells"]
        try:
            handed_in = json.loads(ws.notebook(name).read_text())["cells"]
            written = {
                m.group(1): "".join(c["source"])
                for c in handed_in
                if c["cell_type"] == "markdown" and (m := PREDICTION.search("".join(c["source"])))
            }
        except (OSError, ValueError, KeyError, TypeError):
            written = {}
        for cell in template:
            marker = PREDICTION.search("".join(cell["source"]))
            if cell["cell_type"] != "markdown" or marker is None:
                continue
            blank = " ".join(ANSWER.sub("", "".join(cell["source"])).split())
            if " ".join(written.get(marker.group(1), blank).split()) == blank:
                empty.append(marker.group(1))
    return Verdict(Status.MISSING, "", "{error}", {"error": ", ".join(empty)}) if empty else PASS


def grade_breaks(ws: Workspace) -> Verdict:
    if not ws.log_file.exists():
        return Verdict(Status.MISSING, "", N_("no break attempted"))
    try:
        events = [json.loads(line) for line in ws.log_file.read_text().splitlines() if line.strip()]
        written = predictions(ws.notes) if ws.notes.exists() else {}
        predicted: set[str] = set()
        for event in events:
            if event["event"] == "predicted" and written.get(event["break"]):
                predicted.add(event["break"])
            if event["event"] == "applied" and event["break"] not in predicted:
                return Verdict(
                    Status.FAIL,
                    "",
                    N_("break {id} was applied before a prediction was written"),
                    {"id": str(event["break"])},
                )
    except (ValueError, OSError, KeyError, TypeError) as err:
        return Verdict(Status.ERROR, "notes/", "{error}", {"error": str(err)[:200]})
    return PASS


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
        return Verdict(Status.MISSING, "lab/lora.py")
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


def prepare_notebook(ws: Workspace, name: str) -> Verdict | list[str]:
    """A lab's verdict when it needs no run (missing, not a notebook, a check cell edited); else the
    notebook's code cells, the notebook made ready: its check cells hold the reference's outputs."""
    path = ws.notebook(name)
    if not path.exists():
        return Verdict(Status.MISSING, f"notebooks/{name}.ipynb")
    try:
        nb = json.loads(path.read_text())
        cells = [c for c in nb["cells"] if isinstance(c, dict)]
        code = ["".join(c["source"]) for c in cells if c.get("cell_type") == "code"]
    except (ValueError, KeyError, TypeError) as err:
        return Verdict(
            Status.ERROR, f"notebooks/{name}.ipynb", N_("not a notebook: {error}"), {"error": str(err)[:200]}
        )
    expected = [c for c in json.loads(exercise_path(name, "en").read_text())["cells"] if is_check(c)]
    found = [c for c in cells if is_check(c)]
    if ["".join(c["source"]) for c in found] != ["".join(c["source"]) for c in expected]:
        return Verdict(Status.FAIL, f"notebooks/{name}.ipynb", N_("a check cell was edited or deleted"))
    for cell, reference in zip(found, expected, strict=True):
        cell["outputs"] = reference["metadata"][EXPECTED]  # compare with the reference, not what was saved
        cell["metadata"] = {}  # no nbval option (skip, raises-exception) slipped into a check cell
        cell["execution_count"] = 1
    nb["cells"] = cells
    path.write_text(json.dumps(nb, sort_keys=True))
    return code


def checks_of(name: str) -> list[str]:
    """The self-checks a lab's check cells call, from the package's copy of its workbook."""
    cells = json.loads(exercise_path(name, "en").read_text())["cells"]
    return [m for c in cells if is_check(c) for m in CHECK_CALL.findall("".join(c["source"]))]


def grade_notebooks(ws: Workspace, run: Runner, cache: Cache, others: bytes) -> dict[str, Verdict]:
    """Every lab's verdict. The notebooks that need a run go through nbval together, in one sandbox;
    a lab passes when every cell ran and every one of its self-checks' records is judged right."""
    verdicts: dict[str, Verdict] = {}
    pending: dict[str, tuple[str, int]] = {}  # name -> (cache key, code cells)
    for name in EXERCISES:
        prepared = prepare_notebook(ws, name)
        if isinstance(prepared, Verdict):
            verdicts[name] = prepared
            continue
        k = key("notebook", name, json.dumps(prepared), others)
        cached = cache.get(k)
        if cached is not None:
            verdicts[name] = cached
        else:
            pending[name] = (k, len(prepared))
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
    for name, (k, cells) in pending.items():
        verdict = contract.judge(
            outcome.of_file(f"{name}.ipynb"),
            [f"Cell {i}" for i in range(cells)],
            done.output,
            done.timed_out,
            where=f"notebooks/{name}.ipynb",
        )
        if verdict.passed:
            for check in checks_of(name):
                if check not in judged:
                    verdict = Verdict(Status.FAIL, check, N_("the check did not run"))
                elif judged[check] is not None:
                    verdict = Verdict(Status.FAIL, check, str(judged[check]))
                if not verdict.passed:
                    break
        verdicts[name] = verdict
        cache.put(k, verdict)
    return verdicts


REFUSAL_ITEM = {"notebooks": "lab", "lab": "contract", "notes": "breaks", "learner.toml": "predictions"}


def grade_workspace(home: Path, settings: Settings, cache: Cache) -> dict[str, Verdict]:
    """One learner's row: graded on a copy of what they handed in, their code run in sandboxes."""
    with tempfile.TemporaryDirectory(prefix="minituner-grade-") as tmp:
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
        row = {"predictions": grade_predictions(ws), "breaks": grade_breaks(ws)}
        row["contract"] = grade_contract(ws, run, cache, lab)
        notebooks = grade_notebooks(ws, run, cache, others)
        row |= {column: notebooks[name] for column, name in LABS.items()}
    for refusal in refused:
        top = refusal.path.split("/")[0]
        item = REFUSAL_ITEM.get(top, "contract")
        if item == "lab":
            item = next((c for c, n in LABS.items() if refusal.path.endswith(f"{n}.ipynb")), "lab 00")
        row[item] = Verdict(Status.ERROR, refusal.path, N_("refused: {error}"), {"error": refusal.reason})
    return row


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
) -> tuple[Path, int, int]:
    """Grade every learners/NAME/phase-28 and write gradebook.csv and gradebook.md into `learners`.

    Returns the csv's path, the number of workspaces and how many passed every item.
    """
    _ = gettext_for(lang)  # the gradebook's language
    contract.require_extra()
    if sandboxed:
        sandbox.bwrap()  # refuse at once, in one line, when bubblewrap is missing
    else:
        sandbox.require_unsandboxed_python()
    if not learners.is_dir():
        raise FileNotFoundError(_("no such folder: {path}").format(path=learners))
    homes = sorted(
        p / PHASE for p in learners.iterdir() if not p.is_symlink() and p.is_dir() and (p / PHASE).is_dir()
    )
    if not homes:
        raise FileNotFoundError(_("no workspace (NAME/phase-28/) under {path}").format(path=learners))
    cache_dir = learners / ".grading-cache"
    if rerun:
        shutil.rmtree(cache_dir, ignore_errors=True)
    settings = Settings(cell_timeout, timeout, sandbox.Limits(memory=memory), sandboxed, learners)
    cache = Cache(cache_dir)
    contract.expected_tests()  # collected once, before any learner's code runs

    def one(home: Path) -> dict[str, Verdict]:
        try:
            return grade_workspace(home, settings, cache)
        except Exception as err:  # noqa: BLE001 - one workspace never stops the class
            broken = Verdict(
                Status.ERROR,
                "",
                N_("the grader failed on this workspace: {error}"),
                {"error": repr(err)[:200]},
            )
            return dict.fromkeys(ITEMS, broken)

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        rows = list(pool.map(one, homes))
    write_gradebook(learners, [h.parent.name for h in homes], rows, _, sandboxed)
    return learners / "gradebook.csv", len(rows), sum(all(v.passed for v in r.values()) for r in rows)


def write_gradebook(
    learners: Path, names: list[str], rows: list[dict[str, Verdict]], _: Callable[[str], str], sandboxed: bool
) -> None:
    templates = [HEADERS["lab" if item in LABS else item] for item in ITEMS]
    header = [
        _("learner"),
        *(_(t).format(n=i[4:]) for t, i in zip(templates, ITEMS, strict=True)),
        _("total"),
    ]
    table = []
    for name, row in zip(names, rows, strict=True):
        passed = sum(row[k].passed for k in ITEMS)
        table.append([name, *(row[k].text(_) for k in ITEMS), f"{passed}/{len(ITEMS)}"])
    with (learners / "gradebook.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(table)
    lines = [_("# Gradebook"), ""]
    if not sandboxed:
        lines += [_(NO_SANDBOX), ""]
    lines += ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    lines += ["| " + " | ".join(markdown_cell(c) for c in row) + " |" for row in table]
    (learners / "gradebook.md").write_text("\n".join(lines) + "\n")


MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|<>~])")


def markdown_cell(text: str) -> str:
    """Text a learner's code may have written, made inert in a Markdown table: no markup, no HTML,
    no line break."""
    return MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(text.split())).replace("&", "&amp;")
