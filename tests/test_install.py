"""Installed from a wheel, outside the repository: the course commands work in a scratch course folder.

A wheel is built from a copy of the source, installed into a fresh virtual environment (its
dependencies come from the suite's environment, put on the path after the install), and a new
course folder is worked as a class would: workspaces in both languages, a break round trip, the
contract and a grade. The repository and the installed package stay byte for byte as they were.
"""

from __future__ import annotations

import csv
import hashlib
import os
import shutil
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from minituner.course import breaks
from minituner.course.handin import EXERCISES

ROOT = Path(__file__).parent.parent
SKIP = shutil.ignore_patterns(
    ".*", "__pycache__", "*.egg-info", "build", "site", "mutants", "notebooks", "docs"
)


def digest(folder: Path) -> str:
    """One hash of every file under `folder` (bytecode caches aside)."""
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        h.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The `bin` folder of a fresh venv holding minituner from a wheel, and nothing else of it."""
    tmp = tmp_path_factory.mktemp("install")
    shutil.copytree(ROOT, tmp / "source", ignore=SKIP)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp / "dist"), str(tmp / "source")],
        check=True,
        cwd=tmp,
    )
    (wheel,) = (tmp / "dist").glob("minituner-*.whl")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp / "venv")], check=True)
    python = tmp / "venv" / "bin" / "python"
    subprocess.run([*pip, "--python", str(python), "install", "--no-deps", str(wheel)], check=True)
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # torch, pytest, nbval... from this environment, after the venv's own site-packages.
    ours = [p for p in {sysconfig.get_path("purelib"), *site.getsitepackages()} if Path(p).is_dir()]
    (Path(purelib) / "suite-dependencies.pth").write_text("\n".join(ours) + "\n")
    return python.parent


def minituner(bin_dir: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MINITUNER_LANG")}
    env["OMP_NUM_THREADS"] = "1"
    return subprocess.run([bin_dir / "minituner", *args], cwd=cwd, env=env, capture_output=True, text=True)


@pytest.mark.slow
def test_a_course_from_a_wheel_install(installed: Path, tmp_path: Path) -> None:
    where = subprocess.run(
        [installed / "python", "-c", "import minituner; print(minituner.__file__)"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    package = Path(where.stdout.strip()).parent
    assert package.is_relative_to(installed.parent), where
    repository, library = digest(ROOT / "src") + digest(ROOT / "learners"), digest(package)

    course = tmp_path / "course"
    (course / "learners").mkdir(parents=True)
    new = minituner(installed, course, "learner", "new", "ana")
    assert new.returncode == 0, new.stderr
    spanish = minituner(installed, course, "learner", "new", "eva", "--lang", "es")
    assert spanish.stdout.startswith("creado ")
    assert "tu espacio de trabajo" in (course / "learners/eva/phase-28/README.md").read_text()
    assert (
        "TODO: escribe esta parte"
        in (course / "learners/eva/phase-28/notebooks/00-lora-by-hand.ipynb").read_text()
    )

    ana = course / "learners/ana/phase-28"
    notes = ana / "notes/breaks.md"
    assert minituner(installed, ana, "break", "start", "01", "--learner", "ana").returncode == 1
    notes.write_text(
        notes.read_text().replace("## Break 02", "The base outputs move at step 0.\n\n## Break 02")
    )
    assert minituner(installed, ana, "break", "start", "01", "--learner", "ana").returncode == 0
    assert "wrapped at step 0" in minituner(installed, ana, "break", "run", "01", "--learner", "ana").stdout
    assert minituner(installed, ana, "break", "check", "01", "--learner", "ana").returncode == 1
    broken = ana / "breaks/01/lora.py"
    broken.write_text(breaks.revert(broken.read_text(), breaks.get("01")))
    fixed = minituner(installed, ana, "break", "check", "01", "--learner", "ana")
    assert fixed.returncode == 0 and fixed.stdout.endswith("pass\n"), fixed.stdout

    # Lab 00 and lab/lora.py of the worked example, in ana's workspace: what passes from the wheel.
    for relative in ("notebooks/00-lora-by-hand.ipynb", "lab/lora.py"):
        shutil.copyfile(ROOT / "learners/example/phase-28" / relative, ana / relative)
    for name in EXERCISES[2:]:  # what is graded here needs labs 00 and 01 only
        (ana / f"notebooks/{name}.ipynb").unlink()
    for name in EXERCISES[1:]:  # eva hands in lab 00 only: it stops at its TODO, in Spanish
        (course / f"learners/eva/phase-28/notebooks/{name}.ipynb").unlink()
    graded = minituner(installed, course, "grade", "--jobs", "2", "--lang", "es")
    assert graded.returncode == 0, graded.stderr
    rows = list(csv.reader((course / "learners/gradebook.csv").read_text().splitlines()))
    assert rows[0][:2] == ["estudiante", "laboratorio 00"] and rows[0][-4:] == [
        "predicciones",
        "contrato",
        "breaks",
        "total",
    ]
    ana, eva = (dict(zip(rows[0], row, strict=True)) for row in rows[1:])
    assert ana["laboratorio 00"] == ana["contrato"] == ana["breaks"] == "aprobado", ana  # break 01 fixed
    assert ana["laboratorio 01"].startswith("suspenso: ") and ana["total"] == "3/8", ana
    assert eva["laboratorio 00"].startswith("suspenso: ") and "NotImplementedError" in eva["laboratorio 00"]
    assert (
        eva["predicciones"].startswith("falta: 00.") and eva["breaks"] == "falta: no se intentó ningún break"
    )

    outside = minituner(installed, tmp_path, "break", "list")
    assert outside.returncode == 1 and "is not in a course folder" in outside.stderr
    assert digest(ROOT / "src") + digest(ROOT / "learners") == repository
    assert digest(package) == library
