"""Same checks, same grades on every machine, simulated on this one.

A learner's laptop has another core count and other CPU kernels, which round differently. Every
stored notebook output must still compare equal under nbval, and the worked example must still
pass every grading item. `make test` itself is the one-thread machine; the two others are here:
three threads, and PyTorch's scalar kernels (ATEN_CPU_CAPABILITY=default), whose rounding differs
from the AVX kernels the reference run used. Each class runs on its own xdist worker.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from minituner.course.grading import SANITIZE

ROOT = Path(__file__).parent.parent
NOTEBOOKS = sorted(str(p) for p in (ROOT / "notebooks").glob("*.ipynb") if not p.name.endswith(".es.ipynb"))
EXAMPLE = ROOT / "learners" / "example" / "phase-28"


def run_notebooks(env: dict[str, str]) -> None:
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "--nbval"]
    cmd += ["--nbval-current-env", "--nbval-sanitize-with", str(SANITIZE), *NOTEBOOKS]
    done = subprocess.run(cmd, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-4000:]


def grade_example(env: dict[str, str], cache: Path) -> dict[str, str]:
    cmd = [sys.executable, "-m", "minituner.course.grading", str(EXAMPLE), "60", str(cache)]
    done = subprocess.run(cmd, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip(), done.stderr[-4000:]
    row: dict[str, str] = json.loads(done.stdout.strip().splitlines()[-1])
    return row


@pytest.mark.slow
class TestThreeThreads:
    env = {"OMP_NUM_THREADS": "3"}

    def test_stored_outputs_hold(self) -> None:
        run_notebooks(self.env)

    def test_example_grades_pass(self, tmp_path: Path) -> None:
        assert set(grade_example(self.env, tmp_path).values()) == {"pass"}


@pytest.mark.slow
class TestScalarKernels:
    env = {"OMP_NUM_THREADS": "1", "ATEN_CPU_CAPABILITY": "default"}

    def test_stored_outputs_hold(self) -> None:
        run_notebooks(self.env)

    def test_example_grades_pass(self, tmp_path: Path) -> None:
        assert set(grade_example(self.env, tmp_path).values()) == {"pass"}
