"""Points into a learning management system: the CSV file that Canvas's or Moodle's gradebook imports.

`minituner grade --export canvas --roster roster.csv` (or `--export moodle`) writes, beside
gradebook.csv, a file with one column per item of the gradebook ("minituner lab 00", ...,
"minituner breaks", so that no assignment of the course's own is overwritten) and one row per learner
found in the roster. No total is written: both platforms compute the course total themselves, and a
total column would be imported as one more assignment, counting every point twice.

The roster (`read_roster`) is a UTF-8 CSV file whose first row names the columns, in one of two layouts:

- Canvas's own gradebook export (Grades > Export): the columns Student, ID, SIS User ID,
  SIS Login ID and Section (the two SIS columns only when your role may see them); its other columns
  are ignored, and its "Points Possible" row and its "Muted"/"Manual Posting" row are skipped, as
  Canvas's importer skips them. A workspace (learners/NAME) is the row whose SIS Login ID is NAME or,
  when you add a column `learner`, the row whose `learner` is NAME.
- a list you write: the columns `learner` (the workspace name) and `sis_id` (the student's SIS User
  ID in Canvas, their ID number in Moodle) or `email` (their email address in Moodle) or both, and
  optionally `name`.

Names are compared without case. Each row needs an identifier (ID, SIS User ID or SIS Login ID;
sis_id or email), an identifier a spreadsheet would run as a formula (starting with = + - @) is
refused, and no identifier may name two rows. A row without a learner (Canvas's Test Student has no
login) is kept: it is reported among the rows without a workspace.

Canvas (`canvas`): the Gradebook import CSV that Canvas exports and reads back. The rules, from
Canvas's importer (canvas-lms, app/models/gradebook_importer.rb) and from an instructors' guide
(Ohio State, "Import CSV File for Carmen Grades": "The CSV file you import ... has four required
components: Student Name ... OR Student ID OR Student SIS User ID, ... SIS Login ID, ... Section,
... Assignment Name"; "New assignment columns in the Gradebook generate new assignments"):

- the header is `Student, ID, SIS User ID, SIS Login ID, Section`, then the assignments: the importer
  wants "Student" first and "ID" second, SIS User ID then SIS Login ID next, and "Section" as the last
  column before the assignments;
- a row whose first cell contains "Points Possible" gives each assignment its points possible (a new
  assignment takes its points from it); we write it second, with each column's maximum;
- a student is found by ID, else by SIS User ID, else by SIS Login ID, else by name: we write the ids
  of the roster, and refuse a learner whose roster row has none of the three;
- an assignment column matches the course's assignment of that exact title, or "Title (id)"; any
  other title creates an assignment; a title containing "Current Score", "Final Grade" and the like is
  a read-only total column and is dropped, so such titles are refused;
- a number is read with its last "." or "," as the decimal separator (`decimal_comma_to_period`), so
  we write digits and at most one ".", never a thousands separator; a blank cell is "no score".

Moodle (`moodle`): Grades > Import > CSV file. MoodleDocs, "Grade import": "Preview the grade import
and choose the column mapping", "Change both dropdowns to: 'Email Address' to 'useremail', or to
'Id Number' to 'useridnumber'", "email addresses are case sensitive in grade import files", and
"to import grades above 100% you need to check the 'unlimitedgrades' ... settings". Moodle's importer
(grade/import/csv/classes/load_data.php) adds the rules we follow:

- the user is found by one column that the teacher maps to id, username, ID number or email; a row
  whose user is not found aborts the whole import, and a row whose identifier is empty is given to the
  previous row's user: so we write only rows of the roster, with the columns `ID number` (from
  sis_id) and `Email address` (from email), each only when every row has a value for it, and refuse
  the export when neither is complete;
- a column mapped to "New grade item" creates an item named by its header (maximum 100 until you
  change it), and a grade above an item's maximum fails the import;
- "-" is "no grade", and a new item's value is stored as written: a decimal point, never a comma.

Both files: UTF-8 without a byte-order mark, comma-separated, quoted where CSV needs it, lines ending
in "\\n", numbers with at most two decimals (Canvas shows two). A name or section that starts with
= + - @, a tab or a carriage return is written after a "'", so that a spreadsheet shows it as text
and never runs it as a formula.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import BadInput
from ..i18n import _

PREFIX = "minituner "  # of every column title: an assignment or grade item of minituner's own
FORMULA = ("=", "+", "-", "@", "\t", "\r")  # a cell starting with one of these is a formula to a spreadsheet

CANVAS_HEADER = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
CANVAS_TOTALS = (  # the importer's NON_ASSIGNMENT_COLUMN_HEADERS, matched anywhere in a title
    "Current Score",
    "Current Points",
    "Current Grade",
    "Final Score",
    "Final Points",
    "Final Grade",
    "Override Score",
    "Override Grade",
    "Override Status",
)
CANVAS_TITLE_WITH_ID = re.compile(r"\s\(\d+\)\Z")  # Assignment.title_and_id: "Title (123)"
CANVAS_SKIPPED_ROW = re.compile(r"^\s*(Muted|Manual Posting.*)?\s*$", re.I)
PLAIN_COLUMNS = ("learner", "sis_id", "name", "email")
MOODLE_IDS = (("ID number", "sis_id"), ("Email address", "email"))  # header, Entry field


@dataclass(frozen=True)
class Scores:
    learner: str
    points: dict[str, float]  # column -> points earned


@dataclass(frozen=True)
class Entry:
    """A student of the roster; `row` is its row in the roster file, the header being row 1."""

    learner: str  # the workspace name (learners/NAME), "" when the row names none
    row: int
    name: str = ""
    sis_id: str = ""  # Canvas's SIS User ID, Moodle's ID number
    email: str = ""
    canvas_id: str = ""  # Canvas's ID
    sis_login_id: str = ""
    section: str = ""


@dataclass(frozen=True)
class Export:
    text: str  # the CSV file
    missing_from_roster: list[str]  # learners graded, in no row of the roster: not in the file
    without_workspace: list[Entry]  # rows of the roster that no graded workspace matches


# --- The roster ----------------------------------------------------------------------------------


def read_roster(path: Path) -> list[Entry]:
    """The students of `path`, in its order: Canvas's gradebook export, or learner,sis_id[,name,email]."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            rows = [(n, [c.strip() for c in row]) for n, row in enumerate(csv.reader(f), 1) if any(row)]
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise BadInput(_("roster {path}: {error}").format(path=path, error=err)) from None
    if not rows:
        raise BadInput(
            _("roster {path}: empty; expected a header row, then a row per student").format(path=path)
        )
    header = rows[0][1]
    if "Student" in header and "ID" in header:
        index = columns(path, header, [*CANVAS_HEADER, "learner"])
        if index["learner"] is None and index["SIS Login ID"] is None:
            raise BadInput(
                _(
                    "roster {path}, row 1: a Canvas export names each workspace by its SIS Login ID column, "
                    "which this one lacks; add a column learner with each student's workspace name"
                ).format(path=path)
            )
        if index["learner"] is None:
            index["learner"] = index["SIS Login ID"]  # the workspace name is the login
        read, identifiers = canvas_entry, ["ID", "SIS User ID", "SIS Login ID"]
    elif "learner" in [h.lower() for h in header]:
        index = columns(path, [h.lower() for h in header], list(PLAIN_COLUMNS))
        if index["sis_id"] is None and index["email"] is None:
            raise BadInput(
                _("roster {path}, row 1: expected a column sis_id or email (or both) beside learner").format(
                    path=path
                )
            )
        read, identifiers = plain_entry, ["sis_id", "email"]
    else:
        raise BadInput(
            _(
                "roster {path}, row 1: the columns {header} are neither Canvas's gradebook export "
                "(Student, ID, SIS User ID, SIS Login ID, Section) nor learner,sis_id[,name,email]"
            ).format(path=path, header=", ".join(header))
        )
    entries = []
    for n, row in rows[1:]:
        if len(row) > len(header):
            raise BadInput(
                _(
                    "roster {path}, row {row}: {cells} cells, the header has {columns}; a value with a "
                    "comma must be quoted"
                ).format(path=path, row=n, cells=len(row), columns=len(header))
            )
        # a spreadsheet may leave out the empty cells at the end of a row
        value = {name: row[i] if i is not None and i < len(row) else "" for name, i in index.items()}
        entry = read(n, value)
        if entry is not None:
            refuse_identifiers(path, n, {name: value[name] for name in identifiers})
            entries.append(entry)
    refuse_twice(path, entries)
    return entries


def columns(path: Path, header: list[str], names: list[str]) -> dict[str, int | None]:
    """Where each of `names` is in `header`, None when it is not; a column twice is an error."""
    index: dict[str, int | None] = {}
    for name in names:
        where = [i for i, h in enumerate(header) if h == name]
        if len(where) > 1:
            raise BadInput(
                _("roster {path}, row 1: the column {name} appears twice").format(path=path, name=name)
            )
        index[name] = where[0] if where else None
    return index


def canvas_entry(n: int, value: dict[str, str]) -> Entry | None:
    """A row of Canvas's gradebook export; None for its Points Possible, Muted and Manual Posting rows."""
    if "Points Possible" in value["Student"] or all(CANVAS_SKIPPED_ROW.match(v) for v in value.values()):
        return None
    return Entry(
        learner=value["learner"],
        row=n,
        name=value["Student"],
        sis_id=value["SIS User ID"],
        canvas_id=value["ID"],
        sis_login_id=value["SIS Login ID"],
        section=value["Section"],
    )


def plain_entry(n: int, value: dict[str, str]) -> Entry:
    return Entry(value["learner"], n, name=value["name"], sis_id=value["sis_id"], email=value["email"])


def refuse_identifiers(path: Path, n: int, ids: dict[str, str]) -> None:
    """A row needs an identifier, and none that a spreadsheet would run as a formula."""
    if not any(ids.values()):
        raise BadInput(
            _("roster {path}, row {row}: no identifier; expected a value in {columns}").format(
                path=path, row=n, columns=", ".join(ids)
            )
        )
    for name, value in ids.items():
        if value.startswith(FORMULA):
            raise BadInput(
                _(
                    "roster {path}, row {row}: {column} {value!r} starts with {char!r}, which a spreadsheet "
                    "runs as a formula; expected an identifier"
                ).format(path=path, row=n, column=name, value=value, char=value[0])
            )


def refuse_twice(path: Path, entries: list[Entry]) -> None:
    """Two rows with the same learner or identifier would give one student two learners' points."""
    seen: dict[tuple[str, str], int] = {}
    for entry in entries:
        for field in ("learner", "canvas_id", "sis_id", "sis_login_id", "email"):
            value = str(getattr(entry, field)).casefold()
            first = seen.setdefault((field, value), entry.row) if value else entry.row
            if first != entry.row:
                raise BadInput(
                    _(
                        "roster {path}, rows {first} and {row}: both name {value!r}; expected one row per "
                        "student"
                    ).format(path=path, first=first, row=entry.row, value=getattr(entry, field))
                )


# --- The two files -------------------------------------------------------------------------------


def canvas(scores: Sequence[Scores], maximum: dict[str, float], roster: Sequence[Entry]) -> Export:
    """Canvas's Gradebook import CSV: the roster's ids, an assignment per column, Points Possible."""
    matched, missing, without = match(scores, maximum, roster)
    titles = [canvas_title(c) for c in maximum]
    rows = [
        [*CANVAS_HEADER, *titles],
        ["Points Possible", "", "", "", "", *(number(m) for m in maximum.values())],
    ]
    for entry, score in matched:
        if not (entry.canvas_id or entry.sis_id or entry.sis_login_id):
            raise BadInput(
                _(
                    "roster row {row}: {learner} has no ID, SIS User ID or SIS Login ID, by which Canvas "
                    "finds a student; give a sis_id"
                ).format(row=entry.row, learner=entry.learner)
            )
        ids = [identifier(entry, i) for i in (entry.canvas_id, entry.sis_id, entry.sis_login_id)]
        points = [number(score.points[c]) for c in maximum]
        rows.append([text(entry.name or entry.learner), *ids, text(entry.section), *points])
    return Export(write(rows), missing, without)


def moodle(scores: Sequence[Scores], maximum: dict[str, float], roster: Sequence[Entry]) -> Export:
    """Moodle's CSV grade import: ID number and/or Email address, then a grade item per column."""
    matched, missing, without = match(scores, maximum, roster)
    ids = [(name, field) for name, field in MOODLE_IDS if all(getattr(e, field) for e, _s in matched)]
    if not ids:
        raise BadInput(
            _(
                "Moodle finds every row's user by one column: give every learner of the roster a sis_id "
                "(their ID number) or every one an email; rows without a sis_id: {sis}; without an email: "
                "{email}"
            ).format(
                sis=", ".join(str(e.row) for e, _s in matched if not e.sis_id),
                email=", ".join(str(e.row) for e, _s in matched if not e.email),
            )
        )
    rows = [[*(name for name, _f in ids), *(PREFIX + c for c in maximum)]]
    for entry, score in matched:
        points = [number(score.points[c]) for c in maximum]
        rows.append([*(identifier(entry, getattr(entry, f)) for _n, f in ids), *points])
    return Export(write(rows), missing, without)


def match(
    scores: Sequence[Scores], maximum: dict[str, float], roster: Sequence[Entry]
) -> tuple[list[tuple[Entry, Scores]], list[str], list[Entry]]:
    """The roster's rows with their learner's points, in the roster's order; then the learners
    missing from the roster, and the rows without a workspace."""
    for value in maximum.values():
        number(value)
    graded: dict[str, Scores] = {}
    for score in scores:
        if score.learner.casefold() in graded:
            raise BadInput(_("{learner}: graded twice").format(learner=score.learner))
        refuse_points(score, maximum)
        graded[score.learner.casefold()] = score
    rostered = {e.learner.casefold() for e in roster if e.learner}
    matched = [
        (e, graded[e.learner.casefold()]) for e in roster if e.learner and e.learner.casefold() in graded
    ]
    without = [e for e in roster if not e.learner or e.learner.casefold() not in graded]
    missing = [s.learner for s in scores if s.learner.casefold() not in rostered]
    return matched, missing, without


def refuse_points(score: Scores, maximum: dict[str, float]) -> None:
    if set(score.points) != set(maximum):
        raise BadInput(
            _("{learner}: points for {got}; expected the columns {expected}").format(
                learner=score.learner, got=", ".join(score.points), expected=", ".join(maximum)
            )
        )
    for name, points in score.points.items():
        number(points)  # refuses what is not a number of points
        if points > maximum[name] + 1e-9:
            raise BadInput(
                _("{learner}: {column} = {points}; expected at most {maximum} points").format(
                    learner=score.learner, column=name, points=points, maximum=maximum[name]
                )
            )


def canvas_title(name: str) -> str:
    """The assignment's title for column `name`; Canvas would drop a title like a total's."""
    title = PREFIX + name
    if CANVAS_TITLE_WITH_ID.search(title) or any(total in title for total in CANVAS_TOTALS):
        raise BadInput(
            _(
                "column {title!r}: Canvas reads it as a total or an assignment's id, not as an assignment"
            ).format(title=title)
        )
    return title


def number(points: float) -> str:
    """Points as both platforms read them: at most two decimals after a point, no exponent."""
    if (
        isinstance(points, bool)
        or not isinstance(points, int | float)
        or not math.isfinite(points)
        or points < 0
    ):
        raise BadInput(_("{points!r}: expected a number of points >= 0").format(points=points))
    return f"{abs(points):.2f}".rstrip("0").rstrip(".")


def identifier(entry: Entry, value: str) -> str:
    """An id as the roster gives it: the platform matches it exactly, so it cannot be made inert."""
    if value.startswith(FORMULA):
        raise BadInput(
            _(
                "roster row {row}: {value!r} starts with {char!r}, which a spreadsheet runs as a formula; "
                "expected an identifier"
            ).format(row=entry.row, value=value, char=value[0])
        )
    return value


def text(value: str) -> str:
    """A name or section that a spreadsheet shows as text, never runs as a formula."""
    return "'" + value if value.startswith(FORMULA) else value


def write(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()
