"""The accounts of a hub on one machine, shared by `jupyterhub_config.py` and `grader.py`.

Run as root, the hub gives each learner a system user of their own, created on their first start with
a home of mode 0700 that is also their course folder: one learner's files are closed to another's
server, kernel and terminal. Two more accounts have a role of their own: the instructor's (the hub's
admin) and the grader's (no home, no login), which grades the class. Each account the hub creates is
marked with its role in its comment (GECOS) field, and the hub only ever runs a learner's server as an
account marked as a learner's: a sign-up named `root`, after any other account of the machine, or
after the grader or the instructor, never gets one. Not run as root, the hub runs every server as its
own user, and the homes are folders of one user: they are kept apart only by the hub, which lets
nobody into another's server (Kubernetes, for a class, gives every learner a pod of their own).

Run as a script (`python -I accounts.py STEP FOLDER`), it does one step of a grading as the account
that runs it: see `fresh` and `swap` (the grader's), and `release` (a learner's: their feedback into
their own workspace).
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

from minituner import i18n
from minituner.i18n import N_, gettext_for

ROOT = os.geteuid() == 0
# The comment of each account this hub creates, by role. MARKER, a learner's, is also the one every
# account had before roles were marked; the grader's and the instructor's are relabelled from it.
MARKER = "minituner hub"
COMMENTS = {"learner": MARKER, "grader": "minituner hub grader", "instructor": "minituner hub instructor"}
# The two names no learner may take (jupyterhub_config.py passes them to grader.py).
GRADER = os.environ.get("MINITUNER_GRADER", "minituner-grader")
INSTRUCTOR = os.environ.get("MINITUNER_INSTRUCTOR", "instructor")
RESERVED = frozenset({GRADER, INSTRUCTOR})
REFUSED = ".refused.json"  # minituner.course.handin.REFUSED: what a hand-in refused, in the copy
ROLES = {"learner": N_("a learner"), "grader": N_("the grader"), "instructor": N_("the instructor")}


class NotOurs(PermissionError):
    """The name belongs to an account of the machine that this hub did not create for that role."""


class Reserved(NotOurs):
    """The name is the grader's or the instructor's: never a learner's."""


def reserved_message(name: str) -> str:
    """Why `name` is refused, in the hub's language ($MINITUNER_LANG)."""
    _ = gettext_for(i18n.current())
    return _(
        "{name!r} is reserved for the hub's grader or instructor, never a learner's name; pick another"
    ).format(name=name)


def ours(name: str, role: str = "learner") -> pwd.struct_passwd | None:
    """The account `name` if this hub created it for `role`, None if there is none; NotOurs
    otherwise (an account of the machine, or one of the hub's with another role)."""
    if role == "learner" and name in RESERVED:
        raise Reserved(reserved_message(name))
    try:
        account = pwd.getpwnam(name)
    except KeyError:
        return None
    if account.pw_gecos != COMMENTS[role] or account.pw_uid < 1000:
        _ = gettext_for(i18n.current())
        raise NotOurs(
            _(
                "{name!r} is an account of this machine, not one this hub made for {role}; pick another name"
            ).format(name=name, role=_(ROLES[role]))
        )
    return account


def tool(name: str) -> str:
    return shutil.which(name, path="/usr/sbin:/sbin:/usr/bin") or name


def relabel(name: str, role: str) -> None:
    """The grader's or the instructor's account made by an older hub, marked as a learner's: marked
    with its role (its name is reserved, so no learner can have signed up with it)."""
    try:
        account = pwd.getpwnam(name)
    except KeyError:
        return
    if role != "learner" and account.pw_gecos == MARKER and account.pw_uid >= 1000:
        cmd = [tool("usermod"), "--comment", COMMENTS[role], name]
        subprocess.run(cmd, check=True, capture_output=True, text=True)


def ensure(name: str, home: Path | None, role: str = "learner") -> pwd.struct_passwd:
    """The account `name` for `role`, created if missing: with `home` (mode 0700), or none and no
    login shell. A learner's account is never created under a reserved name."""
    if role != "learner":
        relabel(name, role)
    account = ours(name, role)
    if account is None:
        cmd = [tool("useradd"), "--comment", COMMENTS[role], "--user-group", "--no-log-init"]
        if home is None:
            cmd += ["--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin"]
        else:
            home.parent.mkdir(parents=True, exist_ok=True)
            cmd += ["--create-home", "--home-dir", str(home), "--shell", "/bin/bash"]
        subprocess.run([*cmd, name], check=True, capture_output=True, text=True)
        account = pwd.getpwnam(name)
    if home is not None:
        if not home.exists():  # an account kept, its home removed: a new, empty one
            home.mkdir(mode=0o700, parents=True)
            os.chown(home, account.pw_uid, account.pw_gid)
        os.chmod(home, 0o700)
    return account


def as_user(account: pwd.struct_passwd | None) -> dict[str, object]:
    """subprocess arguments that run a child as `account` (None: as this process's user)."""
    if account is None:
        return {}
    return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}


def write_as(python: Path, account: pwd.struct_passwd | None, path: Path, data: bytes) -> None:
    """Write `path` as `account`: root never writes into a folder that another user controls."""
    code = "import pathlib, sys; p = pathlib.Path(sys.argv[1]); p.parent.mkdir(exist_ok=True); "
    code += "p.write_bytes(sys.stdin.buffer.read())"
    subprocess.run(
        [python, "-I", "-c", code, str(path)], input=data, check=True, capture_output=True, **as_user(account)
    )


def read_as(python: Path, account: pwd.struct_passwd | None, path: Path) -> bytes:
    """Read `path` as `account` (a link planted there leads nowhere that account cannot go)."""
    code = "import sys; sys.stdout.buffer.write(open(sys.argv[1], 'rb').read())"
    done = subprocess.run(
        [python, "-I", "-c", code, str(path)], capture_output=True, check=True, **as_user(account)
    )
    return done.stdout


# --- The grading folder: the grader's own, closed to everyone else --------------------------------


def own_folder(path: Path, account: pwd.struct_passwd | None) -> None:
    """`path` made (or kept) the folder of `account`, mode 0700, where nobody else can look in.

    As root, `path` lies in a folder of root's (the hub's state folder), and root changes that one
    folder only, never what is inside it: everything inside is the grader's, made by the grader. A
    folder left by an older hub, made by root with copies readable by all, is removed first.
    """
    if account is None:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(path, 0o700)
        return
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        raise NotADirectoryError(path)
    if path.is_dir() and path.lstat().st_uid != account.pw_uid:
        assert shutil.rmtree.avoids_symlink_attacks  # removed without following a link planted there
        shutil.rmtree(path)
    path.mkdir(mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        os.fchown(fd, account.pw_uid, account.pw_gid)
        os.fchmod(fd, 0o700)
    finally:
        os.close(fd)


def step(python: Path, account: pwd.struct_passwd | None, name: str, *args: str, data: str = "") -> str:
    """Run one step of this file (`fresh`, `swap`, `release`) as `account`, `data` on its standard
    input, files it makes closed (umask 077); what it prints."""
    cmd = [str(python), "-I", str(Path(__file__).resolve()), name, *args]
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    done = subprocess.run(
        cmd, cwd="/", env=env, input=data, capture_output=True, text=True, umask=0o077, **as_user(account)
    )
    if done.returncode:
        raise RuntimeError(f"{name}: {(done.stderr.strip().splitlines() or ['?'])[-1][:300]}")
    return done.stdout


def fresh(grading: Path) -> None:
    """As the grader: GRADING/next/learners, empty, ready for a new copy of the class; what an
    interrupted grading left is removed."""
    for leftover in ("next", "old"):
        shutil.rmtree(grading / leftover, ignore_errors=True)
    (grading / "next" / "learners").mkdir(mode=0o700, parents=True)


def swap(grading: Path, *workspaces: str) -> None:
    """As the grader: the new copy (GRADING/next) becomes GRADING/class, with the verdicts kept so
    far (learners/.grading-cache, moved over from the last copy) and every one of `workspaces`
    (NAME/phase-28) there, if empty (a learner whose hand-in could not be read still has a row).
    Always the same paths, so that minituner's cache knows an unchanged workspace again. Prints, as
    JSON, what each hand-in refused ({workspace: [[path, reason], ...]}, from its REFUSED file)."""
    current, new, old = grading / "class", grading / "next", grading / "old"
    refused = {}
    for workspace in workspaces:
        folder = new / "learners" / workspace
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            refused[workspace] = [
                [str(r["path"]), str(r["reason"])] for r in json.loads((folder / REFUSED).read_text())
            ]
        except FileNotFoundError:
            pass
        except (OSError, ValueError, TypeError, KeyError):
            refused[workspace] = [[REFUSED, "not a list of refusals"]]
    cache = current / "learners" / ".grading-cache"
    if not any(p.is_symlink() for p in (current, cache.parent, cache)) and cache.is_dir():
        cache.rename(new / "learners" / ".grading-cache")
    if current.exists():
        current.rename(old)
    new.rename(current)
    shutil.rmtree(old, ignore_errors=True)
    print(json.dumps(refused))


def release(folder: Path) -> None:
    """As the learner: their feedback report into `folder` (WORKSPACE/feedback). Reads, as JSON on
    its standard input, {"mark": MARK, "files": {"index.html": TEXT, ...}}. A file there that is not
    one of our reports (MARK is not in its first KiB, as in every report we write, or it is a link or
    not a regular file) is never overwritten: it is kept beside, renamed. Prints, as JSON, [[name,
    kept as], ...]. A `folder` that is a link or not a folder is refused (exit 1), nothing written."""
    asked = json.load(sys.stdin)
    mark, files = str(asked["mark"]), {str(k): str(v) for k, v in asked["files"].items()}
    if any("/" in name or name.startswith(".") for name in files):
        sys.exit("not a file name")
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        sys.exit(f"{folder.name}: not a folder")
    folder.mkdir(mode=0o755, exist_ok=True)
    kept = []
    for name, text in sorted(files.items()):
        target = folder / name
        if target.is_symlink() or target.exists():
            ours_ = False
            if not target.is_symlink() and target.is_file():
                fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
                with os.fdopen(fd, "rb") as f:
                    ours_ = mark.encode() in f.read(1024)
            if not ours_:
                stamp = time.strftime("%Y%m%d-%H%M%S")
                n, aside = 1, folder / f"{target.stem}-{stamp}{target.suffix}"
                while aside.is_symlink() or aside.exists():
                    n, aside = n + 1, folder / f"{target.stem}-{stamp}-{n + 1}{target.suffix}"
                target.rename(aside)
                kept.append([name, aside.name])
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
    print(json.dumps(kept))


# --- A Python that every account can run ---------------------------------------------------------


def reachable(path: Path) -> bool:
    """Whether any account can reach `path`: every folder above it open to others, and the path
    readable and executable (or, a folder, listable and open) by others."""
    path = path.resolve()
    return all(p.stat().st_mode & 0o001 for p in path.parents) and path.stat().st_mode & 0o005 == 0o005


def closed_to_learners() -> Path | None:
    """The course's packages or this folder, if other accounts cannot reach them (a clone in a
    folder of mode 0700, say): a learner's server, kernel and grading all read them."""
    import minituner

    course = (Path(sysconfig.get_paths()["purelib"]), Path(minituner.__file__).parent, Path(__file__).parent)
    return next((path for path in course if not reachable(path)), None)


def python_for_accounts(folder: Path) -> Path:
    """A Python that the learners' accounts can run, with this environment's packages.

    This environment's own, when they can reach it. Otherwise (pyenv's Python in root's home, say) a
    small virtual environment in `folder` on the system's Python of the same version whose
    site-packages is this environment's (a link), and which shares its Jupyter data and
    configuration. The link, rather than a .pth file that adds the packages, keeps them where
    sysconfig says they are: grading's sandbox mounts what sysconfig names.
    """
    if reachable(Path(sys.executable)) and reachable(Path(sysconfig.get_paths()["stdlib"])):
        return Path(sys.executable)
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    system = next(
        (p for p in (Path("/usr/bin", version), Path("/usr/local/bin", version)) if p.exists()), None
    )
    if system is None or not reachable(system):
        _ = gettext_for(i18n.current())
        sys.exit(
            _(
                "{python} is closed to other accounts and there is no /usr/bin/{version}: create the "
                "environment from a Python every account can run"
            ).format(python=sys.executable, version=version)
        )
    target = folder / "python"
    python = target / "bin" / "python"
    packages = target / "lib" / version / "site-packages"
    if python.exists() and not packages.is_symlink():  # made by an older hub, with a .pth file
        shutil.rmtree(target)
    if not python.exists():
        subprocess.run([system, "-m", "venv", "--without-pip", str(target)], check=True)
        shutil.rmtree(packages)
        packages.symlink_to(sysconfig.get_paths()["purelib"])
        for shared in ("share", "etc"):  # JupyterLab's assets, the server extensions' configuration
            (target / shared).symlink_to(Path(sys.prefix) / shared)
        script = target / "bin" / "minituner"  # for the learner's terminal
        script.write_text(f"#!{python}\nimport sys\nfrom minituner.cli import main\nsys.exit(main())\n")
        script.chmod(0o755)
        target.chmod(0o755)
    return python


if __name__ == "__main__":  # a grading's step, run as the grader by step()
    STEPS = {"fresh": fresh, "swap": swap, "release": release}
    STEPS[sys.argv[1]](Path(sys.argv[2]), *sys.argv[3:])
