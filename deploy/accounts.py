"""The accounts of a hub on one machine, shared by `jupyterhub_config.py` and `grader.py`.

Run as root, the hub gives each learner a system user of their own, created on their first start with
a home of mode 0700 that is also their course folder: one learner's files are closed to another's
server, kernel and terminal. The hub only ever runs a server as an account it created itself, marked
in the account's comment (GECOS) field, so a sign-up named `root`, or after any other account of the
machine, never gets a server. Not run as root, the hub runs every server as its own user, and the
homes are folders of one user: they are kept apart only by the hub, which lets nobody into another's
server (Kubernetes, for a class, gives every learner a pod of their own).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

MARKER = "minituner hub"  # the comment of every account this hub creates
ROOT = os.geteuid() == 0


class NotOurs(PermissionError):
    """The name belongs to an account of the machine that this hub did not create."""


def ours(name: str) -> pwd.struct_passwd | None:
    """The account `name` if this hub created it, None if there is none; NotOurs otherwise."""
    try:
        account = pwd.getpwnam(name)
    except KeyError:
        return None
    if account.pw_gecos != MARKER or account.pw_uid < 1000:
        raise NotOurs(
            f"{name!r} is an account of this machine, not a learner's; pick another name / "
            f"{name!r} es una cuenta de esta máquina, no de un estudiante; elige otro nombre"
        )
    return account


def ensure(name: str, home: Path | None) -> pwd.struct_passwd:
    """The account `name`, created if missing: with `home` (mode 0700), or none and no login shell."""
    account = ours(name)
    if account is None:
        useradd = shutil.which("useradd", path="/usr/sbin:/sbin:/usr/bin") or "useradd"
        cmd = [useradd, "--comment", MARKER, "--user-group", "--no-log-init"]
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
        [python, "-c", code, str(path)], input=data, check=True, capture_output=True, **as_user(account)
    )


def read_as(python: Path, account: pwd.struct_passwd | None, path: Path) -> bytes:
    """Read `path` as `account` (a link planted there leads nowhere that account cannot go)."""
    code = "import sys; sys.stdout.buffer.write(open(sys.argv[1], 'rb').read())"
    done = subprocess.run(
        [python, "-c", code, str(path)], capture_output=True, check=True, **as_user(account)
    )
    return done.stdout


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
    small virtual environment in `folder` on the system's Python of the same version, which reads
    this environment's packages (site.addsitedir) and shares its Jupyter data and configuration.
    """
    if reachable(Path(sys.executable)) and reachable(Path(sysconfig.get_paths()["stdlib"])):
        return Path(sys.executable)
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    system = next(
        (p for p in (Path("/usr/bin", version), Path("/usr/local/bin", version)) if p.exists()), None
    )
    if system is None or not reachable(system):
        sys.exit(
            f"{sys.executable} is closed to other accounts and there is no /usr/bin/{version}: create "
            f"the environment from a Python every account can run / {sys.executable} no es accesible para "
            f"otras cuentas y no hay /usr/bin/{version}: crea el entorno con un Python que toda cuenta "
            "pueda ejecutar"
        )
    target = folder / "python"
    python = target / "bin" / "python"
    if not python.exists():
        subprocess.run([system, "-m", "venv", "--without-pip", str(target)], check=True)
        packages = sysconfig.get_paths()["purelib"]
        pth = target / "lib" / version / "site-packages" / "environment.pth"
        pth.write_text(f"import site; site.addsitedir({packages!r})\n")
        for shared in ("share", "etc"):  # JupyterLab's assets, the server extensions' configuration
            (target / shared).symlink_to(Path(sys.prefix) / shared)
        script = target / "bin" / "minituner"  # for the learner's terminal
        script.write_text(f"#!{python}\nimport sys\nfrom minituner.cli import main\nsys.exit(main())\n")
        script.chmod(0o755)
        target.chmod(0o755)
    return python
