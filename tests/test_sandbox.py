"""The sandbox a learner's code runs in, tried the way that code would try to get out of it."""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path

import pytest

from minituner.course import contract, grading, sandbox, workspace
from minituner.course.workspace import Learner


def run(tmp_path: Path, code: str, **kwargs: object) -> sandbox.Run:
    copy, scratch = tmp_path / "copy", tmp_path / "scratch"
    copy.mkdir(exist_ok=True)
    scratch.mkdir(exist_ok=True)
    (copy / "mine.txt").write_text("mine")
    sandbox.prepare(copy, scratch)
    options: dict[str, object] = {"writable": True, "limits": sandbox.Limits(), "env": {}, "timeout": 60}
    return sandbox.run([sys.executable, "-I", "-c", code], copy, scratch, **(options | kwargs))  # type: ignore[arg-type]


def test_the_code_sees_its_copy_and_nothing_of_ours(tmp_path: Path) -> None:
    secret = tmp_path / "classmate.txt"
    secret.write_text("not yours")
    done = run(
        tmp_path,
        "import os, pathlib\n"
        "print(open('/graded/phase-28/mine.txt').read(), os.getcwd())\n"
        f"print(pathlib.Path({str(secret)!r}).exists(), pathlib.Path({str(Path.home())!r}).exists() and "
        f"os.listdir({str(Path.home())!r}))\n"
        "print(sorted(k for k in os.environ if 'SSH' in k or 'AWS' in k or 'TOKEN' in k))\n"
        "print(os.getuid() != 0)",
        env={},
    )
    lines = done.output.splitlines()
    assert done.returncode == 0, done.output
    assert lines[0] == "mine /graded/run"
    assert lines[1] in ("False False", "False []", "False ['.pyenv']"), lines[1]  # Python's own folder only
    assert lines[2] == "[]" and lines[3] == "True"


def test_no_network(tmp_path: Path) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    done = run(tmp_path, f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=3)")
    assert done.returncode != 0 and ("ConnectionRefused" in done.output or "unreachable" in done.output)
    with pytest.raises(TimeoutError):
        listener.accept()


def test_nothing_outlives_the_run(tmp_path: Path) -> None:
    marker = f"minituner-sandbox-daemon-{os.getpid()}"
    done = run(
        tmp_path,
        f"import subprocess; subprocess.Popen(['sh', '-c', 'sleep 600', '{marker}'], start_new_session=True)",
    )
    assert done.returncode == 0, done.output
    time.sleep(0.5)
    alive = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _cmdline_has(p, marker)]
    assert alive == []


def _cmdline_has(proc: Path, marker: str) -> bool:
    try:
        return marker.encode() in (proc / "cmdline").read_bytes()
    except OSError:
        return False


def test_memory_and_time_are_limited(tmp_path: Path) -> None:
    done = run(tmp_path, "blob = bytearray(3 * 2**30)", limits=sandbox.Limits(memory=2 * sandbox.GiB))
    assert done.returncode != 0 and "MemoryError" in done.output
    start = time.perf_counter()
    done = run(tmp_path, "while True: pass", timeout=3)
    assert done.timed_out and time.perf_counter() - start < 10


def test_a_read_only_copy_stays_as_it_was(tmp_path: Path) -> None:
    done = run(tmp_path, "open('/graded/phase-28/mine.txt', 'w').write('changed')", writable=False)
    assert done.returncode != 0 and "Read-only file system" in done.output
    assert (tmp_path / "copy" / "mine.txt").read_text() == "mine"


def test_grading_refuses_without_bubblewrap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    workspace.new(Learner(tmp_path, "ana"), "en")
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap on it
    with pytest.raises(sandbox.SandboxMissing, match="bwrap is not installed: apt-get install bubblewrap"):
        grading.grade(tmp_path / "learners")


def test_the_contract_counts_only_its_own_tests_all_passed() -> None:
    results = '{"collected": ["test_contract.py::test_a", "test_contract.py::test_b"]}\n'
    results += '{"id": "test_contract.py::test_a", "when": "call", "outcome": "passed", "message": ""}\n'
    results += '{"id": "test_contract.py::test_b", "when": "call", "outcome": "passed", "message": ""}\n'
    results += '{"exit": 0}\n'
    parsed = contract.read_results(results)
    assert contract.judge(parsed, ["test_a", "test_b"], "", False).passed
    assert not contract.judge(parsed, ["test_a", "test_b", "test_c"], "", False).passed  # one missing
    assert not contract.judge(parsed, ["test_a"], "", False).passed  # a stray one
    assert not contract.judge(
        contract.read_results('{"collected": []}\n{"exit": 5}\n'), ["test_a"], "", False
    ).passed
    assert not contract.judge(
        contract.read_results(results.rsplit("{", 1)[0]), ["test_a", "test_b"], "", False
    ).passed
    skipped = results.replace(
        '"when": "call", "outcome": "passed"', '"when": "setup", "outcome": "skipped"', 1
    )
    assert contract.judge(contract.read_results(skipped), ["test_a", "test_b"], "", False).detail == (
        "skipped, not passed"
    )


def test_a_truncated_cache_is_a_miss(tmp_path: Path) -> None:
    cache = grading.Cache(tmp_path)
    cache.put("k", grading.Verdict(grading.Status.PASS))
    assert cache.get("k") is not None
    (tmp_path / "k.json").write_text('{"status": "pa')
    assert cache.get("k") is None
    (tmp_path / "k.json").write_text('{"status": "forged"}')
    assert cache.get("k") is None


def test_verdicts_round_trip_and_are_translated_only_when_shown() -> None:
    from minituner.i18n import gettext_for

    verdict = grading.Verdict(grading.Status.FAIL, "test_x", "{error}", {"error": "boom"}, "01")
    assert grading.Verdict.from_json(verdict.to_json()) == verdict
    assert verdict.text(gettext_for("en")).startswith("fail: test_x: boom — see break 01 (")
    assert verdict.text(gettext_for("es")).startswith("suspenso: test_x: boom — ")
