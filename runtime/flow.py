"""The in-memory flow: a validated document, ready to run.

:func:`runtime.validate.validate` builds a :class:`Flow` from a document that has no errors.
Node configs carry their schema defaults (and are migrated to the installed node version), so
the interpreter never re-checks them per call.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from nodes.api import Node

__all__ = [
    "SCHEMA_ID",
    "SCHEMA_VERSION",
    "SYSTEM_VARIABLES",
    "Flow",
    "FlowLibrary",
    "NodeSpec",
    "Settings",
    "VariableSpec",
    "flow_schema",
]

SCHEMA_VERSION = 1

SYSTEM_VARIABLES: dict[str, dict[str, str]] = {
    "caller": {"zh": "主叫号码", "en": "Caller's number"},
    "called": {"zh": "被叫号码（入口）", "en": "Dialled number (entry)"},
    "call_id": {"zh": "通话 ID", "en": "Call id"},
    "language": {"zh": "当前语言", "en": "Current language"},
    "last_error": {"zh": "最近一次节点错误", "en": "Last node error"},
}
"""Variables every flow can read; the runtime sets them."""


def flow_schema() -> dict[str, Any]:
    """The flow document's JSON Schema (2020-12), shipped in the package."""
    return _SCHEMA


_SCHEMA: dict[str, Any] = json.loads(
    resources.files("runtime").joinpath("schema/flow.schema.json").read_text("utf-8")
)
SCHEMA_ID: str = _SCHEMA["$id"]


@dataclass(frozen=True, slots=True)
class VariableSpec:
    name: str
    type: str = "string"
    default: Any = None
    secret: bool = False
    description: str = ""


@dataclass(frozen=True, slots=True)
class Settings:
    step_cap: int = 1000
    repeat_cap: int = 10
    input_timeout_ms: int = 5000
    inter_digit_timeout_ms: int = 3000
    fallback: str | None = None
    timezone: str = "Asia/Shanghai"

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Settings:
        data = data or {}
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass(frozen=True, slots=True)
class NodeSpec:
    id: str
    type: str
    version: int
    cls: type[Node]
    config: Mapping[str, Any]
    exits: Mapping[str, str]
    """Wired exits only: exit name → target node id."""
    declared_exits: tuple[str, ...]
    label: str = ""


@dataclass(frozen=True)
class Flow:
    id: str
    name: str
    nodes: Mapping[str, NodeSpec]
    start: str
    languages: tuple[str, ...] = ("zh-CN",)
    variables: Mapping[str, VariableSpec] = field(default_factory=dict)
    prompts: Mapping[str, Any] = field(default_factory=dict)
    settings: Settings = field(default_factory=Settings)
    document: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def secret_variables(self) -> frozenset[str]:
        return frozenset(n for n, v in self.variables.items() if v.secret)


class FlowLibrary(Protocol):
    """Where sub-flows come from (a folder for the CLI, the database for the designer)."""

    def get(self, flow_id: str) -> Flow | None:
        """The runnable flow with this id, or None if there is none (or it is invalid)."""

    def exists(self, flow_id: str) -> bool: ...
