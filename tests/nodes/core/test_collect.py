"""core.collect: digits into a variable; timeouts never count as success; secrets masked."""

from __future__ import annotations

import functools
import json
from typing import Any

import pytest

import runtime.testing
from nodes.core.collect import Collect
from runtime.call import CallerHangup, CollectSpec
from runtime.flow import Settings
from runtime.simulator import SimulatedChannel
from runtime.testing import NodeRun, run_node
from runtime.trace import MASK

PROMPTS = {
    "enter_account": {"text": {"zh-CN": "请输入公积金账号，以井号键结束"}},
    "no_key": {"text": {"zh-CN": "您没有输入"}},
    "wrong": {"text": {"zh-CN": "输入有误，请重新输入"}},
}
CONFIG: dict[str, Any] = {
    "prompts": ["enter_account"],
    "variable": "account",
    "timeout_prompts": ["no_key"],
    "invalid_prompts": ["wrong"],
}
VARIABLES = {"account": {"type": "string"}}


async def collect(keys: str, **overrides: Any) -> NodeRun:
    return await run_node(
        Collect, {**CONFIG, **overrides}, keys=keys, prompts=PROMPTS, variables=VARIABLES
    )


def heard(run: NodeRun) -> list[list[str]]:
    return [h.prompts for h in run.heard]


def attempts(run: NodeRun) -> list[dict[str, Any]]:
    return [
        {k: v for k, v in e.items() if k != "event"}
        for e in run.events
        if e["event"] == "collect_attempt"
    ]


# -- ok --------------------------------------------------------------------------------------


async def test_digits_end_with_terminator() -> None:
    run = await collect("1234#")
    assert run.exit == "ok"
    assert run.vars["account"] == "1234"
    assert run.vars_changed == {"account": "1234"}
    assert heard(run) == [["enter_account"]]
    assert attempts(run) == [{"attempt": 1, "digits": "1234", "result": "ok"}]


async def test_digits_end_at_max_digits() -> None:
    run = await collect("1234567")  # default max_digits = 6
    assert run.exit == "ok"
    assert run.vars["account"] == "123456"


async def test_leading_zeros_are_kept_as_text() -> None:
    run = await collect("000123#")
    assert run.exit == "ok"
    assert run.vars["account"] == "000123"
    assert isinstance(run.vars["account"], str)


async def test_entry_ended_by_inter_digit_timeout_is_accepted() -> None:
    run = await collect("4321", min_digits=4)
    assert run.exit == "ok"
    assert run.vars["account"] == "4321"


async def test_other_terminators() -> None:
    run = await collect("12*", terminator="*")
    assert run.vars["account"] == "12"
    # with no end key, # is an ordinary key (ID numbers ending in X are typed as *)
    run = await collect("12#*", terminator="", max_digits=4)
    assert run.exit == "ok"
    assert run.vars["account"] == "12#*"


async def test_star_counts_as_a_digit_under_hash_terminator() -> None:
    run = await collect("11010519491231002*#", max_digits=18, min_digits=18)
    assert run.exit == "ok"
    assert run.vars["account"] == "11010519491231002*"


async def test_pattern_must_match_whole_entry() -> None:
    run = await collect("123456#", pattern=r"[1-9]\d{5}")
    assert run.exit == "ok"
    run = await collect("1234567#", pattern=r"\d{6}", max_digits=10, max_attempts=1)
    assert run.exit == "invalid"  # re.search would have accepted it


# -- invalid ---------------------------------------------------------------------------------


async def test_too_few_digits_is_invalid_then_retry() -> None:
    run = await collect("123# 123456", min_digits=6)
    assert run.exit == "ok"
    assert run.vars["account"] == "123456"
    assert heard(run) == [["enter_account"], ["wrong"], ["enter_account"]]
    assert attempts(run) == [
        {"attempt": 1, "digits": "123", "result": "invalid", "reason": "too_short"},
        {"attempt": 2, "digits": "123456", "result": "ok"},
    ]


async def test_only_terminator_is_invalid_not_ok() -> None:
    run = await collect("#", max_attempts=1)
    assert run.exit == "invalid"
    assert "account" not in run.vars_changed
    assert run.vars["account"] is None


async def test_pattern_mismatch_is_invalid() -> None:
    run = await collect("012345# 0 00#", pattern=r"[1-9]\d*")
    assert run.exit == "invalid"
    assert [a["reason"] for a in attempts(run)] == ["pattern"] * 3
    assert heard(run) == [
        ["enter_account"],
        ["wrong"],
        ["enter_account"],
        ["wrong"],
        ["enter_account"],
    ]
    assert run.vars["account"] is None


# -- timeout ---------------------------------------------------------------------------------


async def test_silence_is_a_timeout_never_an_empty_success() -> None:
    run = await collect("- - -")
    assert run.exit == "timeout"
    assert run.vars["account"] is None
    assert run.vars_changed == {}
    assert heard(run) == [
        ["enter_account"],
        ["no_key"],
        ["enter_account"],
        ["no_key"],
        ["enter_account"],
    ]


async def test_timeout_then_entry() -> None:
    run = await collect("- 8#")
    assert run.exit == "ok"
    assert run.vars["account"] == "8"
    assert [a["result"] for a in attempts(run)] == ["timeout", "ok"]
    assert attempts(run)[0]["digits"] is None


@pytest.mark.parametrize(("keys", "exit_name"), [("1# - 1#", "invalid"), ("1# 1# -", "timeout")])
async def test_exhausted_exit_follows_the_last_failure(keys: str, exit_name: str) -> None:
    run = await collect(keys, min_digits=4)
    assert run.exit == exit_name


async def test_no_prompts_by_default() -> None:
    run = await run_node(Collect, {"variable": "x"}, keys="5#")
    assert run.exit == "ok"
    assert run.vars["x"] == "5"
    assert run.heard == []


# -- secrets ---------------------------------------------------------------------------------


async def test_secret_entry_is_masked_everywhere() -> None:
    channel = SimulatedChannel("111# 654321#")
    run = await run_node(
        Collect,
        {**CONFIG, "variable": "pin", "secret": True, "min_digits": 6},
        channel=channel,
        prompts=PROMPTS,
    )
    assert run.exit == "ok"
    assert run.vars["pin"] == "654321"
    assert run.vars_changed == {"pin": MASK}
    assert run.call.is_secret("pin")
    assert all(spec.secret for spec in channel.specs)
    text = json.dumps(run.events, ensure_ascii=False)
    assert "654321" not in text and "111" not in text
    assert attempts(run) == [
        {"attempt": 1, "digits": "***", "result": "invalid", "reason": "too_short"},
        {"attempt": 2, "digits": "******", "result": "ok"},
    ]


async def test_declared_secret_variable_is_masked_without_the_flag() -> None:
    run = await run_node(
        Collect,
        {"variable": "pin"},
        keys="98#",
        variables={"pin": {"type": "string", "secret": True}},
    )
    assert run.exit == "ok"
    assert run.vars["pin"] == "98"
    assert run.vars_changed == {"pin": MASK}
    assert "98" not in json.dumps(run.events)


# -- the CollectSpec sent to the channel ------------------------------------------------------


async def test_spec_uses_flow_settings_when_timeouts_are_null(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        runtime.testing,
        "Settings",
        functools.partial(Settings, input_timeout_ms=7000, inter_digit_timeout_ms=2500),
    )
    channel = SimulatedChannel("12#")
    await run_node(Collect, CONFIG, channel=channel, prompts=PROMPTS)
    assert channel.specs == [
        CollectSpec(
            min_digits=1,
            max_digits=6,
            terminator="#",
            first_timeout_ms=7000,
            inter_digit_timeout_ms=2500,
            barge_in=True,
            secret=False,
        )
    ]


async def test_spec_uses_configured_values() -> None:
    channel = SimulatedChannel("1234")
    await run_node(
        Collect,
        {
            **CONFIG,
            "min_digits": 4,
            "max_digits": 18,
            "terminator": "",
            "first_timeout_ms": 8000,
            "inter_digit_timeout_ms": 1200,
            "barge_in": False,
        },
        channel=channel,
        prompts=PROMPTS,
    )
    (spec,) = channel.specs
    assert spec == CollectSpec(
        min_digits=4,
        max_digits=18,
        terminator=None,
        first_timeout_ms=8000,
        inter_digit_timeout_ms=1200,
        barge_in=False,
        secret=False,
    )


# -- hangup ----------------------------------------------------------------------------------


@pytest.mark.parametrize("keys", ["h", "- h", "1# h", ""])
async def test_caller_hangup_propagates(keys: str) -> None:
    with pytest.raises(CallerHangup):
        await collect(keys, min_digits=4)


# -- definition ------------------------------------------------------------------------------


def test_exits_and_defaults() -> None:
    assert Collect.exits_for(Collect.with_defaults(CONFIG)) == ("ok", "timeout", "invalid")
    assert Collect.optional_exits == frozenset()
    assert Collect.waits_for_input is True
    config = Collect.with_defaults({"variable": "x"})
    assert config == {
        "variable": "x",
        "prompts": [],
        "min_digits": 1,
        "max_digits": 6,
        "terminator": "#",
        "first_timeout_ms": None,
        "inter_digit_timeout_ms": None,
        "secret": False,
        "max_attempts": 3,
        "timeout_prompts": [],
        "invalid_prompts": [],
        "barge_in": True,
    }
    assert Collect.config_errors(config) == []


def test_check_config_min_above_max() -> None:
    issues = Collect.check_config(
        Collect.with_defaults({"variable": "x", "min_digits": 8, "max_digits": 6})
    )
    assert [(i.pointer, i.code) for i in issues] == [("/min_digits", "collect.min_above_max")]
    assert "8" in issues[0].message_zh and "6" in issues[0].message_en


def test_check_config_bad_pattern() -> None:
    issues = Collect.check_config(Collect.with_defaults({"variable": "x", "pattern": "([0-9"}))
    assert [(i.pointer, i.code, i.severity) for i in issues] == [
        ("/pattern", "collect.bad_pattern", "error")
    ]
    assert issues[0].message_zh and issues[0].message_en
    assert Collect.check_config(Collect.with_defaults({**CONFIG, "pattern": r"\d{6}"})) == []


def test_schema_rejects_bad_configs() -> None:
    bad: list[dict[str, Any]] = [
        {},
        {"variable": "1abc"},
        {"variable": "has space"},
        {"variable": "x" * 65},
        {"variable": "x", "min_digits": 0},
        {"variable": "x", "max_digits": 33},
        {"variable": "x", "terminator": "1"},
        {"variable": "x", "pattern": "x" * 201},
        {"variable": "x", "first_timeout_ms": 499},
        {"variable": "x", "inter_digit_timeout_ms": 60001},
        {"variable": "x", "prompts": ["p"] * 21},
        {"variable": "x", "max_attempts": 11},
    ]
    for config in bad:
        assert Collect.config_errors(Collect.with_defaults(config)), config


def test_variable_is_a_reference() -> None:
    refs = Collect.references(Collect.with_defaults(CONFIG))
    assert ("variable-out", "/variable", "account") in [(r.kind, r.pointer, r.value) for r in refs]
