"""core.record: recorded / no_audio / error, the file name variable, the record options."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from nodes.api import Reference
from nodes.core.record import Record
from runtime.call import Prompt, RecordResult, RecordStatus
from runtime.simulator import SimulatedChannel
from runtime.testing import run_node

PROMPTS = {"after_beep": {"text": {"zh-CN": "请在提示音后留言"}}}


class RecChannel(SimulatedChannel):
    def __init__(self, result: RecordResult) -> None:
        super().__init__("")
        self.result = result
        self.calls: list[dict[str, Any]] = []

    async def record(
        self, *, max_s: int, silence_s: int, beep: bool, prompts: Sequence[Prompt] = ()
    ) -> RecordResult:
        self.calls.append(
            {"max_s": max_s, "silence_s": silence_s, "beep": beep, "prompts": list(prompts)}
        )
        return self.result


def test_describe_and_defaults() -> None:
    assert Record.exits == ("recorded", "no_audio", "error")
    assert Record.category == "input"
    assert Record.with_defaults({}) == {"prompts": [], "max_s": 60, "silence_s": 5, "beep": True}
    assert Record.references({"prompts": ["after_beep"], "variable": "rec"}) == [
        Reference("prompt", "/prompts/0", "after_beep"),
        Reference("variable-out", "/variable", "rec"),
    ]


@pytest.mark.parametrize(
    "config",
    [
        {"max_s": 0},
        {"max_s": 601},
        {"silence_s": -1},
        {"silence_s": 31},
        {"beep": "yes"},
        {"variable": "bad name"},
        {"prompts": "after_beep"},
    ],
)
def test_schema_rejects(config: dict[str, Any]) -> None:
    assert Record.config_errors(config)


async def test_recorded_with_the_simulator() -> None:
    run = await run_node(
        Record, {"prompts": ["after_beep"], "variable": "rec"}, prompts=PROMPTS, call_id="c42"
    )
    assert run.exit == "recorded"
    assert run.vars["rec"] == "c42-rec.wav"
    assert [h.kind for h in run.heard] == ["play", "record"]
    assert run.heard[0].prompts == ["after_beep"]
    assert {"event": "record", "status": "recorded", "file": "c42-rec.wav"} in run.events


async def test_options_reach_the_channel() -> None:
    channel = RecChannel(RecordResult(RecordStatus.RECORDED, "x.wav", 2.0))
    run = await run_node(
        Record,
        {"prompts": ["after_beep"], "max_s": 120, "silence_s": 0, "beep": False},
        channel=channel,
        prompts=PROMPTS,
    )
    assert run.exit == "recorded"
    assert channel.calls == [
        {
            "max_s": 120,
            "silence_s": 0,
            "beep": False,
            "prompts": [Prompt("after_beep", "请在提示音后留言", "zh-CN")],
        }
    ]
    assert run.vars_changed == {}  # no variable configured


async def test_no_audio_clears_the_variable() -> None:
    run = await run_node(
        Record, {"variable": "rec"}, vars={"rec": "old.wav"}, record_status="no_audio"
    )
    assert run.exit == "no_audio"
    assert run.vars["rec"] is None


async def test_error() -> None:
    run = await run_node(Record, {"variable": "rec"}, record_status="error")
    assert run.exit == "error"
    assert run.vars["rec"] is None


async def test_recorded_without_a_file_is_an_error() -> None:
    channel = RecChannel(RecordResult(RecordStatus.RECORDED, ""))
    run = await run_node(Record, {"variable": "rec"}, channel=channel)
    assert run.exit == "error"
    assert run.vars["rec"] is None
    assert any(e["event"] == "record_no_file" for e in run.events)
