"""A fixed seed for every test, English messages again after a test that asked for Spanish, the
headless Chromium of the browser tests (Debian's `chromium`, which `make test` installs), and
`--machines`, which runs the tests marked `machines` instead of all the others."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
import torch
from playwright.sync_api import Browser, sync_playwright

from minituner import i18n


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--machines", action="store_true", help="run only the tests marked machines")


# The longest modules first: xdist hands whole modules to its workers in this order, and a long
# one handed out last would keep one worker busy while the other has nothing left to do.
LONGEST = [
    "tests/test_grading.py",
    "tests/test_hub.py",
    "tests/test_jupyterlab.py",
    "notebooks/02-lora-finetune.ipynb",
    "tests/test_machines.py",
    "tests/test_site.py",
    "tests/test_install.py",
]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`make machines` runs the tests marked `machines`, and `make test` every other one, the
    longest modules first."""
    wanted = config.getoption("--machines")
    keep = [item for item in items if (item.get_closest_marker("machines") is not None) == wanted]
    config.hook.pytest_deselected(items=[item for item in items if item not in keep])
    rank = {module: i for i, module in enumerate(LONGEST)}
    items[:] = sorted(keep, key=lambda item: rank.get(item.nodeid.split("::")[0], len(LONGEST)))


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


@pytest.fixture(scope="session")  # one browser for every browser test of a worker
def browser() -> Iterator[Browser]:
    executable = shutil.which("chromium")
    assert executable, "chromium is not installed (make test installs Debian's chromium)"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield b
        b.close()
