"""The instructor's grading page: a JupyterHub service at /services/grader/ (see jupyterhub_config.py).

Only the hub's admins reach it (the scope access:services!service=grader, which the admin role has).
"Grade the class" gathers what every learner hands in (HOME/learners/NAME/phase-28 of each home),
runs `minituner grade` on it, shows the points and the verdicts, and offers gradebook.csv, points.csv,
gradebook.md, the class's predictions (predictions.html and .md) and each learner's feedback report
for download; all but the reports are also written into the instructor's home, gradebook/, where
their JupyterLab shows them. "Release feedback" writes each
graded learner's report into their own workspace (phase-28/feedback/index.html and index.md), as the
learner's account: never over a file of theirs that is not one of our reports (kept beside, renamed,
and named on the page). The hub's home page then links each learner to theirs.

Root never reads, copies or changes a learner's files. What a learner hands in is read by the
learner's own account (`python -I -m minituner.course.handin pack WORKSPACE`: the allowlist of the
course, regular files only, no link followed) and written by the grader's account
(MINITUNER_GRADER: no home, no login; `... handin unpack DEST`, files 0600, modes not kept) into
GRADING/class/learners/NAME/phase-28. GRADING and
everything in it belong to the grader and are closed to everyone else (mode 0700): no learner reads
the folder, a classmate's copy or the gradebook. The grade runs as the grader too, each learner's
code in a sandbox of its own, never as root nor as the instructor. Not run as root, the hub's own
user plays every part, with the same commands, and GRADING is still closed to other accounts.
Verdicts are kept from one grading to the next (minituner's .grading-cache), so grading again runs
only what changed; "Grade everything again" (`minituner grade --all`) runs everything anew.
"""

from __future__ import annotations

import asyncio
import csv
import html
import io
import json
import math
import os
import pwd
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

from jupyterhub.services.auth import HubOAuthCallbackHandler, HubOAuthenticated
from jupyterhub.utils import url_path_join
from tornado import web

from minituner.i18n import N_, gettext_for

sys.path.insert(0, str(Path(__file__).resolve().parent))
import accounts  # noqa: E402
import minituner_hub as course  # noqa: E402

PREFIX = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/grader/")
HOMES = Path(os.environ["MINITUNER_HUB_HOMES"])
GRADING = Path(os.environ["MINITUNER_GRADING"])
PYTHON = Path(os.environ["MINITUNER_PYTHON"])  # the learners' Python (jupyterhub_config.py)
INSTRUCTOR = accounts.INSTRUCTOR  # MINITUNER_INSTRUCTOR and MINITUNER_GRADER, from the hub
GRADER = accounts.GRADER
JOBS = int(os.environ.get("MINITUNER_GRADE_JOBS", "2"))
# What `minituner grade` writes into learners/: the verdicts, the points, and the class's predictions.
BOOK = ("gradebook.csv", "points.csv", "gradebook.md", "predictions.html", "predictions.md")
REPORT = ("index.html", "index.md")  # a learner's feedback report, in learners/feedback/NAME/
MARK = "<!-- minituner feedback -->"  # minituner.course.feedback.MARK: at the top of every report
PER_LEARNER = 300  # seconds: minituner grade's --timeout, one learner at most
HAND_IN = 120  # seconds to read and write one learner's hand-in
# The page's messages that are kept to be shown later, in the language of the page that shows them.
NONE = N_("No workspace yet: a learner's is created the first time their server starts.")
KEPT = N_("{name}: their feedback/{file} was not a report of ours: kept as feedback/{aside}.")
NOT_RELEASED = N_("{name}: not released: {error}")


class Grading:
    """The last grading: running or not, when, how many, how it ended, its gradebook, its feedback
    reports and their release, and what each learner's hand-in refused."""

    def __init__(self) -> None:
        self.running, self.started, self.seconds, self.count = False, 0.0, 0.0, 0
        self.error: str | None = None
        self.book: dict[str, bytes] = {}  # gradebook.csv, points.csv, gradebook.md, by file name
        self.reports: dict[str, dict[str, bytes]] = {}  # learner -> {"index.html": ..., "index.md": ...}
        self.released: float = 0.0  # when the reports were last released (0: not since this grading)
        self.release_notes: list[tuple[str, str, dict[str, str]]] = []  # (learner, message, values)
        self.releasing, self.count_released = False, 0
        self.refused: dict[str, list[list[str]]] = {}  # learner -> [[path, reason], ...]
        self.unreadable: dict[str, str] = {}  # learner -> why their hand-in could not be read
        self.process: asyncio.subprocess.Process | None = None
        self.task: asyncio.Task[None] | None = None


STATE = Grading()


def workspaces() -> dict[str, Path]:
    """Every learner's learners/NAME folder: HOMES/NAME/learners/NAME, with no symbolic link on the
    way (a learner cannot hand in another's folder as theirs) and, as root, in a home of a learner's
    account this hub created (never the grader's nor the instructor's)."""
    found: dict[str, Path] = {}
    for home in sorted(HOMES.iterdir()) if HOMES.is_dir() else []:
        name, folder = home.name, home / "learners" / home.name
        if not re.fullmatch(course.USERNAME_PATTERN, name) or name in accounts.RESERVED:
            continue
        if any(p.is_symlink() for p in (home, folder.parent, folder)) or not (folder / course.PHASE).is_dir():
            continue
        if accounts.ROOT:
            try:
                account = accounts.ours(name)
            except accounts.NotOurs:
                continue
            if account is None or home.stat().st_uid != account.pw_uid:
                continue
        found[name] = folder
    return found


def hand_in(name: str, folder: Path, grader: pwd.struct_passwd | None) -> str | None:
    """One learner's hand-in, from their workspace into GRADING/next/learners/NAME/phase-28: read by
    their own account (`handin pack`), written by the grader's (`handin unpack`). None when it went
    through (what it refused is then in the copy), else why it could not be read."""
    learner = accounts.ours(name) if accounts.ROOT else None
    if accounts.ROOT and learner is None:  # never read as root: the account is gone, nothing is handed in
        return f"no account {name!r}"
    handin = [str(PYTHON), "-I", "-m", "minituner.course.handin"]
    env = {"PATH": f"{PYTHON.parent}:/usr/bin:/bin", "LANG": "C.UTF-8", "OMP_NUM_THREADS": "1"}
    pack = subprocess.Popen(
        [*handin, "pack", str(folder / course.PHASE)],
        cwd="/",
        env={**env, "HOME": str(folder.parent.parent)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        **accounts.as_user(learner),
    )
    try:
        unpack = subprocess.Popen(
            [*handin, "unpack", str(GRADING / "next" / "learners" / name / course.PHASE)],
            cwd="/",
            env=env,
            stdin=pack.stdout,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
            umask=0o077,
            **accounts.as_user(grader),
        )
    except BaseException:
        os.killpg(pack.pid, signal.SIGKILL)
        pack.wait()
        raise
    finally:
        assert pack.stdout is not None
        pack.stdout.close()  # the pipe is the unpacker's now
    try:
        _, err = unpack.communicate(timeout=HAND_IN)
    except subprocess.TimeoutExpired:
        err = f"more than {HAND_IN} s".encode()
    finally:
        for process in (pack, unpack):
            try:
                os.killpg(process.pid, signal.SIGKILL)  # whatever is left of either side
            except ProcessLookupError:
                pass
            process.wait()
    if unpack.returncode == 0:
        return None
    return (err.decode(errors="replace").strip().splitlines() or [f"exit {unpack.returncode}"])[-1][:200]


def gather(found: dict[str, Path], grader: pwd.struct_passwd | None) -> None:
    """GRADING/class/learners: a fresh copy of what every learner hands in, and the verdicts kept so
    far; what each hand-in refused goes to STATE. Built beside the last one, then put in its place."""
    accounts.own_folder(GRADING, grader)
    accounts.step(PYTHON, grader, "fresh", str(GRADING))
    with ThreadPoolExecutor(max_workers=JOBS) as pool:
        errors = dict(
            zip(found, pool.map(hand_in, found, found.values(), [grader] * len(found)), strict=True)
        )
    done = accounts.step(PYTHON, grader, "swap", str(GRADING), *(f"{name}/{course.PHASE}" for name in found))
    refused = json.loads(done)
    STATE.refused = {
        name: refused[f"{name}/{course.PHASE}"] for name in found if refused.get(f"{name}/{course.PHASE}")
    }
    STATE.unreadable = {name: error for name, error in errors.items() if error is not None}


async def grade(lang: str, again: bool = False) -> None:
    """One grading, start to end (`again`: everything graded anew); its outcome is kept in STATE."""
    STATE.running, STATE.started, STATE.error = True, time.time(), None
    try:
        grader = accounts.ensure(GRADER, None, "grader") if accounts.ROOT else None
        found = workspaces()
        STATE.count = len(found)
        if not found:
            raise FileNotFoundError(gettext_for(lang)(NONE))
        await asyncio.to_thread(gather, found, grader)
        folder = GRADING / "class"
        cmd = [str(PYTHON), "-I", "-m", "minituner", "grade", str(folder / "learners"), "--jobs", str(JOBS)]
        cmd += ["--timeout", str(PER_LEARNER), "--lang", lang, *(["--all"] if again else [])]
        env = {
            "PATH": f"{PYTHON.parent}:/usr/bin:/bin",
            "HOME": str(folder),
            "OMP_NUM_THREADS": "1",
            "LANG": "C.UTF-8",
        }
        STATE.process = await asyncio.create_subprocess_exec(
            *cmd,
            cwd=folder,
            env=env,
            start_new_session=True,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            umask=0o077,
            **accounts.as_user(grader),
        )
        limit = PER_LEARNER * math.ceil(len(found) / JOBS) + 120
        try:
            out, _ = await asyncio.wait_for(STATE.process.communicate(), limit)
        except TimeoutError:
            os.killpg(STATE.process.pid, signal.SIGKILL)
            raise TimeoutError(f"{limit} s") from None
        if STATE.process.returncode:
            last = out.decode(errors="replace").strip().splitlines() or [f"exit {STATE.process.returncode}"]
            raise RuntimeError(last[-1][:300])
        book = {}
        for file in BOOK:
            book[file] = await asyncio.to_thread(accounts.read_as, PYTHON, grader, folder / "learners" / file)
        reports = {}
        for name in found:
            reports[name] = {
                file: await asyncio.to_thread(
                    accounts.read_as, PYTHON, grader, folder / "learners" / "feedback" / name / file
                )
                for file in REPORT
            }
        await asyncio.to_thread(hand_over, book)
        STATE.book, STATE.reports, STATE.released, STATE.release_notes = book, reports, 0.0, []
    except Exception as error:  # noqa: BLE001 - shown on the page, the service goes on
        STATE.error = f"{type(error).__name__}: {error}"
    finally:
        STATE.running, STATE.seconds, STATE.process = False, time.time() - STATE.started, None


def hand_over(book: dict[str, bytes]) -> None:
    """The gradebook into the instructor's home, gradebook/, written as the instructor."""
    home = HOMES / INSTRUCTOR
    account = accounts.ensure(INSTRUCTOR, home, "instructor") if accounts.ROOT else None
    if account is None:
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
    for file, data in book.items():
        accounts.write_as(PYTHON, account, home / "gradebook" / file, data)


def release() -> None:
    """Each graded learner's report into their workspace's feedback/, written by the learner's own
    account (never by root, never into another's home); what was kept aside or not released goes to
    STATE.release_notes."""
    notes: list[tuple[str, str, dict[str, str]]] = []
    found = workspaces()  # checked again: a home that is not (or no longer) a learner's gets nothing
    count = 0
    for name, report in sorted(STATE.reports.items()):
        try:
            if name not in found:
                raise FileNotFoundError("no workspace")
            learner = accounts.ours(name) if accounts.ROOT else None
            if accounts.ROOT and learner is None:
                raise LookupError(f"no account {name!r}")
            data = json.dumps(
                {"mark": MARK, "files": {f: d.decode(errors="replace") for f, d in report.items()}}
            )
            done = accounts.step(
                PYTHON, learner, "release", str(found[name] / course.PHASE / "feedback"), data=data
            )
            count += 1
            for file, aside in json.loads(done):
                notes.append((name, KEPT, {"name": name, "file": file, "aside": aside}))
        except Exception as error:  # noqa: BLE001 - one learner never stops the others; said on the page
            notes.append((name, NOT_RELEASED, {"name": name, "error": f"{type(error).__name__}: {error}"}))
    STATE.release_notes, STATE.released, STATE.count_released = notes, time.time(), count


# --- The page: everything that comes from a learner (a name, a verdict, an error line, a path) is
# escaped; only the fragments built below from escaped parts go in as HTML. ------------------------


def escape(value: object) -> str:
    return html.escape(str(value), quote=True)


def table(data: bytes, id: str = "gradebook") -> str:  # noqa: A002 - the table's HTML id
    rows = list(csv.reader(io.StringIO(data.decode(errors="replace"))))
    if not rows:
        return ""
    head = "".join(f"<th>{escape(cell)}</th>" for cell in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in rows[1:])
    return f'<table id="{escape(id)}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def tables(lang: str) -> str:
    """The points (points.csv) above the verdicts (gradebook.csv), each under its heading."""
    _, out = gettext_for(lang), []
    for file, id_, title in (
        ("points.csv", "points", _("Points")),
        ("gradebook.csv", "gradebook", _("Verdicts")),
    ):
        if file in STATE.book:
            out.append(f"<h2>{escape(title)}</h2>{table(STATE.book[file], id_)}")
    return "\n".join(out)


def downloads(lang: str) -> str:
    """Links to the gradebook's files and to every learner's report."""
    if not STATE.book:
        return ""
    _ = gettext_for(lang)
    links = " · ".join(f'<a href="{escape(PREFIX)}{escape(f)}" download>{escape(f)}</a>' for f in STATE.book)
    copies = _("The same files are in your JupyterLab, in gradebook/.")
    download, reports_ = _("Download:"), _("Feedback reports:")
    out = f"<p>{escape(download)} {links}. {escape(copies)}</p>"
    if STATE.reports:
        reports = " · ".join(
            f'<a class="report" href="{escape(PREFIX)}feedback/{escape(name)}/index.html" download>'
            f"{escape(name)}</a>"
            for name in sorted(STATE.reports)
        )
        out += f'<p id="reports">{escape(reports_)} {reports}</p>'
    return out


def release_part(lang: str, xsrf: str, disabled: bool) -> str:
    """The release button, what the last release did, and what it kept aside or could not do."""
    if not STATE.reports:
        return ""
    _ = gettext_for(lang)
    help_ = _(
        "Releasing writes each learner's report into their own workspace, feedback/, where their "
        "JupyterLab shows it; a file of theirs there is never overwritten: it is kept under another name."
    )
    button = _("Release feedback")
    out = (
        f'<form method="post" action="{escape(PREFIX)}release"><input type="hidden" name="_xsrf" '
        f'value="{escape(xsrf)}"><input type="hidden" name="lang" value="{escape(lang)}">'
        f'<button type="submit" id="release"{" disabled" if disabled else ""}>{escape(button)}</button>'
        f"</form><p><small>{escape(help_)}</small></p>"
    )
    if STATE.released:
        at = time.strftime("%H:%M:%S", time.localtime(STATE.released))
        released = _("Feedback released to {n} learners at {t}.").format(n=STATE.count_released, t=at)
        out += f'<p id="released">{escape(released)}</p>'
        if STATE.release_notes:
            items = "".join(
                f"<li>{escape(_(message).format(**values))}</li>"
                for _n, message, values in STATE.release_notes
            )
            out += f'<ul id="release-notes">{items}</ul>'
    return out


def refusals(lang: str) -> str:
    """What each learner's hand-in left out, and why, in the page's language."""
    if not STATE.refused and not STATE.unreadable:
        return ""
    _ = gettext_for(lang)  # the reasons are minituner's messages too
    notes = [
        (name, f"{path}: {_(reason) if reason else ''}")  # _(""): the catalogue's header
        for name, refused in STATE.refused.items()
        for path, reason in refused
    ]
    notes += [
        (name, _("the hand-in could not be read: {error}").format(error=error))
        for name, error in STATE.unreadable.items()
    ]
    items = [f"<li><b>{escape(name)}</b>: {escape(text)}</li>" for name, text in sorted(notes)]
    refused = _("Not handed in (only the course's files are graded, and only regular files):")
    return f'<p>{escape(refused)}</p><ul id="refused">{"".join(items)}</ul>'


PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title>{refresh}
<style>
body {{ font-family: sans-serif; margin: 2em; max-width: 80em; }}
table {{ border-collapse: collapse; font-size: 0.85em; }}
td, th {{ border: 1px solid #ccc; padding: 0.3em 0.5em; text-align: left; vertical-align: top; }}
.error {{ color: #b00; }}
</style></head>
<body>
<p><a href="?lang={other}">{other_name}</a> · <a href="{hub}">JupyterHub</a></p>
<h1>{title}</h1>
<p>{found}</p>
<form method="post" action="{prefix}grade">
<input type="hidden" name="_xsrf" value="{xsrf}">
{lang_label}
<label><input type="radio" name="lang" value="en"{en}> English</label>
<label><input type="radio" name="lang" value="es"{es}> Español</label>
<button type="submit" id="grade" name="again" value="0"{disabled}>{grade}</button>
<button type="submit" id="regrade" name="again" value="1"{disabled}>{again}</button>
</form>
<p><small>{again_help}</small></p>
<p id="status"{status_class}>{status}</p>
{downloads}
{release}
{refused}
{table}
</body></html>
"""
# The values of PAGE that are HTML: each built here from constants and escaped parts. Every other
# value is escaped by page().
HTML = frozenset(
    {"refresh", "en", "es", "disabled", "status_class", "downloads", "release", "refused", "table"}
)


def page(**values: str) -> str:
    return PAGE.format(**{k: v if k in HTML else escape(v) for k, v in values.items()})


class Base(HubOAuthenticated, web.RequestHandler):
    def set_default_headers(self) -> None:
        # Nothing on the page runs: no script, nothing loaded from elsewhere, no frame around it.
        self.set_header(
            "Content-Security-Policy",
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; "
            "frame-ancestors 'none'",
        )
        self.set_header("X-Content-Type-Options", "nosniff")

    def lang(self) -> str:
        """The page's language: ?lang=, else the browser's (its Accept-Language)."""
        return course.page_language(
            self.get_argument("lang", ""), self.request.headers.get("Accept-Language", "")
        )


class PageHandler(Base):
    @web.authenticated
    def get(self) -> None:
        lang = self.lang()
        _ = gettext_for(lang)
        found = workspaces()
        listed = (
            _("Workspaces: {n} ({names}).").format(n=len(found), names=", ".join(found)) if found else _(NONE)
        )
        at = time.strftime("%H:%M:%S", time.localtime(STATE.started))
        status, status_class = "", ""
        if STATE.running:
            status = _("Grading {n} workspaces since {t}…").format(n=STATE.count, t=at)
        elif STATE.error:
            status, status_class = _("Grading failed: {error}").format(error=STATE.error), ' class="error"'
        elif STATE.book:
            status = _("Graded {n} workspaces at {t}, in {s} s.").format(
                n=STATE.count, t=at, s=round(STATE.seconds)
            )
        other = next(code for code in course.LANGUAGES if code != lang)
        done = not STATE.running and not STATE.releasing
        xsrf = self.xsrf_token.decode()
        self.finish(
            page(
                lang=lang,
                title=_("Grade the class"),
                found=listed,
                prefix=PREFIX,
                xsrf=xsrf,
                lang_label=_("Language of the gradebook:"),
                grade=_("Grade the class"),
                again=_("Grade everything again"),
                again_help=_(
                    "Grading again runs only what changed since the last grading; grading everything "
                    "again runs every notebook and every contract anew."
                ),
                en=" checked" if lang == "en" else "",
                es=" checked" if lang == "es" else "",
                disabled="" if done else " disabled",
                status=status,
                status_class=status_class,
                downloads=downloads(lang),
                release=release_part(lang, xsrf, not done) if done or STATE.releasing else "",
                refused=refusals(lang) if done else "",
                table=tables(lang) if STATE.book and done else "",
                refresh="" if done else '<meta http-equiv="refresh" content="3">',
                other=other,
                other_name=course.LANGUAGES[other],
                hub=self.hub_auth.hub_host + self.hub_auth.hub_prefix,
            )
        )


class GradeHandler(Base):
    @web.authenticated
    def post(self) -> None:
        lang = course.page_language(self.get_body_argument("lang", ""), "")
        again = self.get_body_argument("again", "0") == "1"
        if not STATE.running and not STATE.releasing:  # a release under way writes the last reports
            STATE.running = True  # before the task starts: a second click waits for this one
            STATE.task = asyncio.get_running_loop().create_task(grade(lang, again))
        self.redirect(f"{PREFIX}?lang={lang}")


class ReleaseHandler(Base):
    @web.authenticated
    async def post(self) -> None:
        lang = course.page_language(self.get_body_argument("lang", ""), "")
        if not STATE.running and not STATE.releasing and STATE.reports:
            STATE.releasing = True
            try:
                await asyncio.to_thread(release)
            finally:
                STATE.releasing = False
        self.redirect(f"{PREFIX}?lang={lang}")


TYPES = {
    ".csv": "text/csv; charset=utf-8",
    ".md": "text/markdown; charset=utf-8",
    ".html": "text/html; charset=utf-8",
}


class DownloadHandler(Base):
    @web.authenticated
    def get(self, file: str) -> None:
        if file not in STATE.book:
            raise web.HTTPError(404)
        self.set_header("Content-Type", TYPES[Path(file).suffix])
        self.set_header("Content-Disposition", f'attachment; filename="{file}"')
        self.finish(STATE.book[file])


class ReportHandler(Base):
    """A learner's feedback report, as the grader read it (a download: never shown on this page)."""

    @web.authenticated
    def get(self, name: str, file: str) -> None:
        if name not in STATE.reports or file not in STATE.reports[name]:
            raise web.HTTPError(404)
        self.set_header("Content-Type", TYPES[Path(file).suffix])
        self.set_header("Content-Disposition", f'attachment; filename="feedback-{name}-{file}"')
        self.finish(STATE.reports[name][file])


async def serve() -> None:
    """Serve until the hub stops this service (SIGTERM); a grading under way goes with it."""
    url = urlparse(os.environ["JUPYTERHUB_SERVICE_URL"])
    app = web.Application(
        [
            (PREFIX, PageHandler),
            (url_path_join(PREFIX, "grade"), GradeHandler),
            (url_path_join(PREFIX, "release"), ReleaseHandler),
            (url_path_join(PREFIX, "(" + "|".join(re.escape(file) for file in BOOK) + ")"), DownloadHandler),
            (
                url_path_join(PREFIX, r"feedback/([a-z][a-z0-9_-]{0,31})/(index\.html|index\.md)"),
                ReportHandler,
            ),
            (url_path_join(PREFIX, "oauth_callback"), HubOAuthCallbackHandler),
        ],
        cookie_secret=os.urandom(32),
        xsrf_cookies=True,
    )
    app.listen(url.port, url.hostname)
    stopped = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stopped.set)
    await stopped.wait()
    if STATE.process is not None and STATE.process.returncode is None:
        os.killpg(STATE.process.pid, signal.SIGKILL)


if __name__ == "__main__":
    asyncio.run(serve())
