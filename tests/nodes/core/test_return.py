"""core.return: terminal; names the outcome; ends a top-level flow."""

from __future__ import annotations

from typing import Any

import pytest

from nodes.core.return_ import Return
from runtime.simulator import simulate
from runtime.testing import run_node
from runtime.validate import validate


def test_describe() -> None:
    info = Return.describe()
    assert info["terminal"] is True
    assert info["exits"] == []
    assert info["category"] == "flow"
    assert Return.with_defaults({}) == {"outcome": "done"}


@pytest.mark.parametrize("outcome", ["", "a b", "x" * 33, "#", 3])
def test_schema_rejects(outcome: Any) -> None:
    assert Return.config_errors({"outcome": outcome})


async def test_run_ends_the_flow_with_the_outcome() -> None:
    run = await run_node(Return, {"outcome": "failed"})
    assert run.exit is None
    assert run.call.ended == ("failed", {})
    assert run.events == [{"event": "return", "outcome": "failed"}]


async def test_default_outcome() -> None:
    run = await run_node(Return)
    assert run.call.ended == ("done", {})


async def test_top_level_return_ends_the_call() -> None:
    doc = {
        "schema_version": 1,
        "id": "top",
        "name": "top",
        "prompts": {"bye": {"text": {"zh-CN": "再见"}}},
        "nodes": {
            "start": {"type": "core.start", "version": 1, "exits": {"next": "say"}},
            "say": {
                "type": "core.play",
                "version": 1,
                "config": {"prompts": ["bye"]},
                "exits": {"next": "ret"},
            },
            "ret": {"type": "core.return", "version": 1, "config": {"outcome": "ok"}},
        },
    }
    result = validate(doc)
    assert result.ok and result.flow is not None
    assert "node.no_way_out" not in [p.code for p in result.problems]
    trace, channel = await simulate(result.flow)
    assert trace.outcome is not None
    assert (trace.outcome.kind, trace.outcome.node) == ("completed", "ret")
    assert channel.hung_up_by_flow  # the runtime hangs up: no open silent line
