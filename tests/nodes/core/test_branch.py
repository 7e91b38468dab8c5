"""core.branch: first true rule wins, default, error; exits and titles from the rules."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from nodes.api import Reference
from nodes.core.branch import Branch
from runtime.testing import run_node
from runtime.validate import validate

RULES: dict[str, Any] = {
    "rules": [
        {"exit": "vip", "when": "vip == true", "label": "贵宾"},
        {"exit": "local", "when": 'startswith(caller, "0571")'},
        {"exit": "vip", "when": "level >= 5"},
    ]
}


def test_exits_are_unique_rule_exits_then_default_and_error() -> None:
    assert Branch.exits_for(RULES) == ("vip", "local", "default", "error")
    assert Branch.computed_exits()
    assert Branch.optional_exits == frozenset({"error"})


def test_exit_title_uses_the_rule_label() -> None:
    assert Branch.exit_title("vip", RULES) == {"zh": "贵宾", "en": "贵宾"}
    assert Branch.exit_title("local", RULES) == {"zh": "local", "en": "local"}
    assert Branch.exit_title("default", RULES) == {"zh": "其他情况", "en": "Otherwise"}
    assert Branch.exit_title("error") == {"zh": "出错", "en": "Error"}


@pytest.mark.parametrize(
    "rule",
    [
        {"exit": "default", "when": "true"},
        {"exit": "error", "when": "true"},
        {"exit": "a b", "when": "true"},
        {"exit": "x" * 33, "when": "true"},
        {"exit": "ok"},
        {"exit": "ok", "when": ""},
        {"exit": "ok", "when": "true", "extra": 1},
    ],
)
def test_schema_rejects(rule: dict[str, Any]) -> None:
    assert Branch.config_errors({"rules": [rule]})


def test_schema_limits_rule_count() -> None:
    assert Branch.config_errors({"rules": []})
    assert Branch.config_errors({"rules": [{"exit": "a", "when": "true"}] * 33})
    assert Branch.config_errors({"rules": [{"exit": "a", "when": "true"}] * 32}) == []


def test_references_are_the_expressions() -> None:
    assert Branch.references(RULES) == [
        Reference("expression", "/rules/0/when", "vip == true"),
        Reference("expression", "/rules/1/when", 'startswith(caller, "0571")'),
        Reference("expression", "/rules/2/when", "level >= 5"),
    ]


async def branch(vars: dict[str, Any], config: dict[str, Any] = RULES, **kw: Any):
    return await run_node(Branch, config, vars=vars, **kw)


async def test_first_true_rule_wins() -> None:
    run = await branch({"vip": True, "level": 1}, caller="05711234567")
    assert run.exit == "vip"
    assert run.events == [{"event": "branch", "rule": 0, "when": "vip == true", "exit": "vip"}]


async def test_second_rule() -> None:
    run = await branch({"vip": False, "level": 9}, caller="05711234567")
    assert run.exit == "local"
    assert run.events[0]["rule"] == 1


async def test_shared_exit_from_a_later_rule() -> None:
    run = await branch({"vip": None, "level": "7"}, caller="01012345678")
    assert run.exit == "vip"
    assert run.events[0]["rule"] == 2


async def test_default_when_nothing_holds() -> None:
    run = await branch({"vip": False, "level": 1}, caller="01012345678")
    assert run.exit == "default"
    assert run.events == [{"event": "branch", "rule": None, "exit": "default"}]


async def test_evaluation_error_takes_error() -> None:
    run = await branch({"vip": False, "level": "abc"}, caller="01012345678")
    assert run.exit == "error"
    (event,) = run.events
    assert event["event"] == "branch_error" and event["rule"] == 2
    assert "compare" in event["reason"] and event["reason_zh"]


async def test_error_stops_before_later_rules() -> None:
    config = {"rules": [{"exit": "a", "when": "missing == 1"}, {"exit": "b", "when": "true"}]}
    run = await branch({}, config)
    assert run.exit == "error"


@pytest.mark.parametrize(
    ("value", "truthy"),
    [
        ("0", True),
        ("text", True),
        (0, False),
        (0.0, False),
        ("", False),
        ([], False),
        ({}, False),
        (None, False),
        ([0], True),
        ({"a": 1}, True),
    ],
)
async def test_truthiness_follows_the_expression_language(value: Any, truthy: bool) -> None:
    run = await branch({"x": value}, {"rules": [{"exit": "yes", "when": "x"}]})
    assert run.exit == ("yes" if truthy else "default")


async def test_office_hours_with_the_call_clock() -> None:
    config = {"rules": [{"exit": "open", "when": "hour() >= 9 and hour() < 17 and weekday() <= 5"}]}
    tz = ZoneInfo("Asia/Shanghai")
    run = await branch({}, config, at=datetime(2026, 3, 4, 10, 0, tzinfo=tz))  # a Wednesday
    assert run.exit == "open"
    run = await branch({}, config, at=datetime(2026, 3, 7, 10, 0, tzinfo=tz))  # a Saturday
    assert run.exit == "default"


def test_validator_requires_default_but_not_error_with_a_fallback() -> None:
    doc = {
        "schema_version": 1,
        "id": "b",
        "name": "b",
        "settings": {"fallback": "end"},
        "nodes": {
            "start": {"type": "core.start", "version": 1, "exits": {"next": "br"}},
            "br": {
                "type": "core.branch",
                "version": 1,
                "config": {"rules": [{"exit": "yes", "when": "true"}]},
                "exits": {"yes": "end"},
            },
            "end": {"type": "core.hangup", "version": 1},
        },
    }
    errors = [(p.code, p.pointer) for p in validate(doc).errors]
    assert errors == [("exit.unwired", "/nodes/br/exits/default")]
