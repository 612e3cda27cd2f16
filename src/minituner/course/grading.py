"""Grade a class: every lab's notebook (nbval), the predictions, lab/lora.py (the contract) and the
breaks, one row per learner and a total.

Each learner is graded in a process of its own, on a temporary copy of the workspace, with a
per-cell and a per-learner timeout: whatever one workspace does shows only in its own row. A
notebook's verdict is kept under the hash of its code cells, so a notebook whose code has not
changed (a prediction written in a markdown cell changes no code), or that another learner handed in
with the same code, is not run again; the contract's verdict is kept under the hash of lab/. The
notebooks that do need a run go through nbval in one pytest process.
`python -m minituner.course.grading WORKSPACE CELL_TIMEOUT CACHE` grades one workspace and prints
its row as JSON. Verdicts and the gradebook are in the language of the messages (`--lang`).
"""

from __future__ import annotations

import csv
import functools
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ..i18n import N_, _, gettext_for, language, use
from . import breaks, contract
from .checks import workspace_language
from .workspace import ANSWER, EXERCISES, PHASE, PREDICTION, exercise_path, is_check, predictions

LABS = {f"lab {name[:2]}": name for name in EXERCISES}  # column -> notebook
ITEMS = [*LABS, "predictions", "contract", "breaks"]
HEADERS = {
    "lab": N_("lab {n}"),
    "predictions": N_("predictions"),
    "contract": N_("contract"),
    "breaks": N_("breaks"),
}
SANITIZE = Path(__file__).parent.parent / "nbval-sanitize.cfg"


@functools.cache
def library_version() -> str:
    """A hash of the installed package's code and exercises: a cached verdict holds only for it."""
    digest = hashlib.sha256()
    package = Path(__file__).parent.parent
    for path in sorted([*package.rglob("*.py"), *package.rglob("*.ipynb"), SANITIZE]):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def cache_file(cache: Path, what: str) -> Path:
    """Where the verdict on `what` (a notebook's code, a lora.py) is kept, for this library version."""
    return cache / (hashlib.sha256(f"{library_version()} {what}".encode()).hexdigest() + ".json")


def recall(cached: Path) -> str | None:
    """The verdict kept in `cached` in the language of the messages, if any."""
    known = json.loads(cached.read_text()) if cached.exists() else {}
    return None if language([]) not in known else str(known[language([])])


def keep(cached: Path, verdict: str) -> None:
    """Keep a verdict, but never a timeout: it may be the machine's load, not the learner's code."""
    if verdict.startswith(_("timeout")):
        return
    known = json.loads(cached.read_text()) if cached.exists() else {}
    cached.parent.mkdir(parents=True, exist_ok=True)
    partial = cached.with_suffix(f".{os.getpid()}")
    partial.write_text(json.dumps({**known, language([]): verdict}))
    partial.replace(cached)  # atomic: a parallel grader never reads half a file


def prepare_notebook(home: Path, name: str, cache: Path) -> str | Path:
    """A lab's verdict when it needs no run (missing, not a notebook, a check cell edited, or a
    verdict cached for its code); else the cache file its verdict goes to, the notebook made ready."""
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
    code = json.dumps(["".join(c["source"]) for c in cells if c["cell_type"] == "code"])  # what runs
    cached = cache_file(cache, code)
    verdict = recall(cached)
    if verdict is not None:
        return verdict
    path.write_text(json.dumps(nb, sort_keys=True))
    return cached


def grade_notebooks(home: Path, cell_timeout: float, cache: Path) -> dict[str, str]:
    """Every lab's verdict: the notebooks that need a run go through nbval together, one pytest."""
    verdicts, pending = {}, {}
    for name in EXERCISES:
        prepared = prepare_notebook(home, name, cache)
        if isinstance(prepared, Path):
            pending[name] = prepared
        else:
            verdicts[name] = prepared
    if not pending:
        return verdicts
    args = ["--nbval-lax", "--nbval-current-env", f"--nbval-cell-timeout={cell_timeout}"]
    args += ["--nbval-sanitize-with", str(SANITIZE)]  # what differs between CPUs is not compared
    args += ["--rootdir", str(home), *(f"notebooks/{name}.ipynb" for name in pending)]  # names tests by file
    junit = home / "nbval.xml"
    output = contract.pytest(args, home, junit, plugins=("nbval.plugin",))
    ran = contract.verdicts_by_file(junit, output, [f"{name}.ipynb" for name in pending])
    for name, cached in pending.items():
        verdicts[name] = ran[f"{name}.ipynb"]
        keep(cached, verdicts[name])
    return verdicts


def grade_predictions(home: Path) -> str:
    """'pass' when every prediction cell holds the learner's text, else which ones are empty."""
    lang = workspace_language(home)
    empty = []
    for name in EXERCISES:
        template = json.loads(exercise_path(name, lang).read_text())["cells"]
        path = home / "notebooks" / f"{name}.ipynb"
        handed_in = json.loads(path.read_text())["cells"] if path.exists() else []
        written = {
            m.group(1): "".join(c["source"])
            for c in handed_in
            if c["cell_type"] == "markdown" and (m := PREDICTION.search("".join(c["source"])))
        }
        for cell in template:
            marker = PREDICTION.search("".join(cell["source"]))
            if cell["cell_type"] != "markdown" or marker is None:
                continue
            blank = " ".join(ANSWER.sub("", "".join(cell["source"])).split())
            if " ".join(written.get(marker.group(1), blank).split()) == blank:
                empty.append(marker.group(1))
    return _("missing: {ids}").format(ids=", ".join(empty)) if empty else _("pass")


def grade_contract(home: Path, cache: Path) -> str:
    """The contract on lab/lora.py; a failing test points at the /break that shows that bug."""
    lora = home / "lab" / "lora.py"
    if not lora.exists():
        return _("missing: lab/lora.py")
    lab = sorted(lora.parent.rglob("*.py"))
    code = "".join(f"{f.relative_to(lora.parent)}\n{f.read_text(errors='replace')}" for f in lab)
    cached = cache_file(cache, "contract " + code)  # lora.py and whatever it may import beside it
    verdict = recall(cached)
    if verdict is None:
        verdict = contract.check(lora)
        keep(cached, verdict)
    failed = re.match(r"[^:]+: (test_\w+)", verdict)
    shown = [b for b in breaks.CATALOGUE if failed and b.catching_test == failed.group(1)]
    if shown:
        pages = ", ".join(f"{b.id} ({_(b.title)})" for b in shown)
        verdict += " — " + _("see break {pages}").format(pages=pages)
    return verdict


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


def grade_one(workspace: Path, cell_timeout: float, cache: Path) -> dict[str, str]:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / PHASE
        shutil.copytree(workspace, home, symlinks=True)
        row = {
            "predictions": grade_predictions(home),
            "contract": grade_contract(home, cache),
            "breaks": grade_breaks(home),
        }
        verdicts = grade_notebooks(home, cell_timeout, cache)
        row |= {column: verdicts[name] for column, name in LABS.items()}
        return row


def fingerprint(workspace: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in workspace.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(workspace)).encode() + path.read_bytes())
    return digest.hexdigest()


def run_one(workspace: Path, timeout: float, cell_timeout: float, lang: str, cache: Path) -> dict[str, str]:
    """Grade one workspace in its own process group; a hang or a crash is that row's verdict."""
    cmd = [sys.executable, "-m", "minituner.course.grading", str(workspace), str(cell_timeout), str(cache)]
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
    cache = learners / ".grading-cache"  # per notebook, by content
    if rerun:
        shutil.rmtree(cache, ignore_errors=True)
    book_cache = cache / "rows.json"  # per workspace: re-runs grade only what changed
    done: dict[str, Any] = json.loads(book_cache.read_text()) if book_cache.exists() else {}
    prints = {str(w): f"{lang}:{library_version()}:{fingerprint(w)}" for w in workspaces}
    todo = [w for w in workspaces if done.get(str(w), {}).get("fingerprint") != prints[str(w)]]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        graded = pool.map(lambda w: run_one(w, timeout, cell_timeout, lang, cache), todo)
        for w, row in zip(todo, graded, strict=True):
            done[str(w)] = {"fingerprint": prints[str(w)], "row": row}
    cache.mkdir(exist_ok=True)
    book_cache.write_text(json.dumps(done, indent=1))
    rows = [{"learner": w.parent.name, **done[str(w)]["row"]} for w in workspaces]
    for row in rows:
        passed = sum(row[k] == _("pass") for k in ITEMS)
        row["total"] = f"{passed}/{len(ITEMS)}"
    columns = ["learner", *ITEMS, "total"]
    templates = [HEADERS["lab" if item in LABS else item] for item in ITEMS]
    names = [_("learner"), *(_(t).format(n=i[4:]) for t, i in zip(templates, ITEMS, strict=True)), _("total")]
    with (learners / "gradebook.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(names)
        writer.writerows([row[k] for k in columns] for row in rows)
    table = ["| " + " | ".join(names) + " |", "|---" * len(names) + "|"]
    table += ["| " + " | ".join(row[k].replace("|", "\\|") for k in columns) + " |" for row in rows]
    (learners / "gradebook.md").write_text(_("# Gradebook") + "\n\n" + "\n".join(table) + "\n")
    everything = f"{len(ITEMS)}/{len(ITEMS)}"
    return learners / "gradebook.csv", len(rows), sum(row["total"] == everything for row in rows)


if __name__ == "__main__":
    use(language([]))
    row = grade_one(Path(sys.argv[1]), float(sys.argv[2]), Path(sys.argv[3]))
    print(json.dumps(row, ensure_ascii=False))
