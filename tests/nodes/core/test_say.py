"""core.say: read values through the number prompts; bad values take the error exit."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest

from nodes.core.say import Say
from runtime.call import CallerHangup, Prompt
from runtime.simulator import SimulatedChannel
from runtime.testing import NodeRun, run_node


class BargeInRecorder(SimulatedChannel):
    def __init__(self, keys: str = "", **options: Any) -> None:
        super().__init__(keys, **options)
        self.barge_in: list[bool] = []

    async def play(self, prompts: Sequence[Prompt], *, barge_in: bool = True) -> str | None:
        self.barge_in.append(barge_in)
        return await super().play(prompts, barge_in=barge_in)


def said(run: NodeRun) -> list[str]:
    return [e["text"] for e in run.events if e["event"] == "say"]


def errors(run: NodeRun) -> list[dict[str, Any]]:
    return [e for e in run.events if e["event"] == "say_error"]


async def test_money_in_mandarin_from_a_variable() -> None:
    run = await run_node(Say, {"kind": "money", "value": "{{balance}}"}, vars={"balance": 1234.56})
    assert run.exit == "next"
    assert said(run) == ["一千二百三十四元五角六分"]
    assert len(run.heard) == 1
    assert run.heard[0].prompts[0] == "say/zh/1"
    assert run.heard[0].text.replace(" ", "") == "一千二百三十四元五角六分"
    assert errors(run) == []


async def test_number_in_english_by_config() -> None:
    run = await run_node(
        Say, {"kind": "number", "value": "{{n}}", "language": "en-US"}, vars={"n": 1234}
    )
    assert run.exit == "next"
    assert said(run) == ["one thousand two hundred thirty four"]
    assert all(p.startswith("say/en/") for p in run.heard[0].prompts)
    assert run.language == "zh-CN"  # saying in English does not switch the call


async def test_default_language_is_the_calls() -> None:
    run = await run_node(Say, {"kind": "money", "value": "10.60"}, languages=("en-US", "zh-CN"))
    assert run.exit == "next"
    assert said(run) == ["ten yuan six jiao"]


async def test_literal_date_and_digit_string() -> None:
    run = await run_node(Say, {"kind": "date", "value": "2026-10-01"})
    assert said(run) == ["二零二六年十月一日"]
    run = await run_node(Say, {"kind": "digits", "value": "{{acct}}"}, vars={"acct": "0012"})
    assert said(run) == ["零零一二"]


async def test_single_placeholder_keeps_the_variables_type() -> None:
    # a float 5.0 is read as 五点零; rendered to text it would have been "5" → 五
    run = await run_node(Say, {"kind": "number", "value": "{{x}}"}, vars={"x": 5.0})
    assert said(run) == ["五点零"]
    run = await run_node(Say, {"kind": "number", "value": " {{x}} "}, vars={"x": 5.0})
    assert said(run) == ["五点零"]


async def test_dotted_placeholder() -> None:
    run = await run_node(
        Say, {"kind": "number", "value": "{{account.months}}"}, vars={"account": {"months": 12}}
    )
    assert said(run) == ["十二"]


async def test_barge_in_defaults_to_off() -> None:
    channel = BargeInRecorder()
    await run_node(Say, {"kind": "number", "value": "1"}, channel=channel)
    assert channel.barge_in == [False]
    channel = BargeInRecorder()
    await run_node(Say, {"kind": "number", "value": "1", "barge_in": True}, channel=channel)
    assert channel.barge_in == [True]


# -- error exit ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "vars"),
    [("{{missing}}", {}), ("{{x}}", {"x": None}), ("{{x}}", {"x": ""}), ("{{x}}", {"x": "  "})],
)
async def test_empty_value_takes_error_exit(value: str, vars: dict[str, Any]) -> None:
    run = await run_node(Say, {"kind": "money", "value": value}, vars=vars)
    assert run.exit == "error"
    assert run.heard == []
    (error,) = errors(run)
    assert error["kind"] == "money"
    assert error["value"] == value
    assert error["reason_en"] == "the value to say is empty"
    assert error["reason_zh"]


async def test_unsayable_value_takes_error_exit() -> None:
    run = await run_node(Say, {"kind": "date", "value": "{{d}}"}, vars={"d": "2026-13-45"})
    assert run.exit == "error"
    assert run.heard == []
    (error,) = errors(run)
    assert "2026-13-45" in error["reason_en"]
    assert "2026-13-45" in error["reason_zh"]


async def test_wrong_type_and_unsupported_language_take_error_exit() -> None:
    run = await run_node(Say, {"kind": "number", "value": "{{x}}"}, vars={"x": True})
    assert run.exit == "error"
    run = await run_node(Say, {"kind": "number", "value": "12", "language": "fr-FR"})
    assert run.exit == "error"
    assert "fr-FR" in errors(run)[0]["reason_en"]


async def test_error_note_does_not_quote_a_secret_value() -> None:
    run = await run_node(
        Say,
        {"kind": "money", "value": "{{pin}}"},
        vars={"pin": "12x"},
        variables={"pin": {"type": "string", "secret": True}},
    )
    assert run.exit == "error"
    assert "12x" not in json.dumps(run.events)
    assert errors(run)[0]["reason_en"] == "the secret value cannot be said as money"


async def test_caller_hangup_propagates() -> None:
    channel = SimulatedChannel()
    channel.caller_hangs_up()
    with pytest.raises(CallerHangup):
        await run_node(Say, {"kind": "number", "value": "1"}, channel=channel)


# -- definition ------------------------------------------------------------------------------


def test_exits_and_defaults() -> None:
    assert Say.exits == ("next", "error")
    assert Say.optional_exits == frozenset({"error"})
    assert Say.category == "basic"
    assert not Say.waits_for_input
    assert Say.with_defaults({"kind": "number", "value": "1"}) == {
        "kind": "number",
        "value": "1",
        "barge_in": False,
    }


def test_schema_rejects_bad_configs() -> None:
    bad: list[dict[str, Any]] = [
        {"value": "1"},
        {"kind": "number"},
        {"kind": "roman", "value": "1"},
        {"kind": "number", "value": ""},
        {"kind": "number", "value": 12},
        {"kind": "number", "value": "1", "language": "Chinese"},
        {"kind": "number", "value": "1", "extra": 1},
    ]
    for config in bad:
        assert Say.config_errors(Say.with_defaults(config)), config
    assert Say.config_errors(Say.with_defaults({"kind": "time", "value": "{{t}}"})) == []


def test_check_config() -> None:
    def codes(config: dict[str, Any]) -> list[tuple[str, str]]:
        return [(i.pointer, i.code) for i in Say.check_config(Say.with_defaults(config))]

    assert codes({"kind": "money", "value": "{{balance}}"}) == []
    assert codes({"kind": "money", "value": "12.50", "language": "en-US"}) == []
    assert codes({"kind": "date", "value": "2026-02-30"}) == [("/value", "say.value")]
    assert codes({"kind": "number", "value": "1", "language": "fr-FR"}) == [
        ("/language", "say.language")
    ]


def test_template_references() -> None:
    refs = Say.references(Say.with_defaults({"kind": "money", "value": "{{balance}}"}))
    assert [(r.kind, r.pointer, r.value) for r in refs] == [("template", "/value", "{{balance}}")]
