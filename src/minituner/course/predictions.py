"""What the class predicted: every prediction of the workbooks and every /break, each learner's
beside what the course's reference run measured, so that a class can open with "most of you
expected X; it was Y".

`read` takes what a learner wrote from a workspace (the grader calls it on the copy it grades,
before any of the learner's code runs); `report` puts predictions.html and predictions.md beside
the gradebook, with a chart per question whose predictions hold numbers (predictions-ID.png,
inline in the page); `beside` and `break_beside` give a learner's feedback report the same
comparison. What each prediction asks about is the map in predictions.toml: figures of
figures.toml, exact counts, or the lines a reference notebook printed
(a /break: what the broken code showed).

A learner's text is untrusted. It is read from what they hand in (handin's allowlist, regular files
only, never through a link), shown escaped everywhere and cut when it is long. Numbers are read
from it in English or Spanish ("96.7 %", "96,7 %", "0.97", "18,432", "18 432", "about 90%", "60-70%");
a prediction without one is listed, never drawn. Nothing is executed, and matplotlib is imported
only to draw a chart.
"""

from __future__ import annotations

import base64
import functools
import html
import io
import json
import math
import re
import statistics
import time
import tomllib
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from .. import i18n
from ..figures import FIGURES
from ..i18n import LANGUAGES, N_, gettext_for
from . import breaks, handin
from .workspace import (
    ANSWER,
    COMMENT,
    EXERCISES,
    PREDICTION,
    break_sections,
    check_ids,
    exercise_path,
    is_check,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CAP = 400  # characters of a prediction shown in the class's report; the rest is cut, and it says so
FEEDBACK_CAP = 240  # in a learner's own report, one line
READ = 4000  # characters of a prediction searched for its number
HTML_NAME, MARKDOWN_NAME = "predictions.html", "predictions.md"
CHART = re.compile(r"predictions-\d\d\.\w+\.png")  # the charts' files, beside the report
NBSP = "\u00a0"  # Spanish thousands: 18 432 does not break across lines


# --- The map: what each prediction asks about -------------------------------------------------------


@dataclass(frozen=True)
class Asked:
    """One prediction cell's entry of predictions.toml."""

    id: str
    figures: tuple[str, ...] = ()  # for a question that asks for a number
    chart: str | None = None  # the figure its numbers are drawn against ("A - B": in points)
    whole: str | None = None  # the count a share is of
    ignore: frozenset[float] = frozenset()  # numbers that are never the learner's answer
    output: tuple[str, ...] = ()  # for a question no number answers: the reference's printed lines


@dataclass(frozen=True)
class Exact:
    value: float
    unit: str  # "%": a share (a fraction, shown in %); "": a count
    printed: str  # a piece of the reference notebook's line that prints it


def load_map() -> tuple[dict[str, Asked], dict[str, Exact], dict[str, dict[str, tuple[str, ...]]]]:
    """predictions.toml: the prediction cells, the exact counts, the breaks' symptoms by language."""
    data = tomllib.loads(resources.files(__package__).joinpath("predictions.toml").read_text("utf-8"))
    asked = {
        key: Asked(
            key,
            tuple(entry.get("figures", ())),
            entry.get("chart"),
            entry.get("whole"),
            frozenset(float(x) for x in entry.get("ignore", ())),
            tuple(entry.get("output", ())),
        )
        for key, entry in data["predictions"].items()
    }
    exact = {
        name: Exact(float(entry["value"]), str(entry.get("unit", "")), str(entry["printed"]))
        for name, entry in data["exact"].items()
    }
    symptoms = {
        key: {lang: tuple(entry[lang]) for lang in LANGUAGES if lang in entry}
        for key, entry in data["breaks"].items()
    }
    return asked, exact, symptoms


ASKED, EXACT, SYMPTOMS = load_map()

LABELS = {  # every figure the map names, and every chart that is a difference
    "minigpt.total": N_("Mini-GPT's parameters"),
    "lora.r8.trainable": N_("trainable parameters, LoRA at r = 8 on the 12 Linears"),
    "lora.r8.share": N_("their share of Mini-GPT's 103,680 parameters"),
    "lora.r8.wrapped_total": N_("all parameters of the wrapped model"),
    "lora.r8.wrapped_share": N_("trainable share of the wrapped model"),
    "lora.attention.r8": N_("LoRA parameters on attention only, at r = 8"),
    "lora.mlp.r8": N_("LoRA parameters on the MLP only, at r = 8"),
    "break_even.64x64": N_("break-even rank of a 64 × 64 Linear"),
    "base.irregular": N_("the base model, irregular cells right"),
    "lora.r1.irregular": N_("rank 1, irregular cells right"),
    "lora.r8.irregular": N_("rank 8, irregular cells right"),
    "lora.r1.retention": N_("rank 1, retention (held-out regular verbs right)"),
    "lora.r8.retention": N_("rank 8, retention (held-out regular verbs right)"),
    "lora.r8.irregular - lora.r1.irregular": N_("irregular accuracy that rank 1 loses against rank 8"),
    "adapter.r8.bytes": N_("bytes of the rank-8 adapter.safetensors"),
    "peft.r8.trainable": N_("trainable parameters that peft reports at r = 8"),
    "dora.r8.trainable": N_("trainable parameters of DoRA at r = 8"),
}


def value(name: str) -> float:
    """A figure's value: from figures.toml, from [exact], or the difference 'A - B' of two."""
    if " - " in name:
        first, second = name.split(" - ")
        return value(first) - value(second)
    return EXACT[name].value if name in EXACT else FIGURES[name].value


def unit(name: str) -> str:
    """'%' for a fraction shown in percent, 'pt' for a difference of two (in points), '' for a count."""
    if " - " in name:
        return "pt"
    return EXACT[name].unit if name in EXACT else "%"


# --- Numbers, shown in the reader's language ---------------------------------------------------------


def decimal(x: float, digits: int, lang: str) -> str:
    return i18n.number(x, lang, digits, trim=True, space=NBSP)


def count(x: float, lang: str) -> str:
    """18,432 in English; 18 432 in Spanish (and 4096: four digits are not grouped). A count from
    a share (1% of 103,680) is rounded, below 100 to two decimals."""
    if abs(x - round(x)) > 1e-9 and abs(x) < 100:
        return decimal(x, 2, lang)
    return i18n.number(round(x), lang, space=NBSP)


def show(x: float, kind: str, lang: str) -> str:
    """A value of a figure of `kind` (see `unit`), as a reader of `lang` writes it."""
    if kind == "%":
        return i18n.percent(x, lang, space=NBSP)
    if kind == "pt":
        _ = gettext_for(lang)
        return _("{x} points").format(x=decimal(100 * x, 1, lang))
    return count(x, lang)


def measured(name: str, lang: str) -> str:
    """'label: value' of one figure; a trained one with how far another machine may land."""
    _ = gettext_for(lang)
    text = f"{_(LABELS[name])}: {show(value(name), unit(name), lang)}"
    figure = FIGURES.get(name) if name not in EXACT else None
    if figure is None:
        return text
    margin = figure.margin(_, lambda x: decimal(x, 1, lang), lambda x: show(x, "%", lang))
    if figure.at_most is not None:  # chaotic training: only a bound holds
        margin = _("another machine: {margin}").format(margin=margin)
    return f"{text} ({margin})"


# --- Numbers, read from a learner's text -------------------------------------------------------------

NUMBER = re.compile(
    r"(?<![\w.,])"  # not inside a word (r8, fp32) or another number
    r"(?P<int>[1-9]\d{0,2}(?P<sep>[,.\u00a0\u202f\u2009 ])\d{3}(?:(?P=sep)\d{3})*(?!\d)|\d+)"
    r"(?:(?P<dec>[.,])(?P<frac>\d+))?"
    r"(?:e(?P<exp>[-+−]?\d{1,3}))?"
    r"(?P<k>\s?(?:k|mil)\b)?"
    r"(?P<pct>\s?(?:%|por\s?ciento|per\s?cent))?",
    re.I,
)
OPERAND_AFTER = re.compile(r"\s*(?:x(?![a-z])|[×*·/+]|times\b|veces\b)", re.I)
OPERAND_BEFORE = re.compile(r"(?:(?<![a-z])x|[×*·/+]|\btimes|\bveces)\s*$", re.I)
RESULT_BEFORE = re.compile(r"(?:=|≈|→|->)\s*$")
RANGE = re.compile(r"\s*(?:-|–|—|to|a|al|hasta)\s*", re.I)
RANGE_AND = re.compile(r"\s*(?:and|y)\s*", re.I)
BETWEEN = re.compile(r"\b(?:between|entre)\s*$", re.I)


@dataclass(frozen=True)
class Number:
    """A number as a learner wrote it: a range has two ends, a single number the same two."""

    low: float
    high: float
    percent: bool = False  # written with %, "percent" or "por ciento"
    decimals: bool = False  # written with a decimal part (0.97, not 1)
    operand: bool = False  # beside ×, ·, /, +, "times": a factor of something, not an answer
    result: bool = False  # after "=", "≈" or "→": what something comes to
    written: str = ""  # as the learner wrote it
    converted: bool = False  # a share made a count, or a count a share (see `convert`)

    @property
    def value(self) -> float:
        return (self.low + self.high) / 2


def _magnitude(m: re.Match[str], lang: str) -> tuple[float, bool]:
    """A match of NUMBER as a float, and whether it has a decimal part. One group of three digits
    after a single ',' or '.' is a thousands group ("18,432"; "18.432" in Spanish), unless a % follows
    ("96,667 %") or it is '.' in English ("18.432" is then a decimal)."""
    whole, sep, frac = m["int"], m["sep"], m["frac"]
    groups = whole.split(sep) if sep else [whole]
    if (
        sep in (",", ".")
        and len(groups) == 2
        and frac is None
        and (m["pct"] or (sep == "." and lang == "en"))
    ):
        number, decimals = float(f"{groups[0]}.{groups[1]}"), True
    else:
        number, decimals = float("".join(groups) + (f".{frac}" if frac else "")), bool(frac)
    if m["exp"]:
        number *= 10.0 ** int(m["exp"].replace("−", "-"))
    if m["k"]:
        number *= 1000
    return number, decimals


def numbers(text: str, lang: str = "en") -> list[Number]:
    """Every number of `text`, in order, ranges ("60-70%", "entre 60 y 70") as one. Signs are
    dropped: a prediction is a magnitude."""
    matches = list(NUMBER.finditer(text))
    found: list[Number] = []
    i = 0
    while i < len(matches):
        m = matches[i]
        x, decimals = _magnitude(m, lang)
        before, end = text[max(0, m.start() - 24) : m.start()], m.end()  # a window: never quadratic
        number = Number(
            x,
            x,
            bool(m["pct"]),
            decimals,
            bool(OPERAND_BEFORE.search(before) or OPERAND_AFTER.match(text, end)),
            bool(RESULT_BEFORE.search(before)),
            m.group().strip(),
        )
        if i + 1 < len(matches):
            n = matches[i + 1]
            between = text[end : n.start()]
            if RANGE.fullmatch(between) or (RANGE_AND.fullmatch(between) and BETWEEN.search(before)):
                y, more = _magnitude(n, lang)
                after_operand = bool(OPERAND_AFTER.match(text, n.end()))
                number = replace(
                    number,
                    low=min(x, y),
                    high=max(x, y),
                    percent=number.percent or bool(n["pct"]),
                    decimals=decimals or more,
                    operand=number.operand or after_operand,
                    written=text[m.start() : n.end()].strip(),
                )
                i += 1
        found.append(number)
        i += 1
    return found


def convert(number: Number, asked: Asked) -> Number | None:
    """`number` in the unit of the question's chart, or None when it cannot be one: a percentage on
    a chart of counts is a share of `whole`, and a count on a chart of percentages too."""
    assert asked.chart is not None
    kind = unit(asked.chart)
    whole = value(asked.whole) if asked.whole else None

    share = bool(whole) and kind == "%" and not number.percent and number.high > 100

    def one(x: float) -> float | None:
        if kind in ("%", "pt"):
            if number.percent:
                return x / 100
            if whole and share:
                return x / whole
            if number.decimals and x < 1:
                return x  # 0.97
            return x / 100 if 0 <= x <= 100 else None  # "about 90"
        if number.percent:
            return x / 100 * whole if whole else None
        return x

    low, high = one(number.low), one(number.high)
    if low is None or high is None:
        return None
    return replace(number, low=low, high=high, converted=share or (kind == "" and number.percent))


def reading(text: str, asked: Asked, lang: str = "en") -> Number | None:
    """The learner's answer to a question with a chart, in the chart's unit: the last number after
    '=' (or '≈', '→') if there is one, else the first, skipping the numbers the question gives and
    the factors of a product; None when the text holds no such number."""
    if asked.chart is None:
        return None
    found = [
        n
        for n in numbers(text[:READ], lang)
        if not n.operand and (n.percent or n.low != n.high or n.low not in asked.ignore)
    ]
    results = [n for n in found if n.result]
    for number in [*reversed(results), *(n for n in found if not n.result)]:
        converted = convert(number, asked)
        if converted is not None:
            return converted
    return None


def show_number(number: Number, kind: str, lang: str) -> str:
    """A number read, in the chart's unit; with what the learner wrote when it was a share of a count."""
    shown = show(number.low, kind, lang)
    if number.low != number.high:
        shown += f"–{show(number.high, kind, lang)}"
    return f"{shown} ({number.written})" if number.converted else shown


# --- What each learner wrote --------------------------------------------------------------------------


@dataclass(frozen=True)
class Said:
    """One learner's predictions, as they handed them in; '' where they wrote nothing."""

    language: str = "en"
    cells: dict[str, str] = field(default_factory=dict)  # prediction id -> their text
    breaks: dict[str, str] = field(default_factory=dict)  # break id -> their text


def paragraphs(source: str) -> list[str]:
    """A markdown cell's paragraphs, HTML comments removed and whitespace made single spaces."""
    parts = re.split(r"\n\s*\n", COMMENT.sub("\n\n", source))
    return [flat for part in parts if (flat := " ".join(part.split()))]


@functools.cache
def template(name: str) -> tuple[str, ...]:
    """The paragraphs of a workbook's prediction cells as a new workspace has them (question,
    heading, introduction), in both languages, longest first."""
    found: set[str] = set()
    for lang in LANGUAGES:
        for cell in json.loads(exercise_path(name, lang).read_text())["cells"]:
            source = "".join(cell["source"])
            if cell["cell_type"] == "markdown" and PREDICTION.search(source):
                found.update(paragraphs(ANSWER.sub("", source)))
    return tuple(sorted(found, key=len, reverse=True))


def own_text(source: str, name: str) -> str:
    """What the learner wrote in a prediction cell: the cell without its question, one paragraph a line."""
    kept = []
    for paragraph in paragraphs(source):
        known = next((t for t in template(name) if paragraph.startswith(t)), "")
        if rest := paragraph[len(known) :].strip():
            kept.append(rest)
    return "\n".join(kept)


def notebook_texts(data: bytes | None, name: str) -> dict[str, str]:
    """Every prediction cell of one handed-in notebook: its id and the learner's text."""
    try:
        cells = json.loads(data or b"")["cells"]
        sources = [
            "".join(c["source"]) if isinstance(c["source"], list) else str(c["source"])
            for c in cells
            if isinstance(c, dict) and c.get("cell_type") == "markdown"
        ]
    except (ValueError, KeyError, TypeError):
        return {}
    texts: dict[str, str] = {}
    for source in sources:
        marker = PREDICTION.search(source)
        if marker and marker.group(1) not in texts:
            texts[marker.group(1)] = own_text(source, name)
    return texts


def read(home: Path) -> Said:
    """A workspace's predictions, from what it hands in; nothing, rather than an error, from a
    workspace that cannot be read."""
    try:
        files, _refused = handin.collect(home)
        settings = tomllib.loads(files.get("learner.toml", b"").decode("utf-8", "replace"))
        language = str(settings.get("language", "en"))
    except (OSError, ValueError):
        return Said()
    cells: dict[str, str] = {}
    for name in EXERCISES:
        cells |= notebook_texts(files.get(f"notebooks/{name}.ipynb"), name)
    try:
        notes = break_sections(
            files.get("notes/breaks.md", b"").decode("utf-8", "replace"), "notes/breaks.md"
        )
    except ValueError:  # a section twice: the grader says so in the breaks column
        notes = {}
    return Said(language if language in LANGUAGES else "en", cells, notes)


# --- What the workbooks ask, in each language -----------------------------------------------------------


@dataclass(frozen=True)
class Workbooks:
    labs: dict[str, str]  # notebook -> its title ("Lab 00 — LoRALinear by hand")
    questions: dict[str, tuple[str, str]]  # prediction id -> (its notebook, its question)
    checks: dict[str, str]  # check id -> the title of its exercise ("identity at init")
    lab_checks: dict[str, tuple[str, ...]]  # notebook -> its checks, in order


@functools.cache
def workbooks(lang: str) -> Workbooks:
    """What the five workbooks of `lang` ask and check, read once: the grader, the class report and
    the feedback all take it from here."""
    labs: dict[str, str] = {}
    questions: dict[str, tuple[str, str]] = {}
    titles: dict[str, str] = {}
    by_lab: dict[str, tuple[str, ...]] = {}
    for name in EXERCISES:
        heading = ""
        by_lab[name] = ()
        for cell in json.loads(exercise_path(name, lang).read_text())["cells"]:
            source = "".join(cell["source"])
            if cell["cell_type"] == "markdown":
                for line in source.splitlines():
                    if line.startswith("# "):
                        labs.setdefault(name, line[2:].strip())
                    elif line.startswith("## "):
                        heading = line[3:].strip()
                marker = PREDICTION.search(source)
                if marker:
                    asked = " ".join(COMMENT.sub("", ANSWER.sub("", source[marker.end() :])).split())
                    questions[marker.group(1)] = (name, re.sub(r"^\*\*[^*]+\*\*\s*", "", asked))
            elif is_check(cell):
                checks = tuple(check_ids(name, source))
                titles |= dict.fromkeys(checks, heading.split(" — ", 1)[-1])
                by_lab[name] += checks
    return Workbooks(labs, questions, titles, by_lab)


def check_title(check: str, lang: str) -> str:
    """The title of the exercise a check checks, in `lang` ('' for a check of no exercise)."""
    return workbooks(lang).checks.get(check, "")


# --- The report ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    learner: str
    text: str  # the learner's text, cut at CAP
    length: int  # its length in all: more than CAP when it was cut
    number: Number | None  # what was read from it, in the chart's unit


@dataclass(frozen=True)
class Section:
    id: str  # the prediction's id, or "break-NN"
    group: str  # the lab's title, or "Breaks"
    title: str
    question: str
    heading: str  # what `measured` is
    measured: tuple[str, ...]
    printed: bool  # `measured` is what a notebook printed (shown as code)
    entries: tuple[Entry, ...]
    silent: tuple[str, ...]  # the learners who wrote nothing
    chart: str | None  # the figure drawn, when some entry holds a number


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit].rstrip() + "…"


def sections(said: dict[str, Said], lang: str) -> list[Section]:
    """The report's content, in the order of the workbooks, then of the break catalogue."""
    _ = gettext_for(lang)
    books = workbooks(lang)
    out = []
    for pid, (notebook, question) in books.questions.items():
        asked = ASKED.get(pid, Asked(pid))
        entries, silent = [], []
        for learner, mine in said.items():
            text = mine.cells.get(pid, "")
            if not text:
                silent.append(learner)
                continue
            number = reading(text, asked, mine.language)
            entries.append(Entry(learner, cut(text, CAP), len(text), number))
        drawn = asked.chart if any(e.number for e in entries) else None
        shown = tuple(measured(f, lang) for f in asked.figures) if asked.figures else asked.output
        out.append(
            Section(
                pid,
                books.labs[notebook],
                pid,
                question,
                _("Measured (reference run):") if asked.figures else _("The reference run printed:"),
                shown,
                not asked.figures,
                tuple(entries),
                tuple(silent),
                drawn,
            )
        )
    for brk in breaks.CATALOGUE:
        entries, silent = [], []
        for learner, mine in said.items():
            text = mine.breaks.get(brk.id, "")
            if text:
                entries.append(Entry(learner, cut(text, CAP), len(text), None))
            else:
                silent.append(learner)
        lines = SYMPTOMS.get(brk.id, {})
        out.append(
            Section(
                f"break-{brk.id}",
                _("Breaks"),
                _("Break {id} — {title}").format(id=brk.id, title=_(brk.title)),
                _("What will the broken lora.py do? (written before the break was run)"),
                _("The broken lora.py showed (reference run):"),
                lines.get(lang, lines.get("en", ())),
                True,
                tuple(entries),
                tuple(silent),
                None,
            )
        )
    return out


def summary(section: Section, learners: int, lang: str) -> str:
    _ = gettext_for(lang)
    if not section.entries:
        return _("No learner wrote a prediction.")
    if section.chart is None and len(section.entries) == 1:
        return _("One of {m} learners wrote a prediction.").format(m=learners)
    if section.chart is None:
        return _("{n} of {m} learners wrote a prediction.").format(n=len(section.entries), m=learners)
    kind = unit(section.chart)
    values = [e.number.value for e in section.entries if e.number]
    truth = show(value(section.chart), kind, lang)
    if len(values) == 1:
        return _("{n} of {m} learners wrote a number, {x}; the reference run measured {measured}.").format(
            n=1, m=learners, x=show(values[0], kind, lang), measured=truth
        )
    if min(values) == max(values):
        return _(
            "{n} of {m} learners wrote a number, all of them {x}; the reference run measured {measured}."
        ).format(n=len(values), m=learners, x=show(values[0], kind, lang), measured=truth)
    return _(
        "{n} of {m} learners wrote a number, from {low} to {high}; the median prediction is {median}, "
        "and the reference run measured {measured}."
    ).format(
        n=len(values),
        m=learners,
        low=show(min(values), kind, lang),
        high=show(max(values), kind, lang),
        median=show(statistics.median(values), kind, lang),
        measured=truth,
    )


def tick(x: float, kind: str, lang: str) -> str:
    if kind == "%":
        return show(x, kind, lang)
    if kind == "pt":
        return decimal(100 * x, 1, lang)
    return count(x, lang)


def chart(section: Section, lang: str) -> bytes:
    """The section's chart as a PNG."""
    out = io.BytesIO()
    chart_figure(section, lang).savefig(out, format="png", metadata={"Software": None})
    return out.getvalue()


def chart_figure(section: Section, lang: str) -> Figure:
    """A dot per learner's number (a bar for a range; dots that meet are stacked), the measured
    value as a line, the median prediction as a dashed one; its words in `lang`."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    assert section.chart is not None
    _ = gettext_for(lang)
    name, kind = section.chart, unit(section.chart)
    truth = value(name)
    drawn = sorted((e.number for e in section.entries if e.number), key=lambda n: n.value)
    low = min([truth, *(n.low for n in drawn)])
    high = max([truth, *(n.high for n in drawn)])
    log = low > 0 and high / low > 30

    def at(x: float) -> float:
        return math.log10(x) if log else x

    span = (at(high) - at(low)) or abs(at(high)) or 1.0
    placed: list[tuple[float, int]] = []
    for number in drawn:
        level = 0
        while any(abs(at(number.value) - x) < span / 30 and y == level for x, y in placed):
            level += 1
        placed.append((at(number.value), level))
    top = max((y for _x, y in placed), default=0)

    figure = Figure(figsize=(9, 2.3 + 0.22 * top), dpi=110, layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    blue, red = "#1f5fa8", "#c0392b"
    for number, (_x, level) in zip(drawn, placed, strict=True):
        if number.low != number.high:
            ax.plot(
                [number.low, number.high],
                [level, level],
                color=blue,
                alpha=0.45,
                lw=3,
                solid_capstyle="round",
            )
    ax.scatter(
        [n.value for n in drawn],
        [y for _x, y in placed],
        s=70,
        color=blue,
        edgecolor="white",
        zorder=3,
        label=_("a learner's prediction ({n})").format(n=len(drawn)),
    )
    median = statistics.median(n.value for n in drawn)
    ax.axvline(
        median,
        color=blue,
        ls="--",
        lw=1.2,
        label=_("median prediction: {x}").format(x=show(median, kind, lang)),
    )
    ax.axvline(
        truth, color=red, lw=2.5, label=_("measured (reference run): {x}").format(x=show(truth, kind, lang))
    )
    if log:
        ax.set_xscale("log")
        ax.set_xlim(low / 10 ** (span * 0.08), high * 10 ** (span * 0.08))
    else:
        ax.set_xlim(low - span * 0.08, high + span * 0.08)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: tick(x, kind, lang)))
    ax.set_ylim(-0.9, top + 0.9)
    ax.set_yticks([])
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    label = _(LABELS[name])
    suffix = {"%": " (%)", "pt": " " + _("(percentage points)")}.get(kind, "")
    ax.set_xlabel(label + suffix)
    ax.set_title(_("{id}: the class's predictions and the reference run").format(id=section.id), loc="left")
    figure.legend(loc="outside lower center", ncol=3, frameon=False, fontsize=9)
    return figure


def charts(found: list[Section], lang: str) -> dict[str, bytes]:
    """A chart for each section whose predictions hold numbers; none, when matplotlib is missing."""
    drawn = [s for s in found if s.chart]
    if not drawn:
        return {}
    try:
        import matplotlib  # noqa: F401 - only to know whether the charts can be drawn
    except ImportError:
        return {}
    return {s.id: chart(s, lang) for s in drawn}


def report(folder: Path, said: dict[str, Said], lang: str) -> Path:
    """The class's report in `lang`, from what each learner wrote; the HTML file's path."""
    found = sections(said, lang)
    images = charts(found, lang)
    for old in folder.glob("predictions-*.png"):
        if CHART.fullmatch(old.name):
            old.unlink()
    for pid, png in images.items():
        (folder / f"predictions-{pid}.png").write_bytes(png)
    missing = any(s.chart for s in found) and not images
    (folder / MARKDOWN_NAME).write_text(to_markdown(found, len(said), lang, images, missing))
    (folder / HTML_NAME).write_text(to_html(found, len(said), lang, images, missing))
    return folder / HTML_NAME


def introduction(learners: int, lang: str, missing: bool) -> list[str]:
    _ = gettext_for(lang)
    lines = [
        _(
            "{n} learners, graded on {date}. Beside each prediction, what the course's reference run "
            "measured; a trained figure lands within the margin shown on another machine."
        ).format(n=learners, date=time.strftime("%Y-%m-%d")),
        _(
            "A chart draws the number read from each learner's prediction (the table shows it): the "
            "numbers the question itself gives are skipped, and a prediction without a number is listed "
            "but not drawn."
        ),
    ]
    if missing:
        lines.append(_("The charts are missing: matplotlib is not installed."))
    return lines


def to_markdown(
    found: list[Section], learners: int, lang: str, images: dict[str, bytes], missing: bool
) -> str:
    from .grading import markdown_cell  # grading imports this module

    _ = gettext_for(lang)
    lines = ["# " + _("What the class predicted"), ""]
    for paragraph in introduction(learners, lang, missing):
        lines += [paragraph, ""]
    group = ""
    for s in found:
        if s.group != group:
            group = s.group
            lines += [f"## {group}", ""]
        lines += [f"### {s.title}", "", f"> {s.question}", ""]
        lines += [f"**{s.heading}**", ""]
        if s.printed:
            lines += ["```text", *s.measured, "```", ""]
        else:
            lines += [f"- {m}" for m in s.measured] + [""]
        lines += [summary(s, learners, lang), ""]
        if s.id in images:
            alt = _("chart")
            lines += [f"![{alt} {s.id}](predictions-{s.id}.png)", ""]
        if s.entries:
            head = [_("learner"), _("prediction")] + ([_("number read")] if s.chart else [])
            lines += ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
            for e in s.entries:
                note = _("(cut: {n} characters in all)").format(n=e.length) if e.length > CAP else ""
                row = [markdown_cell(e.learner), f"{markdown_cell(e.text)} {note}".rstrip()]
                if s.chart:
                    row.append(show_number(e.number, unit(s.chart), lang) if e.number else "—")
                lines.append("| " + " | ".join(row) + " |")
            lines.append("")
        if s.silent and s.entries:
            lines += [
                _("No prediction: {names}.").format(names=", ".join(markdown_cell(n) for n in s.silent)),
                "",
            ]
    return "\n".join(lines)


STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:62em;margin:2em auto;
padding:0 1.2em;line-height:1.45;color:#1d1d1d}
h1{margin-bottom:.3em}h2{border-bottom:2px solid #d8d8d8;padding-bottom:.2em;margin-top:2.2em}
h3{margin:1.6em 0 .3em}.intro{color:#444}
nav{columns:3 16em;font-size:.92em;background:#f6f6f6;padding:.6em 1em;border-radius:6px}
nav a{display:block;text-decoration:none}
section{break-inside:avoid;page-break-inside:avoid}
.question{font-style:italic;color:#333;margin:.2em 0 .6em}
.measured{background:#eef6ee;border-left:4px solid #2e7d32;padding:.4em .9em;margin:.5em 0}
.measured ul{margin:.2em 0;padding-left:1.2em}.measured pre{margin:.3em 0;white-space:pre-wrap;
overflow-wrap:anywhere;font-size:.9em}
.summary{font-weight:600;margin:.6em 0}
img{max-width:100%;height:auto;display:block;margin:.4em 0}
table{border-collapse:collapse;width:100%;margin:.5em 0;font-size:.95em}
th,td{border:1px solid #d8d8d8;padding:.3em .55em;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.learner{white-space:nowrap;width:9em}
td.text{white-space:pre-wrap;overflow-wrap:anywhere}td.number{white-space:nowrap;text-align:right;width:9em}
.cut{color:#777;font-size:.9em;font-style:italic}.silent{color:#666;font-size:.95em}
code{background:#f1f1f1;padding:0 .2em;border-radius:3px}
@media print{nav{display:none}body{margin:0;max-width:none}a{color:inherit;text-decoration:none}}
"""


def text_html(text: str) -> str:
    """Our own text (a question of the workbooks): escaped, with its `code` made HTML."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


def to_html(found: list[Section], learners: int, lang: str, images: dict[str, bytes], missing: bool) -> str:
    """The report as a page: everything a learner wrote escaped, the charts inline."""
    _ = gettext_for(lang)
    e = html.escape
    title = _("What the class predicted")
    body = [f"<h1>{e(title)}</h1>"]
    body += [f'<p class="intro">{e(p)}</p>' for p in introduction(learners, lang, missing)]
    body.append("<nav>" + "".join(f'<a href="#{e(s.id)}">{e(s.title)}</a>' for s in found) + "</nav>")
    group = ""
    for s in found:
        if s.group != group:
            group = s.group
            body.append(f"<h2>{e(group)}</h2>")
        part = [
            f'<section id="{e(s.id)}">',
            f"<h3>{e(s.title)}</h3>",
            f'<p class="question">{text_html(s.question)}</p>',
        ]
        if s.printed:
            shown = "<pre>" + "\n".join(e(line) for line in s.measured) + "</pre>"
        else:
            shown = "<ul>" + "".join(f"<li>{e(m)}</li>" for m in s.measured) + "</ul>"
        part.append(f'<div class="measured"><strong>{e(s.heading)}</strong>{shown}</div>')
        part.append(f'<p class="summary">{e(summary(s, learners, lang))}</p>')
        if s.id in images:
            data = base64.b64encode(images[s.id]).decode()
            alt = e(_("chart") + " " + s.id)
            part.append(f'<img alt="{alt}" src="data:image/png;base64,{data}">')
        if s.entries:
            head = [_("learner"), _("prediction")] + ([_("number read")] if s.chart else [])
            rows = ["<tr>" + "".join(f"<th>{e(h)}</th>" for h in head) + "</tr>"]
            for entry in s.entries:
                cells = [
                    f'<td class="learner">{e(entry.learner)}</td>',
                    f'<td class="text">{e(entry.text)}{cut_note(entry, lang)}</td>',
                ]
                if s.chart:
                    read = show_number(entry.number, unit(s.chart), lang) if entry.number else "—"
                    cells.append(f'<td class="number">{e(read)}</td>')
                rows.append("<tr>" + "".join(cells) + "</tr>")
            part.append("<table>" + "".join(rows) + "</table>")
        if s.silent and s.entries:
            names = _("No prediction: {names}.").format(names=", ".join(s.silent))
            part.append(f'<p class="silent">{e(names)}</p>')
        body.append("\n".join([*part, "</section>"]))
    return (
        f'<!doctype html>\n<html lang="{lang}"><head><meta charset="utf-8">'
        f"<title>{e(title)}</title><style>{STYLE}</style></head><body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def cut_note(entry: Entry, lang: str) -> str:
    if entry.length <= CAP:
        return ""
    _ = gettext_for(lang)
    note = _("(cut: {n} characters in all)").format(n=entry.length)
    return f' <span class="cut">{html.escape(note)}</span>'


# --- A learner's feedback: their prediction beside the measurement ------------------------------------

MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|<>~])")


def quoted(text: str) -> str:
    """A learner's text inside a line of their feedback report: one line, cut, no markup, no HTML."""
    return "“" + MARKDOWN_SPECIAL.sub(r"\\\1", cut(" ".join(text.split()), FEEDBACK_CAP)) + "”"


def reference(pid: str, lang: str) -> str:
    """What the reference run measured for a prediction, on one Markdown line ('' if unmapped)."""
    asked = ASKED.get(pid)
    if asked is None:
        return ""
    if asked.figures:
        return "; ".join(measured(f, lang) for f in asked.figures)
    return "; ".join(f"`{' '.join(line.split())}`" for line in asked.output)


def beside(pid: str, said: Said | None, lang: str) -> str:
    """' — you predicted: “…” — measured: …' for a prediction of the workbooks."""
    _ = gettext_for(lang)
    text = said.cells.get(pid, "") if said else ""
    out = " — " + _("you predicted: {text}").format(text=quoted(text)) if text else ""
    if shown := reference(pid, lang):
        out += " — " + _("the reference run: {measured}").format(measured=shown)
    return out


def break_beside(brk: str, said: Said | None, lang: str) -> str:
    """' — you predicted: “…” — the broken code showed: …' for a /break."""
    _ = gettext_for(lang)
    text = said.breaks.get(brk, "") if said else ""
    out = " — " + _("you predicted: {text}").format(text=quoted(text)) if text else ""
    lines = SYMPTOMS.get(brk, {})
    if shown := lines.get(lang, lines.get("en", ())):
        symptom = "; ".join(f"`{' '.join(line.split())}`" for line in shown)
        out += " — " + _("the broken code showed: {symptom}").format(symptom=symptom)
    return out
