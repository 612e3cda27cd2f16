"""Points into Canvas and Moodle: each file is read back by the rules that the platform's importer
applies (canvas-lms's GradebookImporter, Moodle's gradeimport_csv), not by our own writer's idea of
them; rosters that cannot give every learner an identifier are refused, naming file, row and what
was expected. No grading runs here: the points are written by hand."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from minituner import i18n
from minituner.course.export import Entry, Export, Scores, canvas, moodle, read_roster

Writer = Callable[[Sequence[Scores], dict[str, float], Sequence[Entry]], Export]

MAXIMUM = {
    "lab 00": 8.0,
    "lab 01": 6.0,
    "lab 02": 10.0,
    "lab 03": 4.0,
    "lab 04": 4.0,
    "predictions": 12.0,
    "contract": 21.5,
    "breaks": 5.0,
}
ANA = Scores("ana", dict(zip(MAXIMUM, [8.0, 6.0, 7.5, 4.0, 2.0, 11.0, 21.5, 5.0], strict=True)))
BEN = Scores("ben", dict(zip(MAXIMUM, [2.0, 0.0, 1 / 3, 0.0, 0.0, 3.0, 0.5, 0.0], strict=True)))
CRUZ = Scores("cruz", dict.fromkeys(MAXIMUM, 1.0))  # graded, in no roster
SCORES = [ANA, BEN, CRUZ]
FORMULA = ("=", "+", "-", "@", "\t", "\r")

# Canvas's gradebook export, as Canvas writes it: the Points Possible row (indented), a Muted row,
# the course's own assignment and its read-only totals, the Test Student, a student with no workspace.
CANVAS_EXPORT = """\
Student,ID,SIS User ID,SIS Login ID,Section,Quiz 1 (101),Current Score,Final Score
    Points Possible,,,,,10.00,(read only),(read only)
,,,,,Muted,,
"Pérez, Ana",1001,S-1,ana,LoRA 2026,8.00,80.00,80.00
"Baker, Ben",1002,S-2,BEN,LoRA 2026,,,
"Student, Test",1099,,,LoRA 2026,,,
"Díaz, Dora",1003,S-3,dora,LoRA 2026,9.00,90.00,90.00
"""

PLAIN = """\
learner,sis_id,name,email
ana,A-100,Ana Pérez,ana@example.org
ben,A-200,"Baker, Ben",ben@example.org
dora,A-300,Dora Díaz,dora@example.org
"""


def roster_file(tmp_path: Path, text: str, name: str = "roster.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- What each platform reads: its importer's rules, in the test's own words ---------------------


def canvas_delimiter(text: str) -> str:
    """GradebookImporter#identify_delimiter: ';' only when it splits the first lines evenly into more
    fields than ',' does."""
    lines = text.splitlines()[:3]
    counts = {}
    for sep in (";", ","):
        sizes = {len(next(csv.reader([line], delimiter=sep))) for line in lines}
        counts[sep] = sizes.pop() if len(sizes) == 1 else 0
    return ";" if counts[";"] > counts[","] else ","


CANVAS_TOTALS = re.compile(
    "Current Score|Current Points|Current Grade|Final Score|Final Points|Final Grade|"
    "Override Score|Override Grade|Override Status"
)


def read_canvas(
    text: str,
) -> tuple[dict[str, float], dict[tuple[str, str, str], dict[str, float]], list[str]]:
    """(points possible per assignment, points per student by (ID, SIS User ID, SIS Login ID), names)
    as Canvas's Gradebook importer reads the file; fails on anything it would misread."""
    assert canvas_delimiter(text) == ","
    rows = list(csv.reader(io.StringIO(text)))
    header = rows[0]
    # header?: Student, then ID; SIS User ID, then SIS Login ID; Section, last of the student columns
    assert len(header) > 3 and "Student" in header[0] and "ID" in header[1], header
    assert re.search(r"SIS\s+User\s+ID", header[2]) and re.search(r"SIS\s+Login\s+ID", header[3]), header
    assert "Section" in header[4], header
    assignments = header[5:]
    assert len(set(assignments)) == len(assignments) == len(MAXIMUM)
    for title in assignments:  # a new assignment each, by its title: no total column, no "(id)"
        assert not CANVAS_TOTALS.search(title) and not re.search(r"\s\(\d+\)\Z", title), title
    assert "Points Possible" in rows[1][0], "the second row gives the points possible"
    possible = {a: canvas_number(v) for a, v in zip(assignments, rows[1][5:], strict=True)}
    students: dict[tuple[str, str, str], dict[str, float]] = {}
    names = []
    for row in rows[2:]:
        assert len(row) == len(header), row
        assert "Points Possible" not in row[0] and not all(re.fullmatch(r"\s*(Muted)?\s*", c) for c in row)
        ids = (row[1], row[2], row[3])
        assert any(ids), f"Canvas would look this student up by name only: {row}"
        assert ids not in students, f"two rows for one student: {ids}"
        students[ids] = {a: canvas_number(v) for a, v in zip(assignments, row[5:], strict=True)}
        names.append(row[0])
    return possible, students, names


def canvas_number(cell: str) -> float:
    """decimal_comma_to_period reads the last '.' or ',' as the decimal separator: we write plain
    decimals only (no thousands separator, no comma, no percent), never a blank for a graded learner."""
    assert re.fullmatch(r"\d+(\.\d{1,2})?", cell), f"{cell!r} is not a number as Canvas reads it"
    return float(cell)


def read_moodle(text: str) -> tuple[list[str], dict[str, dict[str, float]]]:
    """(the identifier columns, points per row by its first identifier) as Moodle's CSV import reads
    the file; fails on anything that would abort the import or give a grade to the wrong user."""
    rows = list(csv.reader(io.StringIO(text)))
    header = [h.strip() for h in rows[0]]  # trim_headers
    ids = [h for h in header if h in ("ID number", "Email address")]
    assert ids and header[: len(ids)] == ids, f"an identifier column to map from: {header}"
    items = header[len(ids) :]
    assert len(set(items)) == len(items) == len(MAXIMUM)
    graded: dict[str, dict[str, float]] = {}
    for row in rows[1:]:
        assert len(row) == len(header), row
        # an empty identifier would give this row's grades to the previous row's user
        assert all(row[i].strip() for i in range(len(ids))), row
        key = row[0].strip()
        assert key not in graded
        graded[key] = {item: moodle_number(v) for item, v in zip(items, row[len(ids) :], strict=True)}
    return ids, graded


def moodle_number(cell: str) -> float:
    """A new grade item stores the value as written, '-' being no grade: a decimal point, never a
    comma, and at most 100 (a new item's maximum)."""
    assert re.fullmatch(r"\d+(\.\d+)?", cell.strip()), f"{cell!r} is not a grade Moodle stores"
    assert float(cell) <= 100
    return float(cell)


# --- Canvas --------------------------------------------------------------------------------------


def test_canvas_file_from_a_canvas_export_reads_back_as_the_scores(tmp_path: Path) -> None:
    roster = read_roster(roster_file(tmp_path, CANVAS_EXPORT))
    export = canvas(SCORES, MAXIMUM, roster)
    possible, students, names = read_canvas(export.text)
    assert list(possible) == [f"minituner {c}" for c in MAXIMUM]
    assert list(possible.values()) == list(MAXIMUM.values())
    # one row per learner found in the roster, in its order, with the ids of the roster
    assert list(students) == [("1001", "S-1", "ana"), ("1002", "S-2", "BEN")]
    assert names == ["Pérez, Ana", "Baker, Ben"]
    for score, points in zip([ANA, BEN], students.values(), strict=True):
        assert points == {f"minituner {c}": round(p, 2) for c, p in score.points.items()}
    assert "0.33" in export.text and "21.5" in export.text
    assert export.missing_from_roster == ["cruz"]
    assert [(e.name, e.learner) for e in export.without_workspace] == [
        ("Student, Test", ""),
        ("Díaz, Dora", "dora"),
    ]


def test_canvas_file_from_a_plain_roster_uses_its_sis_ids(tmp_path: Path) -> None:
    roster = read_roster(roster_file(tmp_path, PLAIN))
    export = canvas(SCORES, MAXIMUM, roster)
    _possible, students, names = read_canvas(export.text)
    assert list(students) == [("", "A-100", ""), ("", "A-200", "")]
    assert names == ["Ana Pérez", "Baker, Ben"]
    assert export.missing_from_roster == ["cruz"]
    assert [e.learner for e in export.without_workspace] == ["dora"]


def test_canvas_refuses_a_learner_it_could_find_only_by_name(tmp_path: Path) -> None:
    roster = read_roster(roster_file(tmp_path, "learner,sis_id,email\nana,,ana@example.org\n"))
    with pytest.raises(ValueError, match=r"roster row 2: ana has no ID, SIS User ID or SIS Login ID"):
        canvas([ANA], MAXIMUM, roster)


def test_a_canvas_export_with_a_learner_column_names_workspaces_by_it(tmp_path: Path) -> None:
    text = (
        'Student,ID,SIS User ID,SIS Login ID,Section,learner\n"Pérez, Ana",1001,S-1,ana.perez@uni.edu,A,ana\n'
    )
    (entry,) = read_roster(roster_file(tmp_path, text))
    assert entry == Entry(
        "ana",
        2,
        name="Pérez, Ana",
        sis_id="S-1",
        canvas_id="1001",
        sis_login_id="ana.perez@uni.edu",
        section="A",
    )


def test_a_title_canvas_would_read_as_a_total_is_refused() -> None:
    with pytest.raises(ValueError, match="Final Score"):
        canvas([], {"Final Score": 10.0}, [])
    with pytest.raises(ValueError, match=r"\(12\)"):
        canvas([], {"quiz (12)": 10.0}, [])


# --- Moodle --------------------------------------------------------------------------------------


def test_moodle_file_reads_back_as_the_scores(tmp_path: Path) -> None:
    roster = read_roster(roster_file(tmp_path, PLAIN))
    export = moodle(SCORES, MAXIMUM, roster)
    ids, graded = read_moodle(export.text)
    assert ids == ["ID number", "Email address"]
    assert export.text.splitlines()[0].split(",")[2:] == [f"minituner {c}" for c in MAXIMUM]
    assert list(graded) == ["A-100", "A-200"]
    for score, points in zip([ANA, BEN], graded.values(), strict=True):
        assert points == {f"minituner {c}": round(p, 2) for c, p in score.points.items()}
    assert export.missing_from_roster == ["cruz"]
    assert [e.learner for e in export.without_workspace] == ["dora"]


def test_moodle_writes_only_an_identifier_that_every_row_has(tmp_path: Path) -> None:
    emails = "learner,sis_id,email\nana,,ana@example.org\nben,A-200,ben@example.org\n"
    ids, graded = read_moodle(moodle([ANA, BEN], MAXIMUM, read_roster(roster_file(tmp_path, emails))).text)
    assert ids == ["Email address"] and list(graded) == ["ana@example.org", "ben@example.org"]
    neither = "learner,sis_id,email\nana,,ana@example.org\nben,A-200,\n"
    with pytest.raises(ValueError, match=r"without a sis_id: 2; without an email: 3"):
        moodle([ANA, BEN], MAXIMUM, read_roster(roster_file(tmp_path, neither)))


# --- Both: numbers, injection, the scores themselves ---------------------------------------------


@pytest.mark.parametrize("write", [canvas, moodle])
def test_numbers_have_a_decimal_point_and_at_most_two_decimals(tmp_path: Path, write: Writer) -> None:
    roster = read_roster(roster_file(tmp_path, PLAIN))
    maximum = {"contract": 1234.5, "breaks": 2 / 3}
    export = write([Scores("ana", {"contract": 1234.5, "breaks": 0.125})], maximum, roster)
    cells = [c for row in csv.reader(io.StringIO(export.text)) for c in row]
    assert "1234.5" in cells and "0.12" in cells
    assert not any(re.fullmatch(r"[\d.]*,[\d.]*|.*[eE][+-]\d+", c) for c in cells), cells


def test_no_cell_starts_a_formula(tmp_path: Path) -> None:
    names = ['=HYPERLINK("http://x")', "+1", "-2", "@SUM(A1)"]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["learner", "sis_id", "name"])
    writer.writerows([f"l{i}", f"S{i}", name] for i, name in enumerate(names))
    writer.writerow(["=evil", "S9", ""])  # no name: the Student cell falls back to the learner
    roster = read_roster(roster_file(tmp_path, out.getvalue()))
    scores = [Scores(e.learner, dict.fromkeys(MAXIMUM, 1.0)) for e in roster]
    for write in (canvas, moodle):
        rows = list(csv.reader(io.StringIO(write(scores, MAXIMUM, roster).text)))
        assert not [c for row in rows for c in row if c.startswith(FORMULA)], rows
    students = [row[0] for row in csv.reader(io.StringIO(canvas(scores, MAXIMUM, roster).text))][2:]
    assert students == ["'" + n for n in names] + ["'=evil"]


@pytest.mark.parametrize("bad", ["=1+1", "+33", "-1", "@a"])
def test_an_identifier_that_is_a_formula_is_refused(tmp_path: Path, bad: str) -> None:
    path = roster_file(tmp_path, f"learner,sis_id\nana,{bad}\n")
    with pytest.raises(ValueError, match=rf"roster {re.escape(str(path))}, row 2: sis_id '{re.escape(bad)}'"):
        read_roster(path)
    with pytest.raises(ValueError, match="roster row 2"):
        canvas([ANA], MAXIMUM, [Entry("ana", 2, sis_id=bad)])


def test_scores_that_do_not_fit_the_maximum_are_refused() -> None:
    roster = [Entry("ana", 2, sis_id="A-1")]
    with pytest.raises(ValueError, match=r"ana: contract = 22.0; expected at most 21.5"):
        canvas([Scores("ana", ANA.points | {"contract": 22.0})], MAXIMUM, roster)
    with pytest.raises(ValueError, match="expected the columns lab 00"):
        moodle([Scores("ana", {"lab 00": 1.0})], MAXIMUM, roster)
    with pytest.raises(ValueError, match="ana: graded twice"):
        moodle([ANA, ANA], MAXIMUM, roster)
    with pytest.raises(ValueError, match="expected a number of points"):
        canvas([Scores("ana", ANA.points | {"breaks": float("nan")})], MAXIMUM, roster)


def test_every_row_of_the_roster_is_matched_or_reported(tmp_path: Path) -> None:
    roster = read_roster(roster_file(tmp_path, PLAIN))
    for write in (canvas, moodle):
        export = write([], MAXIMUM, roster)
        assert export.missing_from_roster == [] and export.without_workspace == roster
        assert len(list(csv.reader(io.StringIO(export.text)))) == (2 if write is canvas else 1)


# --- Rosters that cannot be read ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", r"empty; expected a header row"),
        (
            "name,email\nAna,ana@example.org\n",
            r"row 1: the columns name, email are neither .* nor learner,sis_id",
        ),
        ("learner,name\nana,Ana\n", r"row 1: expected a column sis_id or email"),
        ("Student,ID,SIS User ID,Section\nAna,1,S-1,A\n", r"row 1: .*SIS Login ID .*add a column learner"),
        ("learner,sis_id\nana,A-1\nben,\n", r"row 3: no identifier; expected a value in sis_id, email"),
        ("learner,sis_id\nana,A-1,Ana,x\n", r"row 2: 4 cells, the header has 2"),
        ("learner,sis_id\nana,A-1\nAna,A-2\n", r"rows 2 and 3: both name 'Ana'"),
        ("learner,sis_id\nana,A-1\nben,A-1\n", r"rows 2 and 3: both name 'A-1'"),
        ("learner,sis_id,sis_id\nana,A-1,A-1\n", r"row 1: the column sis_id appears twice"),
    ],
)
def test_a_roster_that_cannot_be_read_names_file_row_and_expectation(
    tmp_path: Path, text: str, error: str
) -> None:
    path = roster_file(tmp_path, text)
    with pytest.raises(ValueError, match=rf"roster {re.escape(str(path))}(,|:) .*{error}"):
        read_roster(path)


def test_a_roster_that_is_not_utf8_or_absent_is_named(tmp_path: Path) -> None:
    path = tmp_path / "roster.csv"
    path.write_bytes("learner,sis_id\nmaría,A-1\n".encode("latin-1"))
    with pytest.raises(ValueError, match=rf"roster {re.escape(str(path))}: .*utf-8"):
        read_roster(path)
    with pytest.raises(ValueError, match="No such file"):
        read_roster(tmp_path / "none.csv")


def test_errors_are_in_the_language_asked_for(tmp_path: Path) -> None:
    i18n.use("es")
    path = roster_file(tmp_path, "learner,name\nana,Ana\n")
    with pytest.raises(ValueError, match="fila 1"):
        read_roster(path)
