"""Grade a class: every learner's notebooks (nbval), lab/lora.py (the contract) and break predictions.

Each learner is graded in a process of its own, on a temporary copy of the workspace, with a
per-cell and a per-learner timeout: whatever one workspace does shows only in its own row.
`python -m minituner.grading WORKSPACE` grades one workspace and prints its row as JSON.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .breaks import ROOT, predictions
from .workspace import EXERCISES, exercise, is_check, reference_notebook

ITEMS = ["notebooks", "contract", "breaks"]
SANITIZE = Path(__file__).with_name("nbval-sanitize.cfg")
ANSI = re.compile(r"\x1b\[[0-9;]*m|#x1B\[[0-9;]*m")


def first_failure(junit: Path, output: str) -> str:
    """'fail: <first failing cell or test>: <one-line reason>', from pytest's JUnit XML."""
    if not junit.exists():
        return "error: " + (output.strip().splitlines() or ["pytest did not run"])[-1][:160]
    for case in ET.parse(junit).getroot().iter("testcase"):
        for problem in (*case.iter("failure"), *case.iter("error")):
            text = ANSI.sub("", f"{problem.get('message') or ''}\n{problem.text or ''}")
            errors = re.findall(r"^(?:E\s+)?(\w+(?:Error|Exception|Interrupt)\b.*)$", text, re.M)
            reason = errors[-1] if errors else next((ln for ln in text.splitlines() if ln.strip()), "")
            verdict = "timeout" if re.search(r"time ?out|timed out", text, re.I) else "fail"
            return f"{verdict}: {case.get('name')}: {' '.join(reason.split())[:160]}"
    return "pass"


def run_pytest(args: list[str], cwd: Path, junit: Path) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}", *args]
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    return "pass" if done.returncode == 0 else first_failure(junit, done.stdout + done.stderr)


def grade_notebooks(home: Path, cell_timeout: float) -> str:
    for name in EXERCISES:
        path = home / "notebooks" / f"{name}.ipynb"
        if not path.exists():
            return f"missing: notebooks/{name}.ipynb"
        try:
            nb = json.loads(path.read_text())
            cells = nb["cells"]
        except (json.JSONDecodeError, KeyError) as err:
            return f"error: notebooks/{name}.ipynb is not a notebook ({err})"
        expected = [c for c in exercise(reference_notebook(name, "en"), "en")["cells"] if is_check(c)]
        found = [c for c in cells if is_check(c)]
        if ["".join(c["source"]) for c in found] != ["".join(c["source"]) for c in expected]:
            return f"fail: notebooks/{name}.ipynb: a check cell was edited or deleted"
        for cell, reference in zip(found, expected, strict=True):
            cell["outputs"] = reference["outputs"]  # compare with the reference, not with what was saved
        path.write_text(json.dumps(nb))
        args = ["--nbval-lax", "--nbval-current-env", f"--nbval-cell-timeout={cell_timeout}", str(path)]
        args += ["--nbval-sanitize-with", str(SANITIZE)]  # what differs between CPUs is not compared
        result = run_pytest(args, home, home / "nbval.xml")
        if result != "pass":
            return result
    return "pass"


def grade_breaks(home: Path) -> str:
    log = home / "notes" / "breaks-log.jsonl"
    if not log.exists():
        return "missing: no break attempted"
    try:
        events = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
        written = predictions(home / "notes" / "breaks.md")
    except (ValueError, OSError) as err:
        return f"error: {err}"
    predicted: set[str] = set()
    for event in events:
        if event["event"] == "predicted" and written.get(event["break"]):
            predicted.add(event["break"])
        if event["event"] == "applied" and event["break"] not in predicted:
            return f"fail: break {event['break']} was applied before a prediction was written"
    return "pass"


def grade_one(workspace: Path, cell_timeout: float) -> dict[str, str]:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "phase-28"
        shutil.copytree(workspace, home, symlinks=True)
        lora = home / "lab" / "lora.py"
        contract = (
            run_pytest(
                [str(ROOT / "tests" / "test_minituner.py"), "--impl", str(lora)], home, home / "contract.xml"
            )
            if lora.exists()
            else "missing: lab/lora.py"
        )
        return {
            "notebooks": grade_notebooks(home, cell_timeout),
            "contract": contract,
            "breaks": grade_breaks(home),
        }


def fingerprint(workspace: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in workspace.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(workspace)).encode() + path.read_bytes())
    return digest.hexdigest()


def run_one(workspace: Path, timeout: float, cell_timeout: float) -> dict[str, str]:
    """Grade one workspace in its own process group; a hang or a crash is that row's verdict."""
    cmd = [sys.executable, "-m", "minituner.grading", str(workspace), str(cell_timeout)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return dict.fromkeys(ITEMS, f"timeout: more than {timeout:g} s for this learner")
    try:
        row: dict[str, str] = json.loads(out.decode().strip().splitlines()[-1])
    except (IndexError, ValueError):
        return dict.fromkeys(ITEMS, f"error: the grading process exited with code {proc.returncode}")
    return row


def grade(
    learners: Path, jobs: int = 2, timeout: float = 300, cell_timeout: float = 60, rerun: bool = False
) -> Path:
    """Grade every learners/NAME/phase-28; write gradebook.csv and gradebook.md into `learners`."""
    workspaces = sorted(p / "phase-28" for p in learners.iterdir() if (p / "phase-28").is_dir())
    if not workspaces:
        raise FileNotFoundError(f"no workspace (NAME/phase-28/) under {learners}")
    cache_file = learners / ".gradebook-cache.json"  # re-runs grade only what changed
    cache = json.loads(cache_file.read_text()) if cache_file.exists() and not rerun else {}
    prints = {str(w): fingerprint(w) for w in workspaces}
    todo = [w for w in workspaces if cache.get(str(w), {}).get("fingerprint") != prints[str(w)]]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for w, row in zip(todo, pool.map(lambda w: run_one(w, timeout, cell_timeout), todo), strict=True):
            cache[str(w)] = {"fingerprint": prints[str(w)], "row": row}
    cache_file.write_text(json.dumps(cache, indent=1))
    rows = [{"learner": w.parent.name, **cache[str(w)]["row"]} for w in workspaces]
    with (learners / "gradebook.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["learner", *ITEMS])
        writer.writeheader()
        writer.writerows(rows)
    table = ["| learner | " + " | ".join(ITEMS) + " |", "|---" * (len(ITEMS) + 1) + "|"]
    table += ["| " + " | ".join(r[k].replace("|", "\\\\|") for k in ["learner", *ITEMS]) + " |" for r in rows]
    (learners / "gradebook.md").write_text("# Gradebook\n\n" + "\n".join(table) + "\n")
    return learners / "gradebook.csv"


if __name__ == "__main__":
    print(json.dumps(grade_one(Path(sys.argv[1]), float(sys.argv[2]))))
