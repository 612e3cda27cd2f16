"""Grade a class: every learner's notebooks (nbval), lab/lora.py (the contract) and break predictions.

Each learner is graded in a process of its own, on a temporary copy of the workspace, with a
per-cell and a per-learner timeout: whatever one workspace does shows only in its own row.
`python -m minituner.course.grading WORKSPACE CELL_TIMEOUT` grades one workspace and prints its
row as JSON. Verdicts and the gradebook are in the language of the messages (`--lang`).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..i18n import N_, _, gettext_for, language, use
from . import contract
from .workspace import EXERCISES, PHASE, exercise_path, is_check, predictions

ITEMS = [N_("notebooks"), N_("contract"), N_("breaks")]
SANITIZE = Path(__file__).parent.parent / "nbval-sanitize.cfg"


def grade_notebooks(home: Path, cell_timeout: float) -> str:
    for name in EXERCISES:
        path = home / "notebooks" / f"{name}.ipynb"
        if not path.exists():
            return _("missing: notebooks/{name}.ipynb").format(name=name)
        try:
            nb = json.loads(path.read_text())
            cells = nb["cells"]
        except (json.JSONDecodeError, KeyError) as err:
            return _("error: notebooks/{name}.ipynb is not a notebook ({err})").format(name=name, err=err)
        expected = [c for c in json.loads(exercise_path(name, "en").read_text())["cells"] if is_check(c)]
        found = [c for c in cells if is_check(c)]
        if ["".join(c["source"]) for c in found] != ["".join(c["source"]) for c in expected]:
            return _("fail: notebooks/{name}.ipynb: a check cell was edited or deleted").format(name=name)
        for cell, reference in zip(found, expected, strict=True):
            cell["outputs"] = reference["outputs"]  # compare with the reference, not with what was saved
        path.write_text(json.dumps(nb))
        args = ["--nbval-lax", "--nbval-current-env", f"--nbval-cell-timeout={cell_timeout}", str(path)]
        args += ["--nbval-sanitize-with", str(SANITIZE)]  # what differs between CPUs is not compared
        result = contract.run_pytest(args, home, home / "nbval.xml")
        if result != _("pass"):
            return result
    return _("pass")


def grade_breaks(home: Path) -> str:
    log = home / "notes" / "breaks-log.jsonl"
    if not log.exists():
        return _("missing: no break attempted")
    try:
        events = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
        written = predictions(home / "notes" / "breaks.md")
    except (ValueError, OSError) as err:
        return _("error") + f": {err}"
    predicted: set[str] = set()
    for event in events:
        if event["event"] == "predicted" and written.get(event["break"]):
            predicted.add(event["break"])
        if event["event"] == "applied" and event["break"] not in predicted:
            return _("fail: break {id} was applied before a prediction was written").format(id=event["break"])
    return _("pass")


def grade_one(workspace: Path, cell_timeout: float) -> dict[str, str]:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / PHASE
        shutil.copytree(workspace, home, symlinks=True)
        lora = home / "lab" / "lora.py"
        return {
            "notebooks": grade_notebooks(home, cell_timeout),
            "contract": contract.check(lora) if lora.exists() else _("missing: lab/lora.py"),
            "breaks": grade_breaks(home),
        }


def fingerprint(workspace: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in workspace.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(workspace)).encode() + path.read_bytes())
    return digest.hexdigest()


def run_one(workspace: Path, timeout: float, cell_timeout: float, lang: str) -> dict[str, str]:
    """Grade one workspace in its own process group; a hang or a crash is that row's verdict."""
    cmd = [sys.executable, "-m", "minituner.course.grading", str(workspace), str(cell_timeout)]
    env = {**os.environ, "MINITUNER_LANG": lang}
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True, env=env
    )
    try:
        out, _err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return dict.fromkeys(ITEMS, _("timeout: more than {s:g} s for this learner").format(s=timeout))
    try:
        row: dict[str, str] = json.loads(out.decode().strip().splitlines()[-1])
    except (IndexError, ValueError):
        message = _("error: the grading process exited with code {code}").format(code=proc.returncode)
        return dict.fromkeys(ITEMS, message)
    return row


def grade(
    learners: Path,
    jobs: int = 2,
    timeout: float = 300,
    cell_timeout: float = 60,
    rerun: bool = False,
    lang: str = "en",
) -> tuple[Path, int, int]:
    """Grade every learners/NAME/phase-28 and write gradebook.csv and gradebook.md into `learners`.

    Returns the csv's path, the number of workspaces and how many passed every item.
    """
    _ = gettext_for(lang)  # noqa: F811 - the gradebook's language
    contract.require_extra()
    if not learners.is_dir():
        raise FileNotFoundError(_("no such folder: {path}").format(path=learners))
    workspaces = sorted(p / PHASE for p in learners.iterdir() if (p / PHASE).is_dir())
    if not workspaces:
        raise FileNotFoundError(_("no workspace (NAME/phase-28/) under {path}").format(path=learners))
    cache_file = learners / ".gradebook-cache.json"  # re-runs grade only what changed
    cache = json.loads(cache_file.read_text()) if cache_file.exists() and not rerun else {}
    prints = {str(w): f"{lang}:{fingerprint(w)}" for w in workspaces}
    todo = [w for w in workspaces if cache.get(str(w), {}).get("fingerprint") != prints[str(w)]]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        graded = pool.map(lambda w: run_one(w, timeout, cell_timeout, lang), todo)
        for w, row in zip(todo, graded, strict=True):
            cache[str(w)] = {"fingerprint": prints[str(w)], "row": row}
    cache_file.write_text(json.dumps(cache, indent=1))
    rows = [{"learner": w.parent.name, **cache[str(w)]["row"]} for w in workspaces]
    header = [_("learner"), *(_(item) for item in ITEMS)]
    with (learners / "gradebook.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows([r["learner"], *(r[k] for k in ITEMS)] for r in rows)
    table = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    table += ["| " + " | ".join(r[k].replace("|", "\\|") for k in ["learner", *ITEMS]) + " |" for r in rows]
    (learners / "gradebook.md").write_text(_("# Gradebook") + "\n\n" + "\n".join(table) + "\n")
    passed = sum(all(r[k] == _("pass") for k in ITEMS) for r in rows)
    return learners / "gradebook.csv", len(rows), passed


if __name__ == "__main__":
    use(language([]))
    print(json.dumps(grade_one(Path(sys.argv[1]), float(sys.argv[2])), ensure_ascii=False))
