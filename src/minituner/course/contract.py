"""The contract of lab 00, shipped with the package: run it on any lora.py with pytest.

The tests live in `minituner/course/tests/` (package data), so a wheel install can check a
learner's file and grade a class without the course repository. Running them needs the `grade`
extra (pytest, nbval): `pip install 'minituner[grade]'`.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

from ..i18n import _

TESTS = Path(__file__).with_name("tests")
ANSI = re.compile(r"\x1b\[[0-9;]*m|#x1B\[[0-9;]*m")
EXTRA = ("pytest", "nbval")


def require_extra() -> None:
    """Fail with one line that names the missing packages, before anything runs."""
    missing = [name for name in EXTRA if importlib.util.find_spec(name) is None]
    if missing:
        raise RuntimeError(
            _("this needs {missing}: pip install 'minituner[grade]'").format(missing=", ".join(missing))
        )


def _first_failure(cases: list[ET.Element]) -> str:
    """'pass', or 'fail: <first failing cell or test>: <one-line reason>'."""
    for case in cases:
        for problem in (*case.iter("failure"), *case.iter("error")):
            text = ANSI.sub("", f"{problem.get('message') or ''}\n{problem.text or ''}")
            errors = re.findall(r"^(?:E\s+)?(\w+(?:Error|Exception|Interrupt)\b.*|NotYet\b.*)$", text, re.M)
            reason = errors[-1] if errors else next((ln for ln in text.splitlines() if ln.strip()), "")
            verdict = _("timeout") if re.search(r"time ?out|timed out", text, re.I) else _("fail")
            return f"{verdict}: {case.get('name')}: {' '.join(reason.split())[:160]}"
    return _("pass")


def _not_run(output: str) -> str:
    return _("error") + ": " + (output.strip().splitlines() or ["pytest did not run"])[-1][:160]


def first_failure(junit: Path, output: str) -> str:
    """'fail: <first failing cell or test>: <one-line reason>', from pytest's JUnit XML."""
    if not junit.exists():
        return _not_run(output)
    return _first_failure(list(ET.parse(junit).getroot().iter("testcase")))


def verdicts_by_file(junit: Path, output: str, files: list[str]) -> dict[str, str]:
    """One verdict per file of one pytest run: a test's classname ends with its file's name."""
    if not junit.exists():
        return dict.fromkeys(files, _not_run(output))
    cases = list(ET.parse(junit).getroot().iter("testcase"))
    ran = {f: [c for c in cases if (c.get("classname") or "").endswith(f)] for f in files}
    return {f: _first_failure(found) if found else _not_run(output) for f, found in ran.items()}


def pytest(args: list[str], cwd: Path, junit: Path, plugins: tuple[str, ...] = ()) -> str:
    """Run pytest in a child process with only the named plugins; its output. Writes only in `cwd`."""
    require_extra()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # only what is needed: each plugin costs start-up time
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}"]
    cmd += [arg for plugin in plugins for arg in ("-p", plugin)]
    done = subprocess.run([*cmd, *args], cwd=cwd, env=env, capture_output=True, text=True)
    return done.stdout + done.stderr


def run_pytest(args: list[str], cwd: Path, junit: Path) -> str:
    """'pass', or the first failure as one line. Nothing is written outside `cwd`."""
    return first_failure(junit, pytest(args, cwd, junit))


def check(impl: Path, select: str | None = None) -> str:
    """Run the contract on the lora.py at `impl`: 'pass' or the first failure. Writes nothing beside it."""
    if not impl.is_file():
        raise FileNotFoundError(_("no such file: {path}").format(path=impl))
    args = [str(TESTS), "--impl", str(impl.resolve()), *(["-k", select] if select else [])]
    with tempfile.TemporaryDirectory() as tmp:
        return run_pytest(args, Path(tmp), Path(tmp) / "contract.xml")
