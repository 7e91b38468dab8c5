"""The publish dialog's diff: what changes for a caller between two versions of a flow."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, ClassVar

import pytest

from designer.diff import KINDS, Change, FlowDiff, RawChange, semantic_diff
from nodes.api import Node
from nodes.registry import load_registry
from runtime.call import Call

MAIN = Path(__file__).parents[2] / "examples" / "12329" / "main.json"


def base() -> dict[str, Any]:
    """A small valid flow: start → welcome → main menu (1 account, 3 agent, 0 agent)."""
    return {
        "schema_version": 1,
        "id": "diff-test",
        "name": "diff test",
        "languages": ["zh-CN"],
        "variables": {
            "tries": {"type": "number", "default": 0},
            "is_open": {"type": "boolean", "default": False},
        },
        "prompts": {
            "welcome": {"text": {"zh-CN": "您好，欢迎致电12329。"}},
            "welcome_v2": {"text": {"zh-CN": "您好，这里是12329住房公积金热线。"}},
            "menu": {"text": {"zh-CN": "账户查询请按1，人工服务请按3或0。"}},
            "no_key": {"text": {"zh-CN": "您没有按键。"}},
            "bye": {"text": {"zh-CN": "再见。"}},
            "unused": {"text": {"zh-CN": "没有节点播放我。"}},
        },
        "settings": {"fallback": "bye", "timezone": "Asia/Shanghai"},
        "nodes": {
            "start": {"type": "core.start", "version": 1, "exits": {"next": "welcome"}},
            "welcome": {
                "type": "core.play",
                "version": 1,
                "label": "Welcome",
                "config": {"prompts": ["welcome"]},
                "exits": {"next": "check_hours"},
                "ui": {"x": 100, "y": 0},
            },
            "check_hours": {
                "type": "core.set_variable",
                "version": 1,
                "label": "判断工作时间",
                "config": {
                    "assignments": [
                        {
                            "variable": "is_open",
                            "expression": 'weekday() <= 5 and time() >= "08:30" '
                            'and time() < "17:30"',
                        }
                    ]
                },
                "exits": {"next": "main_menu"},
            },
            "main_menu": {
                "type": "core.menu",
                "version": 1,
                "label": "Main menu",
                "config": {
                    "prompts": ["menu"],
                    "options": [
                        {"key": "1", "label": "账户查询"},
                        {"key": "3"},
                        {"key": "0", "label": "人工服务"},
                    ],
                    "timeout_prompts": ["no_key"],
                },
                "exits": {
                    "1": "account",
                    "3": "agent",
                    "0": "agent",
                    "timeout": "bye",
                    "invalid": "bye",
                },
                "ui": {"x": 200, "y": 0},
            },
            "account": {
                "type": "core.play",
                "version": 1,
                "config": {"prompts": ["bye"]},
                "exits": {"next": "bye"},
            },
            "agent": {
                "type": "core.transfer_queue",
                "version": 1,
                "label": "Agent",
                "config": {"queue": "consult", "timeout_s": 180},
                "exits": {
                    "completed": "bye",
                    "timeout": "bye",
                    "unavailable": "bye",
                    "error": "bye",
                },
            },
            "bye": {
                "type": "core.hangup",
                "version": 1,
                "label": "再见",
                "config": {"prompts": ["bye"]},
            },
        },
    }


LOAN_MENU = {
    "type": "core.menu",
    "version": 1,
    "label": "Loan enquiry",
    "config": {"prompts": ["menu"], "options": [{"key": "1"}]},
    "exits": {"1": "agent", "timeout": "bye", "invalid": "bye"},
}


def diff(old: Any, new: Any, **kwargs: Any) -> FlowDiff:
    result = semantic_diff(old, new, **kwargs)
    json.dumps(result.to_json(), allow_nan=False)  # always serialisable
    return result


def only(result: FlowDiff, kind: str) -> Change:
    found = [c for c in result.changes if c.kind == kind]
    assert len(found) == 1, [(c.kind, c.message_en) for c in result.changes]
    return found[0]


def kinds(result: FlowDiff) -> list[tuple[str, str | None]]:
    return [(c.kind, c.node) for c in result.changes]


# -- nothing / layout ------------------------------------------------------------------------


def test_identical_documents_have_no_changes():
    assert diff(base(), base()) == FlowDiff([], [])
    main = json.loads(MAIN.read_text("utf-8"))
    assert diff(main, copy.deepcopy(main)) == FlowDiff([], [])


def test_moved_nodes_and_relabelled_things_are_raw_only():
    new = base()
    new["nodes"]["main_menu"]["ui"] = {"x": 640, "y": 480, "color": "red"}
    new["nodes"]["account"]["ui"] = {"x": 1, "y": 2}
    new["nodes"]["welcome"]["label"] = "Greeting"
    new["nodes"]["main_menu"]["config"]["options"][0]["label"] = "个人账户"
    new["name"] = "renamed"
    new["variables"]["tries"]["description"] = "retry counter"
    new["prompts"]["unused"]["text"]["zh-CN"] = "仍然没有节点播放我。"
    result = diff(base(), new)
    assert result.changes == []
    assert [(r.path, r.op) for r in result.raw] == [
        ("/name", "replace"),
        ("/nodes/account/ui", "add"),
        ("/nodes/main_menu/config/options/0/label", "replace"),
        ("/nodes/main_menu/ui/color", "add"),
        ("/nodes/main_menu/ui/x", "replace"),
        ("/nodes/main_menu/ui/y", "replace"),
        ("/nodes/welcome/label", "replace"),
        ("/prompts/unused/text/zh-CN", "replace"),
        ("/variables/tries/description", "add"),
    ]
    moved = next(r for r in result.raw if r.path == "/nodes/main_menu/ui/x")
    assert moved == RawChange("/nodes/main_menu/ui/x", "replace", 200, 640)
    assert moved.to_json() == {
        "path": "/nodes/main_menu/ui/x",
        "op": "replace",
        "old": 200,
        "new": 640,
    }


def test_writing_out_a_schema_default_is_no_change():
    new = base()
    new["nodes"]["main_menu"]["config"]["max_attempts"] = 3  # the default
    new["nodes"]["main_menu"]["config"]["barge_in"] = True  # the default
    new["settings"]["step_cap"] = 1000  # the default
    new["variables"]["tries"]["secret"] = False
    result = diff(base(), new)
    assert result.changes == []
    assert len(result.raw) == 4


# -- routes and menus ------------------------------------------------------------------------


def test_key_rewired():
    new = base()
    new["nodes"]["loan_menu"] = LOAN_MENU
    new["nodes"]["main_menu"]["exits"]["3"] = "loan_menu"
    result = diff(base(), new)
    assert kinds(result) == [("node.added", "loan_menu"), ("route.changed", "main_menu")]
    change = only(result, "route.changed")
    assert change.message_en == (
        "Main menu (main_menu): key 3 now goes to “Loan enquiry” (loan_menu) "
        "instead of “Agent” (agent)"
    )
    assert change.message_zh == (
        "Main menu（main_menu）：按 3 现在转到“Loan enquiry”（loan_menu），原来是“Agent”（agent）"
    )
    assert (change.old, change.new, change.severity) == ("agent", "loan_menu", "major")
    assert change.path == "/nodes/main_menu/exits/3"
    added = only(result, "node.added")
    assert added.message_en == "New step: Menu “Loan enquiry” (loan_menu)"
    assert added.message_zh == "新增节点：按键菜单“Loan enquiry”（loan_menu）"


def test_non_key_exits_are_named_in_caller_terms():
    new = base()
    new["nodes"]["main_menu"]["exits"]["timeout"] = "agent"
    del new["nodes"]["main_menu"]["exits"]["invalid"]
    new["nodes"]["agent"]["exits"]["unavailable"] = "account"
    result = diff(base(), new)
    assert [c.message_en for c in result.changes] == [
        "Agent (agent): unavailable now goes to Play prompt (account) instead of “再见” (bye)",
        "Main menu (main_menu): invalid key is no longer connected (it went to “再见” (bye))",
        "Main menu (main_menu): no input now goes to “Agent” (agent) instead of “再见” (bye)",
    ]
    assert [c.message_zh for c in result.changes] == [
        "Agent（agent）：不可用现在转到播放语音（account），原来是“再见”（bye）",
        "Main menu（main_menu）：按键错误不再连接（原来转到“再见”（bye））",
        "Main menu（main_menu）：无输入现在转到“Agent”（agent），原来是“再见”（bye）",
    ]


def test_menu_key_added_and_removed():
    new = base()
    menu = new["nodes"]["main_menu"]
    menu["config"]["options"] = [
        {"key": "1", "label": "账户查询"},
        {"key": "0", "label": "人工服务"},
        {"key": "9", "label": "投诉"},
        {"key": "#"},
    ]
    del menu["exits"]["3"]
    menu["exits"]["9"] = "agent"
    result = diff(base(), new)
    assert kinds(result) == [
        ("menu.key_added", "main_menu"),
        ("menu.key_added", "main_menu"),
        ("menu.key_removed", "main_menu"),
    ]
    added_9, added_hash, removed = result.changes
    assert added_9.message_en == "Main menu (main_menu): new key 9 “投诉” goes to “Agent” (agent)"
    assert added_9.message_zh == "Main menu（main_menu）：新增按 9“投诉”，转到“Agent”（agent）"
    assert added_9.new == {"key": "9", "label": "投诉", "target": "agent"}
    assert added_hash.message_en == "Main menu (main_menu): new key # (not connected)"
    assert added_hash.message_zh == "Main menu（main_menu）：新增按 #（未连接）"
    assert removed.message_en == "Main menu (main_menu): key 3 removed; it went to “Agent” (agent)"
    assert removed.message_zh == "Main menu（main_menu）：按 3已删除，原来转到“Agent”（agent）"


def test_node_removed_with_the_wires_to_it():
    new = base()
    del new["nodes"]["agent"]
    menu = new["nodes"]["main_menu"]
    menu["config"]["options"] = [o for o in menu["config"]["options"] if o["key"] != "3"]
    del menu["exits"]["3"]
    menu["exits"]["0"] = "bye"
    result = diff(base(), new)
    assert kinds(result) == [
        ("node.removed", "agent"),
        ("menu.key_removed", "main_menu"),
        ("route.changed", "main_menu"),
    ]
    removed, key, route = result.changes
    assert removed.message_en == "Removed step: Transfer to queue “Agent” (agent)"
    assert removed.message_zh == "删除节点：转人工（排队）“Agent”（agent）"
    assert removed.old == {"type": "core.transfer_queue", "label": "Agent"}
    assert key.message_en == "Main menu (main_menu): key 3 removed; it went to “Agent” (agent)"
    assert route.message_en == (
        "Main menu (main_menu): key 0 now goes to “再见” (bye) instead of “Agent” (agent)"
    )


def test_a_removed_node_still_wired_is_called_out():
    new = base()
    del new["nodes"]["agent"]
    result = diff(base(), new)
    assert kinds(result) == [("node.removed", "agent")]
    assert result.changes[0].message_en == (
        "Removed step: Transfer to queue “Agent” (agent); still led to by Main menu (main_menu)"
    )
    assert result.changes[0].message_zh == (
        "删除节点：转人工（排队）“Agent”（agent）；仍有节点转到它：Main menu（main_menu）"
    )


def test_start_changed():
    new = base()
    new["nodes"]["start"]["exits"]["next"] = "main_menu"
    result = diff(base(), new)
    change = only(result, "start.changed")
    assert change.message_en == (
        "After answering, calls now go to “Main menu” (main_menu) instead of “Welcome” (welcome)"
    )
    assert change.message_zh == "接听后现在转到“Main menu”（main_menu），原来是“Welcome”（welcome）"
    assert kinds(result) == [("start.changed", "start")]  # not also a route change

    moved = base()
    moved["nodes"]["entry"] = moved["nodes"].pop("start")
    result = diff(base(), moved)
    assert kinds(result) == [
        ("start.changed", "entry"),
        ("node.added", "entry"),
        ("node.removed", "start"),
    ]
    assert result.changes[0].message_en == (
        "Calls now start at Start / answer (entry) instead of Start / answer (start)"
    )


# -- prompts ---------------------------------------------------------------------------------


def test_prompt_text_changed():
    new = base()
    new["prompts"]["welcome"]["text"]["zh-CN"] = "您好，欢迎致电12329热线，通话可能被录音。"
    new["prompts"]["welcome"]["text"]["en-US"] = "Welcome to 12329."
    result = diff(base(), new)
    assert kinds(result) == [("prompt.text_changed", None), ("prompt.text_changed", None)]
    en, zh = result.changes
    assert en.message_en == (
        "Prompt “welcome” (en-US) now says “Welcome to 12329.” instead of (nothing); "
        "played by Welcome (welcome)"
    )
    assert zh.message_zh == (
        "提示“welcome”（zh-CN）现在说“您好，欢迎致电12329热线，通话可能被录音。”，"
        "原来是“您好，欢迎致电12329。”；播放于：Welcome（welcome）"
    )
    assert zh.message_en == (
        "Prompt “welcome” (zh-CN) now says “您好，欢迎致电12329热线，通话可能被录音。” "
        "instead of “您好，欢迎致电12329。”; played by Welcome (welcome)"
    )
    assert (zh.old, zh.new, zh.path) == (
        "您好，欢迎致电12329。",
        "您好，欢迎致电12329热线，通话可能被录音。",
        "/prompts/welcome/text/zh-CN",
    )


def test_prompt_swapped():
    new = base()
    new["nodes"]["welcome"]["config"]["prompts"] = ["welcome_v2"]
    new["nodes"]["main_menu"]["config"]["timeout_prompts"] = []
    result = diff(base(), new)
    assert kinds(result) == [("prompt.changed", "main_menu"), ("prompt.changed", "welcome")]
    menu, welcome = result.changes
    assert welcome.message_en == (
        "Welcome (welcome): Prompts changed from “welcome” (“您好，欢迎致电12329。”) "
        "to “welcome_v2” (“您好，这里是12329住房公积金热线。”)"
    )
    assert welcome.message_zh == (
        "Welcome（welcome）：语音提示由“welcome”（“您好，欢迎致电12329。”）"
        "改为“welcome_v2”（“您好，这里是12329住房公积金热线。”）"
    )
    assert (welcome.old, welcome.new) == (["welcome"], ["welcome_v2"])
    assert welcome.path == "/nodes/welcome/config/prompts"
    assert menu.message_en == (
        "Main menu (main_menu): Timeout prompts changed from “no_key” (“您没有按键。”) to (none)"
    )
    assert (
        menu.message_zh == "Main menu（main_menu）：超时提示由“no_key”（“您没有按键。”）改为（无）"
    )


def test_deleting_a_prompt_that_is_still_played():
    new = base()
    del new["prompts"]["bye"]
    change = only(diff(base(), new), "prompt.removed")
    assert change.message_en == (
        "Prompt “bye” was deleted but is still played by Play prompt (account), 再见 (bye)"
    )
    assert (
        change.message_zh == "提示“bye”已删除，但仍在以下节点播放：播放语音（account）、再见（bye）"
    )
    assert change.severity == "major"


# -- hours, conditions, queues, config -------------------------------------------------------


def test_open_hours_changed_in_an_assignment():
    new = base()
    new["nodes"]["check_hours"]["config"]["assignments"][0]["expression"] = (
        'weekday() <= 6 and time() >= "08:30" and time() < "17:30"'
    )
    change = only(diff(base(), new), "hours.changed")
    assert change.node == "check_hours"
    assert change.message_en == (
        "判断工作时间 (check_hours): open hours changed: is_open is now set to "
        '“weekday() <= 6 and time() >= "08:30" and time() < "17:30"” instead of '
        '“weekday() <= 5 and time() >= "08:30" and time() < "17:30"”'
    )
    assert change.message_zh == (
        "判断工作时间（check_hours）：工作时间已变更：is_open 现在设为"
        '“weekday() <= 6 and time() >= "08:30" and time() < "17:30"”，原来是'
        '“weekday() <= 5 and time() >= "08:30" and time() < "17:30"”'
    )


def test_open_hours_changed_in_a_branch_and_other_conditions():
    old = base()
    old["nodes"]["route"] = {
        "type": "core.branch",
        "version": 1,
        "label": "分流",
        "config": {
            "rules": [
                {"exit": "open", "when": "hour() >= 9 and hour() < 17", "label": "工作时间"},
                {"exit": "vip", "when": "tries > 2"},
            ]
        },
        "exits": {"open": "main_menu", "vip": "agent", "default": "bye", "error": "bye"},
    }
    new = copy.deepcopy(old)
    new["nodes"]["route"]["config"]["rules"][0]["when"] = "hour() >= 8 and hour() < 18"
    new["nodes"]["route"]["config"]["rules"][1]["when"] = "tries > 3"
    result = diff(old, new)
    assert kinds(result) == [("condition.changed", "route"), ("hours.changed", "route")]
    vip, hours = result.changes
    assert hours.message_en == (
        "分流 (route): open hours changed: “工作时间” (open) is now taken when "
        "“hour() >= 8 and hour() < 18” instead of when “hour() >= 9 and hour() < 17”"
    )
    assert hours.message_zh == (
        "分流（route）：工作时间已变更：“工作时间”（open）的条件改为“hour() >= 8 and hour() < 18”，"
        "原来是“hour() >= 9 and hour() < 17”"
    )
    assert vip.message_en == (
        "分流 (route): exit “vip” is now taken when “tries > 3” instead of when “tries > 2”"
    )
    assert vip.message_zh == "分流（route）：出口“vip”的条件改为“tries > 3”，原来是“tries > 2”"

    swapped = copy.deepcopy(old)
    swapped["nodes"]["route"]["config"]["rules"].reverse()
    change = only(diff(old, swapped), "condition.changed")
    assert change.message_en == (
        "分流 (route): conditions are now checked in the order exit “vip”, “工作时间” (open) "
        "(was “工作时间” (open), exit “vip”)"
    )


class OfficeHours(Node):
    """A plugin-style node about open hours (its config is not an expression)."""

    type = "test.office_hours"
    version = 1
    title: ClassVar[dict[str, str]] = {"zh": "办公时间", "en": "Office hours"}
    description: ClassVar[dict[str, str]] = {"zh": "是否办公时间。", "en": "Open or closed."}
    category = "logic"
    config_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {
            "open": {"type": "string", "title": "开门 / Opens", "default": "08:30"},
            "close": {"type": "string", "title": "关门 / Closes", "default": "17:30"},
        },
    }
    exits = ("open", "closed")

    async def run(self, call: Call, config: dict[str, Any]) -> str:
        return "open"


def test_open_hours_changed_in_a_time_related_node_type():
    old = base()
    old["nodes"]["office"] = {
        "type": "test.office_hours",
        "version": 1,
        "label": "办公时间",
        "config": {},
        "exits": {"open": "main_menu", "closed": "bye"},
    }
    new = copy.deepcopy(old)
    new["nodes"]["office"]["config"] = {"close": "18:00"}
    registry = load_registry(include_entry_points=False, extra=[OfficeHours])
    change = only(diff(old, new, registry=registry), "hours.changed")
    assert change.message_en == (
        "办公时间 (office): open hours changed: “Closes” (config.close): “17:30” → “18:00”"
    )
    assert change.message_zh == (
        "办公时间（office）：工作时间已变更：“关门”（config.close）：“17:30” → “18:00”"
    )
    # without the plugin installed the type is unknown, and still recognised by its name
    change = only(diff(old, new), "hours.changed")
    assert change.message_en == (
        "办公时间 (office): open hours changed: config.close: (not set) → “18:00”"
    )


def test_queue_and_generic_config_changes():
    old = base()
    old["nodes"]["lookup"] = {
        "type": "fund.lookup",
        "version": 1,
        "config": {"timeout_s": 5},
        "exits": {"ok": "bye"},
    }
    new = copy.deepcopy(old)
    new["nodes"]["agent"]["config"]["timeout_s"] = 120
    new["nodes"]["agent"]["config"]["queue"] = "loans"
    new["nodes"]["main_menu"]["config"]["max_attempts"] = 2
    new["nodes"]["lookup"]["config"]["timeout_s"] = 8
    result = diff(old, new)
    assert [(c.kind, c.node, c.message_en) for c in result.changes] == [
        ("queue.changed", "agent", "Agent (agent): “Queue” (config.queue): “consult” → “loans”"),
        (
            "queue.changed",
            "agent",
            "Agent (agent): “Longest wait (s)” (config.timeout_s): 180 → 120",
        ),
        ("config.changed", "lookup", "fund.lookup (lookup): config.timeout_s: 5 → 8"),
        (
            "config.changed",
            "main_menu",
            "Main menu (main_menu): “Attempts” (config.max_attempts): 3 → 2",
        ),
    ]
    assert [c.message_zh for c in result.changes] == [
        "Agent（agent）：“队列”（config.queue）：“consult” → “loans”",
        "Agent（agent）：“最长排队时间（秒）”（config.timeout_s）：180 → 120",
        "fund.lookup（lookup）：config.timeout_s：5 → 8",
        "Main menu（main_menu）：“最多询问次数”（config.max_attempts）：3 → 2",
    ]


def test_node_type_changed():
    new = base()
    new["nodes"]["account"] = {
        "type": "core.hangup",
        "version": 1,
        "config": {"prompts": ["bye"]},
    }
    result = diff(base(), new)
    assert kinds(result) == [("node.type_changed", "account"), ("route.changed", "account")]
    assert result.changes[0].message_en == (
        "Hang up (account): step type changed from Play prompt to Hang up"
    )
    assert result.changes[0].message_zh == "挂机（account）：节点类型由播放语音改为挂机"


# -- variables, settings, languages ----------------------------------------------------------


def test_variable_default_changed():
    new = base()
    new["variables"]["tries"]["default"] = 1
    new["variables"]["is_open"]["secret"] = True
    new["variables"]["pin"] = {"type": "string", "secret": True}
    del new["variables"]["is_open"]["type"]
    result = diff(base(), new)
    assert [(c.kind, c.message_en, c.message_zh) for c in result.changes] == [
        (
            "variable.added",
            "New variable pin, default value: (not set)",
            "新增变量 pin，默认值：（未设置）",
        ),
        (
            "variable.changed",
            "Variable is_open: secret false → true",
            "变量 is_open：保密 false → true",
        ),
        (
            "variable.changed",
            "Variable is_open: type “boolean” → “string”",
            "变量 is_open：类型 “boolean” → “string”",
        ),
        (
            "variable.default_changed",
            "Variable tries: default value 0 → 1",
            "变量 tries：默认值 0 → 1",
        ),
    ]
    assert result.changes[-1].old == 0 and result.changes[-1].new == 1


def test_settings_changed():
    new = base()
    new["settings"]["input_timeout_ms"] = 8000
    new["settings"]["fallback"] = "agent"
    new["settings"]["timezone"] = "Asia/Urumqi"
    result = diff(base(), new)
    assert [c.message_en for c in result.changes] == [
        "Setting “Fallback step on errors” (settings.fallback): “再见” (bye) → “Agent” (agent)",
        "Setting “Default wait for a key (ms)” (settings.input_timeout_ms): 5000 → 8000",
        "Setting “Time zone (used for open hours)” (settings.timezone): "
        "“Asia/Shanghai” → “Asia/Urumqi”",
    ]
    assert [c.message_zh for c in result.changes] == [
        "设置“出错时的兜底节点”（settings.fallback）：“再见”（bye） → “Agent”（agent）",
        "设置“默认等待按键时间（毫秒）”（settings.input_timeout_ms）：5000 → 8000",
        "设置“时区（用于工作时间判断）”（settings.timezone）：“Asia/Shanghai” → “Asia/Urumqi”",
    ]
    assert {c.kind for c in result.changes} == {"settings.changed"}


def test_languages():
    new = base()
    new["languages"] = ["en-US", "zh-CN"]
    result = diff(base(), new)
    assert [(c.kind, c.message_en, c.message_zh) for c in result.changes] == [
        ("language.added", "Language added: en-US", "新增语言：en-US"),
        ("language.default_changed", "Default language: zh-CN → en-US", "默认语言：zh-CN → en-US"),
    ]


# -- ordering, raw, odd input ----------------------------------------------------------------


def test_order_is_start_then_flow_wide_then_by_node_and_kind():
    new = base()
    new["nodes"]["start"]["exits"]["next"] = "main_menu"
    new["nodes"]["welcome"]["config"]["prompts"] = ["welcome_v2"]
    new["nodes"]["agent"]["config"]["timeout_s"] = 60
    new["nodes"]["main_menu"]["exits"]["1"] = "agent"
    new["nodes"]["main_menu"]["config"]["max_attempts"] = 5
    new["variables"]["tries"]["default"] = 2
    new["settings"]["step_cap"] = 50
    result = diff(base(), new)
    assert kinds(result) == [
        ("start.changed", "start"),
        ("settings.changed", None),
        ("variable.default_changed", None),
        ("queue.changed", "agent"),
        ("config.changed", "main_menu"),
        ("route.changed", "main_menu"),
        ("prompt.changed", "welcome"),
    ]
    assert all(c.severity == KINDS[c.kind] for c in result.changes)
    assert diff(base(), new) == result  # deterministic


def test_raw_diff_is_sorted_by_path_and_clips_values():
    old = base()
    new = base()
    options = [{"key": k} for k in "1234567890*#"]
    new["nodes"]["main_menu"]["config"]["options"] = options
    new["description"] = "长" * 1000
    new["nodes"]["big"] = {"type": "x.y", "version": 1, "config": {"items": list(range(100))}}
    result = diff(old, new)
    paths = [r.path for r in result.raw]

    def numeric(path: str) -> list[tuple[int, int, str]]:
        return [(0, int(t), "") if t.isdigit() else (1, 0, t) for t in path.split("/")]

    assert paths == sorted(paths, key=numeric)
    assert paths.index("/nodes/main_menu/config/options/2/key") < paths.index(
        "/nodes/main_menu/config/options/10"
    )
    description = next(r for r in result.raw if r.path == "/description")
    assert description.op == "add" and len(description.new) == 200
    assert description.new.endswith("…")
    big = next(r for r in result.raw if r.path == "/nodes/big")
    assert big.new["config"]["items"][-1] == "… +80"
    assert len(big.new["config"]["items"]) == 21


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ({}, {}),
        (None, base()),
        (base(), []),
        ("flow", 42),
        ({"nodes": []}, {"nodes": {"a": None, "b": 5, "c": "x", 1: {}}}),
        (
            {"nodes": {"m": {"type": "core.menu", "config": {"options": "?"}, "exits": [1]}}},
            {"nodes": {"m": {"type": "core.menu", "config": [1], "exits": {"1": 5, "2": None}}}},
        ),
        (
            {"nodes": {"m": {"type": 5, "exits": {"a": "m"}}}},
            {"nodes": {"m": {"type": "core.menu", "config": {"options": [1, {"key": 2}, {}]}}}},
        ),
        (
            {"nodes": {"b": {"type": "core.branch", "config": {"rules": [{"exit": 1}, None]}}}},
            {"nodes": {"b": {"type": "core.branch", "config": {"rules": [{"exit": "x"}]}}}},
        ),
        (
            {"nodes": {"s": {"type": "core.set_variable", "config": {"assignments": [5]}}}},
            {
                "nodes": {
                    "s": {
                        "type": "core.set_variable",
                        "config": {"assignments": [{"variable": "v", "expression": "hour( >"}]},
                    }
                }
            },
        ),
        (
            {"nodes": {"s": {"type": "core.subflow", "config": {"outputs": [1], "flow": 3}}}},
            {"nodes": {"s": {"type": "core.subflow", "config": {"outputs": {"a": None}}}}},
        ),
        (
            {"variables": [1], "settings": 5, "prompts": {"a": 5}, "languages": "zh"},
            {
                "variables": {"x": 5},
                "settings": {"fallback": 3},
                "prompts": {"a": {"text": {"zh-CN": 5}}},
                "languages": [1, "en"],
            },
        ),
        (
            {"nodes": {"p": {"type": "core.play", "config": {"prompts": [float("nan"), "a"]}}}},
            {"nodes": {"p": {"type": "core.play", "config": {"prompts": "a", "x": {1, 2}}}}},
        ),
    ],
)
def test_odd_documents_never_raise(old, new):
    result = diff(old, new)
    assert isinstance(result, FlowDiff)
    for change in result.changes:
        assert change.kind in KINDS
        assert change.message_zh and change.message_en


def test_garbage_nodes_degrade_to_generic_messages():
    old = {"nodes": {"a": 5, "m": {"type": "core.menu", "exits": {"1": "a"}}}}
    new = {"nodes": {"a": {"type": "core.menu"}, "m": {"type": "core.menu"}}}
    result = diff(old, new)
    assert [c.message_en for c in result.changes] == [
        "Menu (a): step type changed from Step to Menu",
        "Menu (m): key 1 is no longer connected (it went to Menu (a))",
    ]


def test_very_deep_documents_do_not_overflow():
    deep: dict[str, Any] = {}
    cursor = deep
    for _ in range(3000):
        cursor["a"] = {}
        cursor = cursor["a"]
    old = {"nodes": {"x": {"type": "core.play", "config": deep}}}
    new = {"nodes": {"x": {"type": "core.play", "config": {"a": 1}}}}
    result = diff(old, new)
    assert kinds(result) == [("config.changed", "x")]
    assert len(result.raw) == 1


# -- the 12329 reference flow ----------------------------------------------------------------


def test_realistic_diff_of_the_12329_main_flow():
    old = json.loads(MAIN.read_text("utf-8"))
    new = copy.deepcopy(old)
    nodes = new["nodes"]
    nodes["main_menu"]["exits"]["9"] = "agent"  # complaints go to the general agents
    nodes["hours"]["config"]["hours"]["weekly"]["fri"] = ["08:30-18:00"]  # open longer on Fridays
    nodes["screen"]["config"]["vip_priority"] = 8
    new["prompts"]["closed_notice"]["text"]["zh-CN"] = (
        "现在是非工作时间，人工服务时间为工作日上午八点半至下午六点。"
    )
    for node in nodes.values():  # re-laid out by the editor
        node["ui"]["x"] += 40
    result = diff(old, new)
    assert kinds(result) == [
        ("prompt.text_changed", None),
        ("hours.changed", "hours"),
        ("route.changed", "main_menu"),
        ("config.changed", "screen"),
    ]
    text, hours, route, vip = result.changes
    assert route.message_zh == (
        "主菜单（工作时间）（main_menu）：按 9 现在转到“人工服务（咨询）”（agent），"
        "原来是“投诉与建议”（complaints）"
    )
    assert route.message_en == (
        "主菜单（工作时间） (main_menu): key 9 now goes to “人工服务（咨询）” (agent) "
        "instead of “投诉与建议” (complaints)"
    )
    assert hours.message_zh == (
        "工作时间分流（hours）：工作时间已变更：“周五”（config.hours.weekly.fri）："
        '["08:30-17:30"] → ["08:30-18:00"]'
    )
    assert hours.message_en == (
        "工作时间分流 (hours): open hours changed: “Friday” (config.hours.weekly.fri): "
        '["08:30-17:30"] → ["08:30-18:00"]'
    )
    assert vip.message_en == "黑白名单 / VIP (screen): “VIP priority” (config.vip_priority): 5 → 8"
    assert text.message_en == (
        "Prompt “closed_notice” (zh-CN) now says "
        "“现在是非工作时间，人工服务时间为工作日上午八点半至下午六点。” instead of "
        "“现在是非工作时间，人工服务时间为工作日上午八点半至下午五点半。"
        "您可以使用自助服务、留言或登记回拨。”; "
        "played by 非工作时间提示 (closed_notice)"
    )
    layout = [r for r in result.raw if r.path.endswith("/ui/x")]
    assert len(layout) == len(nodes)
    assert len(result.raw) == len(nodes) + 4
