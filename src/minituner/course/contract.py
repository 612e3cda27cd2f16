"""The contract of lab 00, shipped with the package: run it on any lora.py with pytest.

The tests live in `minituner/course/tests/` (package data), so a wheel install can check a
learner's file and grade a class without the course repository. Running them needs the `grade`
extra (pytest, nbval): `pip install 'minituner[grade]'`.

pytest runs in a harness the file under test cannot configure: `python -I -B` (no current folder on
the path, no PYTHON* variables, no __pycache__ beside the file), `--noconftest` and a trusted ini of
ours (`-c`), a root folder and a working folder of its own, only the plugins named here, and the
outcomes sent to a descriptor (`minituner.course.harness`). The verdict requires exactly the
contract's tests: none collected, one missing, a stray one or a skipped one is never a pass.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import NotFound, NotInstalled
from ..i18n import N_, _
from . import breaks
from .verdict import PASS, Status, Verdict

TESTS = Path(__file__).with_name("tests")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
EXTRA = ("pytest", "nbval")
PLUGINS = ("minituner.course.harness",)
FIXTURES = "minituner.course.tests.conftest"  # the contract's fixtures, as a plugin (no conftest)
TRUSTED_INI = "[pytest]\n"
# Lab 01's counts, tested only when lora.py defines them (test_contract.lab01 skips them otherwise).
# No other test may skip, and these only inside the test, never while lora.py is loaded.
OPTIONAL = (
    "test_lora_parameter_count_is_r_times_in_plus_out",
    "test_lora_parameter_count_defaults_to_all_12_linears",
    "test_trainable_parameters_report_prints_what_peft_prints",
)


def require_extra() -> None:
    """Fail with one line that names the missing packages, before anything runs."""
    missing = [name for name in EXTRA if importlib.util.find_spec(name) is None]
    if missing:
        raise NotInstalled(
            _("this needs {missing}: pip install 'minituner[grade]'").format(missing=", ".join(missing))
        )


def pytest_command(
    args: list[str], scratch: str, results_fd: int, plugins: tuple[str, ...] = ()
) -> list[str]:
    """The isolated pytest command line; `scratch` is its root and working folder (not the learner's)."""
    cmd = [sys.executable, "-I", "-B", "-m", "pytest", "-q", "-p", "no:cacheprovider", "--noconftest"]
    cmd += ["-c", f"{scratch}/pytest.ini", "--rootdir", scratch, f"--results-fd={results_fd}"]
    for plugin in (*PLUGINS, *plugins):
        cmd += ["-p", plugin]
    return [*cmd, *args]


def contract_args(impl: str, select: str | None = None) -> list[str]:
    return [str(TESTS / "test_contract.py"), "--impl", impl, *(["-k", select] if select else [])]


@functools.cache
def expected_tests() -> tuple[str, ...]:
    """The contract's test names, collected here, by our own code, with no learner's file loaded."""
    require_extra()
    with tempfile.TemporaryDirectory() as tmp, open(Path(tmp) / "results", "w+") as results:
        (Path(tmp) / "pytest.ini").write_text(TRUSTED_INI)
        cmd = pytest_command([*contract_args("unused"), "--collect-only"], tmp, results.fileno(), (FIXTURES,))
        subprocess.run(cmd, cwd=tmp, capture_output=True, pass_fds=(results.fileno(),), check=False)
        results.seek(0)
        for line in results:
            record = json.loads(line)
            if "collected" in record:
                return tuple(test_name(i) for i in record["collected"])
    raise RuntimeError(_("the contract's tests could not be collected"))


def test_name(nodeid: str) -> str:
    """'test_x[3]' from '.../test_contract.py::test_x[3]' (or 'Cell 3' from a notebook's item)."""
    return nodeid.split("::", 1)[-1]


@dataclass(frozen=True)
class Results:
    """What the harness reported: the collected ids, each test's outcome, whether pytest finished."""

    collected: list[str] | None
    outcomes: dict[str, dict[str, str]]
    finished: bool

    def of_file(self, name: str) -> Results:
        """Only the tests of the file called `name` (a notebook's cells, in a run of several)."""

        def mine(nodeid: str) -> bool:
            return Path(nodeid.split("::", 1)[0]).name == name

        collected = None if self.collected is None else [i for i in self.collected if mine(i)]
        return Results(collected, {i: o for i, o in self.outcomes.items() if mine(i)}, self.finished)


def read_results(text: str) -> Results:
    """The harness's records, one JSON object a line; anything else is ignored."""
    collected: list[str] | None = None
    outcomes: dict[str, dict[str, str]] = {}
    finished = False
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict):
            continue
        if isinstance(record.get("collected"), list):
            collected = [str(i) for i in record["collected"]]
        elif "id" in record:
            seen = outcomes.get(str(record["id"]))
            if seen is None or seen["outcome"] == "passed":  # a failed setup or teardown stays a failure
                outcomes[str(record["id"])] = {
                    k: str(record.get(k, "")) for k in ("when", "outcome", "message")
                }
        elif "exit" in record:
            finished = True
    return Results(collected, outcomes, finished)


def reason(message: str) -> str:
    """The line of a failure that says what went wrong."""
    text = ANSI.sub("", message)
    errors = re.findall(r"^(?:E\s+)?(\w+(?:Error|Exception|Interrupt)\b.*|NotYet\b.*)$", text, re.M)
    line = errors[-1] if errors else next((ln for ln in reversed(text.splitlines()) if ln.strip()), "")
    return " ".join(line.split())[:200]


def groups(expected: list[str]) -> list[str]:
    """The contract's tests by function: 'test_x' for test_x[1], test_x[2], ..."""
    return list(dict.fromkeys(name.split("[")[0] for name in expected))


def error_lines(failure: str) -> str:
    """What a pytest failure says went wrong (its `E` lines), without the test's source above them."""
    return "\n".join(line for line in ANSI.sub("", failure).splitlines() if line.startswith("E "))


def points_to(test: str, failure: str) -> str:
    """The /break whose bug this failure of `test` looks like: of the breaks that test catches, the
    one whose symptom the failure shows (break 09, not 05, for a merge that is only imprecise), else
    the first; "" when it catches none."""
    caught = [b for b in breaks.CATALOGUE if b.catching_test == test]
    shown = [b for b in caught if b.symptom in error_lines(failure)] or caught
    return shown[0].id if shown else ""


def judge(results: Results, expected: list[str], output: str, timed_out: bool, where: str = "") -> Verdict:
    """The verdict on one file's tests: every expected test passed, and no other test ran. Its parts
    are the tests by function (a function passes when all its cases do)."""
    everything = groups(expected)

    def whole(verdict: Verdict) -> Verdict:  # the same verdict for every part
        return verdict.with_parts([replace(verdict, where=g) for g in everything])

    if timed_out:
        return whole(Verdict(Status.TIMEOUT, where, N_("stopped at the time limit")))
    if results.collected is None or not results.finished:
        last = (output.strip().splitlines() or [""])[-1]
        detail = N_("the tests did not run to the end: {error}")
        return whole(Verdict(Status.ERROR, where, detail, {"error": last[-200:]}))
    names = [test_name(i) for i in results.collected]
    if sorted(names) != sorted(expected):
        odd = sorted(set(names) ^ set(expected)) or sorted(names)
        detail = N_("the tests that ran are not the expected ones: {error}")
        return whole(Verdict(Status.ERROR, where, detail, {"error": ", ".join(odd[:5])}))
    by_name = {test_name(i): o for i, o in results.outcomes.items()}
    failures: dict[str, Verdict] = {}
    for name in expected:
        group, outcome, at = name.split("[")[0], by_name.get(name), f"{where} {name}".strip()
        if group in failures:
            continue
        if outcome is None:
            failures[group] = Verdict(Status.ERROR, at, N_("no outcome reported"))
        elif outcome["outcome"] == "skipped":
            if group not in OPTIONAL or outcome["when"] != "call":
                failures[group] = Verdict(Status.FAIL, at, N_("skipped, not passed"))
        elif outcome["outcome"] != "passed":
            message = reason(outcome["message"])
            slow = re.search(r"\btime ?out\b|timed out", ANSI.sub("", outcome["message"]), re.I)
            status = Status.TIMEOUT if slow else Status.FAIL
            shown = points_to(group, outcome["message"]) if outcome["when"] == "call" else ""
            failures[group] = Verdict(status, at, "{error}", {"error": message}, shown)
    parts = [replace(failures[g], where=g) if g in failures else Verdict(Status.PASS, g) for g in everything]
    first = next((failures[g] for g in everything if g in failures), PASS)
    return first.with_parts(parts)


def verify(impl: Path, select: str | None = None) -> Verdict:
    """Run the contract on the lora.py at `impl`, on this machine (a learner checking their own
    file, a break): the harness's isolation, without a sandbox. Writes nothing beside the file."""
    if not impl.is_file():
        raise NotFound(_("no such file: {path}").format(path=impl))
    require_extra()
    from .sandbox import environment

    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryFile("w+") as out:
        (Path(tmp) / "pytest.ini").write_text(TRUSTED_INI)
        cmd = pytest_command(contract_args(str(impl.resolve()), select), tmp, out.fileno(), (FIXTURES,))
        done = subprocess.run(
            cmd,
            cwd=tmp,
            env=environment({}, home=tmp),
            capture_output=True,
            text=True,
            pass_fds=(out.fileno(),),
            check=False,
        )
        out.seek(0)
        results = read_results(out.read())
    expected = list(expected_tests())
    if select:  # -k: the tests it selected, at least one, and only the contract's
        chosen = [test_name(i) for i in results.collected or []]
        if not chosen:
            return Verdict(Status.ERROR, "", N_("-k {error} selects no test"), {"error": select})
        expected = [name for name in expected if name in chosen] or chosen
    return judge(results, expected, done.stdout + done.stderr, timed_out=False)
