"""A feedback report per learner, in the workspace's language: every check of every lab (✓, or
what is wrong and the check's hint), the contract's failing tests with the /break page that shows
each bug, the predictions, the breaks, and the points.

It never shows a hidden input, an expected value or a test's source: a check's problem is one of
its fixed messages, and a contract test is named with the kind of its failure only. `write` puts
`index.md` and `index.html` in learners/feedback/NAME/; `release` copies them into the learner's
workspace (feedback/), never over a file the learner wrote.
"""

from __future__ import annotations

import functools
import html
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from ..i18n import N_, gettext_for, number
from . import breaks, checks, mystery, predictions
from .rubric import Rubric
from .verdict import Status, Verdict

SITE = "http://127.0.0.1:8000/"  # where `make site` serves the course
MARK = "<!-- minituner feedback -->"  # in every report we write: what release may replace
TITLES = {"predictions": N_("Predictions"), "contract": N_("Contract (lab/lora.py)"), "breaks": N_("Breaks")}


def break_link(brk: breaks.Break, lang: str) -> str:
    """The /break page on the course site, in the learner's language."""
    return f"{SITE}{'es/' if lang == 'es' else ''}break/{brk.id}-{brk.slug}/"


def points_text(x: float, lang: str) -> str:
    """Points as `lang` writes a number, at most two decimals: 0.5, or 0,5 in Spanish."""
    return number(x, lang, decimals=2, trim=True)


def lines(
    name: str,
    row: dict[str, Verdict],
    rubric: Rubric,
    lang: str,
    kinds: dict[str, str],
    mine: predictions.Said | None = None,
) -> list[str]:
    """The report as Markdown lines; `mine`, what the learner predicted, beside what was measured."""
    _ = gettext_for(lang)
    scores = {item: rubric.score(kinds[item], verdict) for item, verdict in row.items()}
    earned, possible = sum(e for e, _p in scores.values()), sum(p for _e, p in scores.values())
    out = [MARK, _("# Feedback for {name}").format(name=name), ""]
    shown = functools.partial(points_text, lang=lang)
    out += [_("Points: {earned} of {possible}.").format(earned=shown(earned), possible=shown(possible)), ""]
    for item, verdict in row.items():
        title = _(TITLES[item]) if item in TITLES else _("Lab {n}").format(n=item[4:])
        out += [f"## {title} — {shown(scores[item][0])} / {shown(scores[item][1])}", ""]
        if not verdict.parts or verdict.status in (Status.MISSING, Status.ERROR) and item != "predictions":
            out += [f"- {verdict.text(_)}"] if not verdict.passed else []
        out += [bullet(item, part, _, lang, mine) for part in verdict.parts if show(item, part)]
        if item == "contract" and verdict.passed:
            out.append("- ✓ " + _("every test passes"))
        out.append("")
    return out


def show(item: str, part: Verdict) -> bool:
    """Every check and every break; of the contract, only what failed (43 passing tests say little)."""
    return item != "contract" or not part.passed


def bullet(
    item: str, part: Verdict, _: Callable[[str], str], lang: str, mine: predictions.Said | None = None
) -> str:
    if item == "contract":
        kind = part.args.get("error", "").split(":")[0].strip() or _(part.status.value)
        shown = [breaks.get(part.points_to)] if part.points_to else []
        see = "".join(
            " " + _("see break {pages}").format(pages=f"[{b.id} — {_(b.title)}]({break_link(b, lang)})")
            for b in shown
        )
        return f"- ✗ `{part.where}`: {kind}.{see}"
    if item == "breaks" and part.where == mystery.WHERE:
        return mystery_bullet(part, _, lang)
    if item == "breaks":
        brk = breaks.get(part.where)
        state = {Status.PASS: N_("started after a written prediction"), Status.MISSING: N_("not started")}
        said = _(state[part.status]) if part.status in state else part.text(_).split(": ", 1)[-1]
        line = f"- {'✓' if part.passed else '·'} [{brk.id} — {_(brk.title)}]({break_link(brk, lang)}): {said}"
        started = part.status is not Status.MISSING  # the symptom of a break not run yet is not told
        return line + (predictions.break_beside(brk.id, mine, lang) if started else "")
    if item == "predictions":
        line = f"- {'✓' if part.passed else '✗'} {part.where}" + ("" if part.passed else ": " + _("empty"))
        return line + predictions.beside(part.where, mine, lang)
    title = predictions.check_title(part.where, lang)
    name = f"{part.where} — {title}" if title else part.where
    if part.passed:
        return f"- ✓ {name}"
    text = part.message(_) if part.detail else _(part.status.value)
    text = text.removeprefix("NotYet: ").removeprefix(f"{part.where}: ")
    hint = _(checks.hint(part.where)) if part.where in checks.CHECKS else ""
    said = _("Hint: {hint}").format(hint=hint) if hint and hint not in text else ""
    end = "" if not said or text.endswith((".", "!", "?")) else "."  # "missing. Hint: ..."
    return f"- ✗ {name}: {text}{end} {said}".rstrip()


def mystery_bullet(part: Verdict, _: Callable[[str], str], lang: str) -> str:
    """The mystery break's line: which break it was, and its page, only once the learner revealed it."""
    label = _("The mystery break")
    if "id" in part.args:
        brk = breaks.get(part.args["id"])
        name = f"[{label}: {brk.id} — {_(brk.title)}]({break_link(brk, lang)})"
    else:
        name = f"[{label}]({SITE}{'es/' if lang == 'es' else ''}break/mystery/)"
    mark = {Status.PASS: "✓", Status.MISSING: "·"}.get(part.status, "✗")
    return f"- {mark} {name}: {part.message(_) if part.detail else _(part.status.value)}"


def to_html(markdown: list[str], lang: str) -> str:
    """The same report as a page of its own: headings, lists and links, everything else escaped."""
    body = []
    for line in markdown[1:]:
        if line.startswith("# "):
            body.append(f"<h1>{inline(line[2:])}</h1>")
        elif line.startswith("## "):
            body.append(f"<h2>{inline(line[3:])}</h2>")
        elif line.startswith("- "):
            body.append(f"<li>{inline(line[2:])}</li>")
        elif line:
            body.append(f"<p>{inline(line)}</p>")
    return (
        f'<!doctype html>\n<html lang="{lang}"><head><meta charset="utf-8">{MARK}\n'
        "<style>body{font-family:sans-serif;max-width:52em;margin:2em auto;line-height:1.45}"
        "li{list-style:none;margin:.2em 0}code{background:#f3f3f3;padding:0 .2em}</style></head><body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def inline(text: str) -> str:
    """Escaped text with the report's own `code` and [links](http...) made HTML; a character escaped
    with a backslash (a learner's text, see `predictions.quoted`) is shown as it is, never as markup."""
    out = html.escape(text)
    out = re.sub(r"(?<!\\)`([^`]+?)(?<!\\)`", r"<code>\1</code>", out)
    out = re.sub(r"(?<!\\)\[([^\]]+)\]\((https?://[^)\s]+)\)", r'<a href="\2">\1</a>', out)
    return re.sub(r"\\(&lt;|&gt;|[\\`*_{}\[\]()#+!|~])", r"\1", out)


def write(
    folder: Path,
    name: str,
    row: dict[str, Verdict],
    rubric: Rubric,
    lang: str,
    kinds: dict[str, str],
    mine: predictions.Said | None = None,
) -> Path:
    """learners/feedback/NAME/index.md and index.html; the folder."""
    target = folder / name
    target.mkdir(parents=True, exist_ok=True)
    markdown = lines(name, row, rubric, lang, kinds, mine)
    (target / "index.md").write_text("\n".join(markdown))
    (target / "index.html").write_text(to_html(markdown, lang))
    return target


def release(report: Path, workspace: Path) -> Path:
    """Copy a learner's report into their workspace's feedback/; a file there that is not one of
    our reports is kept beside it under another name, never overwritten."""
    target = workspace / "feedback"
    target.mkdir(exist_ok=True)
    for source in sorted(report.glob("index.*")):
        destination = target / source.name
        if destination.is_symlink() or (
            destination.exists() and MARK not in destination.read_text(errors="replace")
        ):
            destination.rename(
                destination.with_name(
                    f"{destination.stem}-{time.strftime('%Y%m%d-%H%M%S')}{destination.suffix}"
                )
            )
        shutil.copyfile(source, destination)
    return target
