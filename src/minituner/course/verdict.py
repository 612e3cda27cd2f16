"""A grader's verdict as data: a status, where, a detail, and the /break it points to.

Verdicts travel as JSON (the grading cache) and are compared by status, never by their text. They
are translated only where a person reads them (`text`): the command line, the gradebook, a page.
A detail is an untranslated message with its arguments (`{"error": ...}` for a line the learner's
code printed, which is shown as it is and never translated).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any

from ..i18n import N_


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"
    TIMEOUT = "timeout"
    MISSING = "missing"


STATUS_TEXT = {  # for extraction: the words a person reads
    Status.PASS: N_("pass"),
    Status.FAIL: N_("fail"),
    Status.ERROR: N_("error"),
    Status.TIMEOUT: N_("timeout"),
    Status.MISSING: N_("missing"),
}


@dataclass(frozen=True)
class Verdict:
    status: Status
    where: str = ""  # a path in the workspace, a notebook cell or a contract test
    detail: str = ""  # an untranslated message, formatted with `args` once translated
    args: dict[str, str] = field(default_factory=dict)
    points_to: str = ""  # the id of the /break that shows this bug, if any
    parts: tuple[Verdict, ...] = ()  # one per check of a lab, contract test group, prediction, break

    @property
    def passed(self) -> bool:
        return self.status is Status.PASS

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Verdict:
        return cls(
            Status(data["status"]),
            str(data.get("where", "")),
            str(data.get("detail", "")),
            {str(k): str(v) for k, v in dict(data.get("args", {})).items()},
            str(data.get("points_to", "")),
            tuple(cls.from_json(p) for p in data.get("parts", ())),
        )

    def with_parts(self, parts: list[Verdict]) -> Verdict:
        return replace(self, parts=tuple(parts))

    def message(self, _: Callable[[str], str]) -> str:
        """The detail alone, in the language of `_`."""
        return _(self.detail).format(**self.args) if self.args else _(self.detail)

    def text(self, _: Callable[[str], str]) -> str:
        """One line in the language of `_`: 'fail: test_x: what went wrong — see break 01 (title)'."""
        parts = [_(STATUS_TEXT[self.status])]
        if self.where:
            parts.append(self.where)
        if self.detail:
            parts.append(self.message(_))
        line = ": ".join(parts)
        if self.points_to:
            from .breaks import get  # the catalogue imports the library: only when a verdict names one

            brk = get(self.points_to)
            line += " — " + _("see break {pages}").format(pages=f"{brk.id} ({_(brk.title)})")
        return line


PASS = Verdict(Status.PASS)


def dumps(row: dict[str, Verdict]) -> str:
    return json.dumps({k: v.to_json() for k, v in row.items()}, sort_keys=True)


def loads(text: str) -> dict[str, Verdict]:
    return {k: Verdict.from_json(v) for k, v in json.loads(text).items()}
