"""Run a learner's code in a sandbox of its own: bubblewrap (Debian's `bubblewrap`), plus rlimits.

Inside, the graded code sees a read-only system (/usr, /etc) and Python with its packages, the
learner's graded copy at /graded/phase-28 (read-only or writable, as asked), a scratch folder at
/graded/run, a private /tmp, and nothing else: no home, no course folder, no classmate, no network,
and a PID namespace of its own, so no process outlives it. Memory, processes and CPU time are
limited (`Limits`), the environment is built from nothing (no SSH agent, no cloud credentials), and
as root the code runs under an unprivileged identity (`nobody`), never as root.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from ..errors import NotInstalled
from ..i18n import _

INSIDE = Path("/graded")  # where the copy and the scratch folder appear in the sandbox
GiB = 2**30
# How PyTorch picks its CPU kernels: passed on, so that a simulated machine stays simulated.
KERNEL_CHOICES = ("ATEN_CPU_CAPABILITY", "MKL_CBWR", "ONEDNN_MAX_CPU_ISA")


class SandboxMissing(NotInstalled):
    """bubblewrap is not installed: grading refuses rather than run a learner's code unconfined."""


@dataclass(frozen=True)
class Limits:
    memory: int = 2 * GiB  # bytes of address space per process
    processes: int = 256  # of the sandbox's user, threads included
    cpu_seconds: int = 600  # per process
    file_size: int = 256 * 2**20  # bytes, the largest file it may write
    tmp_size: int = 512 * 2**20  # bytes of its private /tmp


def bwrap() -> str:
    found = shutil.which("bwrap")
    if found is None:
        raise SandboxMissing(
            _(
                "grading runs each learner in a bubblewrap sandbox, and bwrap is not installed: "
                "apt-get install bubblewrap (or grade with --no-sandbox, which the gradebook reports)"
            )
        )
    return found


def identity() -> tuple[int, int] | None:
    """The unprivileged uid and gid that graded code runs as when we are root; None otherwise."""
    if os.geteuid() != 0:
        return None
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        return 65534, 65534
    return nobody.pw_uid, nobody.pw_gid


def reachable(path: Path) -> bool:
    """Whether an account with no rights of its own can reach and run `path`."""
    path = path.resolve()
    return all(p.stat().st_mode & 0o001 for p in path.parents) and path.stat().st_mode & 0o005 == 0o005


def require_unsandboxed_python() -> None:
    """Without the sandbox, root still runs graded code as `nobody`, who must be able to run Python."""
    if identity() is not None and not reachable(Path(sys.executable)):
        raise SandboxMissing(
            _(
                "--no-sandbox as root runs the learners' code as nobody, who cannot run {python} "
                "(a folder above it is closed to other accounts): grade in the sandbox, or from an "
                "environment that every account can reach"
            ).format(python=sys.executable)
        )


def library_paths() -> list[Path]:
    """The folders the graded code needs to run Python: the interpreter, the environment's packages
    and minituner itself (an editable install lives outside the environment)."""
    import minituner

    paths = {Path(sys.base_prefix), Path(sys.prefix), Path(sys.executable).resolve().parent.parent}
    paths |= {Path(p) for p in sysconfig.get_paths().values()}
    here = Path.cwd().resolve()
    paths |= {Path(p) for p in sys.path if p and Path(p).resolve() != here}  # site.addsitedir's too
    paths.add(Path(minituner.__file__).resolve().parent.parent)
    roots: list[Path] = []
    for path in sorted(p.resolve() for p in paths if p.exists()):
        if not any(path.is_relative_to(r) for r in roots) and str(path).count("/") > 1:
            roots.append(path)
    return roots


def system_binds() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    return args


def environment(extra: dict[str, str], home: str = "/tmp/home") -> dict[str, str]:
    """The whole environment of graded code: nothing inherited from the grader's."""
    return {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": home,
        "LANG": "C.UTF-8",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": f"{home}/matplotlib",
        "IPYTHONDIR": f"{home}/ipython",
        "JUPYTER_RUNTIME_DIR": f"{home}/jupyter",
        "JUPYTER_PLATFORM_DIRS": "1",
        **{k: v for k, v in os.environ.items() if k in KERNEL_CHOICES},
        **extra,
    }


@dataclass(frozen=True)
class Run:
    """One graded run: its exit code (None when it was stopped at the deadline) and its output."""

    returncode: int | None
    output: str

    @property
    def timed_out(self) -> bool:
        return self.returncode is None


def prepare(*folders: Path) -> None:
    """Give the folders we made (the copy, the scratch) to the identity that graded code runs as."""
    who = identity()
    for folder in folders:
        for top, dirs, files in os.walk(folder):
            for entry in (*dirs, *files):
                if who is not None:
                    os.chown(Path(top) / entry, *who, follow_symlinks=False)
        if who is not None:
            os.chown(folder, *who)
        folder.chmod(0o700)


def run(
    argv: list[str],
    copy: Path,
    scratch: Path,
    *,
    writable: bool,
    limits: Limits,
    env: dict[str, str],
    timeout: float,
    pass_fds: tuple[int, ...] = (),
    sandboxed: bool = True,
    hidden: Path | None = None,
) -> Run:
    """Run `argv` (paths in it as seen inside: `inside()`) on one learner's copy; never raises on what
    the graded code does. No folder holding `hidden` (the class's workspaces) is mounted. Without
    `sandboxed`, only the limits, the stripped environment and a process group of its own remain."""
    rlimits = [
        "prlimit",
        f"--as={limits.memory}",
        f"--nproc={limits.processes}",
        f"--cpu={limits.cpu_seconds}",
        f"--fsize={limits.file_size}",
        "--core=0",
        "--",
    ]
    full_env = environment(env)
    if sandboxed:
        cmd = [bwrap(), *system_binds(), "--dev", "/dev", "--proc", "/proc"]
        cmd += ["--perms", "01777", "--size", str(limits.tmp_size), "--tmpfs", "/tmp"]
        cmd += ["--perms", "01777", "--dir", full_env["HOME"]]
        # Then Python and its packages, even those under /tmp (a virtual environment made there).
        libraries = [p for p in library_paths() if hidden is None or not hidden.resolve().is_relative_to(p)]
        parents = {p for path in [*libraries, INSIDE / "run"] for p in path.parents} - {
            Path("/"),
            Path("/tmp"),
        }
        for folder in sorted(parents):
            cmd += ["--perms", "0755", "--dir", str(folder)]  # bwrap would make them 0700
        for path in libraries:
            cmd += ["--ro-bind", str(path), str(path)]
        cmd += ["--bind" if writable else "--ro-bind", str(copy), str(INSIDE / "phase-28")]
        cmd += ["--bind", str(scratch), str(INSIDE / "run"), "--chdir", str(INSIDE / "run")]
        cmd += ["--clearenv", *(a for k, v in full_env.items() for a in ("--setenv", k, v))]
        cmd += ["--die-with-parent", "--new-session"]
        who = identity()
        if who is None:
            cmd += ["--unshare-all"]
        else:  # root: no user namespace (it would map the code to root outside), then drop to `who`
            cmd += [
                "--unshare-pid",
                "--unshare-net",
                "--unshare-ipc",
                "--unshare-uts",
                "--unshare-cgroup-try",
            ]
            cmd += ["--", "setpriv", f"--reuid={who[0]}", f"--regid={who[1]}", "--clear-groups"]
            cmd += ["--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"]
        cmd = [*rlimits, *cmd, "--", *argv]
        cwd, popen_env = scratch, {"PATH": "/usr/bin:/bin"}
    else:
        cmd, cwd, popen_env = [*rlimits, *argv], scratch, full_env
        who = identity()
    as_who: dict[str, int | list[int]] = {}
    if who is not None and not sandboxed:
        as_who = {"user": who[0], "group": who[1], "extra_groups": []}
    proc = subprocess.Popen(  # type: ignore[call-overload]
        cmd,
        cwd=cwd,
        env=popen_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        pass_fds=pass_fds,
        **as_who,
    )
    try:
        out, _err = proc.communicate(timeout=timeout)
        code: int | None = proc.returncode
    except subprocess.TimeoutExpired:
        code = None
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the group, whatever it left behind
        except ProcessLookupError:
            pass
    if code is None:
        out, _err = proc.communicate()
    return Run(code, out.decode(errors="replace")[-4000:])


def inside(path: Path, copy: Path, scratch: Path, sandboxed: bool) -> str:
    """`path` (under the copy or the scratch folder) as the graded code sees it."""
    if not sandboxed:
        return str(path)
    if path.is_relative_to(copy):
        return str(INSIDE / "phase-28" / path.relative_to(copy))
    return str(INSIDE / "run" / path.relative_to(scratch))
