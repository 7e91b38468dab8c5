"""The 12329 reference flow (``examples/12329``) with the plugins it runs on.

:func:`hotline_plugins` sets every installed plugin up on a database exactly as ``ivrflow
serve`` does — the demo fund system seeded, block/allow/VIP lists, the area table, the survey
writer, the SMS outbox (log-only gateway), the callback list — and :data:`DEMO` names the
demo fund system's callers. Tests walk the flow through the simulator and through the runtime
with a fake Asterisk on the same resources.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from nodes.plugins import PluginHost, Plugins, load_plugins
from runtime.library import MemoryLibrary
from runtime.store.publishing import publish

FOLDER = Path(__file__).resolve().parents[2] / "examples" / "12329"
TZ = ZoneInfo("Asia/Shanghai")
OPEN = datetime(2026, 10, 9, 10, 0, tzinfo=TZ)  # a Friday, 10:00
CLOSED = datetime(2026, 10, 11, 20, 0, tzinfo=TZ)  # a Sunday evening
HOLIDAY = datetime(2026, 10, 2, 10, 0, tzinfo=TZ)  # National Day week, 10:00
MAKEUP = datetime(2026, 9, 20, 10, 0, tzinfo=TZ)  # a Sunday worked for National Day (调休)

CALLER = "13800138000"  # an ordinary mobile caller (region: beijing in the sample table)
LOCAL_CALLER = "13923701234"  # a Shenzhen mobile segment: the local consultation group
BLOCKED = "13500009999"
VIP = "13900001111"


class DEMO:
    """The demo fund system's callers (``ivrflow_fund.demo``)."""

    ACCOUNT = "20261234"  # P-0001 张演示, with a loan
    ID_CARD = "110101199001011237"
    CARD = "6217000010001234567"
    SEALED_ACCOUNT = "20265678"  # P-0002: sealed, no loan
    LOCKED_ACCOUNT = "20269999"  # P-0003: locked
    UNIT = "880012"
    PIN = "123456"
    UNIT_PIN = "654321"


def documents(edit: Callable[[dict[str, Any]], None] | None = None) -> dict[str, dict]:
    """The example's flows by file stem (``main``, ``agent``, ``appointment``)."""
    docs = {p.stem: json.loads(p.read_text("utf-8")) for p in sorted(FOLDER.glob("*.json"))}
    if edit is not None:
        edit(docs["main"])
    return docs


def library(docs: Mapping[str, dict] | None = None) -> MemoryLibrary:
    docs = docs or documents()
    return MemoryLibrary({d["id"]: d for d in docs.values()})


def publish_12329(engine: Engine, *, edit: Callable[[dict], None] | None = None) -> int:
    """Publish the example on entry ``12329`` (sub-flows pinned); the new version."""
    docs = documents(edit)
    return publish(engine, docs["main"], entry="12329", library=library(docs)).version


@contextmanager
def hotline_plugins(
    engine: Engine | None, environ: Mapping[str, str] | None = None, *, lists: bool = True
) -> Iterator[Plugins]:
    """Every installed plugin set up on ``engine``; the blocked and VIP test callers on the
    lists (``lists=False``: empty lists). Stopped (queues flushed) on exit."""
    plugins = load_plugins(PluginHost(engine=engine, environ=dict(environ or {})))
    assert plugins.problems == [], [p.message_en for p in plugins.problems]
    try:
        if lists and engine is not None:
            store = plugins.resources["lists"]
            if not store.entries("block"):
                store.add("block", "exact", BLOCKED, reason="test: harassment", actor="test")
                store.add("vip", "exact", VIP, reason="test: VIP", actor="test")
            store.invalidate()
        yield plugins
    finally:
        plugins.close()
