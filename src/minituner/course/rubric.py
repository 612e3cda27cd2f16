"""Points: what each part of a verdict is worth, from the course's rubric or an instructor's.

The course's rubric ships as `rubric.toml`; `minituner grade --rubric FILE` reads another in the
same layout, whose values replace the course's. A verdict's parts (one per check, contract test,
prediction or break: see `grading`) each earn their points when they pass, so a lab with three of
four checks right earns three quarters of its points, not nothing.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import BadInput
from ..i18n import _
from .verdict import Verdict

COURSE = Path(__file__).with_name("rubric.toml")
KINDS = {"checks": "default", "contract": "default", "predictions": "each", "breaks": "each"}


@dataclass(frozen=True)
class Rubric:
    table: dict[str, dict[str, float]]  # kind -> part id (or its default) -> points

    @classmethod
    def load(cls, path: Path | None = None) -> Rubric:
        """The course's rubric, with the values of `path` (an instructor's) in place of its own."""
        table = _read(COURSE)
        if path is not None:
            for kind, values in _read(path).items():
                table[kind] |= values
        return cls(table)

    def refuse_unknown(self, known: dict[str, set[str]], path: Path | None) -> None:
        """A rubric's key that names no part (a typo such as "02.swep") is an error, not a zero."""
        for kind, values in self.table.items():
            unknown = sorted(set(values) - known[kind] - {KINDS[kind]})
            if unknown:
                raise BadInput(
                    _("rubric {path}: [{kind}] {keys}: no such part; expected {expected}").format(
                        path=path or COURSE,
                        kind=kind,
                        keys=", ".join(unknown),
                        expected=", ".join(sorted(known[kind] | {KINDS[kind]})),
                    )
                )

    def points(self, kind: str, part: str) -> float:
        values = self.table[kind]
        return values.get(part, values[KINDS[kind]])

    def score(self, kind: str, verdict: Verdict) -> tuple[float, float]:
        """(points earned, points possible) of an item from its parts."""
        earned = sum(self.points(kind, p.where) for p in verdict.parts if p.passed)
        return earned, sum(self.points(kind, p.where) for p in verdict.parts)


def _read(path: Path) -> dict[str, dict[str, float]]:
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise BadInput(_("rubric {path}: {error}").format(path=path, error=err)) from None
    table: dict[str, dict[str, float]] = {}
    for kind, values in data.items():
        if kind not in KINDS or not isinstance(values, dict):
            raise BadInput(
                _("rubric {path}: [{kind}] is not a table of the rubric; expected one of {kinds}").format(
                    path=path, kind=kind, kinds=", ".join(KINDS)
                )
            )
        for key, value in values.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise BadInput(
                    _("rubric {path}: {kind}.{key} = {value!r}; expected a number of points >= 0").format(
                        path=path, kind=kind, key=key, value=value
                    )
                )
        table[kind] = {str(k): float(v) for k, v in values.items()}
    return table
