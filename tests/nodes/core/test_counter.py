"""core.counter: counts passes, "exceeded" after max, bounds loops for the validator."""

from __future__ import annotations

from typing import Any

import pytest

from nodes.api import Reference
from nodes.core.counter import Counter
from runtime.simulator import simulate
from runtime.testing import run_node
from runtime.validate import validate


def test_describe_and_defaults() -> None:
    assert Counter.bounds_loops is True
    assert Counter.exits == ("next", "exceeded")
    assert Counter.optional_exits == frozenset()
    assert Counter.with_defaults({"variable": "tries"}) == {"variable": "tries", "max": 3}
    assert Counter.references({"variable": "tries", "max": 3}) == [
        Reference("variable-out", "/variable", "tries")
    ]


@pytest.mark.parametrize(
    "config", [{}, {"variable": "t", "max": 0}, {"variable": "t", "max": 101}, {"variable": "1t"}]
)
def test_schema_rejects(config: dict[str, Any]) -> None:
    assert Counter.config_errors(config)


async def test_counts_up_to_max_then_exceeded() -> None:
    exits = []
    value: Any = None
    for _ in range(5):
        run = await run_node(Counter, {"variable": "tries"}, vars={"tries": value})
        exits.append(run.exit)
        value = run.vars["tries"]
    assert exits == ["next", "next", "next", "exceeded", "exceeded"]
    assert value == 5


async def test_notes_the_count() -> None:
    run = await run_node(Counter, {"variable": "tries", "max": 2}, vars={"tries": 1})
    assert run.exit == "next"
    assert run.vars_changed == {"tries": 2}
    assert run.events == [
        {"event": "counter", "variable": "tries", "count": 2, "max": 2, "exceeded": False}
    ]


@pytest.mark.parametrize(
    ("start", "stored"),
    [(None, 1), ("", 1), (0, 1), (2, 3), ("2", 3), (" 4 ", 5), (2.0, 3), (-3, 1)],
)
async def test_starting_values(start: Any, stored: int) -> None:
    run = await run_node(Counter, {"variable": "n", "max": 10}, vars={"n": start})
    assert run.vars["n"] == stored
    assert not [e for e in run.events if e["event"] == "counter_reset"]


async def test_undeclared_variable_counts_from_zero() -> None:
    run = await run_node(Counter, {"variable": "n"})
    assert run.exit == "next"
    assert run.vars["n"] == 1


@pytest.mark.parametrize("junk", ["abc", True, [1], {"a": 1}, float("nan")])
async def test_non_number_restarts_the_count(junk: Any) -> None:
    run = await run_node(Counter, {"variable": "n", "max": 1}, vars={"n": junk})
    assert run.exit == "next"
    assert run.vars["n"] == 1
    assert run.events[0] == {
        "event": "counter_reset",
        "variable": "n",
        "reason": "value is not a number",
    }


def _retry_flow() -> dict[str, Any]:
    """start → tries (counter) → again (play) → tries …; exceeded → bye (hang up)."""
    return {
        "schema_version": 1,
        "id": "retry",
        "name": "retry",
        "variables": {"tries": {"type": "number", "default": 0}},
        "prompts": {
            "again": {"text": {"zh-CN": "请再试一次"}},
            "agent": {"text": {"zh-CN": "为您转人工"}},
        },
        "settings": {"fallback": "bye"},
        "nodes": {
            "start": {"type": "core.start", "version": 1, "exits": {"next": "tries"}},
            "tries": {
                "type": "core.counter",
                "version": 1,
                "config": {"variable": "tries", "max": 3},
                "exits": {"next": "again", "exceeded": "bye"},
            },
            "again": {
                "type": "core.play",
                "version": 1,
                "config": {"prompts": ["again"]},
                "exits": {"next": "tries"},
            },
            "bye": {"type": "core.hangup", "version": 1, "config": {"prompts": ["agent"]}},
        },
    }


def test_validator_accepts_a_loop_bounded_by_a_counter() -> None:
    result = validate(_retry_flow())
    assert result.ok, [p.code for p in result.errors]
    assert "flow.loop_without_input" not in [p.code for p in result.problems]


def test_same_loop_without_a_counter_is_rejected() -> None:
    doc = _retry_flow()
    doc["nodes"]["tries"] = {
        "type": "core.play",
        "version": 1,
        "config": {"prompts": ["again"]},
        "exits": {"next": "again"},
    }
    assert "flow.loop_without_input" in [p.code for p in validate(doc).errors]


async def test_three_passes_then_out_in_a_real_flow() -> None:
    flow = validate(_retry_flow()).flow
    assert flow is not None
    trace, channel = await simulate(flow)
    assert [h.prompts for h in channel.heard if h.kind == "play"] == [["again"]] * 3 + [["agent"]]
    assert trace.outcome is not None and trace.outcome.kind == "completed"
    counter_exits = [s.exit for s in trace.steps if s.node == "tries"]
    assert counter_exits == ["next", "next", "next", "exceeded"]
