"""The grader's pytest plugin (`-p minituner.course.harness --results-fd N`): every test's outcome
goes to a file the grader opened and handed over as a descriptor, never to a path.

The graded code cannot find a results file to write, because there is none in its sandbox: the
grader reads what arrives on the descriptor, and requires exactly the tests it expects (a missing,
a stray or a skipped test is not a pass). The process is made non-dumpable, so another process of
the sandbox (a notebook's kernel) cannot reach its descriptors through /proc.
"""

from __future__ import annotations

import ctypes
import json
import os
from collections.abc import Generator
from typing import IO, Any

import pytest

PR_SET_DUMPABLE = 4
_results: IO[str] | None = None


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--results-fd", type=int, default=None, help="where the grader reads the outcomes")


def pytest_configure(config: pytest.Config) -> None:
    global _results
    fd = config.getoption("--results-fd")
    if fd is None:
        return
    os.set_inheritable(fd, False)  # a kernel started by nbval does not get it
    _results = os.fdopen(fd, "w", buffering=1)
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _send(record: dict[str, Any]) -> None:
    if _results is not None:
        _results.write(json.dumps(record) + "\n")


def nodeid(item: pytest.Item) -> str:
    """The item's file, by its name, and the item: rootdir is elsewhere, so pytest's own id lacks it."""
    return f"{item.path.name}::{item.name}"


def pytest_collection_finish(session: pytest.Session) -> None:
    _send({"collected": [nodeid(item) for item in session.items]})


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call" or report.outcome != "passed":
        text = report.longreprtext if report.outcome == "failed" else str(report.longrepr or "")
        _send({"id": nodeid(item), "when": report.when, "outcome": report.outcome, "message": text[-3000:]})
    return report


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _send({"exit": int(exitstatus)})
