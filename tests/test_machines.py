"""Same checks, same grades on every machine, simulated on this one.

A learner's laptop has another core count and other CPU kernels, which round differently. Every
stored notebook output must still compare equal under nbval, and the worked example must still
pass every grading item. `make test` itself is the one-thread machine; the two others are here:
three threads, and PyTorch's scalar kernels (ATEN_CPU_CAPABILITY=default), whose rounding differs
from the AVX kernels the reference run used. Each class runs on its own xdist worker.
"""

from __future__ import annotations

import csv
import os
import shutil
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


def grade_example(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """The worked example's row, graded by `minituner grade` with the simulated machine's kernels
    (the sandbox passes ATEN_CPU_CAPABILITY and MKL's choices on; it pins one thread)."""
    shutil.copytree(EXAMPLE.parent, tmp_path / "learners" / "example")
    cmd = [sys.executable, "-m", "minituner", "grade", str(tmp_path / "learners"), "--jobs", "1"]
    done = subprocess.run(cmd, cwd=tmp_path, env={**os.environ, **env}, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-4000:]
    with (tmp_path / "learners" / "gradebook.csv").open() as f:
        header, row = list(csv.reader(f))
    return dict(zip(header[1:-1], row[1:-1], strict=True))


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
