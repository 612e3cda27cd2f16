"""A class on the course's JupyterHub (deploy/), driven by a real browser, and the Kubernetes files.

`jupyterhub -f deploy/jupyterhub_config.py` runs on 127.0.0.1 with its own state and homes folders, as
`make hub` runs it. Headless Chromium plays the class: a sign-up under the instructor's or the
grader's name is refused, three learners sign up and are approved by the instructor (whose account
the hub made from a secret), each starts a server (one in Spanish) that opens their lab 00 notebook,
and runs it to its first TODO. A learner is refused another's server, and, on a hub run as root,
another's files from their own kernel. One learner hands in lab 00 and lab/lora.py (the worked
example's); another cheats, with a conftest.py beside the notebooks that marks every test passed and
lab/lora.py a link to the first one's graded copy. The instructor grades the class from the grading
page: the gradebook has the three learners and the verdicts their work deserves (the cheater's, none
of what they cheated for), the page shows their points and offers each one's feedback report, and, on
a hub run as root, the grading folder is the grader's alone: the learners' accounts can neither list
it nor read a classmate's copy. The instructor releases the feedback: each learner's report lands in
their own workspace, written by their own account, beside (never over) a file of theirs, and their
hub home page links to it; a classmate's account cannot read it. Screenshots and the gradebook go to
the test's output folder. Run as root, a second test runs the hub by a normal account, as `make
hub` on a laptop does, and grades everything again from a corrupt cache. Everything the tests started
is stopped, and every account they created removed, whatever happens.

Wherever the clone lies: when it sits in a folder closed to other accounts (a temporary folder,
root's home), the hub runs from a copy of the course made of hard links in an open temporary folder
(`course_for_learners`), since the learners' accounts must read it.

The other tests read the Kubernetes side offline: the Zero to JupyterHub values against the keys of
the chart they were written for, the hook they share with the local hub, and the single-user image's
install commands against the Makefile's.
"""

from __future__ import annotations

import ast
import csv
import html
import importlib.util
import io
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from playwright.sync_api import Browser, Page

import minituner
from minituner.course import feedback, handin, workspace
from servers import wait_until_up

ROOT = Path(__file__).parent.parent
DEPLOY = ROOT / "deploy"
sys.path.insert(0, str(DEPLOY))
import accounts as hub_accounts  # noqa: E402
import minituner_hub as course  # noqa: E402

HUB_PACKAGES = ("jupyterhub", "nativeauthenticator", "jupyterhub_idle_culler")
MISSING = [name for name in HUB_PACKAGES if importlib.util.find_spec(name) is None]
needs_hub = pytest.mark.skipif(
    bool(MISSING),
    reason=f"the hub extra is not installed ({', '.join(MISSING)}): pip install -c constraints.txt '.[hub]'",
)
PROXY = DEPLOY / "node_modules" / ".bin" / "configurable-http-proxy"
LAB00 = f"{workspace.EXERCISES[0]}.ipynb"
EXAMPLE = ROOT / "learners" / "example" / workspace.PHASE
TODO = {"en": "TODO: write this part", "es": "TODO: escribe esta parte"}
RUN_MENU, SAVED = re.compile("^(Run|Ejecutar)$"), re.compile("^(Saving completed|Guardado completado)$")
FILE_MENU = {"en": "File", "es": "Archivo"}  # JupyterLab's first menu, in the learner's language
# Where a hub test keeps its state (and a copy of the course): open to every account, and not /tmp,
# which grading's sandbox replaces with a private one, hiding the learners' Python if it lay there.
OPEN_TEMP = "/var/tmp" if os.path.isdir("/var/tmp") else None


# --- The course, where the learners' accounts can read it ------------------------------------------


def link_tree(source: Path, target: Path, skip: frozenset[str] = frozenset()) -> None:
    """`source` again at `target`: its folders made (mode 0755), its files hard-linked (copied when
    they lie on another file system), its links kept as links."""
    for top, dirs, files in os.walk(source):
        dirs[:] = [d for d in dirs if d not in skip]
        here = target / Path(top).relative_to(source)
        here.mkdir(parents=True, exist_ok=True)
        here.chmod(0o755)
        for name in [*files, *dirs]:
            path = Path(top) / name
            if path.is_symlink():
                (here / name).symlink_to(os.readlink(path))
            elif name in files:
                try:
                    os.link(path, here / name)
                except OSError:
                    shutil.copy2(path, here / name)


def course_for_learners(base: Path, copy: bool = False) -> tuple[Path, Path]:
    """deploy/ and the Python to run the hub with, where the learners' accounts can read them.

    The clone's own, when they can (or when the tests do not run as root: then every server runs as
    the hub's user). Otherwise, or with `copy`: deploy/, the package's sources and the environment,
    hard-linked under `base` (a folder open to others), with the editable install's paths pointed
    at the copy. Its Python is the environment's; the hub makes one the learners can run on the
    system's (deploy/accounts.py) when that one is closed too.
    """
    if os.geteuid() != 0 or (not copy and hub_accounts.closed_to_learners() is None):
        return DEPLOY, Path(sys.executable)
    mirror, src, venv = base / "course", Path(minituner.__file__).resolve().parent.parent, Path(sys.prefix)
    link_tree(DEPLOY, mirror / "deploy", frozenset({".hub", "__pycache__"}))
    link_tree(src, mirror / "src")
    link_tree(venv, mirror / "venv")
    packages = mirror / "venv" / Path(sysconfig.get_paths()["purelib"]).relative_to(venv)
    for path in [*packages.glob("*.pth"), *packages.glob("__editable__*.py")]:
        text = path.read_text()
        if str(src) in text:
            path.unlink()  # a new file: the hard link's other name, the environment's own, stays as it is
            path.write_text(text.replace(str(src), str(mirror / "src")))
    return mirror / "deploy", mirror / "venv" / Path(sys.executable).relative_to(venv)


# --- The hub, started and stopped ----------------------------------------------------------------


@dataclass
class Hub:
    url: str
    state: Path  # MINITUNER_HUB_STATE: the grading folder is state/grading
    homes: Path
    root: bool  # run as root: one system account per learner
    instructor: str
    grader: str
    learners: dict[str, str]  # name -> language
    password: str  # every learner's, and the instructor's secret
    interpreter: Path  # the Python that runs the hub

    @property
    def grading(self) -> Path:
        return self.state / "grading"

    def python(self) -> Path:
        """A Python that every account of the hub can run (for the standard library only)."""
        made = self.state / "python" / "bin" / "python"  # the hub's accounts.python_for_accounts
        return made if made.exists() else self.interpreter


def free_ports(count: int) -> int:
    """The first of `count` consecutive free ports on 127.0.0.1."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            first = int(s.getsockname()[1])
        if first + count > 65535:
            continue
        try:
            for port in range(first, first + count):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
            return first
        except OSError:
            continue
    raise RuntimeError("no free ports")


def accounts_of(names: list[str]) -> list[pwd.struct_passwd]:
    """The accounts among `names` that the hub created (never another account of the machine)."""
    found = []
    for name in names:
        try:
            account = pwd.getpwnam(name)
        except KeyError:
            continue
        if account.pw_gecos in hub_accounts.COMMENTS.values():
            found.append(account)
    return found


def stop(server: subprocess.Popen[bytes], names: list[str]) -> None:
    """The hub, everything it started (servers and kernels live in sessions of their own), and then
    the processes of the accounts it created, each by its id."""
    import psutil

    try:
        started = psutil.Process(server.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        started = []
    server.send_signal(signal.SIGTERM)  # the hub stops its servers, services and proxy
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()
    uids = {account.pw_uid for account in accounts_of(names)}
    left = [p for p in started if p.is_running()]
    left += [p for p in psutil.process_iter(["uids"]) if p.info["uids"] and p.info["uids"].real in uids]
    for process in left:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(left, timeout=10)


@contextmanager
def running_hub(
    logs: Path, learners: dict[str, str], tag: str, by_a_normal_user: bool = False
) -> Iterator[Hub]:
    """`make hub`'s JupyterHub on free loopback ports, its state in a folder of its own; run by root
    when the test is (one account per learner) or, `by_a_normal_user`, by an account made for it.
    The instructor's secret comes from a file run by root, from the environment by a normal user."""
    assert PROXY.exists(), f"{PROXY} is missing: run `make hub` or `cd deploy && npm ci`"
    instructor, grader, runner = f"teach-{tag}", f"grader-{tag}", f"hubrun-{tag}"
    names = [*learners, instructor, grader, runner]
    clash = [n for n in names if n in {a.pw_name for a in pwd.getpwall()}]
    assert not clash, f"accounts already on this machine: {clash}"
    # Not under pytest's own folder (mode 0700): the learners' accounts must reach their homes.
    base = Path(tempfile.mkdtemp(prefix="minituner-hub-", dir=OPEN_TEMP))
    base.chmod(0o755)
    port, password = free_ports(4), secrets.token_hex(8)
    env = {
        **os.environ,
        "MINITUNER_HUB_PORT": str(port),
        "MINITUNER_HUB_STATE": str(base / "state"),
        "MINITUNER_HUB_HOMES": str(base / "state" / "homes"),
        "MINITUNER_INSTRUCTOR": instructor,
        "MINITUNER_GRADER": grader,
        "MINITUNER_GRADE_JOBS": "3",  # the three learners at once: the wall time of the slowest
        "OMP_NUM_THREADS": "1",
    }
    log = (logs / "jupyterhub.log").open("w")
    server = None
    try:
        # MINITUNER_TEST_HUB_COPY=1: the copy even when the clone needs none, to try it anywhere.
        deploy, python = course_for_learners(base, copy=os.environ.get("MINITUNER_TEST_HUB_COPY") == "1")
        user: dict[str, object] = {}
        if by_a_normal_user:  # an account of its own, and a Python it can run (see deploy/accounts.py)
            account = hub_accounts.ensure(runner, None)
            code = "import sys, pathlib; sys.path.insert(0, sys.argv[1]); import accounts; "
            code += "print(accounts.python_for_accounts(pathlib.Path(sys.argv[2])))"
            made = subprocess.run(
                [python, "-I", "-c", code, deploy, base], capture_output=True, text=True, check=True
            )
            python = Path(made.stdout.strip())
            (base / "state").mkdir()
            os.chown(base / "state", account.pw_uid, account.pw_gid)
            user = hub_accounts.as_user(account)
            env["HOME"] = str(base / "state")
            env["MINITUNER_INSTRUCTOR_PASSWORD"] = password
        else:
            secret = base / "instructor-password"
            secret.write_text(f"{password}\n")
            secret.chmod(0o600)
            env["MINITUNER_INSTRUCTOR_PASSWORD_FILE"] = str(secret)
        cmd = [str(python), "-m", "jupyterhub", "-f", str(deploy / "jupyterhub_config.py")]
        server = subprocess.Popen(
            cmd, cwd=base, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, **user
        )
        url = f"http://127.0.0.1:{port}"
        wait_until_up(f"{url}/hub/api", server, logs / "jupyterhub.log", "the hub")
        root = os.geteuid() == 0 and not by_a_normal_user
        yield Hub(
            url,
            base / "state",
            base / "state" / "homes",
            root,
            instructor,
            grader,
            learners,
            password,
            python,
        )
    finally:
        if server is not None:
            stop(server, names)
        log.close()
        for account in accounts_of(names):
            subprocess.run(["userdel", "--remove", account.pw_name], capture_output=True, check=False)
        assert not accounts_of(names), "an account the test created is still there"
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    tag = secrets.token_hex(2)
    learners = {f"ana-{tag}": "en", f"eva-{tag}": "es", f"cai-{tag}": "en"}
    with running_hub(tmp_path_factory.mktemp("hub"), learners, tag) as running:
        yield running


# --- A learner's and the instructor's steps -------------------------------------------------------


def sign_up(page: Page, hub: Hub, name: str, lang: str = "en") -> str:
    page.goto(f"{hub.url}/hub/signup?lang={lang}")
    page.fill("#username_input", name)
    page.fill("#password_input", hub.password)
    page.fill("#password_confirmation_input", hub.password)
    page.click("#signup_submit")
    return page.locator(".alert").inner_text()


def sign_in(page: Page, hub: Hub, name: str, next_url: str = "") -> None:
    page.goto(f"{hub.url}/hub/login" + (f"?next={next_url}" if next_url else ""))
    page.fill("#username_input", name)
    page.fill("#password_input", hub.password)
    page.click("#login_submit")


def notebook(page: Page, hub: Hub, name: str, path: str) -> dict[str, Any]:
    """A file of the learner's server, read through its contents API as the learner."""
    response = page.request.get(f"{hub.url}/user/{name}/api/contents/{path}?content=1")
    assert response.ok, f"{path}: {response.status}"
    return response.json()["content"]


def put(page: Page, hub: Hub, name: str, path: str, content: dict[str, Any] | str) -> None:
    """Save a notebook (or a text file) into the learner's server, as JupyterLab does (the xsrf
    cookie in a header)."""
    xsrf = next(c["value"] for c in page.context.cookies(f"{hub.url}/user/{name}/") if c["name"] == "_xsrf")
    model = (
        {"type": "file", "format": "text", "content": content}
        if isinstance(content, str)
        else {"type": "notebook", "format": "json", "content": content}
    )
    response = page.request.put(
        f"{hub.url}/user/{name}/api/contents/{path}",
        data=json.dumps(model),
        headers={"X-XSRFToken": xsrf, "Content-Type": "application/json"},
    )
    assert response.ok, f"{path}: {response.status} {response.text()[:300]}"


VISIBLE = ".jp-NotebookPanel:not(.lm-mod-hidden)"
STDERR = f"{VISIBLE} .jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"


def open_lab(page: Page, name: str, seconds: float) -> None:
    """Wait for the learner's server to open their lab 00 notebook; a failed start fails at once."""
    lab = re.compile(f"/user/{name}/lab/tree/learners/{name}/{workspace.PHASE}/notebooks/{LAB00}")
    deadline = time.monotonic() + seconds
    while not lab.search(page.url):
        assert time.monotonic() < deadline, f"{name}: no lab after {seconds} s, at {page.url}"
        try:
            text = page.locator("body").inner_text(timeout=1_000)
        except Exception:  # noqa: BLE001 - the page is navigating
            text = ""
        assert "Spawn failed" not in text and "Internal Server Error" not in text, f"{name}: {text[:1500]}"
        page.wait_for_timeout(1_000)
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=120_000)


def run_all(page: Page) -> None:
    page.get_by_text("| Idle").wait_for(timeout=120_000)  # the status bar: the kernel is ready
    page.get_by_role("menuitem", name=RUN_MENU).click()  # a Spanish learner's JupyterLab is in Spanish
    page.locator("li.lm-Menu-item[data-command='runmenu:run-all']").click()


def wait_and_save(page: Page, hub: Hub, name: str, seconds: float) -> None:
    """Wait until the run is over (the first cell ran, the kernel idle 3 s in a row), then save."""
    prompt = page.locator(f"{VISIBLE} .jp-CodeCell .jp-InputArea-prompt").first
    steady, deadline = 0, time.monotonic() + seconds
    while steady < 3:
        assert time.monotonic() < deadline, f"{name}: still running after {seconds} s"
        page.wait_for_timeout(1_000)
        kernels = page.request.get(f"{hub.url}/user/{name}/api/kernels").json()
        ran = prompt.inner_text().strip() not in ("[ ]:", "[*]:")
        idle = all(k["execution_state"] == "idle" for k in kernels)
        steady = steady + 1 if ran and idle else 0
    page.locator(f"{VISIBLE} [data-command='docmanager:save']").first.click()
    page.get_by_text(SAVED).wait_for()  # read the file only once it is written


def stopped_at_first_todo(nb: dict[str, Any], lang: str) -> str:
    """'' when the run went cell by cell up to the first TODO it met, stopped there with
    NotImplementedError in the workspace's language, and ran nothing after it; else what is wrong."""
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    errors = [i for i, c in enumerate(code) if any(o["output_type"] == "error" for o in c["outputs"])]
    if len(errors) != 1:
        return f"{len(errors)} cells with an error"
    (stop,) = errors
    error = next(o for o in code[stop]["outputs"] if o["output_type"] == "error")
    first_todo = next(i for i, c in enumerate(code) if "NotImplementedError" in "".join(c["source"]))
    if error["ename"] != "NotImplementedError" or TODO[lang] not in error["evalue"]:
        return f"cell {stop}: {error['ename']}: {error['evalue']}"
    if stop < first_todo or any(c["execution_count"] is None for c in code[: stop + 1]):
        return f"cell {stop} stopped the run, the first TODO is in cell {first_todo}"
    if any(c["execution_count"] is not None for c in code[stop + 1 :]):
        return "cells after the error ran"
    return ""


def hand_in_lab00_only(hub: Hub, name: str) -> None:
    """Every workbook but lab 00 out of a learner's workspace: the grading tests grade all five labs
    of a new workspace already, and here each would only cost a kernel (a notebook not there is
    graded missing, never run)."""
    for path in (hub.homes / name / course.workspace(name) / "notebooks").glob("*.ipynb"):
        if path.name != LAB00:
            path.unlink()


def probe(cell: str) -> dict[str, Any]:
    return {
        "cells": [
            {"cell_type": "code", "source": cell, "metadata": {}, "outputs": [], "execution_count": None}
        ],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def run_in_kernel(page: Page, hub: Hub, name: str, code: str) -> str:
    """Run `code` in the learner's own kernel (a notebook of theirs, the only one open); its output."""
    page.goto(f"{hub.url}/user/{name}/lab")
    put(page, hub, name, "probe.ipynb", probe(code))
    page.goto(f"{hub.url}/user/{name}/lab/tree/probe.ipynb?reset")
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell")
    run_all(page)
    output = page.locator(f"{VISIBLE} .jp-OutputArea-output").first
    output.wait_for(timeout=60_000)
    return output.inner_text().strip()


def as_learner(hub: Hub, name: str, code: str) -> str:
    """Run `code` (standard library only) as the learner's system account; its output."""
    done = subprocess.run(
        [str(hub.python()), "-I", "-c", code],
        cwd="/",
        capture_output=True,
        text=True,
        timeout=60,
        **hub_accounts.as_user(pwd.getpwnam(name)),
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def gradebook(teacher: Page, folder: Path, file: str = "gradebook.csv") -> dict[str, dict[str, str]]:
    """The gradebook's (or points.csv's) rows by learner, downloaded from the grading page into
    `folder`."""
    with teacher.expect_download() as download:
        teacher.click(f"a[href$='/{file}']")
    download.value.save_as(folder / file)
    return {row[next(iter(row))]: row for row in csv.DictReader(io.StringIO((folder / file).read_text()))}


MARK = feedback.MARK  # at the top of every feedback report (its first KiB)


# --- The class -----------------------------------------------------------------------------------


def enrol(browser: Browser, hub: Hub) -> dict[str, Page]:
    """Nobody signs up under the instructor's or the grader's name; the learners sign up and wait
    for the instructor's approval (the instructor signs in with the hub's secret), then each signs
    in, chooses the language of their workbooks and starts their server. A page per person, by name."""
    pages: dict[str, Page] = {}
    for name in [hub.instructor, *hub.learners]:
        context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        context.set_default_timeout(60_000)
        pages[name] = context.new_page()
    teacher, first = pages[hub.instructor], next(iter(hub.learners))
    for reserved, lang, said in ((hub.instructor, "en", "is reserved"), (hub.grader, "es", "está reservado")):
        alert = sign_up(pages[first], hub, reserved, lang)  # refused, and said so in the page's language
        assert said in alert, alert
    for name in hub.learners:
        assert "sent to the admin" in sign_up(pages[name], hub, name)
    sign_in(pages[first], hub, first)
    assert "not been authorized" in pages[first].locator(".login_error").inner_text()
    sign_in(pages[first], hub, hub.grader)  # no account: the refused sign-up made none
    assert "Invalid username or password" in pages[first].locator(".login_error").inner_text()
    sign_in(teacher, hub, hub.instructor, next_url="/hub/authorize")
    for name in hub.learners:
        teacher.locator(f"tr#{name} a", has_text="Approve").click()
        teacher.locator(f"tr#{name}.table-success").wait_for()
    for name, lang in hub.learners.items():
        page = pages[name]
        sign_in(page, hub, name)
        page.locator(f"input[name=lang][value={lang}]").check()
        page.locator("#spawn_form button[type=submit]").click()
    return pages


# A conftest.py that turns every test's outcome into a pass.
EVERY_TEST_PASSES = """import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    outcome.get_result().outcome = "passed"
"""


def cheat(workspace: Path, stolen: Path, other: Path) -> str:
    """What the cheater runs in their kernel: EVERY_TEST_PASSES beside the notebooks and at the top
    of the workspace, lab/lora.py a link to `stolen`; then an attempt to read `other`."""
    return f"""import pathlib
ws = pathlib.Path({str(workspace)!r})
for folder in (ws, ws / "notebooks"):
    (folder / "conftest.py").write_text({EVERY_TEST_PASSES!r})
(ws / "lab" / "lora.py").unlink()
(ws / "lab" / "lora.py").symlink_to({str(stolen)!r})
try:
    open({str(other)!r}).read()
    print("cheated, read")
except PermissionError:
    print("cheated, refused")
"""


def refused_to(tries: list[str]) -> str:
    """Code that runs each expression of `tries` and prints, for each, PermissionError or read."""
    return f"""import os
for attempt in {tries!r}:
    try:
        eval(attempt)
        print("read")
    except PermissionError:
        print("PermissionError")
"""


@needs_hub
@pytest.mark.slow
def test_a_class_on_the_hub(hub: Hub, browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> None:
    shots = tmp_path_factory.mktemp("hub-screenshots")
    pages = enrol(browser, hub)
    teacher = pages[hub.instructor]

    # Each learner lands on lab 00 and runs it: a fresh workbook stops at its first TODO.
    for name, lang in hub.learners.items():
        page = pages[name]
        open_lab(page, name, 240)
        page.get_by_role("menuitem", name=FILE_MENU[lang], exact=True).wait_for()  # JupyterLab's language
        run_all(page)
    for name, lang in hub.learners.items():
        page = pages[name]
        wait_and_save(page, hub, name, 240)
        path = f"learners/{name}/{workspace.PHASE}/notebooks/{LAB00}"
        for _ in range(30):  # the save lands
            problem = stopped_at_first_todo(notebook(page, hub, name, path), lang)
            if not problem:
                break
            page.wait_for_timeout(1_000)
        assert not problem, f"{name}: {problem}"
        try:  # the cell that stopped, in view (Run All leaves the last cell in view)
            page.locator(STDERR).first.scroll_into_view_if_needed(timeout=5_000)
        except Exception:  # noqa: BLE001 - not rendered: the screenshot shows where the run ended
            pass
        page.screenshot(path=str(shots / f"lab00-{name}-{lang}.png"))
    ana, eva, cai = hub.learners

    # One learner hands in lab 00 and lab/lora.py: the worked example's, saved into their workspace.
    page, mine = pages[cai], f"learners/{cai}/{workspace.PHASE}"
    put(page, hub, cai, f"{mine}/notebooks/{LAB00}", json.loads((EXAMPLE / "notebooks" / LAB00).read_text()))
    put(page, hub, cai, f"{mine}/lab/lora.py", (EXAMPLE / "lab" / "lora.py").read_text())

    # Another cheats from their kernel: a conftest.py beside the notebooks (and at the top of the
    # workspace) that passes every test, and lab/lora.py a link to the first one's graded copy.
    # Their kernel cannot read a classmate's home either (one account per learner, as root).
    theirs = hub.homes / ana / course.workspace(ana)
    stolen = hub.grading / "class" / "learners" / cai / workspace.PHASE / "lab" / "lora.py"
    other = hub.homes / eva / course.workspace(eva) / "notebooks" / LAB00
    output = run_in_kernel(pages[ana], hub, ana, cheat(theirs, stolen, other))
    assert output == ("cheated, refused" if hub.root else "cheated, read"), output
    assert (theirs / "lab" / "lora.py").is_symlink() and (theirs / "notebooks" / "conftest.py").exists()

    # The instructor starts grading the class (it runs on the hub while the next checks go on).
    for name in hub.learners:
        hand_in_lab00_only(hub, name)
    teacher.goto(f"{hub.url}/hub/authorize")
    teacher.get_by_role("link", name=re.compile("^Grade the class")).click()  # the browser's language
    assert "Workspaces: 3" in teacher.locator("body").inner_text()
    teacher.get_by_role("link", name="Español").click()
    assert "Espacios de trabajo: 3" in teacher.locator("body").inner_text()
    assert "Calificarlo todo de nuevo" in teacher.locator("#regrade").inner_text()
    teacher.goto(f"{hub.url}/services/grader/?lang=en")
    teacher.click("#grade")

    # Meanwhile, a learner is refused another's server, another's files, and the grading page.
    page = pages[ana]
    for url in (f"/user/{eva}/lab", f"/user/{eva}/api/contents/learners"):
        response = page.goto(hub.url + url)
        assert response is not None and response.status == 403, (
            f"{ana} at {url}: {response and response.status}"
        )
        assert page.locator(".jp-NotebookPanel").count() == 0
    response = page.goto(f"{hub.url}/services/grader/")
    assert response is not None and response.status == 403

    # The gradebook: the three learners, and the verdicts their work deserves.
    teacher.locator("#gradebook").wait_for(timeout=420_000)
    assert "failed" not in teacher.locator("#status").inner_text()
    teacher.screenshot(path=str(shots / "gradebook.png"), full_page=True)
    rows = gradebook(teacher, shots)
    assert sorted(rows) == sorted(hub.learners), rows
    for name in (ana, eva):  # a fresh lab 00 fails at its TODO, the cheater's too
        assert rows[name]["lab 00"].startswith("fail") and TODO[hub.learners[name]] in rows[name]["lab 00"]
        assert rows[name]["total"] == "0/8", rows[name]
    assert "lab/lora.py" in rows[ana]["contract"] and rows[ana]["contract"] != "pass", rows[ana]
    assert rows[cai]["lab 00"] == "pass" and rows[cai]["contract"] == "pass", rows[cai]
    assert rows[cai]["lab 01"].startswith("missing") and rows[cai]["total"] == "2/8", rows[cai]
    refused = teacher.locator("#refused").inner_text()  # the page names what was not handed in
    assert f"{ana}: lab/lora.py: a symbolic link" in refused and cai not in refused, refused
    copy = hub.homes / hub.instructor / "gradebook" / "gradebook.csv"
    assert copy.read_text() == (shots / "gradebook.csv").read_text()

    # The grader's copy of the cheater's work: the allowlist, regular files, no conftest.py.
    graded = hub.grading / "class" / "learners"
    assert not (graded / ana / workspace.PHASE / "notebooks" / "conftest.py").exists()
    assert not (graded / ana / workspace.PHASE / "conftest.py").exists()
    assert not (graded / ana / workspace.PHASE / "lab" / "lora.py").exists()
    assert (graded / cai / workspace.PHASE / "lab" / "lora.py").read_bytes() == (
        EXAMPLE / "lab" / "lora.py"
    ).read_bytes()
    if hub.root:
        # The grading folder and all in it are the grader's, closed to others; the gradebook copy the
        # instructor's. A learner's account can neither list the folder nor open a classmate's copy.
        assert copy.stat().st_uid == pwd.getpwnam(hub.instructor).pw_uid
        grader = pwd.getpwnam(hub.grader)
        assert grader.pw_gecos == hub_accounts.COMMENTS["grader"] != pwd.getpwnam(ana).pw_gecos
        for path in [hub.grading, *hub.grading.rglob("*")]:
            info = path.lstat()
            assert info.st_uid == grader.pw_uid and info.st_mode & 0o077 == 0, (path, oct(info.st_mode))
        tries = [f"os.listdir({str(hub.grading)!r})", f"os.listdir({str(graded)!r})"]
        tries += [f"open({str(stolen)!r}).read()", f"open({str(graded / 'gradebook.csv')!r}).read()"]
        for name in (ana, eva):
            assert as_learner(hub, name, refused_to(tries)).split() == ["PermissionError"] * len(tries)

    # The points above the verdicts, points.csv beside the gradebook, and each learner's report.
    points = gradebook(teacher, shots, "points.csv")
    assert sorted(points) == sorted([*hub.learners, "points possible"]), points
    assert float(points[cai]["total"]) > float(points[ana]["total"]), (points[cai], points[ana])
    table = teacher.locator("#points").inner_text()
    assert "points possible" in table and all(name in table for name in hub.learners), table
    assert (hub.homes / hub.instructor / "gradebook" / "points.csv").read_text() == (
        shots / "points.csv"
    ).read_text()
    with teacher.expect_download() as download:  # what the class predicted, beside what was measured
        teacher.click("a[href$='/predictions.html']")
    download.value.save_as(shots / "predictions.html")
    predicted = (shots / "predictions.html").read_text()
    assert f"{len(hub.learners)} learners" in predicted and cai in predicted  # cai's lab 00 predicts
    assert (hub.homes / hub.instructor / "gradebook" / "predictions.html").read_text() == predicted
    links = teacher.locator("#reports a.report")
    assert sorted(links.all_inner_texts()) == sorted(hub.learners)
    with teacher.expect_download() as download:
        teacher.click(f"#reports a[href$='/feedback/{cai}/index.html']")
    download.value.save_as(shots / f"feedback-{cai}.html")
    report = (shots / f"feedback-{cai}.html").read_text()
    assert MARK in report[:1024] and cai in report and ana not in report and eva not in report

    # A file of the learner's own where their report goes (feedback/index.md): kept, never overwritten.
    mine = f"{course.workspace(eva)}/feedback"
    xsrf = next(
        c["value"] for c in pages[eva].context.cookies(f"{hub.url}/user/{eva}/") if c["name"] == "_xsrf"
    )
    made = pages[eva].request.put(
        f"{hub.url}/user/{eva}/api/contents/{mine}",
        data=json.dumps({"type": "directory"}),
        headers={"X-XSRFToken": xsrf, "Content-Type": "application/json"},
    )
    assert made.ok, made.status
    put(pages[eva], hub, eva, f"{mine}/index.md", "my own notes\n")

    # The instructor releases the feedback: each learner's report, in their own workspace, as theirs.
    teacher.click("#release")
    teacher.locator("#released").wait_for(timeout=120_000)
    assert "to 3 learners" in teacher.locator("#released").inner_text()
    notes = teacher.locator("#release-notes").inner_text()
    assert f"{eva}: their feedback/index.md was not a report of ours: kept as feedback/index-" in notes, notes
    assert ana not in notes and cai not in notes, notes
    teacher.screenshot(path=str(shots / "released.png"), full_page=True)
    kept = list((hub.homes / eva / mine).glob("index-*.md"))
    assert len(kept) == 1 and kept[0].read_text() == "my own notes\n", kept
    for name in hub.learners:
        folder = hub.homes / name / course.workspace(name) / "feedback"
        others = [other for other in hub.learners if other != name]
        for file in ("index.html", "index.md"):
            text = (folder / file).read_text()
            assert MARK in text[:1024] and name in text, (name, file)
            assert not any(other in text for other in others), (name, file)
            if hub.root:
                assert (folder / file).stat().st_uid == pwd.getpwnam(name).pw_uid, (name, file)
        # Their JupyterLab shows it (it is in their workspace), and the hub's home page links to it.
        shown = notebook(pages[name], hub, name, f"{course.workspace(name)}/feedback/index.html")
        assert name in shown and not any(other in shown for other in others)
        pages[name].goto(f"{hub.url}/hub/home")
        link = pages[name].locator("#feedback a").get_attribute("href") or ""
        assert link.endswith(f"/user/{name}/lab/tree/{course.workspace(name)}/feedback/index.html"), link
    # The Spanish learner follows that link: their report, in Spanish, in their JupyterLab in Spanish.
    page = pages[eva]
    page.goto(f"{hub.url}/hub/home")
    page.locator("#feedback a").click()
    report = page.frame_locator(".jp-HTMLViewer iframe").locator("body")
    assert f"Comentarios para {eva}" in report.inner_text(timeout=60_000)
    page.get_by_role("menuitem", name=FILE_MENU["es"], exact=True).wait_for()
    page.screenshot(path=str(shots / f"feedback-{eva}-es.png"))
    if hub.root:  # a classmate's account cannot read another's report
        reports = [hub.homes / n / course.workspace(n) / "feedback" / "index.html" for n in (eva, cai)]
        tries = [f"open({str(path)!r}).read()" for path in reports]
        assert as_learner(hub, ana, refused_to(tries)).split() == ["PermissionError"] * len(tries)
    # Released again: the reports are ours now, replaced, nothing more kept aside.
    teacher.click("#release")
    teacher.locator("#released").wait_for()
    assert teacher.locator("#release-notes").count() == 0
    assert len(list((hub.homes / eva / mine).glob("index-*"))) == 1
    for page in pages.values():
        page.context.close()


@needs_hub
@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="not run as root, test_a_class_on_the_hub is this test")
def test_a_hub_run_by_a_normal_user(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Not run as root (make hub on a laptop), the hub runs every server as its own user: a learner
    still gets a workspace in their language, in a home of their own, and their lab 00; the hub still
    refuses them another's server (their kernel, running as the same user, is not kept out). The
    instructor, whose secret comes from the environment, grades everything again over a corrupt
    cache, in a grading folder closed to other accounts."""
    tag = secrets.token_hex(2)
    bea = f"bea-{tag}"
    shots = tmp_path_factory.mktemp("hub-user-screenshots")
    with running_hub(tmp_path_factory.mktemp("hub-user"), {bea: "es"}, tag, by_a_normal_user=True) as hub:
        pages = enrol(browser, hub)
        open_lab(pages[bea], bea, 240)
        home, runner = hub.homes / bea, pwd.getpwnam(f"hubrun-{tag}")
        assert home.stat().st_uid == runner.pw_uid
        assert home.stat().st_mode & 0o777 == 0o700
        assert 'language = "es"' in (home / course.workspace(bea) / "learner.toml").read_text()
        pages[bea].get_by_text("| Idle").wait_for(timeout=120_000)  # the kernel is ready
        pages[bea].screenshot(path=str(shots / f"lab00-{bea}.png"))
        response = pages[bea].goto(f"{hub.url}/user/{hub.instructor}/lab")  # not running: 404, no access
        assert (
            response is not None and response.status in (403, 404) and "JupyterLab" not in pages[bea].title()
        )

        # A cache that a killed grading left half-written: grading everything again starts anew.
        cache = hub.grading / "class" / "learners" / ".grading-cache"
        code = "import pathlib, sys; p = pathlib.Path(sys.argv[1]); p.parent.mkdir(parents=True); "
        code += 'p.write_text(\'{"status": "pa\')'
        subprocess.run(
            [str(hub.python()), "-I", "-c", code, str(cache / "half-written.json")],
            check=True,
            **hub_accounts.as_user(runner),
        )
        hand_in_lab00_only(hub, bea)
        teacher = pages[hub.instructor]
        teacher.goto(f"{hub.url}/services/grader/?lang=es")
        teacher.click("#regrade")
        teacher.locator("#gradebook").wait_for(timeout=300_000)
        assert "falló" not in teacher.locator("#status").inner_text()
        rows = gradebook(teacher, shots)
        assert list(rows) == [bea] and rows[bea]["total"] == "0/8", rows
        assert TODO["es"] in rows[bea]["laboratorio 00"], rows[bea]
        assert not (cache / "half-written.json").exists()  # --all: the cache was emptied
        info = hub.grading.stat()
        assert info.st_uid == runner.pw_uid and info.st_mode & 0o777 == 0o700
        for page in pages.values():
            page.context.close()


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="not run as root, the learners are the hub's own user")
def test_a_closed_clone_is_set_up_where_learners_reach_it() -> None:
    """What the hub tests do when the clone lies in a folder closed to other accounts: the course
    hard-linked into an open folder, from which another account (nobody) hands in a workspace."""
    base = Path(tempfile.mkdtemp(prefix="minituner-course-", dir=OPEN_TEMP))
    try:
        base.chmod(0o755)
        deploy, python = course_for_learners(base, copy=True)
        code = "import sys, pathlib; sys.path.insert(0, sys.argv[1]); import accounts, minituner; "
        code += "print(accounts.closed_to_learners(), minituner.__file__, "
        code += "accounts.python_for_accounts(pathlib.Path(sys.argv[2])), sep='\\n')"
        done = subprocess.run([python, "-I", "-c", code, deploy, base], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        closed, package, learners_python = done.stdout.split()
        assert closed == "None" and Path(package).is_relative_to(base), done.stdout
        work = base / "work"
        link_tree(EXAMPLE, work)
        nobody = pwd.getpwnam("nobody")
        packed = subprocess.run(
            [learners_python, "-I", "-m", "minituner.course.handin", "pack", str(work)],
            cwd="/",
            capture_output=True,
            user=nobody.pw_uid,
            group=nobody.pw_gid,
            extra_groups=[],
        )
        assert packed.returncode == 0, packed.stderr.decode()[-2000:]
        with tarfile.open(fileobj=io.BytesIO(packed.stdout)) as tar:
            assert "lab/lora.py" in tar.getnames()
    finally:
        shutil.rmtree(base, ignore_errors=True)


# --- Kubernetes, offline --------------------------------------------------------------------------

# Zero to JupyterHub chart 4.4.0 (JupyterHub 5.5.0): the keys of its values.schema.yaml under which
# z2jh-values.yaml writes, to the depth this file uses. A key outside them is refused by `helm install`.
CHART = "4.4.0"
KNOWN = {
    "hub": {
        "config",
        "extraConfig",
        "extraFiles",
        "extraEnv",
        "loadRoles",
        "services",
        "templatePaths",
        "templateVars",
        "resources",
        "db",
        "image",
        "networkPolicy",
        "cookieSecret",
        "concurrentSpawnLimit",
        "activeServerLimit",
        "consecutiveFailureLimit",
        "shutdownOnLogout",
        "redirectToServer",
    },
    "singleuser": {
        "image",
        "cpu",
        "memory",
        "storage",
        "defaultUrl",
        "cmd",
        "extraEnv",
        "lifecycleHooks",
        "startTimeout",
        "uid",
        "fsGid",
        "networkPolicy",
        "profileList",
        "extraResource",
        "cloudMetadata",
        "extraFiles",
    },
    "singleuser.cpu": {"limit", "guarantee"},
    "singleuser.memory": {"limit", "guarantee"},
    "singleuser.image": {"name", "tag", "pullPolicy", "pullSecrets"},
    "singleuser.storage": {
        "type",
        "capacity",
        "homeMountPath",
        "dynamic",
        "static",
        "extraVolumes",
        "extraVolumeMounts",
        "extraLabels",
    },
    "proxy": {
        "chp",
        "secretToken",
        "service",
        "https",
        "traefik",
        "labels",
        "annotations",
        "deploymentStrategy",
        "secretSync",
    },
    "scheduling": {"userScheduler", "podPriority", "userPlaceholder", "corePods", "userPods"},
    "scheduling.userScheduler": {"enabled", "replicas"},
    "scheduling.podPriority": {"enabled", "globalDefault", "defaultPriority", "userPlaceholderPriority"},
    "scheduling.userPlaceholder": {"enabled", "replicas", "resources"},
    "cull": {
        "enabled",
        "users",
        "adminUsers",
        "removeNamedServers",
        "timeout",
        "every",
        "concurrency",
        "maxAge",
    },
    "prePuller": {"hook", "continuous", "pullProfileListImages", "extraImages"},
    "ingress": {"enabled", "annotations", "ingressClassName", "hosts", "pathSuffix", "pathType", "tls"},
}
TOP = {
    "hub",
    "proxy",
    "singleuser",
    "scheduling",
    "ingress",
    "prePuller",
    "cull",
    "debug",
    "rbac",
    "global",
    "custom",
}


def values() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "z2jh-values.yaml").read_text())


def test_the_helm_values_use_only_keys_the_chart_knows() -> None:
    doc = values()
    assert set(doc) <= TOP, set(doc) - TOP
    for path, known in KNOWN.items():
        node = doc
        for key in path.split("."):
            node = node.get(key, {}) if isinstance(node, dict) else {}
        assert set(node) <= known, f"{path}: {set(node) - known} (chart {CHART})"
    for name, entry in doc["hub"].get("extraFiles", {}).items():
        assert set(entry) <= {"mountPath", "data", "stringData", "binaryData", "mode"}, name
        assert "mountPath" in entry and sum(k in entry for k in ("data", "stringData", "binaryData")) == 1
    assert all(re.match(r"^[A-Z]", cls) for cls in doc["hub"].get("config", {})), "hub.config: class names"
    assert f"chart {CHART}" in (DEPLOY / "z2jh-values.yaml").read_text()


def test_the_helm_values_give_each_learner_a_share_and_a_volume() -> None:
    single = values()["singleuser"]
    assert 0 < single["cpu"]["guarantee"] <= single["cpu"]["limit"]
    gib = {"M": 1 / 1024, "G": 1}
    size = lambda text: float(text[:-1]) * gib[text[-1]]  # noqa: E731
    assert 0 < size(single["memory"]["guarantee"]) <= size(single["memory"]["limit"])
    assert single["storage"]["type"] == "dynamic" and single["storage"]["capacity"]
    assert single["storage"]["homeMountPath"] == course.POD_HOME
    assert values()["cull"]["enabled"] is True
    # The figures of the instructor's page, in both languages, are the ones the values give.
    memory = tuple(int(single["memory"][k].removesuffix("M")) for k in ("guarantee", "limit"))
    cpu = single["cpu"]["guarantee"]
    en = (ROOT / "learners" / "README.md").read_text()
    es = (ROOT / "learners" / "README.es.md").read_text()
    assert f"guarantee {memory[0]} MiB, limit {memory[1]} MiB" in en
    assert f"guarantee {cpu:g}, limit {single['cpu']['limit']:g}" in en
    assert f"garantía {memory[0]} MiB, límite {memory[1]} MiB" in es
    assert f"garantía {cpu:g}, límite".replace(".", ",") in es


def test_the_kubernetes_hook_is_the_local_hub_s() -> None:
    """hub.extraConfig imports deploy/minituner_hub.py (mounted by hub.extraFiles) and calls
    kubernetes(c); its pre-spawn hook gives a learner's pod the same workspace and first page."""
    from traitlets.config import Config

    doc = values()["hub"]
    mounted = {entry["mountPath"] for entry in doc["extraFiles"].values()}
    module = next(Path(path) for path in mounted if path.endswith("/minituner_hub.py"))
    # The hub image has no minituner: the Spanish catalogue is mounted where the module looks for it.
    assert str(module.parent / "locale/es/LC_MESSAGES/minituner.mo") in mounted
    command = (DEPLOY / "z2jh-values.yaml").read_text()
    assert all(f"hub.extraFiles.{name}." in command for name in doc["extraFiles"])  # each is given data
    c = Config()
    code = "\n".join(doc["extraConfig"].values())  # imports the module mounted above
    exec(compile(code, "extraConfig", "exec"), {"c": c})
    assert c.KubeSpawner.pre_spawn_hook is course.kubernetes_pre_spawn
    assert c.Authenticator.username_pattern == course.USERNAME_PATTERN
    learner = SimpleNamespace(
        user=SimpleNamespace(name="ana", admin=False),
        user_options=course.options_from_form({"lang": ["es"]}),
        environment={},
        lifecycle_hooks={},
        default_url="",
        args=list(doc["config"]["KubeSpawner"]["args"]),
    )
    for _ in range(2):  # a restart applies the options again
        c.KubeSpawner.apply_user_options(learner, learner.user_options)
    course.kubernetes_pre_spawn(learner)
    assert learner.default_url == course.default_url("ana")
    assert learner.environment["MINITUNER_LANG"] == "es"
    assert f"{course.LAB_SETTINGS}/usr/local/share/jupyter/lab/settings/es" in learner.args, learner.args
    assert learner.lifecycle_hooks["postStart"]["exec"]["command"] == course.post_start("ana", "es")
    teacher = SimpleNamespace(user=SimpleNamespace(name="t", admin=True), user_options={}, environment={})
    course.kubernetes_pre_spawn(teacher)
    assert teacher.default_url == "/lab" and course.options_form(teacher) == ""


def test_the_post_start_hook_creates_the_workspace_once(tmp_path: Path) -> None:
    """The pod's postStart command, run in a shell: a Spanish workspace, then nothing (and exit 0)."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    for _ in range(2):
        done = subprocess.run(
            course.post_start("eva", "es", str(tmp_path)), env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
    home = tmp_path / course.workspace("eva")
    assert 'language = "es"' in (home / "learner.toml").read_text()
    assert (tmp_path / course.default_url("eva").removeprefix("/lab/tree/")).exists()


def test_the_hub_s_policy_names_minituner_s_workspace(tmp_path: Path) -> None:
    assert course.PHASE == workspace.PHASE and f"{course.FIRST_NOTEBOOK}.ipynb" == LAB00
    assert hub_accounts.REFUSED == handin.REFUSED  # where the grader finds what a hand-in refused
    for name in ("ana", "eva-2", "b_9"):
        assert re.fullmatch(course.USERNAME_PATTERN, name) and workspace.NAME.fullmatch(name)
    for name in ("root", "x" * 32):  # any name the pattern takes is a learner name too
        assert not re.fullmatch(course.USERNAME_PATTERN, name) or workspace.NAME.fullmatch(name)
    assert not re.fullmatch(course.USERNAME_PATTERN, "9lives")  # useradd wants a letter first
    assert course.options_from_form({"lang": ["fr"]}) == {"lang": "en"}
    home = workspace.new(workspace.Learner(tmp_path, "ana"), "en")
    assert home == tmp_path / course.workspace("ana")
    assert (home / "notebooks" / LAB00).exists()


def install_commands(text: str) -> list[str]:
    """Every `pip install` of a Makefile or a Dockerfile, its words only (no paths to pip)."""
    found = re.findall(r"(?:python -m pip|/pip|\bpip) install ([^\n\\]+)", text.replace("\\\n", " "))
    return [" ".join(found_.split()) for found_ in found]


def system_packages(text: str) -> set[str]:
    """The packages of every `apt-get install` of a Makefile or a Dockerfile (its options left out)."""
    found = re.findall(r"apt-get install ([^\n\\;&|>]+)", text.replace("\\\n", " "))
    return {word for words in found for word in words.split() if not word.startswith("-")}


def test_the_image_installs_what_make_installs() -> None:
    make = install_commands((ROOT / "Makefile").read_text())
    image = install_commands((DEPLOY / "Dockerfile").read_text())
    assert make and image == make[:1], (image, make)
    # Grading's sandbox, from Debian as `make` installs it (chromium is for the browser tests only).
    system = system_packages((DEPLOY / "Dockerfile").read_text())
    assert "bubblewrap" in system and system <= system_packages((ROOT / "Makefile").read_text()), system


def test_a_learner_account_is_never_the_grader_s_or_the_instructor_s(monkeypatch: pytest.MonkeyPatch) -> None:
    """The grader's and the instructor's names are never a learner's, and an account the hub marked
    as the grader's (or the instructor's) is never taken for a learner's, nor one of a learner for
    theirs: the hub refuses to run a learner's server as either."""
    for name in (hub_accounts.GRADER, hub_accounts.INSTRUCTOR):
        with pytest.raises(hub_accounts.Reserved, match="reserved"):
            hub_accounts.ensure(name, Path("/nonexistent") / name)  # refused before any account is made
        with pytest.raises(hub_accounts.Reserved):
            hub_accounts.ours(name)
    marked = {
        role: pwd.struct_passwd((f"x-{role}", "x", 4242, 4242, comment, "/nonexistent", "/bin/false"))
        for role, comment in hub_accounts.COMMENTS.items()
    }
    monkeypatch.setattr(hub_accounts.pwd, "getpwnam", lambda name: marked[name.removeprefix("x-")])
    assert len(set(hub_accounts.COMMENTS.values())) == 3
    for role in hub_accounts.COMMENTS:
        assert hub_accounts.ours(f"x-{role}", role) == marked[role]
        for other in set(hub_accounts.COMMENTS) - {role}:
            with pytest.raises(hub_accounts.NotOurs):
                hub_accounts.ours(f"x-{role}", other)


HOSTILE = '<img src=x onerror="alert(1)">'


@needs_hub
def test_the_grading_page_escapes_what_comes_from_learners(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every value of the grading page that a learner can write (a verdict, an error line, a refused
    path, the reason) is shown as text, never as HTML."""
    for variable, value in (("HUB_HOMES", tmp_path), ("GRADING", tmp_path), ("PYTHON", sys.executable)):
        monkeypatch.setenv(f"MINITUNER_{variable}", str(value))
    spec = importlib.util.spec_from_file_location("grader_page", DEPLOY / "grader.py")
    assert spec is not None and spec.loader is not None
    grader = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(grader)
    book, points = io.StringIO(), io.StringIO()
    csv.writer(book).writerows([["learner", "lab 00", "total"], ["ana", f"fail: {HOSTILE}", "0/8"]])
    csv.writer(points).writerows(
        [["learner", "lab 00", "total"], ["points possible", "1", "8"], ["ana", HOSTILE]]
    )
    grader.STATE.book = {
        "gradebook.csv": book.getvalue().encode(),
        "points.csv": points.getvalue().encode(),
        "gradebook.md": b"",
    }
    grader.STATE.reports = {"ana": {"index.html": HOSTILE.encode(), "index.md": b""}}
    grader.STATE.released, grader.STATE.count_released = time.time(), 0
    grader.STATE.release_notes = [("ana", grader.NOT_RELEASED, {"name": "ana", "error": HOSTILE})]
    grader.STATE.refused = {"ana": [(f"lab/{HOSTILE}.py", HOSTILE)]}
    grader.STATE.unreadable = {"eva": HOSTILE}
    pages = []
    for error in (None, f"RuntimeError: {HOSTILE}"):
        grader.STATE.error = error
        handler = SimpleNamespace(
            lang=lambda: "en",
            xsrf_token=b"token",
            hub_auth=SimpleNamespace(hub_host="", hub_prefix="/hub/"),
            finish=pages.append,
        )
        grader.PageHandler.get.__wrapped__(handler)
    for page in pages:
        assert HOSTILE not in page and "<img" not in page
    assert html.escape(f"fail: {HOSTILE}") in pages[0]
    # The verdict, its points, the refused path and its reason, the unreadable hand-in's error, the
    # release's error, the grading's error (a report is a download, never on the page).
    assert [page.count(html.escape(HOSTILE)) for page in pages] == [6, 7]
    assert 'id="regrade"' in pages[0] and "Grade everything again" in pages[0]
    assert 'id="points"' in pages[0] and pages[0].index('id="points"') < pages[0].index('id="gradebook"')
    assert 'id="release"' in pages[0] and "Release feedback" in pages[0]
    assert 'href="/services/grader/feedback/ana/index.html"' in pages[0]
    for file in grader.STATE.book:
        assert f'href="/services/grader/{file}"' in pages[0]
    assert grader.MARK == MARK


def test_a_folder_closed_to_others_is_not_reachable(tmp_path: Path) -> None:
    """What the hub checks before it starts as root: every folder above the course open to others."""
    inner = tmp_path / "clone" / "course"
    inner.mkdir(parents=True)
    (tmp_path / "clone").chmod(0o700)
    tmp_path.chmod(0o755)
    try:
        assert not hub_accounts.reachable(inner)
    finally:
        (tmp_path / "clone").chmod(0o755)


def test_the_hub_s_pages_speak_the_reader_s_language() -> None:
    """?lang= first, else the browser's Accept-Language by weight, else English; NativeAuthenticator's
    messages are found by their text in its code, a name in them kept."""
    assert course.page_language("es", "en-US") == "es"
    assert course.page_language("", "fr-FR,es;q=0.9,en;q=0.8") == "es"
    assert course.page_language("", "en-US,es;q=0.9") == course.page_language("fr", "") == "en"
    assert course.page_language("", "es;q=0.1,en;q=0.5") == "en"
    assert course.native("User ana has not been authorized by an administrator yet.", "en") == (
        "User ana has not been authorized by an administrator yet."
    )
    assert "ana" in course.native("User ana has not been authorized by an administrator yet.", "es")
    assert (
        course.native("Invalid username or password.", "es") == "Nombre de usuario o contraseña incorrectos."
    )
    assert "está reservado" in course.native(jupyterhub_reserved_message(), "es")
    import nativeauthenticator.handlers

    code = re.sub(r'"\s*\n\s*f?"', "", Path(nativeauthenticator.handlers.__file__).read_text())
    for msgid in course.NATIVE:
        assert msgid.replace("\n", "\\n") in code, msgid
    page = course.options_form(
        SimpleNamespace(
            user=SimpleNamespace(admin=False),
            user_options={},
            handler=SimpleNamespace(
                get_argument=lambda name, default: default,
                request=SimpleNamespace(headers={"Accept-Language": "es-ES,es"}),
            ),
        )
    )
    assert "Tus cuadernos de trabajo" in page and 'value="es" checked' in page


def jupyterhub_reserved_message() -> str:
    """The sign-up's message for a reserved name (deploy/jupyterhub_config.py, which runs a hub)."""
    text = (DEPLOY / "jupyterhub_config.py").read_text()
    return ast.literal_eval(re.search(r"RESERVED_MESSAGE = N_\((.*?)\)\n", text).group(1))


def test_a_sign_in_carries_no_query_to_the_spawn_page() -> None:
    """JupyterHub carries a sign-in's query on to where it leads, and any argument of the spawn page
    starts the server at once, without the language form: the sign-in form's URL holds only next."""
    text = (DEPLOY / "templates" / "native-login.html").read_text()
    action = re.search(r'<form action="([^"]*)"', text)
    assert action is not None and action.group(1) == "{{ login_url }}?next={{ next }}", action
