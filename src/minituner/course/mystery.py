"""The mystery break: a break the learner has not done, applied without its name, to diagnose.

`take` picks one break among those the learner's log has never applied (any break, when every one
has been done), writes it to `breaks/mystery/lora.py` and records the choice in the break log,
sealed: a random salt and a hash of the salt and the break's id, which the grader opens by trying
the ten ids. The id is never written in the clear before the reveal, and a second `take` finds the
recorded choice and keeps it, so running it again never picks another. (The seal keeps the name out
of sight, it is not a secret: the same patch is on the break's page. The exercise is the diagnosis.)

The learner writes the diagnosis, which line is wrong and why, under a '## Mystery — diagnosis'
heading ('## Misterio — diagnóstico') of notes/breaks.md; `check` refuses to run the contract
without one. `reveal` names the break once a diagnosis is written (or with `give_up`), and logs the
reveal with the diagnosis as it was then: the grader judges that text, so a diagnosis written after
the reveal never counts. A diagnosis names the cause when it matches more of the break's clues
(`breaks.Clues`: code of the changed lines weighs two, a word of the cause one) than of any other
break's, in the workspace's language or in English.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
import unicodedata
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..errors import AlreadyExists, BadInput, NotFound
from ..i18n import N_, _, gettext_for
from . import breaks, contract, workspace
from .breaks import Break
from .verdict import Status, Verdict
from .workspace import COMMENT, Learner, Workspace

WHERE = "mystery"  # its id on the command line, in the log and as a part of the breaks verdict
HEADING = {"en": "## Mystery — diagnosis", "es": "## Misterio — diagnóstico"}
SECTION = re.compile(r"^## +(?:mystery|misterio)\b", re.I)
PROMPT = N_(
    "<!-- Which line of breaks/mystery/lora.py is wrong, and why? Write your diagnosis here, before "
    "`minituner break reveal mystery`: the grader reads it. -->"
)


def path(ws: Workspace) -> Path:
    return ws.home / "breaks" / WHERE / "lora.py"


# --- The choice, sealed in the log -----------------------------------------------------------------


def seal(break_id: str, salt: str | None = None) -> str:
    salt = salt or secrets.token_hex(8)
    return f"{salt}:{hashlib.sha256(f'{salt}:{break_id}'.encode()).hexdigest()[:24]}"


def unseal(token: str) -> Break:
    salt = token.split(":", 1)[0]
    for brk in breaks.CATALOGUE:
        if seal(brk.id, salt) == token:
            return brk
    raise BadInput(
        _("the mystery break in the break log is not one of the breaks: {token}").format(token=token)
    )


def events(ws: Workspace) -> list[dict[str, Any]]:
    log = ws.log_file
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()] if log.exists() else []


@dataclass(frozen=True)
class Mystery:
    brk: Break
    again: bool  # every break had been done: this one is done a second time
    revealed: dict[str, Any] | None  # the first reveal's log entry (its diagnosis as it was then)
    fixed: bool


def current(ws: Workspace) -> Mystery | None:
    """The workspace's mystery break, from its log; None when it has not taken one."""
    mine = [e for e in events(ws) if e.get("break") == WHERE]
    taken = next((e for e in mine if e.get("event") == "applied"), None)
    if taken is None:
        return None
    revealed = next((e for e in mine if e.get("event") == "revealed"), None)
    fixed = any(e.get("event") == "fixed" for e in mine)
    return Mystery(unseal(str(taken["sealed"])), bool(taken.get("again")), revealed, fixed)


def log(learner: Learner, event: str, **extra: Any) -> None:
    entry = {"break": WHERE, "event": event, **extra, "at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    with learner.log_file.open("a") as f:
        f.write(json.dumps(entry, ensure_ascii=False) + "\n")


def not_done(learner: Learner) -> list[Break]:
    """The breaks the learner has never applied (by the log, or with a copy in breaks/ID/)."""
    done = {str(e.get("break")) for e in events(learner.workspace) if e.get("event") == "applied"}
    return [b for b in breaks.CATALOGUE if b.id not in done and not learner.break_file(b).exists()]


# --- The diagnosis ---------------------------------------------------------------------------------


def section(notes: Path) -> tuple[str, str] | None:
    """(the heading, the text under it, comments removed) of the diagnosis; None without a heading."""
    if not notes.exists():
        return None
    found, lines, inside = None, [], False
    for line in COMMENT.sub("", notes.read_text()).splitlines():
        if SECTION.match(line):
            if found is not None:
                raise BadInput(
                    _("{path}: cannot parse it, the diagnosis heading appears twice").format(path=notes)
                )
            found, inside = line.strip(), True
        elif line.startswith("## "):
            inside = False  # the section ends at the next heading
        elif inside:
            lines.append(line)
    return None if found is None else (found, "\n".join(lines).strip())


def diagnosis(ws: Workspace) -> str:
    """The diagnosis written in the notes, '' when there is none."""
    found = section(ws.notes)
    return found[1] if found else ""


def heading(ws: Workspace) -> str:
    """The diagnosis heading as the notes have it, else in the workspace's language."""
    found = section(ws.notes)
    return found[0] if found else HEADING[ws.language]


def normal(text: str) -> str:
    """Lowercase, no accents, α spelled alpha, one space between words and none around operators."""
    text = unicodedata.normalize("NFKD", text.replace("α", "alpha").replace("Α", "alpha"))
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    text = " ".join(text.split())
    return re.sub(r" ?([=<>/*@.,:;()\[\]{}+|-]) ?", r"\1", text)


def _found(clue: str, text: str) -> bool:
    clue = normal(clue)
    start = r"(?<![a-z0-9_])" if re.match(r"[a-z0-9_]", clue) else ""
    return re.search(start + re.escape(clue), text) is not None


def score(text: str, brk: Break, lang: str) -> int:
    """How much of the break's clues a diagnosis names: two per code fragment, one per word."""
    text = normal(text)
    words = {*brk.clues.en, *(brk.clues.es if lang == "es" else ())}
    code = {normal(c) for c in brk.clues.code}
    return 2 * sum(_found(c, text) for c in code) + sum(_found(w, text) for w in {normal(w) for w in words})


def names_cause(text: str, brk: Break, lang: str) -> bool:
    """Whether a diagnosis names this break's cause: some of its clues, and fewer of any other's."""
    own = score(text, brk, lang)
    return own > 0 and all(score(text, other, lang) < own for other in breaks.CATALOGUE if other != brk)


# --- The commands ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Taken:
    path: Path
    notes: Path
    heading: str
    new: bool  # picked now (False: the one taken before)
    again: bool  # every break had been done


def take(learner: Learner) -> Taken:
    """Apply a break the learner has not done to breaks/mystery/lora.py, unnamed, and add the
    diagnosis heading to the notes. Taken before: the same break, and a file the learner edited is
    never rewritten."""
    ws = learner.workspace
    target = path(ws)
    known = current(ws)
    if known is None and target.exists():
        raise AlreadyExists(
            _(
                "{path} exists, but the break log has no mystery break; move it away, then run this again"
            ).format(path=target)
        )
    ws.notes.parent.mkdir(parents=True, exist_ok=True)
    new = known is None
    if known is None:
        candidates = not_done(learner)
        brk = secrets.choice(candidates or list(breaks.CATALOGUE))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(breaks.apply(breaks.LORA_FILE.read_text(), brk))
        log(learner, "applied", sealed=seal(brk.id), **({} if candidates else {"again": True}))
        known = Mystery(brk, not candidates, None, False)
    elif not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(breaks.apply(breaks.LORA_FILE.read_text(), known.brk))
    if section(ws.notes) is None:
        say = gettext_for(ws.language)  # the notes are in the workspace's language
        if not ws.notes.exists():
            ws.notes.write_text(say("# Break predictions\n"))
        with ws.notes.open("a") as f:
            f.write(f"\n{HEADING[ws.language]}\n\n{say(PROMPT)}\n")
    return Taken(target, ws.notes, heading(ws), new, known.again)


def started(learner: Learner) -> Mystery:
    known = current(learner.workspace)
    if known is None or not path(learner.workspace).exists():
        raise NotFound(
            _("no mystery break for {name} yet; run `minituner break mystery --learner {name}`").format(
                name=learner.name
            )
        )
    return known


def run(learner: Learner) -> list[str]:
    """The symptom, measured on the learner's copy (the reference's output once it is fixed)."""
    known = started(learner)
    return breaks.observe_copy(known.brk.id, path(learner.workspace), f"lora_{learner.name}_{WHERE}")


def unnamed(verdict: Verdict) -> Verdict:
    """A contract verdict without the /break its failing test points to: that would name it."""
    return replace(verdict, points_to="", parts=tuple(unnamed(p) for p in verdict.parts))


def verify_fix(learner: Learner) -> Verdict | None:
    """The contract on the learner's copy, once a diagnosis is written (None until then); a pass is
    logged as the mystery fixed."""
    started(learner)
    if not diagnosis(learner.workspace):
        return None
    result = unnamed(contract.verify(path(learner.workspace)))
    if result.passed:
        log(learner, "fixed")
    return result


def reset(learner: Learner) -> Path | None:
    """The broken file again; an edited copy is kept beside it (its path returned)."""
    return workspace.write_broken(path(learner.workspace), started(learner).brk)


@dataclass(frozen=True)
class Revealed:
    brk: Break
    diagnosis: str  # as it was at the first reveal: the one the grader judges
    named: bool


def reveal(learner: Learner, give_up: bool = False) -> Revealed | None:
    """Name the mystery break: None while no diagnosis is written (unless `give_up`). The first
    reveal is logged with the diagnosis as it is then."""
    ws = learner.workspace
    known = started(learner)
    if known.revealed is None:
        text = diagnosis(ws)
        if not text and not give_up:
            return None
        log(learner, "revealed", id=known.brk.id, diagnosis=text)
    else:
        text = str(known.revealed.get("diagnosis", ""))
    return Revealed(known.brk, text, bool(text) and names_cause(text, known.brk, ws.language))


# --- The grade -------------------------------------------------------------------------------------


def part(ws: Workspace) -> Verdict:
    """The mystery's part of the breaks verdict: passed when the diagnosis names the cause. It names
    the break (args["id"]) only once the learner has revealed it."""
    try:
        known = current(ws)
        if known is None:
            return Verdict(Status.MISSING, WHERE, N_("no mystery break taken"))
        if known.revealed is None:
            text, args = diagnosis(ws), {}
            if not text:
                return Verdict(Status.MISSING, WHERE, N_("no diagnosis written"))
        else:
            text, args = str(known.revealed.get("diagnosis", "")), {"id": known.brk.id}
            if not text:
                return Verdict(Status.FAIL, WHERE, N_("revealed before a diagnosis was written"), args)
    except (ValueError, OSError, KeyError, TypeError) as err:
        return Verdict(Status.ERROR, WHERE, "{error}", {"error": str(err)[:200]})
    if names_cause(text, known.brk, ws.language):
        return Verdict(Status.PASS, WHERE, N_("the diagnosis names the cause"), args)
    return Verdict(Status.FAIL, WHERE, N_("the diagnosis does not name the cause"), args)
