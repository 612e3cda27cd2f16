"""The instructor's grading page: a JupyterHub service at /services/grader/ (see jupyterhub_config.py).

Only the hub's admins reach it (the scope access:services!service=grader, which the admin role has).
"Grade the class" copies every learner's workspace (HOME/learners/NAME/phase-28 of each home) into a
fresh learners/ folder, runs `minituner grade` on it, and offers gradebook.csv and gradebook.md for
download; both are also written into the instructor's home, gradebook/, where their JupyterLab shows
them. Grading runs the learners' code: on a hub run as root, the copies belong to an account of their
own (MINITUNER_GRADER, no home, no login) and the grade runs as that account, never as root nor as the
instructor. Verdicts are kept from one grading to the next (minituner's .grading-cache), so grading
again runs only what changed.
"""

from __future__ import annotations

import asyncio
import csv
import html
import io
import math
import os
import re
import shutil
import signal
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

from jupyterhub.services.auth import HubOAuthCallbackHandler, HubOAuthenticated
from jupyterhub.utils import url_path_join
from tornado import web

sys.path.insert(0, str(Path(__file__).resolve().parent))
import accounts  # noqa: E402
import minituner_hub as course  # noqa: E402

PREFIX = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/grader/")
HOMES = Path(os.environ["MINITUNER_HUB_HOMES"])
GRADING = Path(os.environ["MINITUNER_GRADING"])
PYTHON = Path(os.environ["MINITUNER_PYTHON"])  # the learners' Python (jupyterhub_config.py)
INSTRUCTOR = os.environ["MINITUNER_INSTRUCTOR"]
GRADER = os.environ.get("MINITUNER_GRADER", "minituner-grader")
JOBS = int(os.environ.get("MINITUNER_GRADE_JOBS", "2"))
PER_LEARNER = 300  # seconds: minituner grade's --timeout, one learner at most
SKIP = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__")

TEXT = {
    "en": {
        "title": "Grade the class",
        "found": "Workspaces: {n} ({names}).",
        "none": "No workspace yet: a learner's is created the first time their server starts.",
        "lang": "Language of the gradebook:",
        "grade": "Grade the class",
        "running": "Grading {n} workspaces since {t}…",
        "done": "Graded {n} workspaces at {t}, in {s} s.",
        "failed": "Grading failed: {error}",
        "download": "Download:",
        "copies": "The same files are in your JupyterLab, in gradebook/.",
        "other": ("es", "Español"),
    },
    "es": {
        "title": "Calificar la clase",
        "found": "Espacios de trabajo: {n} ({names}).",
        "none": "Aún no hay ninguno: el de cada estudiante se crea la primera vez que arranca su servidor.",
        "lang": "Idioma del libro de notas:",
        "grade": "Calificar la clase",
        "running": "Calificando {n} espacios de trabajo desde las {t}…",
        "done": "Calificados {n} espacios de trabajo a las {t}, en {s} s.",
        "failed": "La calificación falló: {error}",
        "download": "Descargar:",
        "copies": "Los mismos archivos están en tu JupyterLab, en gradebook/.",
        "other": ("en", "English"),
    },
}


class Grading:
    """The last grading: running or not, when, how many, how it ended, and its gradebook."""

    def __init__(self) -> None:
        self.running, self.started, self.seconds, self.count = False, 0.0, 0.0, 0
        self.error: str | None = None
        self.book: dict[str, bytes] = {}
        self.process: asyncio.subprocess.Process | None = None
        self.task: asyncio.Task[None] | None = None


STATE = Grading()


def workspaces() -> dict[str, Path]:
    """Every learner's learners/NAME folder: HOMES/NAME/learners/NAME, with no symbolic link on the
    way (a learner cannot hand in another's folder as theirs) and, as root, in a home of an account
    this hub created."""
    found: dict[str, Path] = {}
    for home in sorted(HOMES.iterdir()) if HOMES.is_dir() else []:
        name, folder = home.name, home / "learners" / home.name
        if not re.fullmatch(course.USERNAME_PATTERN, name) or name == INSTRUCTOR:
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


def give(folder: Path, uid: int, gid: int) -> None:
    """chown a folder we just made, deepest entries first: nothing is handed over before its content."""
    for top, dirs, files in os.walk(folder, topdown=False):
        for entry in (*dirs, *files):
            os.chown(Path(top) / entry, uid, gid, follow_symlinks=False)
    os.chown(folder, uid, gid)


def gather(found: dict[str, Path]) -> Path:
    """GRADING/class/learners: a fresh copy of every workspace, and the verdicts kept so far. Built
    beside the last one, then put in its place: the same paths every time, so that minituner's cache
    knows an unchanged workspace again."""
    GRADING.mkdir(parents=True, exist_ok=True)
    os.chmod(GRADING, 0o755)
    current, fresh, old = GRADING / "class", GRADING / "next", GRADING / "old"
    for leftover in (fresh, old):
        shutil.rmtree(leftover, ignore_errors=True)
    (fresh / "learners").mkdir(parents=True)
    for name, source in found.items():
        try:
            shutil.copytree(source, fresh / "learners" / name, symlinks=True, ignore=SKIP)
        except shutil.Error:
            pass  # a file that cannot be copied (a pipe, a socket): the grade says what is missing
    cache = current / "learners" / ".grading-cache"
    if not any(p.is_symlink() for p in (current, cache.parent, cache)) and cache.is_dir():
        cache.rename(fresh / "learners" / ".grading-cache")
    if current.exists():
        current.rename(old)
    fresh.rename(current)
    shutil.rmtree(old, ignore_errors=True)
    return current


async def grade(lang: str) -> None:
    """One grading, start to end; its outcome is kept in STATE."""
    STATE.running, STATE.started, STATE.error = True, time.time(), None
    try:
        grader = accounts.ensure(GRADER, None) if accounts.ROOT else None
        found = workspaces()
        STATE.count = len(found)
        if not found:
            raise FileNotFoundError(TEXT[lang]["none"])
        folder = await asyncio.to_thread(gather, found)
        if grader is not None:
            await asyncio.to_thread(give, folder, grader.pw_uid, grader.pw_gid)
        cmd = [str(PYTHON), "-m", "minituner", "grade", str(folder / "learners"), "--jobs", str(JOBS)]
        cmd += ["--timeout", str(PER_LEARNER), "--lang", lang]
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
            **accounts.as_user(grader),
        )
        limit = PER_LEARNER * math.ceil(len(found) / JOBS) + 120
        try:
            out, _ = await asyncio.wait_for(STATE.process.communicate(), limit)
        except TimeoutError:
            os.killpg(STATE.process.pid, signal.SIGKILL)
            raise TimeoutError(f"{limit} s") from None
        if STATE.process.returncode:
            raise RuntimeError(out.decode(errors="replace").strip().splitlines()[-1][:300])
        book = {}
        for kind in ("csv", "md"):
            book[kind] = await asyncio.to_thread(
                accounts.read_as, PYTHON, grader, folder / "learners" / f"gradebook.{kind}"
            )
        await asyncio.to_thread(hand_over, book)
        STATE.book = book
    except Exception as error:  # noqa: BLE001 - shown on the page, the service goes on
        STATE.error = f"{type(error).__name__}: {error}"
    finally:
        STATE.running, STATE.seconds, STATE.process = False, time.time() - STATE.started, None


def hand_over(book: dict[str, bytes]) -> None:
    """The gradebook into the instructor's home, gradebook/, written as the instructor."""
    home = HOMES / INSTRUCTOR
    account = accounts.ensure(INSTRUCTOR, home) if accounts.ROOT else None
    if account is None:
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
    for kind, data in book.items():
        accounts.write_as(PYTHON, account, home / "gradebook" / f"gradebook.{kind}", data)


def table(data: bytes) -> str:
    rows = list(csv.reader(io.StringIO(data.decode())))
    if not rows:
        return ""
    head = "".join(f"<th>{html.escape(cell)}</th>" for cell in rows[0])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in rows[1:]
    )
    return f'<table id="gradebook"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


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
<button type="submit" id="grade"{disabled}>{grade}</button>
</form>
<p id="status"{status_class}>{status}</p>
{downloads}
{table}
</body></html>
"""


class Base(HubOAuthenticated, web.RequestHandler):
    def lang(self) -> str:
        asked = self.get_argument("lang", "")
        if asked in TEXT:
            return asked
        accept = self.request.headers.get("Accept-Language", "")
        return "es" if accept.lower().startswith("es") else "en"


class PageHandler(Base):
    @web.authenticated
    def get(self) -> None:
        lang = self.lang()
        t = TEXT[lang]
        found = workspaces()
        listed = t["found"].format(n=len(found), names=", ".join(found)) if found else t["none"]
        at = time.strftime("%H:%M:%S", time.localtime(STATE.started))
        status, status_class = "", ""
        if STATE.running:
            status = t["running"].format(n=STATE.count, t=at)
        elif STATE.error:
            status, status_class = t["failed"].format(error=STATE.error), ' class="error"'
        elif STATE.book:
            status = t["done"].format(n=STATE.count, t=at, s=round(STATE.seconds))
        downloads = ""
        if STATE.book:
            links = " · ".join(
                f'<a href="{PREFIX}gradebook.{k}" download>gradebook.{k}</a>' for k in STATE.book
            )
            downloads = f"<p>{t['download']} {links}. {t['copies']}</p>"
        other, other_name = t["other"]
        self.finish(
            PAGE.format(
                lang=lang,
                title=t["title"],
                found=html.escape(listed),
                prefix=PREFIX,
                xsrf=self.xsrf_token.decode(),
                lang_label=t["lang"],
                grade=t["grade"],
                en=" checked" if lang == "en" else "",
                es=" checked" if lang == "es" else "",
                disabled=" disabled" if STATE.running else "",
                status=html.escape(status),
                status_class=status_class,
                downloads=downloads,
                table=table(STATE.book["csv"]) if STATE.book and not STATE.running else "",
                refresh='<meta http-equiv="refresh" content="3">' if STATE.running else "",
                other=other,
                other_name=other_name,
                hub=self.hub_auth.hub_host + self.hub_auth.hub_prefix,
            )
        )


class GradeHandler(Base):
    @web.authenticated
    def post(self) -> None:
        lang = self.get_body_argument("lang", "en")
        lang = lang if lang in TEXT else "en"
        if not STATE.running:
            STATE.running = True  # before the task starts: a second click waits for this one
            STATE.task = asyncio.get_running_loop().create_task(grade(lang))
        self.redirect(f"{PREFIX}?lang={lang}")


class DownloadHandler(Base):
    @web.authenticated
    def get(self, kind: str) -> None:
        if kind not in STATE.book:
            raise web.HTTPError(404)
        self.set_header("Content-Type", "text/csv; charset=utf-8" if kind == "csv" else "text/markdown")
        self.set_header("Content-Disposition", f'attachment; filename="gradebook.{kind}"')
        self.finish(STATE.book[kind])


async def serve() -> None:
    """Serve until the hub stops this service (SIGTERM); a grading under way goes with it."""
    url = urlparse(os.environ["JUPYTERHUB_SERVICE_URL"])
    app = web.Application(
        [
            (PREFIX, PageHandler),
            (url_path_join(PREFIX, "grade"), GradeHandler),
            (url_path_join(PREFIX, r"gradebook\.(csv|md)"), DownloadHandler),
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
