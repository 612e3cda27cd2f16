"""The course's figures on four simulated machines: how far each lands from the reference run.

A learner's CPU rounds differently from the reference run's (other kernels, another thread count,
MKL's other code paths), and training turns a rounding difference into a few cells of accuracy.
This runs the notebooks that print figures (figures.compare) under each machine of MACHINES, reads
the measured values from their outputs and prints, per figure, the reference, each machine's value
and the largest distance in points beside the tolerance of figures.toml (or its bound). A
tolerance is set from this table: `make machines`, or `python tools/machines.py [notebook ...]`.
"""

from __future__ import annotations

import os
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from minituner.figures import FIGURES, MACHINES

ROOT = Path(__file__).parent.parent
NOTEBOOKS = ["02-lora-finetune", "03-merge-and-ship", "04-minituner-to-peft", "theory-03-svd"]
LINE = re.compile(r"^([\w.]+): measured (-?[\d.]+)%, reference run", re.M)


def run(machine: str, notebook: str) -> dict[str, float]:
    nb = nbformat.read(ROOT / "notebooks" / f"{notebook}.ipynb", as_version=4)
    env = {**os.environ, **MACHINES[machine]}
    client = NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": ROOT}})
    client.execute(env=env)
    text = "\n".join(
        output.get("text", "") for cell in nb.cells if cell.cell_type == "code" for output in cell.outputs
    )
    return {name: float(value) / 100 for name, value in LINE.findall(text)}


def main() -> int:
    notebooks = sys.argv[1:] or NOTEBOOKS
    jobs = [(machine, notebook) for machine in MACHINES for notebook in notebooks]
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda job: run(*job), jobs))
    measured: dict[str, dict[str, float]] = {machine: {} for machine in MACHINES}
    for (machine, _notebook), figures in zip(jobs, results, strict=True):
        measured[machine].update(figures)
    names = sorted({name for figures in measured.values() for name in figures})
    width = max(len(n) for n in names)
    head = "  ".join(f"{m:>16}" for m in MACHINES)
    print(f"{'figure':<{width}}  reference  {head}  largest  tolerance")
    outside = []
    for name in names:
        figure = FIGURES[name]
        values = [measured[m].get(name) for m in MACHINES]
        largest = max(abs(v - figure.value) for v in values if v is not None)
        cells = "  ".join(f"{v:>16.2%}" if v is not None else f"{'-':>16}" for v in values)
        allowed = f"<= {figure.at_most:.0%}" if figure.at_most is not None else f"{100 * figure.tolerance:g}"
        print(f"{name:<{width}}  {figure.value:>9.2%}  {cells}  {100 * largest:>7.2f}  {allowed:>9}")
        if not all(figure.holds(v) for v in values if v is not None):
            outside.append(name)
    if outside:
        print(f"outside their tolerance on some machine: {', '.join(outside)}")
    return 1 if outside else 0


if __name__ == "__main__":
    sys.exit(main())
