"""A fixed seed for every test, English messages again after a test that asked for Spanish, and the
headless Chromium of the browser tests (Debian's `chromium`, which `make test` installs)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
import torch
from playwright.sync_api import Browser, sync_playwright

from minituner import i18n


@pytest.fixture(autouse=True)
def seed() -> int:
    torch.manual_seed(0)
    return 0


@pytest.fixture(autouse=True)
def english_afterwards() -> Iterator[None]:
    yield
    i18n.use("en")  # `main(["--lang", "es", ...])` switches the language of the whole process


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")  # one per test module: it must not outlive the module's event loop
def browser() -> Iterator[Browser]:
    executable = shutil.which("chromium")
    assert executable, "chromium is not installed (make test installs Debian's chromium)"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield b
        b.close()
