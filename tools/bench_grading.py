"""Benchmark: how long grading takes, per workspace and for a class.

Run with `make bench-grading` (or `python tools/bench_grading.py N`). Grades N distinct copies of
the worked example (each notebook differs by a comment, so no verdict is shared through the cache)
with two jobs, then grades the unchanged class again, and prints the seconds of each and the time a
class of 30 would take at the measured rate. The CPU seconds of the graders (user + system, all
child processes) are printed beside the wall time: unlike the wall time, they do not grow when
something else runs on the machine. The time spent writing the reports (gradebook, points,
predictions and each learner's feedback) is printed as its share of the first grading. The
sandbox's own cost per workspace (bubblewrap and the rlimits around its two runs, the contract and
the notebooks) is measured apart: the same Python started in it and out of it.
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from minituner.course import feedback, grading, sandbox
from minituner.course.grading import grade

EXAMPLE = Path(__file__).parent.parent / "learners" / "example"


def distinct_copy(target: Path, n: int) -> None:
    """The worked example, with a comment in the first code cell of each notebook: its own bytes."""
    shutil.copytree(EXAMPLE, target)
    for path in (target / "phase-28" / "notebooks").glob("*.ipynb"):
        nb = json.loads(path.read_text())
        first = next(c for c in nb["cells"] if c["cell_type"] == "code")
        first["source"] = f"# learner {n}\n" + "".join(first["source"])
        path.write_text(json.dumps(nb))


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def sandbox_cost(repeats: int = 5) -> float:
    """Seconds a workspace's two sandboxed runs cost over the same two Pythons started directly."""
    argv = [sys.executable, "-I", "-c", "import pytest, minituner"]
    with tempfile.TemporaryDirectory() as tmp:
        copy, scratch = Path(tmp) / "copy", Path(tmp) / "scratch"
        copy.mkdir()
        scratch.mkdir()
        sandbox.prepare(copy, scratch)
        inside = outside = 0.0
        for _ in range(repeats):  # interleaved: a load on the machine weighs on both alike
            start = time.perf_counter()
            sandbox.run(argv, copy, scratch, writable=False, limits=sandbox.Limits(), env={}, timeout=60)
            inside += time.perf_counter() - start
            start = time.perf_counter()
            subprocess.run(argv, cwd=tmp, env=sandbox.environment({}, home=tmp), check=True)
            outside += time.perf_counter() - start
    return 2 * (inside - outside) / repeats


REPORTS = ((grading, "write_gradebook"), (grading, "write_predictions"), (feedback, "write"))


def timing_reports() -> list[float]:
    """Time every call of the functions that write the gradebook, the predictions report and the
    feedback reports, from now on: the list of their seconds grows as grading calls them."""
    spent: list[float] = []
    for module, name in REPORTS:
        original = getattr(module, name)

        def timed(*args: object, _original: Callable[..., object] = original, **kwargs: object) -> object:
            start = time.perf_counter()
            try:
                return _original(*args, **kwargs)
            finally:
                spent.append(time.perf_counter() - start)

        setattr(module, name, timed)
    return spent


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 4
    with tempfile.TemporaryDirectory() as tmp:
        learners = Path(tmp) / "learners"
        learners.mkdir()
        for i in range(n):
            distinct_copy(learners / f"learner{i:02d}", i)
        reports = timing_reports()
        start, cpu = time.perf_counter(), children_cpu()
        _, graded, passed = grade(learners, jobs=2, rerun=True)
        first, cpu = time.perf_counter() - start, children_cpu() - cpu
        written = sum(reports)
        start = time.perf_counter()
        grade(learners, jobs=2)
        again = time.perf_counter() - start
    print(f"{graded} distinct workspaces, --jobs 2: {first:.0f} s ({passed} pass everything)")
    per = 2 * first / graded
    print(f"per workspace: {per:.0f} s of one job (one thread each), {cpu / graded:.0f} s of CPU")
    print(f"a class of 30 at this rate, --jobs 2: {30 * first / graded / 60:.1f} min")
    print(f"the same class again, unchanged: {again:.1f} s")
    print(
        f"the reports (gradebook, points, predictions, feedback) in the first grading: {written:.2f} s, "
        f"{written / first:.1%} of it"
    )
    print(f"the sandbox's cost per workspace (two runs): {sandbox_cost():.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
