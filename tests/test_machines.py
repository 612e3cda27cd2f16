"""Same checks, same grades on every machine, simulated on this one.

A learner's laptop has another core count and other CPU kernels, which round differently. Every
stored notebook output must still compare equal under nbval, and the worked example must still
pass every grading item, on each machine of `figures.MACHINES` (scalar kernels, AVX2, AVX-512 at
three threads, MKL's COMPATIBLE branch). `make test` itself is the reference machine.

`make test` tries two of them on what it can afford: every notebook but the two that train (lab
02's twelve fine-tunes and theory 03's full one), whose figures the tolerances of figures.toml are
for, each notebook on one of the two in turn. `make machines` tries all four on
everything, lab 02 and the graded example included, and prints each figure's spread
(tools/machines.py), from which the tolerances are set.
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
from minituner.figures import MACHINES

ROOT = Path(__file__).parent.parent
NOTEBOOKS = sorted(str(p) for p in (ROOT / "notebooks").glob("*.ipynb") if not p.name.endswith(".es.ipynb"))
TRAINED = [str(ROOT / "notebooks" / f"{name}.ipynb") for name in ("02-lora-finetune", "theory-03-svd")]
EXAMPLE = ROOT / "learners" / "example" / "phase-28"


def run_notebooks(env: dict[str, str], notebooks: list[str]) -> None:
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "--nbval"]
    cmd += ["--nbval-current-env", "--nbval-sanitize-with", str(SANITIZE), *notebooks]
    done = subprocess.run(cmd, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-4000:]


CHEAP = ["scalar", "mkl-compatible"]


@pytest.mark.slow
@pytest.mark.parametrize("machine", CHEAP)
def test_stored_outputs_hold_but_the_trained_figures(machine: str) -> None:
    untrained = [nb for nb in NOTEBOOKS if nb not in TRAINED]
    run_notebooks(MACHINES[machine], untrained[CHEAP.index(machine) :: len(CHEAP)])


@pytest.mark.machines
@pytest.mark.parametrize("machine", list(MACHINES))
def test_every_stored_output_holds(machine: str) -> None:
    run_notebooks(MACHINES[machine], NOTEBOOKS)


@pytest.mark.machines
@pytest.mark.parametrize("machine", list(MACHINES))
def test_the_example_passes_every_item(machine: str, tmp_path: Path) -> None:
    """The worked example's row, graded by `minituner grade` with the simulated machine's kernels
    (the sandbox passes ATEN_CPU_CAPABILITY and MKL's choices on; it pins one thread)."""
    shutil.copytree(EXAMPLE.parent, tmp_path / "learners" / "example")
    cmd = [sys.executable, "-m", "minituner", "grade", str(tmp_path / "learners"), "--jobs", "1"]
    env = {**os.environ, **MACHINES[machine]}
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-4000:]
    with (tmp_path / "learners" / "gradebook.csv").open() as f:
        header, row = list(csv.reader(f))
    assert set(row[1:-1]) == {"pass"}, dict(zip(header, row, strict=True))
