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


def first_failure(junit: Path, output: str) -> str:
    """'fail: <first failing cell or test>: <one-line reason>', from pytest's JUnit XML."""
    if not junit.exists():
        return _("error") + ": " + (output.strip().splitlines() or ["pytest did not run"])[-1][:160]
    for case in ET.parse(junit).getroot().iter("testcase"):
        for problem in (*case.iter("failure"), *case.iter("error")):
            text = ANSI.sub("", f"{problem.get('message') or ''}\n{problem.text or ''}")
            errors = re.findall(r"^(?:E\s+)?(\w+(?:Error|Exception|Interrupt)\b.*|NotYet\b.*)$", text, re.M)
            reason = errors[-1] if errors else next((ln for ln in text.splitlines() if ln.strip()), "")
            verdict = _("timeout") if re.search(r"time ?out|timed out", text, re.I) else _("fail")
            return f"{verdict}: {case.get('name')}: {' '.join(reason.split())[:160]}"
    return _("pass")


def run_pytest(args: list[str], cwd: Path, junit: Path) -> str:
    """'pass', or the first failure as one line. Nothing is written outside `cwd`."""
    require_extra()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}", *args]
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    return _("pass") if done.returncode == 0 else first_failure(junit, done.stdout + done.stderr)


def check(impl: Path, select: str | None = None) -> str:
    """Run the contract on the lora.py at `impl`: 'pass' or the first failure. Writes nothing beside it."""
    if not impl.is_file():
        raise FileNotFoundError(_("no such file: {path}").format(path=impl))
    args = [str(TESTS), "--impl", str(impl.resolve()), *(["-k", select] if select else [])]
    with tempfile.TemporaryDirectory() as tmp:
        return run_pytest(args, Path(tmp), Path(tmp) / "contract.xml")
