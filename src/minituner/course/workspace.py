"""The course's state on disk: the course folder, learner workspaces, and breaks in a learner's copy.

A course folder is where the user works: the current folder or one of its parents holding
`learners/` or `mkdocs.yml` (or the folder given with `--course`). Each learner has
`learners/NAME/phase-28/` with exercise notebooks, a `lab/lora.py` to write, notes, and one folder
per started break (`breaks/NN/lora.py`, the broken file to fix). Nothing here ever overwrites what a
learner wrote.
"""

from __future__ import annotations

import json
import re
import shutil
import time
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import AlreadyExists, BadInput, NotFound
from ..i18n import LANGUAGES, N_, _, gettext_for
from . import breaks, contract
from .breaks import Break
from .handin import EXERCISES as EXERCISES
from .verdict import Verdict

MARKERS = ("learners", "mkdocs.yml")
PHASE = "phase-28"
NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
EXERCISE_DIR = Path(str(resources.files("minituner.course") / "exercises"))
CHECK_MARK = "# NBVAL_CHECK_OUTPUT"
EXPECTED = "minituner-expected-outputs"  # a check cell's reference outputs, in its metadata
SOLUTION = re.compile(r"^([ \t]*)### BEGIN SOLUTION\n.*?^[ \t]*### END SOLUTION\n?", re.S | re.M)
SOLUTION_MARK = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION\n?", re.M)
LORA = "lab/lora.py"  # the tag of lab 00's cells that make up lab/lora.py, in their order
LORA_DOC = N_(  # the docstring of lab/lora.py
    "My LoRA, written by hand (lab 00). Check it from the workspace with: minituner contract lab/lora.py"
)
PREDICTION = re.compile(r"<!-- prediction: ([\w.]+) -->")  # a markdown cell the learner writes in
REFERENCE_ONLY = ("# REFERENCE ONLY", "<!-- reference only -->")  # cells the learner's copy leaves out
ANSWER = re.compile(r"<!-- BEGIN ANSWER -->.*?<!-- END ANSWER -->", re.S)  # the reference's example
COMMENT = re.compile(r"<!--.*?-->", re.S)
STATES = (N_("not started"), N_("predicted"), N_("broken"), N_("fixed"))  # of a break, for a learner


def find_course(start: Path | None = None) -> Path:
    """The course folder: `start` (default: the current folder) or the nearest parent with a marker."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if any((folder / marker).exists() for marker in MARKERS):
            return folder
    raise NotFound(
        _(
            "{here} is not in a course folder (no learners/ or mkdocs.yml in it or above it); "
            "cd into one, or pass --course DIR"
        ).format(here=here)
    )


@dataclass(frozen=True)
class Workspace:
    """One workspace's layout and language, wherever it lies: a learner's own, or a graded copy."""

    home: Path  # .../learners/NAME/phase-28, or the grader's copy of it

    @property
    def notebooks(self) -> Path:
        return self.home / "notebooks"

    def notebook(self, name: str) -> Path:
        return self.notebooks / f"{name}.ipynb"

    @property
    def lora(self) -> Path:
        return self.home / "lab" / "lora.py"

    @property
    def notes(self) -> Path:
        return self.home / "notes" / "breaks.md"

    @property
    def log_file(self) -> Path:
        return self.home / "notes" / "breaks-log.jsonl"

    @property
    def settings(self) -> Path:
        return self.home / "learner.toml"

    @property
    def language(self) -> str:
        """The workspace's language (learner.toml), English when it is missing or not one we have."""
        try:
            lang = tomllib.loads(self.settings.read_text()).get("language", "en")
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            return "en"
        return lang if lang in LANGUAGES else "en"

    def break_file(self, brk: Break) -> Path:
        return self.home / "breaks" / brk.id / "lora.py"


@dataclass(frozen=True)
class Learner:
    """A learner of a course folder, by name: their workspace is learners/NAME/phase-28."""

    course: Path
    name: str

    def __post_init__(self) -> None:
        if not NAME.fullmatch(self.name):
            raise BadInput(
                _("learner name {name!r}: use 1-32 lowercase letters, digits, '-' or '_'").format(
                    name=self.name
                )
            )

    @property
    def workspace(self) -> Workspace:
        return Workspace(self.course / "learners" / self.name / PHASE)

    @property
    def home(self) -> Path:
        return self.workspace.home

    @property
    def notes(self) -> Path:
        return self.workspace.notes

    @property
    def log_file(self) -> Path:
        return self.workspace.log_file

    def break_file(self, brk: Break) -> Path:
        return self.workspace.break_file(brk)


# --- A new workspace -----------------------------------------------------------------------------


def is_check(cell: dict[str, Any]) -> bool:
    source = "".join(cell["source"]).lstrip().removeprefix(CHECK_MARK).lstrip()
    return cell["cell_type"] == "code" and source.startswith("# Check")


CHECK_CALL = re.compile(r"""check\(\s*["'](\d\d\.\w+)["']""")
CHECK_LETTER = re.compile(r"^# Check ([A-Z])\b", re.M)


def check_ids(name: str, source: str) -> list[str]:
    """The checks a check cell makes: the names it calls check() with, or lab 00's 'Check A' as 00.A."""
    return CHECK_CALL.findall(source) or [f"{name[:2]}.{x}" for x in CHECK_LETTER.findall(source)]


def exercise(reference: dict[str, Any], lang: str, keep_solutions: bool = False) -> dict[str, Any]:
    """A learner's copy of a reference notebook: every solution a TODO and every example prediction
    an empty space to write in (both kept only for the worked example), the reference's own
    measurements left out, check cells marked for nbval, and every output cleared, the check cells'
    too: their reference outputs stay in the cell's metadata, where the grader reads them from the
    package's copy, never from the learner's."""
    say = gettext_for(lang)  # the notebook's language, not the messages': its strings marked N_
    todo = say(N_("TODO: write this part"))
    nb: dict[str, Any] = json.loads(json.dumps(reference))
    nb["cells"] = [c for c in nb["cells"] if not "".join(c["source"]).lstrip().startswith(REFERENCE_ONLY)]
    for cell in nb["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "markdown" and PREDICTION.search(source) and not keep_solutions:
            cell["source"] = ANSWER.sub("", source).rstrip() + "\n\n"
        if cell["cell_type"] != "code":
            continue
        if is_check(cell):  # no output until the learner runs it; the grader expects the reference's
            cell["source"] = source if source.startswith(CHECK_MARK) else f"{CHECK_MARK}\n{source}"
            cell.setdefault("metadata", {})[EXPECTED] = cell.get("outputs", [])
            cell["outputs"], cell["execution_count"] = [], None
            continue
        if not keep_solutions:
            source = SOLUTION.sub(lambda m: f'{m.group(1)}raise NotImplementedError("{todo}")\n', source)
        cell["source"], cell["outputs"], cell["execution_count"] = source, [], None
    return nb


def lora_file(workbook: dict[str, Any], lang: str) -> str:
    """lab/lora.py from lab 00's workbook: a docstring, then its cells tagged `lab/lora.py` without
    the solution markers. From a learner's copy it is the file a new workspace starts with (every
    solution a TODO); from the worked example's, the file the example hands in."""
    cells = ["".join(c["source"]) for c in workbook["cells"] if LORA in c.get("metadata", {}).get("tags", [])]
    code = "\n\n\n".join(SOLUTION_MARK.sub("", cell).strip() for cell in cells)
    return f'"""{gettext_for(lang)(LORA_DOC)}"""\n\n{code}\n'


def exercise_path(name: str, lang: str) -> Path:
    """The exercise notebook a new workspace gets (package data, built by `make notebooks`)."""
    return EXERCISE_DIR / (f"{name}.es.ipynb" if lang == "es" else f"{name}.ipynb")


def new(learner: Learner, lang: str = "en") -> Path:
    """Create the learner's workspace in `lang`; an existing one is never touched."""
    home = learner.home
    if home.parent.exists():
        raise AlreadyExists(_("{path} already exists; nothing was changed").format(path=home.parent))
    (home / "notebooks").mkdir(parents=True)
    for nb in EXERCISES:
        shutil.copyfile(exercise_path(nb, lang), home / "notebooks" / f"{nb}.ipynb")
    for relative, text in starting_files(learner.name, lang).items():
        (home / relative).parent.mkdir(parents=True, exist_ok=True)
        (home / relative).write_text(text)
    return home


def starting_files(name: str, lang: str) -> dict[str, str]:
    """The text files of a new workspace, in the workspace's language."""
    say = gettext_for(lang)  # the workspace's language, not the messages': its strings marked N_
    prompt = say(N_("<!-- Write your prediction here, before you run the break. -->"))
    sections = "".join(f"\n## Break {b.id} — {say(b.title)}\n\n{prompt}\n" for b in breaks.CATALOGUE)
    skeleton = lora_file(json.loads(exercise_path("00-lora-by-hand", lang).read_text()), lang)
    return {
        "README.md": say(
            N_(
                """# {name}: your phase-28 workspace

1. Read lab 00 on the course site, then fill in the TODO cells of
   `notebooks/00-lora-by-hand.ipynb` in JupyterLab. Do not edit the `# Check` cells.
2. Write the same code in `lab/lora.py` and run the contract on it:
   `minituner contract lab/lora.py`
3. Record your measured values in `notes/notes.md`.
4. For each /break: `minituner break start ID --learner {name}` asks for your prediction in
   `notes/breaks.md` first, then gives you a broken copy of lora.py in `breaks/ID/` to fix.
"""
            )
        ).format(name=name),
        "lab/lora.py": skeleton,
        "notes/notes.md": say(
            N_(
                "# Lab 00 — measured values\n\n- initial output diff:\n- post-merge diff:\n"
                "- trainable parameters of Linear(64, 64) at r=8:\n"
            )
        ),
        "notes/breaks.md": say(N_("# Break predictions\n")) + sections,
        "learner.toml": f'language = "{lang}"  # the language of the self-checks\' messages\n',
    }


# --- Predictions and the break log ---------------------------------------------------------------


def predictions(path: Path) -> dict[str, str]:
    """The text under each '## Break NN' heading of a notes file, HTML comments removed."""
    return break_sections(path.read_text(), path)


def break_sections(text: str, path: Path | str) -> dict[str, str]:
    """`predictions` of a notes file's text; `path` names the file in an error."""
    sections: dict[str, str] = {}
    current = None
    for line in COMMENT.sub("", text).splitlines():
        heading = re.match(r"## Break (\d\d)\b", line)
        if heading:
            current = heading.group(1)
            if current in sections:
                raise BadInput(
                    _("{path}: cannot parse it, '## Break {id}' appears twice").format(path=path, id=current)
                )
            sections[current] = ""
        elif line.startswith("## "):
            current = None
        elif current is not None:
            sections[current] += line + "\n"
    return {k: v.strip() for k, v in sections.items()}


def log(learner: Learner, brk: Break, event: str) -> None:
    """Append to the learner's break log (the grader checks that a prediction came first)."""
    entry = {"break": brk.id, "event": event, "at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    with learner.log_file.open("a") as f:
        f.write(json.dumps(entry) + "\n")


def events(learner: Learner) -> list[dict[str, str]]:
    path = learner.log_file
    return (
        [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
    )


# --- A break in the learner's own copy ------------------------------------------------------------


def start_break(learner: Learner, brk: Break) -> tuple[bool, Path]:
    """(True, the broken lora.py to fix) once a prediction is written under '## Break NN';
    else (False, the notes file, with the section added if it was missing). Never rewrites a file."""
    notes = learner.notes
    notes.parent.mkdir(parents=True, exist_ok=True)
    if not notes.exists():
        notes.write_text(_("# Break predictions\n"))
    if brk.id not in predictions(notes):
        prompt = _("<!-- Write your prediction here, before you run the break. -->")
        with notes.open("a") as f:
            f.write(f"\n## Break {brk.id} — {_(brk.title)}\n\n{prompt}\n")
    if not predictions(notes).get(brk.id):
        return False, notes
    broken = learner.break_file(brk)
    if not broken.exists():
        log(learner, brk, "predicted")
        broken.parent.mkdir(parents=True, exist_ok=True)
        broken.write_text(breaks.apply(breaks.LORA_FILE.read_text(), brk))
        log(learner, brk, "applied")
    return True, broken


def started(learner: Learner, brk: Break) -> Path:
    path = learner.break_file(brk)
    if not path.exists():
        raise NotFound(
            _(
                "break {id} is not started for {name}; run `minituner break start {id} --learner {name}`"
            ).format(id=brk.id, name=learner.name)
        )
    return path


def run_break(learner: Learner, brk: Break) -> list[str]:
    """The break's observation on the learner's copy: the symptom, or the reference's output once fixed."""
    path = started(learner, brk)
    return breaks.observe_copy(brk.id, path, f"lora_{learner.name}_{brk.id}")


def check_break(learner: Learner, brk: Break) -> Verdict:
    """The contract on the learner's copy; a pass is logged as the break fixed."""
    path = started(learner, brk)
    result = contract.verify(path)
    if result.passed:
        log(learner, brk, "fixed")
    return result


def reset_break(learner: Learner, brk: Break) -> Path | None:
    """Put the broken lora.py back; the learner's edited copy is kept beside it (its path returned)."""
    return write_broken(started(learner, brk), brk)


def write_broken(path: Path, brk: Break) -> Path | None:
    """`brk`'s broken lora.py at `path`; an edited copy is kept beside it first (its path returned)."""
    broken = breaks.apply(breaks.LORA_FILE.read_text(), brk)
    kept = None
    if path.read_text() != broken:
        kept = path.with_name(f"lora-{time.strftime('%Y%m%d-%H%M%S')}.py")
        shutil.copyfile(path, kept)
    path.write_text(broken)
    return kept


def status(learner: Learner) -> dict[str, str]:
    """not started / predicted / broken / fixed, per break (English keys; the CLI translates them)."""
    result = {b.id: "not started" for b in breaks.CATALOGUE}
    if learner.notes.exists():
        result.update({k: "predicted" for k, v in predictions(learner.notes).items() if v and k in result})
    for brk in breaks.CATALOGUE:
        if learner.break_file(brk).exists():
            result[brk.id] = "broken"
    for entry in events(learner):
        if entry["event"] == "fixed" and entry["break"] in result:
            result[entry["break"]] = "fixed"
    return result
