"""The wait for a server a browser test starts (JupyterLab, the hub).

A module of its own, not conftest.py: pytest imports two conftest modules under one name.
"""

from __future__ import annotations

import subprocess
import time
import urllib.request
from pathlib import Path

import pytest


def wait_until_up(url: str, server: subprocess.Popen[bytes], log: Path, what: str) -> None:
    """Poll `url` for up to 60 s; fail with the log's tail if the server exits or never answers."""
    for _ in range(120):
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            assert server.poll() is None, f"{what} exited: {log.read_text()[-3000:]}"
            time.sleep(0.5)
    pytest.fail(f"{what} did not start: {log.read_text()[-3000:]}")
