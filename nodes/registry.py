"""The node registry: built-in node types plus those installed through entry points.

Built-ins are listed explicitly in :data:`nodes.core.BUILTIN_NODES`. Third-party packages
declare theirs in the entry-point group ``ivrflow.nodes``; an entry point may name a
:class:`~nodes.api.Node` subclass or a list/tuple of them::

    [project.entry-points."ivrflow.nodes"]
    blacklist = "ivrflow_fund.blacklist:Blacklist"

Nothing is dropped silently: a plugin that fails to import, or names something that is not a
node class, is reported with its error while the rest load; a duplicate type names both
providers and the first one keeps the type.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from nodes.api import Node

__all__ = ["ENTRY_POINT_GROUP", "Registry", "RegistryProblem", "default_registry", "load_registry"]

ENTRY_POINT_GROUP = "ivrflow.nodes"
BUILTIN = "ivrflow (built-in)"


@dataclass(frozen=True, slots=True)
class RegistryProblem:
    code: str  # "duplicate_type" | "plugin_import_failed" | "plugin_not_a_node"
    provider: str
    message_zh: str
    message_en: str
    detail: str = ""

    def to_json(self) -> dict[str, str]:
        return {
            "code": self.code,
            "provider": self.provider,
            "message_zh": self.message_zh,
            "message_en": self.message_en,
            "detail": self.detail,
        }


@dataclass
class Registry:
    """Node types by their ``type`` name, with where each came from."""

    _types: dict[str, type[Node]] = field(default_factory=dict)
    providers: dict[str, str] = field(default_factory=dict)
    problems: list[RegistryProblem] = field(default_factory=list)

    def register(self, cls: Any, provider: str = BUILTIN) -> bool:
        if not (isinstance(cls, type) and issubclass(cls, Node) and not cls.abstract):
            self.problems.append(
                RegistryProblem(
                    "plugin_not_a_node",
                    provider,
                    f"插件 {provider} 提供的 {cls!r} 不是节点类（nodes.api.Node 的子类）。",
                    f"Plugin {provider} provides {cls!r}, which is not a node class "
                    "(a subclass of nodes.api.Node).",
                )
            )
            return False
        existing = self.providers.get(cls.type)
        if existing is not None:
            if self._types[cls.type] is cls:
                return False
            self.problems.append(
                RegistryProblem(
                    "duplicate_type",
                    provider,
                    f"节点类型 {cls.type} 重复：{existing} 与 {provider} 都提供了它；"
                    f"使用 {existing} 的版本。",
                    f"Node type {cls.type} is provided twice: by {existing} and by {provider}; "
                    f"the one from {existing} is used.",
                )
            )
            return False
        self._types[cls.type] = cls
        self.providers[cls.type] = provider
        return True

    def get(self, node_type: str) -> type[Node] | None:
        return self._types.get(node_type)

    def __contains__(self, node_type: object) -> bool:
        return node_type in self._types

    def __iter__(self) -> Iterator[type[Node]]:
        return iter(sorted(self._types.values(), key=lambda c: (c.category, c.type)))

    def __len__(self) -> int:
        return len(self._types)

    def describe(self) -> list[dict[str, Any]]:
        return [{**cls.describe(), "provider": self.providers[cls.type]} for cls in self]


def _provider_name(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    origin = f"{dist.name} {dist.version}" if dist is not None else "?"
    return f"{origin} ({ep.name} = {ep.value})"


def _load_entry_point(registry: Registry, ep: EntryPoint) -> None:
    provider = _provider_name(ep)
    try:
        loaded = ep.load()
    except Exception as exc:  # any import-time failure of a plugin must not stop the rest
        registry.problems.append(
            RegistryProblem(
                "plugin_import_failed",
                provider,
                f"插件 {provider} 加载失败：{type(exc).__name__}: {exc}",
                f"Plugin {provider} failed to load: {type(exc).__name__}: {exc}",
                detail="".join(traceback.format_exception(exc)),
            )
        )
        return
    items = loaded if isinstance(loaded, list | tuple) else [loaded]
    for item in items:
        registry.register(item, provider)


def load_registry(
    *, include_entry_points: bool = True, extra: Iterable[type[Node]] = ()
) -> Registry:
    """Build a registry: built-ins, then ``extra`` (tests), then entry-point plugins."""
    from nodes.core import BUILTIN_NODES

    registry = Registry()
    for cls in BUILTIN_NODES:
        registry.register(cls, BUILTIN)
    for cls in extra:
        registry.register(cls, f"{cls.__module__}.{cls.__qualname__}")
    if include_entry_points:
        for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            _load_entry_point(registry, ep)
    return registry


@lru_cache(maxsize=1)
def default_registry() -> Registry:
    """The process-wide registry (built-ins + installed plugins), loaded once."""
    return load_registry()
