"""core.start: answers the call unless told not to."""

from __future__ import annotations

import pytest

from nodes.core.start import Start
from runtime.call import CallerHangup
from runtime.simulator import SimulatedChannel
from runtime.testing import run_node


async def test_answers_by_default() -> None:
    run = await run_node(Start)
    assert run.exit == "next"
    assert run.channel.answered is True
    assert [e["event"] for e in run.events] == ["answer"]
    assert run.heard == []


async def test_answer_false_does_not_answer() -> None:
    run = await run_node(Start, {"answer": False})
    assert run.exit == "next"
    assert run.channel.answered is False
    assert run.events == []


async def test_caller_gone_before_answer() -> None:
    channel = SimulatedChannel()
    channel.caller_hangs_up()
    with pytest.raises(CallerHangup):
        await run_node(Start, channel=channel)
    assert channel.answered is False


def test_definition() -> None:
    assert Start.with_defaults({}) == {"answer": True}
    assert Start.exits == ("next",)
    assert Start.optional_exits == frozenset()
    assert Start.config_errors({"answer": "yes"})
    assert Start.config_errors({"answer": True, "other": 1})
