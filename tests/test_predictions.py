"""What the class predicted: predictions.html and predictions.md beside the gradebook, every
learner's prediction beside what the reference run measured, a chart where predictions hold
numbers, and the same comparison in each learner's feedback. Fast: a class of three made here
(the worked example, and blank workspaces whose prediction cells are edited), no notebook run."""

from __future__ import annotations

import html
import json
import re
import shutil
import sys
from pathlib import Path

import pytest

from minituner.course import breaks, contract, feedback, grading, predictions, sandbox, workspace
from minituner.course.predictions import ASKED, EXACT, LABELS, SYMPTOMS, Number, Said
from minituner.course.rubric import Rubric
from minituner.course.verdict import PASS, Status, Verdict
from minituner.course.workspace import ANSWER, PREDICTION, Learner, Workspace
from minituner.figures import FIGURES

ROOT = Path(__file__).parent.parent
NBSP = "\u00a0"

# The prediction cells whose question asks for a number, read in tools/notebooks/*.py; the others
# ask yes or no, which placement, or faster or slower, and are answered by what a notebook printed.
NUMERIC = {
    "00.trainable",  # how many trainable, out of how many
    "01.r8_total",  # how many at r = 8, and what fraction of 103,680
    "01.attention_vs_mlp",  # which of the two gets more, and by how much
    "01.break_even",  # at what rank
    "02.base",  # what fraction of the 120 cells
    "02.rank",  # how much accuracy rank 1 loses
    "03.adapter_size",  # how many bytes
    "04.trainable",  # how many peft reports
    "04.dora",  # how many DoRA has
}


def outputs(pattern: str) -> list[str]:
    """Every line that the reference notebooks matching `pattern` printed (their stored outputs)."""
    lines = []
    for path in sorted((ROOT / "notebooks").glob(pattern)):
        for cell in json.loads(path.read_text())["cells"]:
            for output in cell.get("outputs", []):
                lines += "".join(output.get("text", "")).splitlines()
    return lines


# --- The map ----------------------------------------------------------------------------------------


def test_the_map_has_every_prediction_and_figures_for_exactly_the_numeric_ones() -> None:
    assert sorted(ASKED) == sorted(grading.prediction_ids())
    assert {pid for pid, asked in ASKED.items() if asked.figures} == NUMERIC
    for pid, asked in ASKED.items():
        assert bool(asked.figures) != bool(asked.output), f"{pid}: figures or printed lines, one of them"


def test_every_mapped_figure_exists_and_has_a_name_in_both_languages() -> None:
    used = set()
    for pid, asked in ASKED.items():
        for name in [*asked.figures, *([asked.whole] if asked.whole else [])]:
            assert name in FIGURES or name in EXACT, f"{pid}: no figure {name!r}"
            used.add(name)
        if asked.chart:
            parts = asked.chart.split(" - ")
            assert set(parts) <= set(asked.figures), f"{pid}: its chart is not one of its figures"
            used.add(asked.chart)
    assert used - {a.whole for a in ASKED.values()} <= set(LABELS) and set(LABELS) <= used
    assert set(EXACT) <= used, "an exact count no prediction uses"
    spanish = predictions.measured("base.irregular", "es")
    assert spanish.startswith("el modelo base") and f"23,3{NBSP}%" in spanish


def test_exact_counts_and_printed_lines_are_what_the_reference_notebooks_printed() -> None:
    printed = outputs("0*.ipynb")
    for name, exact in EXACT.items():
        assert any(exact.printed in line for line in printed), f"{name}: no reference output has it"
        shown = f"{exact.value:.2%}" if exact.unit == "%" else f"{exact.value:,.0f}"
        alternative = f"{100 * exact.value:.4f}"  # peft's "trainable%: 15.0943"
        assert shown in exact.printed or alternative in exact.printed, name
    for pid, asked in ASKED.items():
        for line in asked.output:
            assert line in printed, f"{pid}: {line!r} is not what the reference notebook printed"


def test_every_break_shows_what_its_reference_notebook_printed() -> None:
    for brk in breaks.CATALOGUE:
        assert SYMPTOMS[brk.id].get("en"), brk.id
        for lang, lines in SYMPTOMS[brk.id].items():
            suffix = ".es.ipynb" if lang == "es" else ".ipynb"
            found = [
                p
                for p in (ROOT / "notebooks").glob(f"break-{brk.id}-*{suffix}")
                if p.name.count(".") == suffix.count(".")
            ]
            assert len(found) == 1, brk.id
            printed = outputs(found[0].name)
            assert all(line in printed for line in lines), (
                f"break {brk.id} ({lang}): not its notebook's output"
            )


# --- Numbers, in both languages ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "lang", "value", "percent"),
    [
        ("96.7 %", "en", 96.7, True),
        ("96,7 %", "es", 96.7, True),
        ("96,7%", "en", 96.7, True),
        ("0.97", "en", 0.97, False),
        ("0,97", "es", 0.97, False),
        ("about 90%", "en", 90, True),
        ("unos 90 por ciento", "es", 90, True),
        ("18,432", "en", 18432, False),
        ("18,432", "es", 18432, False),
        ("18 432", "es", 18432, False),
        (f"18{NBSP}432", "es", 18432, False),
        ("18.432", "es", 18432, False),
        ("18.432", "en", 18.432, False),
        ("1.234,5", "es", 1234.5, False),
        ("37k", "en", 37000, False),
        ("37 mil", "es", 37000, False),
        ("1e-7", "en", 1e-7, False),
    ],
)
def test_a_number_is_read_as_its_writer_meant_it(text: str, lang: str, value: float, percent: bool) -> None:
    [number] = predictions.numbers(text, lang)
    assert number.value == pytest.approx(value) and number.percent == percent


def test_ranges_products_and_results() -> None:
    [between] = predictions.numbers("entre 60 y 70 %", "es")
    assert (between.low, between.high, between.percent) == (60, 70, True)
    assert [(n.low, n.high) for n in predictions.numbers("60-70% or 50 – 55")] == [(60, 70), (50, 55)]
    product = predictions.numbers("2,304·8 = 18,432")
    assert [(n.value, n.operand, n.result) for n in product] == [
        (2304, True, False),
        (8, True, False),
        (18432, False, True),
    ]
    assert predictions.numbers("r8 in fp32, twice as many") == []


@pytest.mark.parametrize(
    ("pid", "text", "lang", "read"),
    [
        ("00.trainable", "about 1% of the model", "en", 0.01),
        ("00.trainable", "18 432 de 122 112", "es", 18432 / 122112),  # a count, as its share
        ("01.r8_total", "around 1% of the model", "en", 1036.8),  # a share, as a count of 103,680
        ("01.r8_total", "2304·8 = 18 432", "es", 18432),
        ("01.break_even", "for a 64 × 64 Linear, r = 32", "en", 32),
        ("01.break_even", "r = 64, the full width", "en", 64),
        ("02.base", "60-70%", "en", 0.65),
        ("02.base", "0.65", "en", 0.65),
        ("02.base", "en torno al 25 %", "es", 0.25),
        ("02.rank", "rank 1 loses about 20 points against rank 8", "en", 0.20),
        ("03.adapter_size", "18,432 × 4 = 73,728 bytes", "en", 73728),
        ("04.dora", "18 432 + 1152 = 19 584", "es", 19584),
        ("04.dora", "about twice as many", "en", None),
    ],
)
def test_the_answer_is_read_against_its_question(pid: str, text: str, lang: str, read: float | None) -> None:
    number = predictions.reading(text, ASKED[pid], lang)
    assert (number.value if number else None) == (pytest.approx(read) if read is not None else None)


# --- A class of three -------------------------------------------------------------------------------


def write_predictions(home: Path, cells: dict[str, str], notes: dict[str, str] | None = None) -> None:
    """The learner writes `cells` in their prediction cells (as JupyterLab saves them) and `notes`
    under the breaks' headings of their notes."""
    for path in (home / "notebooks").glob("*.ipynb"):
        nb = json.loads(path.read_text())
        for cell in nb["cells"]:
            source = "".join(cell["source"])
            marker = PREDICTION.search(source)
            if cell["cell_type"] == "markdown" and marker and marker.group(1) in cells:
                cell["source"] = (
                    ANSWER.sub("", source).rstrip() + "\n\n" + cells[marker.group(1)]
                ).splitlines(True)
        path.write_text(json.dumps(nb))
    path = home / "notes" / "breaks.md"
    text = path.read_text()
    for brk, said in (notes or {}).items():
        heading = re.search(rf"## Break {brk} .*\n\n<!--.*?-->\n", text)
        assert heading is not None, brk
        text = text[: heading.end()] + said + "\n" + text[heading.end() :]
    path.write_text(text)


LONG = "The MLP is wider, so it learns more. " * 150
BRUNO = {  # a Spanish workspace
    "00.trainable": "Unos 18 432 entrenables de 122 112, un 15,1 %.",
    "02.base": "Entre 20 y 30 %: sobrerregulariza.",
    "04.dora": "18 432 + 1152 = 19 584",
}
CHLOE = {
    "00.trainable": "about 2% <script>alert('x')</script> of the model",
    "02.base": "0.65",
    "02.budget": LONG,
    "03.merged_speed": 'the same <img src=x onerror="alert(1)"> [click](http://evil.example)',
}


@pytest.fixture
def course(tmp_path: Path) -> Path:
    """learners/ana (the worked example), learners/bruno (blank, Spanish), learners/chloe (blank)."""
    shutil.copytree(
        ROOT / "learners" / "example",
        tmp_path / "learners" / "ana",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    workspace.new(Learner(tmp_path, "bruno"), "es")
    workspace.new(Learner(tmp_path, "chloe"), "en")
    write_predictions(
        tmp_path / "learners" / "bruno" / "phase-28", BRUNO, {"03": "Entrenan los 122 112 parámetros."}
    )
    write_predictions(tmp_path / "learners" / "chloe" / "phase-28", CHLOE, {"05": "Twice <b>merged</b>."})
    return tmp_path


def homes(course: Path) -> list[Path]:
    return sorted((course / "learners").glob("*/phase-28"))


def write_report(course: Path, lang: str) -> dict[str, Said]:
    """The class's report in learners/, as `minituner grade` writes it; what each learner wrote."""
    said = {home.parent.name: predictions.read(home) for home in homes(course)}
    predictions.report(course / "learners", said, lang)
    return said


def test_what_each_learner_wrote_is_read_from_their_workspace(course: Path) -> None:
    said = {h.parent.name: predictions.read(h) for h in homes(course)}
    assert said["bruno"].language == "es" and said["bruno"].cells["02.base"] == BRUNO["02.base"]
    assert said["bruno"].cells["00.merge"] == ""  # the question alone: nothing written
    assert (
        said["bruno"].breaks["03"] == "Entrenan los 122 112 parámetros." and said["bruno"].breaks["00"] == ""
    )
    assert said["ana"].cells["02.base"].startswith("A common prediction: 60-70%")  # the example's
    assert set(said["chloe"].cells) == set(grading.prediction_ids())


@pytest.mark.parametrize("lang", ["en", "es"])
def test_every_prediction_is_beside_what_was_measured(course: Path, lang: str) -> None:
    said = write_report(course, lang)
    page = (course / "learners" / "predictions.html").read_text()
    markdown = (course / "learners" / "predictions.md").read_text()
    for name, mine in said.items():
        for pid, text in [*mine.cells.items(), *mine.breaks.items()]:
            if text and len(text) <= predictions.CAP:
                assert f'{name}</td><td class="text">{html.escape(text)}' in page, (name, pid)
                assert grading.markdown_cell(text) in markdown, (name, pid)
    title, base, dora = {
        "en": ("What the class predicted", "23.3%", "19,584"),
        "es": ("Lo que predijo la clase", f"23,3{NBSP}%", f"19{NBSP}584"),
    }[lang]
    for report in (page, markdown):
        assert title in report and base in report and dora in report
        assert "held-out regular accuracy: base 98.6%, wrapped at step 0 (before any training) 0.0%" in report
    question = {"en": "What fraction of the 120 irregular cells", "es": "¿Qué fracción de las 120 celdas"}[
        lang
    ]
    assert question in page and question in markdown
    assert f'<html lang="{lang}">' in page


def test_learners_text_is_escaped_and_a_long_one_cut(course: Path) -> None:
    write_report(course, "en")
    page = (course / "learners" / "predictions.html").read_text()
    markdown = (course / "learners" / "predictions.md").read_text()
    assert "<script" not in page and "<img src=x" not in page and "<b>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page and "&lt;b&gt;merged&lt;/b&gt;" in page
    assert 'href="http://evil' not in page
    assert not re.search(r"(?<!\\)<(script|img)", markdown) and not re.search(
        r"(?<!\\)\]\(http://evil", markdown
    )
    assert LONG[: predictions.CAP - 10] in page and LONG not in page
    assert f"(cut: {len(LONG.strip())} characters in all)" in page


def test_a_chart_where_predictions_hold_numbers_and_none_where_they_do_not(course: Path) -> None:
    learners = course / "learners"
    write_report(course, "en")
    page, markdown = (learners / "predictions.html").read_text(), (learners / "predictions.md").read_text()
    for pid in ("00.trainable", "02.base", "04.dora"):
        assert (learners / f"predictions-{pid}.png").read_bytes().startswith(b"\x89PNG")
        assert f"(predictions-{pid}.png)" in markdown
    assert not (learners / "predictions-02.budget.png").exists()  # words only
    assert page.count('src="data:image/png;base64,') == len(list(learners.glob("predictions-*.png")))
    no_numbers = {name: Said("en", {"02.base": "lower than you think"}, {}) for name in ("ana", "bruno")}
    predictions.report(learners, no_numbers, "en")
    assert not list(learners.glob("predictions-*.png"))  # and the old charts are gone
    assert "data:image" not in (learners / "predictions.html").read_text()
    assert "lower than you think" in (learners / "predictions.html").read_text()
    assert "![" not in (learners / "predictions.md").read_text()


@pytest.mark.parametrize("lang", ["en", "es"])
def test_the_chart_speaks_the_gradebooks_language(lang: str) -> None:
    said = {"ana": Said("en", {"02.base": "about 65%"}), "bruno": Said("es", {"02.base": "0,3"})}
    [section] = [s for s in predictions.sections(said, lang) if s.id == "02.base"]
    assert [e.number.value for e in section.entries if e.number] == [pytest.approx(0.65), pytest.approx(0.3)]
    figure = predictions.chart_figure(section, lang)
    [axes] = figure.axes
    words = " ".join(
        [
            axes.get_title(loc="left"),
            axes.get_xlabel(),
            *(t.get_text() for t in figure.legends[0].get_texts()),
        ]
    )
    expected = {
        "en": ["the base model", "measured (reference run): 23.3%"],
        "es": ["el modelo base", "medido"],
    }[lang]
    assert all(word in words for word in expected), words
    figure.canvas.draw()
    ticks = [t.get_text() for t in axes.get_xticklabels()]
    assert any("%" in t for t in ticks) and (lang == "en" or not any("." in t for t in ticks))


# --- Each learner's feedback ---------------------------------------------------------------------------


def row_of(home: Path) -> dict[str, Verdict]:
    ws = Workspace(home)
    row = {
        column: PASS.with_parts([Verdict(Status.PASS, c) for c in grading.lab_checks(name)])
        for column, name in grading.LABS.items()
    }
    return {
        **row,
        "predictions": grading.grade_predictions(predictions.read(home)),
        "contract": PASS,
        "breaks": grading.grade_breaks(ws),
    }


def report_of(course: Path, name: str) -> str:
    home = course / "learners" / name / "phase-28"
    row = row_of(home)
    kinds = {item: grading.kind_of(item) for item in row}
    lang = Workspace(home).language
    return "\n".join(feedback.lines(name, row, Rubric.load(None), lang, kinds, predictions.read(home)))


def test_feedback_shows_each_prediction_beside_the_measured_value(course: Path) -> None:
    ana = report_of(course, "ana")
    [base] = [line for line in ana.splitlines() if " 02.base" in line]
    assert "A common prediction: 60-70%" in base and "23.3% (±1 point)" in base
    [budget] = [line for line in ana.splitlines() if " 02.budget — you predicted" in line]
    assert "`" + " ".join(ASKED["02.budget"].output[1].split()) + "`" in budget  # what lab 02 printed
    [brk] = [line for line in ana.splitlines() if "[00 — " in line]  # started: what it showed
    assert "ZeroDivisionError at construction" in brk and "float division by zero" in brk
    bruno = report_of(course, "bruno")  # Spanish
    [base] = [line for line in bruno.splitlines() if " 02.base" in line]
    assert "Entre 20 y 30 %" in base and f"23,3{NBSP}%" in base and "predijiste" in base
    [merge] = [line for line in bruno.splitlines() if " 00.merge" in line]
    assert "vacía" in merge and f"`{ASKED['00.merge'].output[0]}`" in merge  # empty; what it printed
    [brk] = [line for line in bruno.splitlines() if "[03 — " in line]  # predicted, not started: no spoiler
    assert "122,112 of 122,112" not in brk


def test_feedback_is_inert_html(course: Path) -> None:
    home = course / "learners" / "chloe" / "phase-28"
    row = row_of(home)
    kinds = {item: grading.kind_of(item) for item in row}
    target = feedback.write(
        course / "feedback", "chloe", row, Rubric.load(None), "en", kinds, predictions.read(home)
    )
    page = (target / "index.html").read_text()
    assert "<script" not in page and "<img" not in page and 'href="http://evil' not in page
    assert "about 2% &lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; of the model" in page
    assert "[click](http://evil.example)" in page  # shown as written, no backslashes, no link


@pytest.mark.parametrize(
    ("lang", "title"), [("en", "00.A — identity at init"), ("es", "00.A — identidad al inicio")]
)
def test_feedback_names_a_check_by_its_exercise_in_the_learners_language(lang: str, title: str) -> None:
    row = {
        "lab 00": Verdict(Status.FAIL, "x").with_parts(
            [Verdict(Status.PASS, "00.A"), Verdict(Status.FAIL, "00.B", "{error}", {"error": "NotYet: no"})]
        )
    }
    lines = feedback.lines("ana", row, Rubric.load(None), lang, {"lab 00": "checks"})
    assert f"- ✓ {title}" in lines
    assert any(line.startswith("- ✗ 00.B — ") and line.endswith(": no") for line in lines)
    assert (
        predictions.check_title("02.sweep", lang)
        == {"en": "does the rank matter?", "es": "¿importa el rango?"}[lang]
    )


# --- `minituner grade` writes it ------------------------------------------------------------------------


def test_grade_writes_the_class_report_and_gives_feedback_the_predictions(
    course: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The wiring, without running a notebook: every workspace's row is made up, the rest is grade()."""

    def graded(
        home: Path, settings: grading.Settings, cache: grading.Cache
    ) -> tuple[dict[str, Verdict], Said]:
        return {**row_of(home)}, predictions.read(home)

    monkeypatch.setattr(grading, "grade_workspace", graded)
    monkeypatch.setattr(sandbox, "bwrap", lambda: "bwrap")
    optional = tuple(Rubric.load(None).table["contract"])  # collecting the real ones takes seconds
    monkeypatch.setattr(contract, "expected_tests", lambda: optional)
    grading.grade(course / "learners", lang="es")
    learners = course / "learners"
    page = (learners / "predictions.html").read_text()
    assert "Lo que predijo la clase" in page and "Entre 20 y 30 %" in page
    assert (learners / "predictions-02.base.png").exists() and (learners / "predictions.md").exists()
    assert "Entre 20 y 30 %" in (learners / "feedback" / "bruno" / "index.md").read_text()
    assert "23.3% (±1 point)" in (learners / "feedback" / "ana" / "index.md").read_text()


def test_reading_a_number_is_a_magnitude() -> None:
    assert predictions.numbers("−20 points") == [Number(20, 20, written="20")]


def test_without_matplotlib_the_report_says_the_charts_are_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # pip install 'minituner[grade]'
    predictions.report(tmp_path, {"ana": Said("en", {"02.base": "about 65%"})}, "en")
    page = (tmp_path / "predictions.html").read_text()
    assert "matplotlib is not installed" in page and "data:image" not in page and "about 65%" in page
    assert not list(tmp_path.glob("*.png"))


@pytest.mark.parametrize(("lang", "points"), [("en", "Points: 0.5 of 15.5."), ("es", "Puntos: 0,5 de 15,5.")])
def test_points_are_written_as_the_learner_s_language_writes_numbers(lang: str, points: str) -> None:
    """Half a point (one contract test) of 15.5 (four checks of lab 01, 02.step, 02.sweep, 03.merge:
    2 + 2 + 2 + 2 + 2 + 3 + 2, and the test), in the report's language; a missing check reads as a sentence
    before its hint."""
    def missing(*checks: str) -> Verdict:
        return Verdict(Status.MISSING).with_parts([Verdict(Status.MISSING, c) for c in checks])

    row = {
        "contract": Verdict(Status.PASS).with_parts([Verdict(Status.PASS, "test_lora_init_identity")]),
        "lab 01": missing("01.per_linear", "01.targets", "01.break_even", "01.r8_total"),
        "lab 02": missing("02.step", "02.sweep"),
        "lab 03": missing("03.merge"),
    }
    kinds = {"contract": "contract", "lab 01": "checks", "lab 02": "checks", "lab 03": "checks"}
    lines = feedback.lines("ana", row, Rubric.load(None), lang, kinds)
    assert points in lines, lines[:4]
    missing = next(line for line in lines if line.startswith("- ✗ 01.per_linear"))
    assert re.search(r": (missing|falta)\. (Hint|Pista): ", missing), missing
