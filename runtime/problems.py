"""Problems: what the validator (and every loader) reports about a flow.

One problem says *what* (a stable ``code`` and a message in Chinese and English) and *where*
(the node id, a JSON pointer into the document and, when the flow came from text, the line and
column). Errors block publishing; warnings do not.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from typing import Any

__all__ = ["Problem", "Severity", "error", "has_errors", "sort_problems", "warning"]


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Problem:
    severity: Severity
    code: str
    message_zh: str
    message_en: str
    pointer: str = ""
    node: str | None = None
    line: int | None = None
    column: int | None = None

    def message(self, language: str = "zh") -> str:
        return self.message_en if language.startswith("en") else self.message_zh

    def at(self, line: int | None, column: int | None) -> Problem:
        return replace(self, line=line, column=column)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["severity"] = str(self.severity)
        return data

    def render(self, source: str = "", language: str = "zh") -> str:
        """One human line: ``flow.json:12:5: error [exit.unwired] node menu: …``."""
        where = source
        if self.line is not None:
            where = f"{where}:{self.line}" + (f":{self.column}" if self.column else "")
        label = {"zh": {"error": "错误", "warning": "警告"}, "en": {}}
        sev = label["zh"][self.severity] if language.startswith("zh") else str(self.severity)
        parts = [f"{where}:" if where else "", f"{sev} [{self.code}]"]
        if self.node:
            parts.append(f"{'节点' if language.startswith('zh') else 'node'} {self.node}:")
        elif self.pointer:
            parts.append(f"{self.pointer}:")
        parts.append(self.message(language))
        return " ".join(p for p in parts if p)


def error(code: str, zh: str, en: str, *, pointer: str = "", node: str | None = None) -> Problem:
    return Problem(Severity.ERROR, code, zh, en, pointer=pointer, node=node)


def warning(code: str, zh: str, en: str, *, pointer: str = "", node: str | None = None) -> Problem:
    return Problem(Severity.WARNING, code, zh, en, pointer=pointer, node=node)


def has_errors(problems: Iterable[Problem]) -> bool:
    return any(p.severity is Severity.ERROR for p in problems)


def sort_problems(problems: Iterable[Problem]) -> list[Problem]:
    """Errors first, then by line, then pointer — the order a person fixes them in."""
    return sorted(
        problems,
        key=lambda p: (
            p.code == "flow.too_many_problems",  # the "and more…" line goes last
            p.severity is not Severity.ERROR,
            p.line if p.line is not None else 1 << 30,
            p.pointer,
            p.code,
        ),
    )
