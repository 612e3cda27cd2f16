"""The course's measured figures: what the reference run printed, and how far another machine may land.

Training on another CPU (or with other kernels) rounds differently, and 200 steps of AdamW turn a
rounding difference into a few cells of accuracy. So a trained figure is a value with a tolerance,
kept once in `figures.toml`: notebooks print `compare(name, measured)`, which reads the same on every
machine, and the tests check the pages' prose against the same values.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources

# The machines a tolerance is set on, simulated on one: environment variables that PyTorch and MKL
# read when a process starts. The reference run is AVX-512 kernels at one thread.
MACHINES = {
    "scalar": {"ATEN_CPU_CAPABILITY": "default", "OMP_NUM_THREADS": "1"},
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "OMP_NUM_THREADS": "2"},
    "avx512-3-threads": {"ATEN_CPU_CAPABILITY": "avx512", "OMP_NUM_THREADS": "3"},
    "mkl-compatible": {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "COMPATIBLE", "OMP_NUM_THREADS": "2"},
}


@dataclass(frozen=True)
class Figure:
    """A measured fraction (shown in %) and what another machine must reproduce: the value within
    `tolerance` (in points), or, for a figure that training makes chaotic, only the bound that the
    page teaches (`at_most`)."""

    name: str
    value: float
    tolerance: float | None
    why: str
    at_most: float | None = None

    def holds(self, measured: float) -> bool:
        if self.at_most is not None:
            return measured <= self.at_most
        assert self.tolerance is not None
        return abs(measured - self.value) <= self.tolerance + 1e-12

    def show(self, x: float) -> str:
        return f"{x:.1%}"

    def margin(
        self,
        _: Callable[[str], str] = str,
        points: Callable[[float], str] = "{:g}".format,
        percent: Callable[[float], str] = "{:.0%}".format,
    ) -> str:
        """What another machine must reproduce: "±5 points", or "at most 10%"; in another language
        with its `_` and its way of writing a number of points and a fraction as a percentage."""
        if self.at_most is not None:
            return _("at most {x}").format(x=percent(self.at_most))
        assert self.tolerance is not None
        x = 100 * self.tolerance
        return _("±1 point") if round(x, 6) == 1 else _("±{x} points").format(x=points(x))


def load() -> dict[str, Figure]:
    """Every figure of figures.toml: groups share a tolerance (or a bound) and its reason."""
    data = tomllib.loads(resources.files(__package__).joinpath("figures.toml").read_text("utf-8"))
    figures = {}
    for title, group in data.items():
        if ("tolerance" in group) == ("at_most" in group):
            found = [k for k in ("tolerance", "at_most") if k in group] or ["neither"]
            raise ValueError(f"figures.toml [{title}]: needs one of tolerance or at_most, has {found}")
        for name, value in group["values"].items():
            bound = group.get("at_most")
            figures[name] = Figure(name, value, group.get("tolerance"), group["why"].strip(), bound)
    return figures


FIGURES = load()


def compare(name: str, measured: float) -> str:
    """One line for a notebook. nbval's sanitizer hides the measured value (it differs between CPUs),
    so the line compares equal on every machine while the value is within tolerance."""
    if name not in FIGURES:
        raise KeyError(f"no figure named {name!r} in figures.toml; known: {sorted(FIGURES)}")
    f = FIGURES[name]
    reference = f.show(f.value) + (", " if f.at_most is not None else " ") + f.margin()
    return f"{name}: measured {f.show(measured)}, reference run {reference}: {f.holds(measured)}"


# The name compare had until 0.1.0: the workbooks of workspaces created before call it, and a
# learner's workbook is never rewritten by an update of the course.
check = compare
