"""core.play: prompts are heard in order, in the call's language."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from nodes.core.play import Play
from runtime.call import CallerHangup, Prompt
from runtime.simulator import SimulatedChannel
from runtime.testing import run_node

PROMPTS = {
    "welcome": {"text": {"zh-CN": "欢迎致电12329", "en-US": "Welcome to 12329"}},
    "hours": {"text": {"zh-CN": "人工服务时间为工作日九点至五点"}},
}


class BargeInRecorder(SimulatedChannel):
    def __init__(self, keys: str = "", **options: Any) -> None:
        super().__init__(keys, **options)
        self.barge_in: list[bool] = []

    async def play(self, prompts: Sequence[Prompt], *, barge_in: bool = True) -> str | None:
        self.barge_in.append(barge_in)
        return await super().play(prompts, barge_in=barge_in)


async def test_prompts_heard_in_order() -> None:
    run = await run_node(Play, {"prompts": ["welcome", "hours"]}, prompts=PROMPTS)
    assert run.exit == "next"
    assert [(h.kind, h.prompts) for h in run.heard] == [("play", ["welcome", "hours"])]
    assert run.heard[0].text == "欢迎致电12329 人工服务时间为工作日九点至五点"
    (event,) = run.events
    assert event["event"] == "play"
    assert event["prompts"] == ["welcome", "hours"]


async def test_prompt_text_in_the_calls_language() -> None:
    run = await run_node(
        Play, {"prompts": ["welcome"]}, prompts=PROMPTS, languages=("en-US", "zh-CN")
    )
    assert run.heard[0].text == "Welcome to 12329"


async def test_barge_in_defaults_to_off() -> None:
    channel = BargeInRecorder()
    await run_node(Play, {"prompts": ["welcome"]}, channel=channel, prompts=PROMPTS)
    assert channel.barge_in == [False]
    channel = BargeInRecorder()
    await run_node(
        Play, {"prompts": ["welcome"], "barge_in": True}, channel=channel, prompts=PROMPTS
    )
    assert channel.barge_in == [True]


async def test_caller_hangup_propagates() -> None:
    channel = SimulatedChannel()
    channel.caller_hangs_up()
    with pytest.raises(CallerHangup):
        await run_node(Play, {"prompts": ["welcome"]}, channel=channel, prompts=PROMPTS)
    assert channel.heard == []


def test_definition() -> None:
    assert Play.exits == ("next",)
    assert Play.config_errors(Play.with_defaults({"prompts": []}))
    assert Play.config_errors(Play.with_defaults({}))
    assert Play.config_errors(Play.with_defaults({"prompts": ["welcome"]})) == []
    refs = Play.references(Play.with_defaults({"prompts": ["welcome", "hours"]}))
    assert [r.value for r in refs] == ["welcome", "hours"]
