"""The trace: every step a call takes, as data.

A step records the node, its exit, how long it took, the variables it changed and the events
inside it (prompts played, digits collected, HTTP requests…). Secrets never enter a trace:
values of secret variables are masked where they are set, and every string stored in an event
is scrubbed of the secret values seen so far in the call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["MASK", "Outcome", "Step", "Trace"]

MASK = "******"


@dataclass
class Step:
    index: int
    node: str
    type: str
    flow: str
    depth: int = 0
    at_ms: float = 0.0
    duration_ms: float = 0.0
    exit: str | None = None
    vars_changed: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "index": self.index,
            "flow": self.flow,
            "node": self.node,
            "type": self.type,
            "exit": self.exit,
            "at_ms": round(self.at_ms, 3),
            "duration_ms": round(self.duration_ms, 3),
        }
        if self.depth:
            data["depth"] = self.depth
        if self.vars_changed:
            data["vars_changed"] = self.vars_changed
        if self.events:
            data["events"] = self.events
        if self.error:
            data["error"] = self.error
        return data


@dataclass
class Outcome:
    """How the call ended.

    ``kind``: ``completed`` (the flow hung up or returned), ``hangup`` (the caller hung up),
    ``error`` (an error with no way to recover), ``step_cap`` / ``repeat_cap`` (a loop was
    stopped)."""

    kind: str
    node: str | None = None
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "node": self.node, "detail": self.detail}


@dataclass
class Trace:
    call_id: str = ""
    flow: str = ""
    caller: str = ""
    called: str = ""
    started_at: str = ""
    steps: list[Step] = field(default_factory=list)
    outcome: Outcome | None = None
    _secrets: set[str] = field(default_factory=set, repr=False)

    # -- secrets -------------------------------------------------------------------------

    def add_secret(self, value: Any) -> None:
        text = "" if value is None else str(value)
        if len(text) >= 3:
            self._secrets.add(text)

    def scrub(self, value: Any) -> Any:
        """Mask every secret value inside ``value`` (strings, lists, dicts)."""
        if not self._secrets:
            return value
        if isinstance(value, str):
            for secret in sorted(self._secrets, key=len, reverse=True):
                if secret in value:
                    value = value.replace(secret, MASK)
            return value
        if isinstance(value, list | tuple):
            return [self.scrub(v) for v in value]
        if isinstance(value, dict):
            return {k: self.scrub(v) for k, v in value.items()}
        if isinstance(value, int | float) and not isinstance(value, bool):
            return self.scrub(str(value)) if str(value) in self._secrets else value
        return value

    # -- reading -------------------------------------------------------------------------

    @property
    def path(self) -> list[str]:
        return [s.node for s in self.steps]

    def to_json(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "flow": self.flow,
            "caller": self.caller,
            "called": self.called,
            "started_at": self.started_at,
            "steps": [s.to_json() for s in self.steps],
            "outcome": self.outcome.to_json() if self.outcome else None,
        }
