"""core.set_variable: expressions and templates, in order; errors; secret taint."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from nodes.api import Reference
from nodes.core.set_variable import SetVariable
from runtime.testing import run_node
from runtime.trace import MASK


def issues(config: dict[str, Any]) -> list[tuple[str, str]]:
    assert SetVariable.config_errors(config) == []
    return [
        (i.pointer, i.code) for i in SetVariable.check_config(SetVariable.with_defaults(config))
    ]


# -- description and config ----------------------------------------------------------------


def test_describe() -> None:
    info = SetVariable.describe()
    assert info["type"] == "core.set_variable"
    assert info["category"] == "logic"
    assert info["exits"] == ["next", "error"]
    assert info["optional_exits"] == ["error"]


@pytest.mark.parametrize(
    "config",
    [
        {},
        {"assignments": []},
        {"assignments": [{"expression": "1"}]},
        {"assignments": [{"variable": "9bad", "expression": "1"}]},
        {"assignments": [{"variable": "a", "expression": "1", "other": 1}]},
        {"assignments": [{"variable": "a", "expression": "1"}] * 21},
        {"assignments": [{"variable": "a", "expression": ""}]},
    ],
)
def test_schema_rejects(config: dict[str, Any]) -> None:
    assert SetVariable.config_errors(config)


def test_expression_or_text_exactly_one() -> None:
    config = {
        "assignments": [
            {"variable": "a", "expression": "1"},
            {"variable": "b", "text": "x"},
            {"variable": "c"},
            {"variable": "d", "expression": "1", "text": "x"},
        ]
    }
    assert issues(config) == [
        ("/assignments/2", "set_variable.expression_or_text"),
        ("/assignments/3", "set_variable.expression_or_text"),
    ]


def test_expression_syntax_errors_are_reported_once_by_the_validator() -> None:
    from runtime.validate import validate

    doc = {
        "schema_version": 1,
        "id": "f",
        "name": "f",
        "settings": {"fallback": "bye"},
        "nodes": {
            "start": {"type": "core.start", "version": 1, "exits": {"next": "set"}},
            "set": {
                "type": "core.set_variable",
                "version": 1,
                "config": {
                    "assignments": [
                        {"variable": "a", "expression": "1 +"},
                        {"variable": "b", "expression": "foo(1)"},
                    ]
                },
                "exits": {"next": "bye"},
            },
            "bye": {"type": "core.hangup", "version": 1},
        },
        "variables": {"a": {}, "b": {}},
    }
    found = [p for p in validate(doc).problems if p.code == "expression.syntax"]
    assert [p.pointer for p in found] == [
        "/nodes/set/config/assignments/0/expression",
        "/nodes/set/config/assignments/1/expression",
    ]
    assert "column 4" in found[0].message_en
    assert "第 4 列" in found[0].message_zh
    assert "unknown function" in found[1].message_en


def test_references() -> None:
    config = {
        "assignments": [
            {"variable": "total", "expression": "a + b"},
            {"variable": "label", "text": "{{city}}-{{branch}}"},
        ]
    }
    assert SetVariable.references(config) == [
        Reference("variable-out", "/assignments/0/variable", "total"),
        Reference("expression", "/assignments/0/expression", "a + b"),
        Reference("variable-out", "/assignments/1/variable", "label"),
        Reference("template", "/assignments/1/text", "{{city}}-{{branch}}"),
    ]


# -- running -----------------------------------------------------------------------------


async def test_expression_and_text() -> None:
    run = await run_node(
        SetVariable,
        {
            "assignments": [
                {"variable": "cents", "expression": "number(amount) * 100"},
                {"variable": "label", "text": "{{city}}-{{branch}} 号"},
                {"variable": "tail", "expression": 'concat("尾号", substr(id_card, -4))'},
            ]
        },
        vars={"amount": "12.34", "city": "杭州", "branch": 3, "id_card": "110101199001011234"},
    )
    assert run.exit == "next"
    assert run.vars["cents"] == 1234
    assert run.vars["label"] == "杭州-3 号"
    assert run.vars["tail"] == "尾号1234"
    assert run.vars_changed == {"cents": 1234, "label": "杭州-3 号", "tail": "尾号1234"}


async def test_assignments_run_in_order() -> None:
    run = await run_node(
        SetVariable,
        {
            "assignments": [
                {"variable": "n", "expression": "n + 1"},
                {"variable": "n", "expression": "n * 10"},
                {"variable": "shown", "text": "n={{n}}"},
            ]
        },
        vars={"n": 1},
    )
    assert run.exit == "next"
    assert run.vars["n"] == 20
    assert run.vars["shown"] == "n=20"


async def test_missing_template_variable_renders_empty() -> None:
    run = await run_node(SetVariable, {"assignments": [{"variable": "t", "text": "[{{nope}}]"}]})
    assert run.vars["t"] == "[]"


async def test_clock_functions_use_the_call_time() -> None:
    at = datetime(2026, 10, 1, 9, 5, tzinfo=ZoneInfo("Asia/Shanghai"))
    run = await run_node(
        SetVariable,
        {"assignments": [{"variable": "stamp", "expression": 'concat(date(), " ", time())'}]},
        at=at,
    )
    assert run.vars["stamp"] == "2026-10-01 09:05"


async def test_evaluation_error_takes_error_exit_and_keeps_earlier_values() -> None:
    run = await run_node(
        SetVariable,
        {
            "assignments": [
                {"variable": "first", "expression": "1"},
                {"variable": "bad", "expression": "name < 5"},
                {"variable": "never", "expression": "2"},
            ]
        },
        vars={"name": "abc"},
    )
    assert run.exit == "error"
    assert run.vars["first"] == 1
    assert "bad" not in run.vars and "never" not in run.vars
    (event,) = [e for e in run.events if e["event"] == "expression_error"]
    assert event["variable"] == "bad"
    assert event["expression"] == "name < 5"
    assert "column" in event["reason"] and event["reason_zh"]


async def test_unknown_variable_is_an_error() -> None:
    run = await run_node(SetVariable, {"assignments": [{"variable": "x", "expression": "nope"}]})
    assert run.exit == "error"
    assert "unknown variable nope" in run.events[0]["reason"]


async def test_writing_a_system_variable_raises_for_the_interpreter() -> None:
    with pytest.raises(KeyError):
        await run_node(SetVariable, {"assignments": [{"variable": "caller", "text": "x"}]})


# -- secrets -----------------------------------------------------------------------------


async def test_value_computed_from_a_secret_is_secret() -> None:
    run = await run_node(
        SetVariable,
        {
            "assignments": [
                {"variable": "pin_copy", "expression": "pin"},
                {"variable": "pin_text", "text": "PIN {{pin}}"},
                {"variable": "plain", "expression": "len(pin)"},
            ]
        },
        variables={"pin": {"secret": True}},
        vars={"pin": "123456"},
    )
    assert run.exit == "next"
    call = run.call
    assert call.is_secret("pin_copy") and call.is_secret("pin_text")
    assert call.is_secret("plain")  # derived from the secret, even if harmless: conservative
    assert run.vars["pin_copy"] == "123456"
    assert run.vars["pin_text"] == "PIN 123456"
    assert run.vars_changed == {"pin_copy": MASK, "pin_text": MASK, "plain": MASK}
    assert "123456" not in repr(run.vars_changed)


async def test_value_not_read_from_a_secret_stays_plain() -> None:
    run = await run_node(
        SetVariable,
        {"assignments": [{"variable": "greeting", "text": "hello {{name}}"}]},
        variables={"pin": {"secret": True}},
        vars={"pin": "123456", "name": "王"},
    )
    assert not run.call.is_secret("greeting")
    assert run.vars_changed == {"greeting": "hello 王"}


async def test_secret_in_error_message_is_masked() -> None:
    run = await run_node(
        SetVariable,
        {"assignments": [{"variable": "x", "expression": "pin < 5"}]},
        variables={"pin": {"secret": True}},
        vars={"pin": "abc123"},
    )
    assert run.exit == "error"
    assert "abc123" not in repr(run.events)
    assert f"cannot compare '{MASK}' with 5" in run.events[0]["reason"]
