"""core.language_select: the caller's key sets the call's language."""

from __future__ import annotations

import functools
from typing import Any

import pytest

import runtime.testing
from nodes.core.language import LanguageSelect
from runtime.call import CallerHangup, CollectSpec, Prompt
from runtime.flow import Settings
from runtime.simulator import SimulatedChannel
from runtime.testing import NodeRun, run_node

PROMPTS = {
    "choose_language": {"text": {"zh-CN": "普通话请按1", "en-US": "For English press 2"}},
    "no_key": {"text": {"zh-CN": "您没有按键"}},
    "wrong_key": {"text": {"zh-CN": "输入有误"}},
}
CONFIG: dict[str, Any] = {
    "prompts": ["choose_language"],
    "options": [{"key": "1", "language": "zh-CN"}, {"key": "2", "language": "en-US"}],
    "timeout_prompts": ["no_key"],
    "invalid_prompts": ["wrong_key"],
}
LANGUAGES = ("zh-CN", "en-US")


async def choose(keys: str, **overrides: Any) -> NodeRun:
    return await run_node(
        LanguageSelect, {**CONFIG, **overrides}, keys=keys, prompts=PROMPTS, languages=LANGUAGES
    )


def heard(run: NodeRun) -> list[list[str]]:
    return [h.prompts for h in run.heard]


def attempts(run: NodeRun) -> list[dict[str, Any]]:
    return [
        {k: v for k, v in e.items() if k != "event"}
        for e in run.events
        if e["event"] == "language_select"
    ]


async def test_key_sets_the_language() -> None:
    run = await choose("2")
    assert run.exit == "next"
    assert run.language == "en-US"
    assert run.vars_changed == {"language": "en-US"}
    assert run.call.vars["language"] == "en-US"
    # later prompts are resolved in the chosen language
    assert run.call.prompt("choose_language") == Prompt(
        "choose_language", "For English press 2", "en-US"
    )
    assert attempts(run) == [{"attempt": 1, "key": "2", "result": "ok"}]


async def test_choosing_the_current_language() -> None:
    run = await choose("1")
    assert run.exit == "next"
    assert run.language == "zh-CN"
    assert heard(run) == [["choose_language"]]
    assert run.heard[0].text == "普通话请按1"


async def test_timeout_then_valid_key() -> None:
    run = await choose("- 2")
    assert run.exit == "next"
    assert run.language == "en-US"
    assert heard(run) == [["choose_language"], ["no_key"], ["choose_language"]]


async def test_invalid_then_valid_key() -> None:
    run = await choose("5 1")
    assert run.exit == "next"
    assert heard(run) == [["choose_language"], ["wrong_key"], ["choose_language"]]
    assert [a["result"] for a in attempts(run)] == ["invalid", "ok"]


@pytest.mark.parametrize(
    ("keys", "exit_name"), [("- - -", "timeout"), ("5 5 5", "invalid"), ("5 - 5", "invalid")]
)
async def test_exhausted_keeps_the_language(keys: str, exit_name: str) -> None:
    run = await choose(keys)
    assert run.exit == exit_name
    assert run.language == "zh-CN"
    assert run.vars_changed == {}
    assert len(attempts(run)) == 3


async def test_max_attempts_and_timeout_from_config() -> None:
    channel = SimulatedChannel("- 2")
    run = await run_node(
        LanguageSelect,
        {**CONFIG, "max_attempts": 1, "timeout_ms": 3000},
        channel=channel,
        prompts=PROMPTS,
        languages=LANGUAGES,
    )
    assert run.exit == "timeout"
    assert [s.first_timeout_ms for s in channel.specs] == [3000]
    assert channel.unused_keys == ["2"]


async def test_spec_uses_flow_settings_when_timeout_is_null(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        runtime.testing,
        "Settings",
        functools.partial(Settings, input_timeout_ms=6500, inter_digit_timeout_ms=2000),
    )
    channel = SimulatedChannel("1")
    await run_node(LanguageSelect, CONFIG, channel=channel, prompts=PROMPTS, languages=LANGUAGES)
    assert channel.specs == [
        CollectSpec(
            min_digits=1,
            max_digits=1,
            terminator=None,
            first_timeout_ms=6500,
            inter_digit_timeout_ms=2000,
            barge_in=True,
            secret=False,
        )
    ]


@pytest.mark.parametrize("keys", ["h", "- h", ""])
async def test_caller_hangup_propagates(keys: str) -> None:
    with pytest.raises(CallerHangup):
        await choose(keys)


# -- definition ------------------------------------------------------------------------------


def test_exits_and_defaults() -> None:
    assert LanguageSelect.exits_for(LanguageSelect.with_defaults(CONFIG)) == (
        "next",
        "timeout",
        "invalid",
    )
    assert LanguageSelect.optional_exits == frozenset()
    assert LanguageSelect.waits_for_input is True
    assert LanguageSelect.category == "input"
    config = LanguageSelect.with_defaults({"prompts": ["p"], "options": CONFIG["options"]})
    assert config["max_attempts"] == 3
    assert config["timeout_ms"] is None
    assert config["timeout_prompts"] == [] and config["invalid_prompts"] == []
    assert LanguageSelect.config_errors(config) == []


def test_check_config_reports_duplicate_keys() -> None:
    config = LanguageSelect.with_defaults(
        {
            "prompts": ["p"],
            "options": [{"key": "1", "language": "zh-CN"}, {"key": "1", "language": "en-US"}],
        }
    )
    issues = LanguageSelect.check_config(config)
    assert [(i.pointer, i.code, i.severity) for i in issues] == [
        ("/options/1/key", "language_select.duplicate_key", "error")
    ]
    assert issues[0].message_zh and issues[0].message_en
    assert LanguageSelect.check_config(LanguageSelect.with_defaults(CONFIG)) == []


def test_schema_rejects_bad_configs() -> None:
    opt = {"key": "1", "language": "zh-CN"}
    bad: list[dict[str, Any]] = [
        {"options": [opt]},
        {"prompts": ["p"]},
        {"prompts": ["p"], "options": []},
        {"prompts": ["p"], "options": [{"key": "1"}]},
        {"prompts": ["p"], "options": [{"key": "1", "language": "Mandarin"}]},
        {"prompts": ["p"], "options": [{"key": "x", "language": "zh-CN"}]},
        {"prompts": ["p"], "options": [opt] * 10},
        {"prompts": ["p"], "options": [opt], "timeout_ms": 10},
    ]
    for config in bad:
        assert LanguageSelect.config_errors(LanguageSelect.with_defaults(config)), config


def test_language_references() -> None:
    refs = LanguageSelect.references(LanguageSelect.with_defaults(CONFIG))
    assert ("language", "/options/1/language", "en-US") in [
        (r.kind, r.pointer, r.value) for r in refs
    ]
