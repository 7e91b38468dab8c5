"""core.menu: keys as exits, retries after silence / wrong keys, last failure decides."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import pytest

import runtime.testing
from nodes.core.menu import Menu
from runtime.call import CallerHangup, CollectSpec, Prompt
from runtime.flow import Settings
from runtime.simulator import SimulatedChannel
from runtime.testing import NodeRun, run_node

PROMPTS = {
    "main_menu": {"text": {"zh-CN": "个人账户请按1，贷款请按2"}},
    "no_key": {"text": {"zh-CN": "您没有按键"}},
    "wrong_key": {"text": {"zh-CN": "输入有误"}},
}
CONFIG: dict[str, Any] = {
    "prompts": ["main_menu"],
    "options": [
        {"key": "1", "label": "个人账户"},
        {"key": "2", "label": "个人贷款"},
        {"key": "0"},
    ],
    "timeout_prompts": ["no_key"],
    "invalid_prompts": ["wrong_key"],
}


async def menu(keys: str, **overrides: Any) -> NodeRun:
    return await run_node(Menu, {**CONFIG, **overrides}, keys=keys, prompts=PROMPTS)


def heard(run: NodeRun) -> list[list[str]]:
    return [h.prompts for h in run.heard]


def attempts(run: NodeRun) -> list[dict[str, Any]]:
    return [
        {k: v for k, v in e.items() if k != "event"} for e in run.events if e["event"] == "menu"
    ]


# -- exits -----------------------------------------------------------------------------------


async def test_valid_key_takes_its_exit() -> None:
    run = await menu("2")
    assert run.exit == "2"
    assert heard(run) == [["main_menu"]]
    assert run.heard[0].text == "个人账户请按1，贷款请按2"
    assert attempts(run) == [{"attempt": 1, "key": "2", "result": "ok"}]


async def test_star_and_hash_are_ordinary_keys() -> None:
    options = [{"key": "*", "label": "重听"}, {"key": "#"}]
    assert (await menu("*", options=options)).exit == "*"
    assert (await menu("#", options=options)).exit == "#"


async def test_only_the_first_key_counts() -> None:
    run = await menu("12")
    assert run.exit == "1"
    assert run.channel.unused_keys == []


async def test_timeout_then_valid_key() -> None:
    run = await menu("- 1")
    assert run.exit == "1"
    assert heard(run) == [["main_menu"], ["no_key"], ["main_menu"]]
    assert attempts(run) == [
        {"attempt": 1, "key": None, "result": "timeout"},
        {"attempt": 2, "key": "1", "result": "ok"},
    ]


async def test_invalid_then_valid_key() -> None:
    run = await menu("7 0")
    assert run.exit == "0"
    assert heard(run) == [["main_menu"], ["wrong_key"], ["main_menu"]]
    assert attempts(run) == [
        {"attempt": 1, "key": "7", "result": "invalid"},
        {"attempt": 2, "key": "0", "result": "ok"},
    ]


async def test_all_timeouts_take_timeout_exit() -> None:
    run = await menu("- - -")
    assert run.exit == "timeout"
    # the retry prompt is not played after the last attempt: the timeout exit takes over
    assert heard(run) == [["main_menu"], ["no_key"], ["main_menu"], ["no_key"], ["main_menu"]]
    assert [a["result"] for a in attempts(run)] == ["timeout"] * 3


async def test_all_invalid_take_invalid_exit() -> None:
    run = await menu("9 8 #")
    assert run.exit == "invalid"
    assert heard(run) == [
        ["main_menu"],
        ["wrong_key"],
        ["main_menu"],
        ["wrong_key"],
        ["main_menu"],
    ]
    assert [a["key"] for a in attempts(run)] == ["9", "8", "#"]


@pytest.mark.parametrize(
    ("keys", "exit_name"),
    [("7 - 7", "invalid"), ("7 7 -", "timeout"), ("- - 7", "invalid"), ("- 7 -", "timeout")],
)
async def test_exhausted_exit_follows_the_last_failure(keys: str, exit_name: str) -> None:
    run = await menu(keys)
    assert run.exit == exit_name
    assert len(attempts(run)) == 3
    assert run.channel.unused_keys == []


async def test_max_attempts_counts_every_ask() -> None:
    run = await menu("- 1", max_attempts=1)
    assert run.exit == "timeout"
    assert heard(run) == [["main_menu"]]
    assert run.channel.unused_keys == ["1"]

    run = await menu("- - - - 2", max_attempts=5)
    assert run.exit == "2"
    assert len(attempts(run)) == 5


async def test_no_retry_prompts_just_asks_again() -> None:
    run = await menu("- 5 1", timeout_prompts=[], invalid_prompts=[])
    assert run.exit == "1"
    assert heard(run) == [["main_menu"]] * 3


async def test_defaults_are_applied() -> None:
    config = Menu.with_defaults({"prompts": ["main_menu"], "options": [{"key": "1"}]})
    assert config["max_attempts"] == 3
    assert config["timeout_ms"] is None
    assert config["timeout_prompts"] == [] and config["invalid_prompts"] == []
    assert config["barge_in"] is True
    run = await run_node(Menu, {"prompts": ["main_menu"], "options": [{"key": "1"}]}, keys="- - -")
    assert run.exit == "timeout"
    assert heard(run) == [["main_menu"]] * 3


# -- the CollectSpec sent to the channel ------------------------------------------------------


async def test_spec_uses_flow_settings_when_timeout_is_null(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        runtime.testing,
        "Settings",
        functools.partial(Settings, input_timeout_ms=7000, inter_digit_timeout_ms=2500),
    )
    channel = SimulatedChannel("- 1")
    run = await run_node(Menu, CONFIG, channel=channel, prompts=PROMPTS)
    assert run.exit == "1"
    assert run.call.settings.input_timeout_ms == 7000
    assert (
        channel.specs
        == [
            CollectSpec(
                min_digits=1,
                max_digits=1,
                terminator=None,
                first_timeout_ms=7000,
                inter_digit_timeout_ms=2500,
                barge_in=True,
                secret=False,
            )
        ]
        * 2
    )


async def test_spec_uses_configured_timeout_and_barge_in() -> None:
    channel = SimulatedChannel("1")
    await run_node(
        Menu, {**CONFIG, "timeout_ms": 1500, "barge_in": False}, channel=channel, prompts=PROMPTS
    )
    (spec,) = channel.specs
    assert spec.first_timeout_ms == 1500
    assert spec.barge_in is False
    assert spec.terminator is None
    assert (spec.min_digits, spec.max_digits) == (1, 1)


# -- hangup ----------------------------------------------------------------------------------


@pytest.mark.parametrize("keys", ["h", "- h", "7 h", ""])
async def test_caller_hangup_propagates(keys: str) -> None:
    with pytest.raises(CallerHangup):
        await menu(keys)


async def test_hangup_during_retry_prompt_propagates() -> None:
    class HangsUpOnRetry(SimulatedChannel):
        async def play(self, prompts: Sequence[Prompt], *, barge_in: bool = True) -> str | None:
            if prompts and prompts[0].id == "no_key":
                self.caller_hangs_up()
            return await super().play(prompts, barge_in=barge_in)

    channel = HangsUpOnRetry("- 1")
    with pytest.raises(CallerHangup):
        await run_node(Menu, CONFIG, channel=channel, prompts=PROMPTS)
    assert channel.unused_keys == ["1"]


# -- definition ------------------------------------------------------------------------------


def test_exits_follow_the_option_keys() -> None:
    config = Menu.with_defaults(
        {"prompts": ["p"], "options": [{"key": "3"}, {"key": "1"}, {"key": "*"}]}
    )
    assert Menu.exits_for(config) == ("3", "1", "*", "timeout", "invalid")
    assert Menu.computed_exits()
    assert Menu.optional_exits == frozenset()
    assert Menu.waits_for_input is True
    assert Menu.category == "input"


def test_exits_for_tolerates_duplicate_keys() -> None:
    config = {"prompts": ["p"], "options": [{"key": "1"}, {"key": "1"}, {"key": "2"}]}
    assert Menu.exits_for(config) == ("1", "2", "timeout", "invalid")


def test_exit_titles() -> None:
    config = Menu.with_defaults(CONFIG)
    assert Menu.exit_title("1", config) == {"zh": "按 1：个人账户", "en": "Key 1: 个人账户"}
    assert Menu.exit_title("0", config) == {"zh": "按 0", "en": "Key 0"}
    assert Menu.exit_title("1") == {"zh": "按 1", "en": "Key 1"}
    assert Menu.exit_title("timeout", config) == {"zh": "超时", "en": "Timeout"}
    assert Menu.exit_title("invalid", config) == {"zh": "无效输入", "en": "Invalid input"}
    blank = {"prompts": ["p"], "options": [{"key": "5", "label": "  "}]}
    assert Menu.exit_title("5", blank) == {"zh": "按 5", "en": "Key 5"}


def test_check_config_reports_duplicate_keys() -> None:
    config = Menu.with_defaults(
        {"prompts": ["p"], "options": [{"key": "1"}, {"key": "2"}, {"key": "1"}, {"key": "1"}]}
    )
    issues = Menu.check_config(config)
    assert [(i.pointer, i.code, i.severity) for i in issues] == [
        ("/options/2/key", "menu.duplicate_key", "error"),
        ("/options/3/key", "menu.duplicate_key", "error"),
    ]
    assert "1" in issues[0].message_zh and "1" in issues[0].message_en
    assert Menu.check_config(Menu.with_defaults(CONFIG)) == []


def test_schema_rejects_bad_configs() -> None:
    assert Menu.config_errors(Menu.with_defaults(CONFIG)) == []
    bad: list[dict[str, Any]] = [
        {"options": [{"key": "1"}]},  # no prompts
        {"prompts": [], "options": [{"key": "1"}]},
        {"prompts": ["p"], "options": []},
        {"prompts": ["p"], "options": [{"key": "A"}]},
        {"prompts": ["p"], "options": [{"key": "12"}]},
        {"prompts": ["p"], "options": [{"label": "no key"}]},
        {"prompts": ["p"], "options": [{"key": "1", "label": "x" * 101}]},
        {"prompts": ["p"], "options": [{"key": k} for k in "0123456789*#"] + [{"key": "1"}]},
        {"prompts": ["p"], "options": [{"key": "1"}], "max_attempts": 0},
        {"prompts": ["p"], "options": [{"key": "1"}], "max_attempts": 11},
        {"prompts": ["p"], "options": [{"key": "1"}], "timeout_ms": 100},
        {"prompts": ["p"], "options": [{"key": "1"}], "timeout_ms": 60001},
        {"prompts": ["p"], "options": [{"key": "1"}], "surprise": True},
    ]
    for config in bad:
        assert Menu.config_errors(Menu.with_defaults(config)), config


def test_prompt_references() -> None:
    refs = Menu.references(Menu.with_defaults(CONFIG))
    assert [(r.kind, r.pointer, r.value) for r in refs] == [
        ("prompt", "/prompts/0", "main_menu"),
        ("prompt", "/timeout_prompts/0", "no_key"),
        ("prompt", "/invalid_prompts/0", "wrong_key"),
    ]
