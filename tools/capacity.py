"""How many learners a node holds: the capacity table of learners/README.md, from measured figures.

Run with `make capacity` (or `python tools/capacity.py`). It runs the five lab notebooks of the
worked example, each in a kernel of its own at one thread (as a learner's server runs them:
OMP_NUM_THREADS=1), and measures each kernel's CPU time and its peak memory (VmHWM); it starts a
JupyterLab server, opens the lab page once, and measures the server's memory. From these, and the
assumptions printed beside them, it sizes one learner's server (what deploy/z2jh-values.yaml
guarantees and limits) and counts the learners of a node and the nodes of a class. It prints the table
in English and in Spanish.
"""

from __future__ import annotations

import argparse
import math
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import nbformat
import psutil
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

from minituner.i18n import LANGUAGES, gettext_for, number

EXAMPLE = Path(__file__).parent.parent / "learners" / "example" / "phase-28"
MIB = 1024 * 1024


@dataclass
class Run:
    name: str
    cpu: float  # seconds of CPU, the kernel's user + system time
    wall: float  # seconds
    peak: float  # MiB, the kernel's peak resident memory


def kernel_peak(pid: int) -> float:
    """Peak resident memory of a process (VmHWM), MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return psutil.Process(pid).memory_info().rss / MIB


def run_notebook(path: Path) -> Run:
    """Run one notebook top to bottom in a fresh kernel at one thread; its CPU time, wall time, peak."""
    nb = nbformat.read(path, as_version=4)
    km = KernelManager(kernel_name="python3")
    km.start_kernel(
        cwd=str(path.parent), env={**os.environ, "OMP_NUM_THREADS": "1"}, stderr=subprocess.DEVNULL
    )
    try:
        pid = km.provisioner.process.pid  # type: ignore[union-attr]
        start = time.perf_counter()
        NotebookClient(nb, km=km, timeout=900, resources={"metadata": {"path": str(path.parent)}}).execute()
        wall = time.perf_counter() - start
        times = psutil.Process(pid).cpu_times()
        return Run(path.stem, times.user + times.system, wall, kernel_peak(pid))
    finally:
        km.shutdown_kernel(now=True)


def server_memory() -> float:
    """Resident memory of a JupyterLab server that has served the lab page once, MiB."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = secrets.token_hex(16)
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "JUPYTER_CONFIG_DIR": f"{tmp}/config", "JUPYTER_RUNTIME_DIR": f"{tmp}/runtime"}
        cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}"]
        cmd += [f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={tmp}"]
        cmd += ["--allow-root"] * (os.geteuid() == 0)
        server = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{port}"
            for _ in range(120):
                try:
                    urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=1)
                    break
                except OSError:
                    time.sleep(0.5)
            urllib.request.urlopen(f"{url}/lab?token={token}", timeout=30).read()
            time.sleep(2)
            return psutil.Process(server.pid).memory_info().rss / MIB
        finally:
            server.terminate()
            server.wait(timeout=30)


def mib(value: float, step: int = 64) -> int:
    """Rounded up to a multiple of `step` MiB."""
    return int(math.ceil(value / step) * step)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--session-minutes", type=float, default=120, help="one lab session")
    parser.add_argument("--runs", type=float, default=3, help="whole-workbook runs per learner per session")
    parser.add_argument("--node-cores", type=float, default=2)
    parser.add_argument("--node-gib", type=float, default=8, help="memory of a node")
    parser.add_argument("--reserved-cores", type=float, default=0.2, help="the node's system and hub pods")
    parser.add_argument("--reserved-gib", type=float, default=1.5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "phase-28"
        shutil.copytree(EXAMPLE, work)
        runs = [run_notebook(p) for p in sorted((work / "notebooks").glob("*.ipynb"))]
    server = server_memory()
    cpu = sum(r.cpu for r in runs)
    wall = sum(r.wall for r in runs)
    kernel = max(r.peak for r in runs)

    # One learner's server: JupyterLab and one running kernel are guaranteed; the limit leaves room for
    # a second notebook's kernel (idle kernels are stopped after 20 minutes). One core at most: a
    # kernel runs one thread.
    guarantee_mib = mib(server + kernel)
    limit_mib = mib(server + 2 * kernel)
    demand = args.runs * cpu / (args.session_minutes * 60)  # cores, averaged over a session
    cpu_guarantee = max(0.05, round(demand, 2))
    free_cores = args.node_cores - args.reserved_cores
    free_mib = (args.node_gib - args.reserved_gib) * 1024
    by_cpu = int(free_cores / cpu_guarantee)
    by_memory = int(free_mib / guarantee_mib)
    per_node = min(by_cpu, by_memory)
    at_once = per_node * cpu / args.node_cores / 60  # minutes, every learner of a node runs the workbook

    for r in runs:
        print(f"# {r.name}: {r.cpu:.1f} s CPU, {r.wall:.1f} s wall-clock, kernel peak {r.peak:.0f} MiB")
    print(f"# JupyterLab server: {server:.0f} MiB; Python {sys.version.split()[0]}, {os.cpu_count()} cores\n")

    for lang in LANGUAGES:  # the same figures, in each language's words and numbers
        _ = gettext_for(lang)

        def n(x: float, decimals: int = 0, lang: str = lang) -> str:
            return number(x, lang, decimals, trim=True)

        rows = [
            (
                _("CPU time of the whole workbook (5 notebooks, 1 thread)"),
                _("{cpu} s ({wall} s wall-clock)").format(cpu=n(cpu), wall=n(wall)),
            ),
            (_("Peak memory of a kernel (the largest notebook)"), f"{n(kernel)} MiB"),
            (_("Memory of a JupyterLab server"), f"{n(server)} MiB"),
            (
                _("CPU per learner: {runs} runs of the workbook in {minutes} min").format(
                    runs=n(args.runs, 2), minutes=n(args.session_minutes, 2)
                ),
                _("{demand} cores → guarantee {guarantee}, limit 1").format(
                    demand=n(demand, 3), guarantee=n(cpu_guarantee, 2)
                ),
            ),
            (
                _("Memory per learner: server + 1 kernel, limit + 2 kernels"),
                _("guarantee {guarantee} MiB, limit {limit} MiB").format(  # as deploy/z2jh-values.yaml
                    guarantee=guarantee_mib, limit=limit_mib
                ),
            ),
            (
                _(
                    "Learners per node ({cores} cores, {gib} GiB; {reserved_cores} cores and "
                    "{reserved_gib} GiB for the system)"
                ).format(
                    cores=n(args.node_cores, 2),
                    gib=n(args.node_gib, 2),
                    reserved_cores=n(args.reserved_cores, 2),
                    reserved_gib=n(args.reserved_gib, 2),
                ),
                _("{n} (CPU allows {cpu}, memory {memory})").format(n=per_node, cpu=by_cpu, memory=by_memory),
            ),
            (_("Nodes for 30 learners"), str(math.ceil(30 / per_node))),
            (_("Nodes for 300 learners"), str(math.ceil(300 / per_node))),
            (
                _("A full node's learners all run the workbook at once"),
                _("{minutes} min of wall-clock time").format(minutes=n(at_once)),
            ),
        ]
        print("| " + _("what") + " | " + _("figure") + " |\n|---|---|")
        for what, figure in rows:
            print(f"| {what} | {figure} |")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
