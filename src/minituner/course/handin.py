"""What a learner hands in: the allowlist of a workspace, read without following a single link.

The grader never works on a learner's tree. It works on a copy made of what is allowed here (the
five notebooks, `lab/*.py`, `notes/`, `learner.toml`), regular files only: a symbolic link anywhere
on the way, a pipe, a device or an oversized file is refused and named, never followed or read.
Every entry is opened relative to its folder with O_NOFOLLOW, so a folder swapped for a link while
the copy is made is refused too. On a hub the copy is read as the learner, in their own process
(`python -I -m minituner.course.handin pack HOME` writes a tar stream), and unpacked by the grader
into a folder only it can read, with modes not kept (`... unpack DEST`).
"""

from __future__ import annotations

import io
import json
import os
import stat
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from ..i18n import N_

EXERCISES = (
    "00-lora-by-hand",
    "01-lora-counts",
    "02-lora-finetune",
    "03-merge-and-ship",
    "04-minituner-to-peft",
)
FILE_LIMIT = 8 * 2**20  # bytes: a notebook with its outputs is well under a megabyte
TOTAL_LIMIT = 32 * 2**20
REFUSED = ".refused.json"  # the refusals, carried in the tar stream beside the files
NOFOLLOW = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | getattr(os, "O_NONBLOCK", 0)


@dataclass(frozen=True)
class Refusal:
    """A path of the workspace that was not handed in, and why (an untranslated message)."""

    path: str
    reason: str


def allowed(relative: str) -> bool:
    """Whether a path (relative to the workspace, '/'-separated) is part of what is handed in."""
    parts = PurePosixPath(relative).parts
    if any(p in ("", ".", "..") or p.startswith(".") for p in parts):
        return False
    match parts:
        case ("learner.toml",):
            return True
        case ("notebooks", name):
            return name.removesuffix(".ipynb") in EXERCISES and name.endswith(".ipynb")
        case ("lab", name):
            return name.endswith(".py")
        case ("notes", _name) | ("notes", _, _name):
            return True
    return False


def _open_dir(parent: int | None, name: str) -> int:
    return os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)


def collect(home: Path) -> tuple[dict[str, bytes], list[Refusal]]:
    """The allowed files of the workspace at `home` (relative path -> bytes), and what was refused.

    Only the allowlisted folders are entered; in them, anything that is not a regular file or a
    folder is refused, as is a file past the size limits. Nothing is ever followed through a link.
    """
    files: dict[str, bytes] = {}
    refused: list[Refusal] = []
    try:
        root = _open_dir(None, str(home))
    except OSError:
        return files, [Refusal(".", N_("the workspace is not a folder (or is a link)"))]
    try:
        carried = _read(root, REFUSED)  # what an earlier hand-in (a hub's, as the learner) refused
        if carried is not None:
            refused += _refusals(carried)
        _walk(root, "", files, refused, depth=0)
    finally:
        os.close(root)
    return files, refused


def _refusals(data: bytes) -> list[Refusal]:
    try:
        return [Refusal(str(r["path"]), str(r["reason"])) for r in json.loads(data)]
    except (ValueError, TypeError, KeyError):
        return [Refusal(REFUSED, N_("not a list of refusals"))]


def _walk(folder: int, prefix: str, files: dict[str, bytes], refused: list[Refusal], depth: int) -> None:
    for name in sorted(os.listdir(folder)):
        relative = prefix + name
        try:
            info = os.stat(name, dir_fd=folder, follow_symlinks=False)
        except OSError:
            continue  # gone while we looked: not handed in
        entered = relative in ("notebooks", "lab", "notes") or (depth == 1 and prefix == "notes/")
        if stat.S_ISLNK(info.st_mode) and (entered or allowed(relative)):
            refused.append(Refusal(relative, N_("a symbolic link: only regular files are graded")))
            continue
        if stat.S_ISDIR(info.st_mode):
            if entered:
                try:
                    sub = _open_dir(folder, name)
                except OSError:  # swapped for a link since we looked
                    refused.append(Refusal(relative, N_("a link, not a folder")))
                    continue
                try:
                    _walk(sub, relative + "/", files, refused, depth + 1)
                finally:
                    os.close(sub)
            continue
        if not allowed(relative):
            continue
        if not stat.S_ISREG(info.st_mode):
            refused.append(Refusal(relative, N_("not a regular file (a pipe, a socket or a device)")))
        elif info.st_size > FILE_LIMIT:
            refused.append(Refusal(relative, N_("larger than the limit of 8 MiB")))
        elif sum(map(len, files.values())) + info.st_size > TOTAL_LIMIT:
            refused.append(Refusal(relative, N_("past the workspace's limit of 32 MiB")))
        else:
            data = _read(folder, name)
            if data is None:
                refused.append(Refusal(relative, N_("changed into something else while it was read")))
            else:
                files[relative] = data


def read_regular(path: Path) -> bytes | None:
    """A regular file's bytes (at most the file limit), never through a link or from a pipe; None if
    `path` is not a regular file. For files that graded code could have replaced."""
    try:
        folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return _read(folder, path.name)
    finally:
        os.close(folder)


def _read(folder: int, name: str) -> bytes | None:
    """A regular file's bytes, opened without following a link; None if it is not one any more."""
    try:
        fd = os.open(name, NOFOLLOW, dir_fd=folder)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > FILE_LIMIT:
            return None
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read(FILE_LIMIT + 1)[:FILE_LIMIT]
    finally:
        os.close(fd)


def pack(home: Path, out: BinaryIO) -> None:
    """Write what `home` hands in to `out` as an uncompressed tar stream, refusals included."""
    files, refused = collect(home)
    files[REFUSED] = json.dumps([r.__dict__ for r in refused]).encode()
    with tarfile.open(fileobj=out, mode="w|") as tar:
        for relative, data in files.items():
            info = tarfile.TarInfo(relative)
            info.size, info.mode = len(data), 0o600
            tar.addfile(info, io.BytesIO(data))


def unpack(stream: BinaryIO, dest: Path) -> list[Refusal]:
    """Write a `pack` stream into `dest` (created, mode 0700): allowed regular files only, modes
    not kept. Returns the refusals it carried, and keeps them in `dest` for the grader's own copy."""
    dest.mkdir(mode=0o700, parents=True, exist_ok=False)
    refused: list[Refusal] = []
    total = 0
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        for member in tar:
            if not member.isreg() or member.size > max(FILE_LIMIT, 2**20):
                continue
            handle = tar.extractfile(member)
            data = handle.read() if handle is not None else b""
            if member.name == REFUSED:
                refused += _refusals(data)
                continue
            total += len(data)
            if not allowed(member.name) or total > TOTAL_LIMIT:
                continue
            write(dest, member.name, data)
    if refused:
        write(dest, REFUSED, json.dumps([r.__dict__ for r in refused]).encode())
    return refused


def write(dest: Path, relative: str, data: bytes) -> None:
    """One file of a graded copy, in folders of mode 0700, the file 0600."""
    target = dest / relative
    for folder in reversed(target.relative_to(dest).parents[:-1]):
        (dest / folder).mkdir(mode=0o700, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def copy(home: Path, dest: Path) -> list[Refusal]:
    """The graded copy of `home` in `dest` (created, mode 0700), in this process; the refusals."""
    files, refused = collect(home)
    dest.mkdir(mode=0o700, parents=True, exist_ok=False)
    for relative, data in files.items():
        write(dest, relative, data)
    return refused


def main(argv: list[str]) -> int:
    """`pack HOME` (tar stream to stdout) or `unpack DEST` (tar stream from stdin)."""
    if len(argv) != 2 or argv[0] not in ("pack", "unpack"):
        print("usage: python -I -m minituner.course.handin pack HOME | unpack DEST", file=sys.stderr)
        return 2
    if argv[0] == "pack":
        pack(Path(argv[1]), sys.stdout.buffer)
    else:
        unpack(sys.stdin.buffer, Path(argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
