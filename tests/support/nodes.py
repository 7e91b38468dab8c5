"""Small node types used by tests of the interpreter, validator and registry."""

from __future__ import annotations

import asyncio
from typing import Any

from nodes.api import Node
from nodes.core.hangup import Hangup
from nodes.core.play import Play
from nodes.core.start import Start
from nodes.registry import Registry
from runtime.call import Call, CollectSpec

_T = {"zh": "测试", "en": "Test"}


class Step(Node):
    type = "test.step"
    title = _T
    description = _T
    config_schema = {"type": "object", "properties": {"value": {"type": "string", "default": ""}}}
    exits = ("next",)

    async def run(self, call: Call, config: dict[str, Any]) -> str:
        return "next"


class Fail(Node):
    type = "test.fail"
    title = _T
    description = _T
    category = "integration"
    exits = ("next", "error")

    async def run(self, call: Call, config: dict[str, Any]) -> str:
        raise ConnectionError("backend down")


class FailNoErrorExit(Node):
    type = "test.fail_plain"
    title = _T
    description = _T
    exits = ("next",)
    optional_exits = frozenset()

    async def run(self, call: Call, config: dict[str, Any]) -> str:
        raise RuntimeError("boom")


class Slow(Node):
    type = "test.slow"
    title = _T
    description = _T
    exits = ("next", "timeout", "error")
    optional_exits = frozenset({"error", "timeout"})
    timeout_s = 0.05

    async def run(self, call: Call, config: dict[str, Any]) -> str:
        await asyncio.sleep(10)
        return "next"


class Hang(Node):
    """Busy with "back-end I/O" until cancelled; sets a flag when it is."""

    type = "test.hang"
    title = _T
    description = _T
    exits = ("next",)
    cancelled: list[bool] = []

    async def run(self, call: Call, config: dict[str, Any]) -> str:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            Hang.cancelled.append(True)
            raise
        return "next"


class Ask(Node):
    """Waits for one key; exits per key."""

    type = "test.ask"
    title = _T
    description = _T
    category = "input"
    waits_for_input = True
    exits = ("1", "2", "timeout")
    optional_exits = frozenset()

    async def run(self, call: Call, config: dict[str, Any]) -> str:
        result = await call.collect([], CollectSpec(max_digits=1))
        return result.digits if result.digits in ("1", "2") else "timeout"


class Exit(Node):
    """Returns the exit named in its config (even an undeclared one)."""

    type = "test.exit"
    title = _T
    description = _T
    config_schema = {"type": "object", "properties": {"exit": {"type": "string"}}}
    exits = ("a", "b")

    async def run(self, call: Call, config: dict[str, Any]) -> str:
        return config.get("exit", "a")


class SetSecret(Node):
    type = "test.set"
    title = _T
    description = _T
    config_schema = {
        "type": "object",
        "properties": {
            "variable": {"type": "string", "x-ivrflow": "variable-out"},
            "value": {"type": "string"},
        },
    }
    exits = ("next",)

    async def run(self, call: Call, config: dict[str, Any]) -> str:
        call.vars[config["variable"]] = config["value"]
        call.note("echo", text=f"value is {config['value']}")
        return "next"


class CallFlow(Node):
    """Runs the sub-flow named in its config (without the core.subflow node's mapping)."""

    type = "test.call"
    title = _T
    description = _T
    category = "flow"
    config_schema = {
        "type": "object",
        "properties": {"flow": {"type": "string", "x-ivrflow": "flow"}},
    }
    exits = ("next", "error")

    async def run(self, call: Call, config: dict[str, Any]) -> str:
        await call.subflow(config["flow"], {})
        return "next"


TEST_NODES = (Step, Fail, FailNoErrorExit, Slow, Hang, Ask, Exit, SetSecret, CallFlow)


def make_registry() -> Registry:
    registry = Registry()
    for cls in (Start, Play, Hangup, *TEST_NODES):
        registry.register(cls)
    return registry


def flow(nodes: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A flow document with sensible defaults around ``nodes``."""
    doc: dict[str, Any] = {
        "schema_version": 1,
        "id": extra.pop("id", "t"),
        "name": "test",
        "prompts": {"hello": {"text": {"zh-CN": "你好", "en-US": "Hello"}}},
        "nodes": nodes,
    }
    doc.update(extra)
    return doc


def node(type_: str, exits: dict[str, str] | None = None, **config: Any) -> dict[str, Any]:
    return {"type": type_, "version": 1, "config": config, "exits": exits or {}}
