"""The course's measured figures: what the reference run printed, and how far another machine may land.

Training on another CPU (or with other kernels) rounds differently, and 200 steps of AdamW turn a
rounding difference into a few cells of accuracy. So a trained figure is a value with a tolerance,
kept once in `figures.toml`: notebooks print `check(name, measured)`, which reads the same on every
machine, and the tests check the pages' prose against the same values.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True)
class Figure:
    name: str
    value: float
    tolerance: float  # every figure is a fraction, shown in %; its tolerance in points
    why: str

    def holds(self, measured: float) -> bool:
        return abs(measured - self.value) <= self.tolerance + 1e-12

    def show(self, x: float) -> str:
        return f"{x:.1%}"

    def margin(self) -> str:
        points = 100 * self.tolerance
        return f"±{points:g} point" + ("" if points == 1 else "s")


def load() -> dict[str, Figure]:
    """Every figure of figures.toml: groups share a tolerance and its reason."""
    data = tomllib.loads(resources.files(__package__).joinpath("figures.toml").read_text("utf-8"))
    figures = {}
    for group in data.values():
        for name, value in group["values"].items():
            figures[name] = Figure(name, value, group["tolerance"], group["why"].strip())
    return figures


FIGURES = load()


def check(name: str, measured: float) -> str:
    """One line for a notebook. nbval's sanitizer hides the measured value (it differs between CPUs),
    so the line compares equal on every machine while the value is within tolerance."""
    if name not in FIGURES:
        raise KeyError(f"no figure named {name!r} in figures.toml; known: {sorted(FIGURES)}")
    f = FIGURES[name]
    return (
        f"{name}: measured {f.show(measured)}, reference run {f.show(f.value)} {f.margin()}: "
        f"{f.holds(measured)}"
    )
