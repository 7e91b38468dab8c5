"""core.hangup: optional goodbye, then the flow hangs up the channel."""

from __future__ import annotations

from nodes.core.hangup import Hangup
from runtime.testing import run_node

PROMPTS = {"goodbye": {"text": {"zh-CN": "感谢您的来电，再见"}}}


async def test_goodbye_then_hang_up() -> None:
    run = await run_node(Hangup, {"prompts": ["goodbye"]}, prompts=PROMPTS)
    assert run.exit is None
    assert [(h.kind, h.prompts) for h in run.heard] == [("play", ["goodbye"]), ("hangup", [])]
    assert run.heard[0].text == "感谢您的来电，再见"
    assert run.channel.hung_up_by_flow is True
    assert [e["event"] for e in run.events] == ["play", "hangup"]


async def test_hang_up_without_goodbye() -> None:
    run = await run_node(Hangup)
    assert run.exit is None
    assert [h.kind for h in run.heard] == ["hangup"]
    assert run.channel.hung_up_by_flow is True


def test_definition() -> None:
    assert Hangup.terminal is True
    assert Hangup.exits == ()
    assert Hangup.with_defaults({}) == {"prompts": []}
    assert Hangup.describe()["terminal"] is True
