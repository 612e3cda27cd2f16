"""The workbooks in a real JupyterLab, driven by a real browser, as a learner works them.

JupyterLab runs on 127.0.0.1 with a token, no browser of its own and its own config and runtime
folders, as `make lab` runs it, on a scratch course holding the worked example. Headless Chromium
opens its lab notebooks and runs all their cells: each runs to the end without an error.
Screenshots go to the test's output folder. A new workspace in JupyterLab, stopping at its first
TODO in English and in Spanish, is the class test's (tests/test_hub.py), on the hub.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from minituner.course.workspace import EXERCISES
from servers import wait_until_up

ROOT = Path(__file__).parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of a JupyterLab serving a scratch course's learners/ folder (token in the URL)."""
    tmp = tmp_path_factory.mktemp("jupyterlab")
    course = tmp / "course"
    shutil.copytree(ROOT / "learners/example", course / "learners/example")
    settings = tmp / "config" / "lab" / "user-settings" / "@jupyterlab"
    (settings / "notebook-extension").mkdir(parents=True)
    (settings / "apputils-extension").mkdir(parents=True)
    # Every cell rendered (not only those in view, so the test can read every prompt), and no news.
    tracker, news = "notebook-extension/tracker", "apputils-extension/notification"
    (settings / f"{tracker}.jupyterlab-settings").write_text('{"windowingMode": "none"}')
    (settings / f"{news}.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    token, port = secrets.token_hex(16), free_port()
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(tmp / "config"),
        "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
    }
    env["OMP_NUM_THREADS"] = "1"
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}"]
    cmd += [f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={course / 'learners'}"]
    cmd += ["--allow-root"] * (os.geteuid() == 0)  # JupyterLab refuses root without it
    log = (tmp / "jupyterlab.log").open("w")
    server = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{url}/api/status?token={token}", server, tmp / "jupyterlab.log", "JupyterLab")
        yield f"{url}|{token}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, 9)
        log.close()


VISIBLE = ".jp-NotebookPanel:not(.lm-mod-hidden)"
STDERR = f"{VISIBLE} .jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"


def run_all(page: Page, lab: str, path: str, seconds: float) -> tuple[str, int]:
    """Open a notebook, run all its cells (JupyterLab stops at the first error) and wait for the end:
    the text of its outputs and how many error or stderr outputs it shows."""
    url, token = lab.split("|")
    page.goto(f"{url}/lab/tree/{path}?reset&token={token}", wait_until="domcontentloaded")
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=60_000)
    page.get_by_text("| Idle").wait_for(timeout=60_000)  # the status bar: the kernel is ready
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    prompts = page.locator(f"{VISIBLE} .jp-CodeCell .jp-InputArea-prompt")
    last, steady, deadline = None, 0, time.monotonic() + seconds
    while steady < 3:  # done: the first cell ran in this kernel, nothing is queued, for 3 s in a row
        assert time.monotonic() < deadline, f"{path}: still running after {seconds} s: {last}"
        page.wait_for_timeout(1_000)
        now = prompts.all_inner_texts()
        done = now[0].strip() == "[1]:" and not any("*" in p for p in now)
        steady = steady + 1 if done and now == last else 0
        last = now
    outputs = "\n".join(page.locator(f"{VISIBLE} .jp-OutputArea").all_inner_texts())
    errors = page.locator(STDERR).count()
    shut_down_kernels(lab)
    return outputs, errors


def shut_down_kernels(lab: str) -> None:
    """One kernel at a time: every notebook's kernel goes once its run is read."""
    url, token = lab.split("|")
    for kernel in json.load(urllib.request.urlopen(f"{url}/api/kernels?token={token}")):
        request = urllib.request.Request(f"{url}/api/kernels/{kernel['id']}?token={token}", method="DELETE")
        urllib.request.urlopen(request)


@pytest.mark.slow
def test_the_worked_example_runs_to_the_end(
    lab: str, browser: Browser, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Every workbook but lab 02, whose minute of fine-tunes nbval runs in the reference notebook
    and the grading tests in the example's own: what a browser adds is paid on the four others."""
    shots = tmp_path_factory.mktemp("screenshots-example")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    for name in [n for n in EXERCISES if n != "02-lora-finetune"]:
        outputs, errors = run_all(page, lab, f"example/phase-28/notebooks/{name}.ipynb", 300)
        assert errors == 0, f"{name}: {outputs[-800:]}"
        assert "✓ " in outputs or name == "00-lora-by-hand", name
        page.screenshot(path=str(shots / f"{name}.png"), full_page=False)
    page.close()
