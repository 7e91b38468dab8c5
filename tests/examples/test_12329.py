"""The 12329 reference flow, walked branch by branch through the simulator against a fake
fund system — and against no fund system at all (every back-end failure must still reach an
agent)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from support import fund_backend as fund

from runtime.document import load_flow_file
from runtime.library import DirectoryLibrary
from runtime.simulator import simulate
from runtime.validate import validate_text

FOLDER = Path(__file__).parents[2] / "examples" / "12329"
TZ = ZoneInfo("Asia/Shanghai")
OPEN = datetime(2026, 10, 9, 10, 0, tzinfo=TZ)  # a Friday, 10:00
CLOSED = datetime(2026, 10, 11, 20, 0, tzinfo=TZ)  # a Sunday evening

LIBRARY = DirectoryLibrary(FOLDER)
MAIN = LIBRARY.get("12329-main")


def test_every_12329_flow_is_valid_without_warnings():
    for path in sorted(FOLDER.glob("*.json")):
        result = validate_text(load_flow_file(path), library=LIBRARY)
        assert result.problems == [], (path, [p.render(language="en") for p in result.problems])
    assert MAIN is not None


async def walk(keys, *, api=None, at=OPEN, caller="13800138000", **channel):
    variables = {"fund_api": api} if api else {}
    trace, ch = await simulate(
        MAIN, keys, at=at, caller=caller, library=LIBRARY, variables=variables, **channel
    )
    return trace, ch


def top(trace):
    """(node, exit) of the main flow's steps."""
    return [(s.node, s.exit) for s in trace.steps if s.depth == 0]


def said(trace):
    return [e["text"] for s in trace.steps for e in s.events if e["event"] == "say"]


def heard(trace):
    return [e["text"] for s in trace.steps for e in s.events if e["event"] == "play"]


@pytest.fixture
async def api():
    async with fund.running() as (url, system):
        yield url, system


async def test_branch_1_personal_account(api):
    url, system = api
    keys = f"1 1 {fund.ACCOUNT}# {fund.PIN} 2 h"
    trace, _ = await walk(keys, api=url)
    assert top(trace) == [
        ("start", "next"),
        ("screen", "ok"),
        ("screen_result", "default"),
        ("welcome", "next"),
        ("check_hours", "next"),
        ("hours", "open"),
        ("main_menu", "1"),
        ("auth_account", "ok"),
        ("account_lookup", "ok"),
        ("balance_intro", "next"),
        ("say_balance", "next"),
        ("monthly_intro", "next"),
        ("say_monthly", "next"),
        ("last_date_intro", "next"),
        ("say_last_date", "next"),
        ("after_account", "2"),
        ("to_main", "open"),
        ("main_menu", None),
    ]
    assert said(trace) == [
        "一万二千三百四十五元六角七分",
        "一千八百六十元五角",
        "二零二六年十月十五日",
    ]
    assert trace.outcome.kind == "hangup"
    child = [s.node for s in trace.steps if s.depth == 1]
    assert child == [
        "start",
        "scope",
        "id_type_menu",
        "set_account",
        "enter_account",
        "enter_pin",
        "verify",
        "result",
        "ret_ok",
    ]
    # the PIN and the account number reach the fund system and nothing else
    assert system.requests[1][2]["pin"] == fund.PIN
    dumped = json.dumps(trace.to_json(), ensure_ascii=False)
    assert fund.PIN not in dumped and fund.ACCOUNT not in dumped


async def test_branch_2_personal_loan_by_id_card_with_x(api):
    url, _ = api
    trace, _ = await walk(f"2 2 {fund.ID_CARD} {fund.PIN} 2 h", api=url)
    assert ("auth_loan", "ok") in top(trace)
    assert said(trace) == [
        "三十五万六千元整",
        "二百一十二",
        "二千六百八十元零五分",
        "二零二六年十二月五日",
    ]


async def test_branch_3_employer(api):
    url, _ = api
    trace, _ = await walk(f"3 {fund.UNIT}# {fund.PIN} 0", api=url)
    path = top(trace)
    assert ("auth_unit", "ok") in path
    assert ("unit_status", "normal") in path
    assert ("after_unit", "0") in path
    assert said(trace) == ["一百二十八", "二零二六年十月三十一日"]
    assert path[-2:] == [("agent_queue", "completed"), ("survey", None)]


async def test_wrong_pin_three_times_then_agent_or_main(api):
    url, _ = api
    trace, _ = await walk(f"1 1 {fund.ACCOUNT}# 111111 222222 333333 0", api=url)
    child = [(s.node, s.exit) for s in trace.steps if s.depth == 1]
    assert child.count(("enter_pin", "ok")) == 3
    assert child[-2:] == [("tries", "exceeded"), ("ret_failed", None)]
    assert ("auth_account", "failed") in top(trace)
    assert ("after_auth_fail", "0") in top(trace)


async def test_locked_account(api):
    url, _ = api
    trace, _ = await walk(f"1 1 {fund.LOCKED_ACCOUNT}# {fund.PIN} *", api=url)
    assert ("auth_account", "locked") in top(trace)
    assert "已被暂时锁定" in " ".join(heard(trace))


async def test_branch_4_business_guide():
    trace, _ = await walk("4 3 4 2 * * h")
    nodes = [n for n, _ in top(trace)]
    assert nodes[nodes.index("main_menu") :] == [
        "main_menu",
        "guide_menu",
        "policy_loan",
        "guide_menu",
        "branches_menu",
        "branch_2",
        "branches_menu",
        "guide_menu",
        "to_main",
        "main_menu",
    ]
    assert any("罗湖区人民南路" in t for t in heard(trace))


async def test_branch_5_appointment_booked_and_slot_full_retry(api):
    url, system = api
    trace, _ = await walk("5 1 3 20261015 2 1 1 1 h", api=url)
    child = [(s.node, s.exit) for s in trace.steps if s.depth == 1]
    # afternoon (2) is full, the caller picks the morning (1); the day is said back
    assert ("slot_taken", "next") in child
    assert child[-3:] == [("booked", "ok"), ("appt_done", "next"), ("ret_booked", None)]
    assert ("appointment", "booked") in top(trace)
    assert said(trace) == ["二零二六年十月十五日", "二零二六年十月十五日"]
    posted = [body for method, path, body in system.requests if path == "/api/appointments"]
    assert posted[-1] == {
        "service": "1",
        "branch": "3",
        "date": "20261015",
        "slot": "1",
        "phone": "13800138000",
        "sms": True,
    }


async def test_branch_9_complaints_queue_then_survey(api):
    url, system = api
    trace, channel = await walk("9 2", api=url)
    assert top(trace)[-3:] == [
        ("complaints_queue", "completed"),
        ("survey", "ok"),
        ("save_survey", "ok"),
    ] or top(trace)[-4:-1] == [
        ("complaints_queue", "completed"),
        ("survey", "ok"),
        ("save_survey", "ok"),
    ]
    queue = next(h for h in channel.heard if h.kind == "queue")
    assert queue.text == "complaints"
    assert queue.data["caller_data"]["CATEGORY"] == "complaint"
    assert system.requests[-1][2]["score"] == "2"
    assert trace.outcome.kind == "completed"


async def test_branch_0_agent_busy_then_callback(api):
    url, system = api
    trace, _ = await walk("0 2", api=url, queue_status="timeout")
    assert top(trace)[-4:] == [
        ("agent_queue", "timeout"),
        ("queue_busy", "2"),
        ("register_callback", "ok"),
        ("callback_ok", "next"),
    ] or [n for n, _ in top(trace)][-5:] == [
        "agent_queue",
        "queue_busy",
        "register_callback",
        "callback_ok",
        "goodbye",
    ]
    assert system.requests[-1][1] == "/api/callbacks"


async def test_star_repeats_the_main_menu():
    trace, _ = await walk("* * h")
    menus = [n for n, e in top(trace) if n == "main_menu"]
    assert len(menus) == 3


async def test_blocked_caller_hears_a_polite_message(api):
    url, _ = api
    trace, _ = await walk("", api=url, caller=fund.BLOCKED)
    assert [n for n, _ in top(trace)] == ["start", "screen", "screen_result", "blocked_bye"]
    assert trace.outcome.kind == "completed"


async def test_vip_gets_queue_priority(api):
    url, _ = api
    trace, channel = await walk("0", api=url, caller=fund.VIP)
    queue = next(h for h in channel.heard if h.kind == "queue")
    assert queue.data["priority"] == 5
    assert ("screen_result", "vip") in top(trace)


async def test_closed_hours_offer_voicemail_not_an_agent():
    trace, channel = await walk("0 8", at=CLOSED)
    nodes = [n for n, _ in top(trace)]
    assert "closed_notice" in nodes and "main_menu_closed" in nodes
    assert "agents_closed" in nodes and "leave_voicemail" in nodes
    assert not any(h.kind == "queue" for h in channel.heard)


async def test_fund_system_down_every_self_service_reaches_an_agent():
    # no fund system at all: connection refused on every lookup
    for first_key in ("1", "2", "3", "5"):
        keys = {
            "1": f"1 1 {fund.ACCOUNT}# {fund.PIN} 0",
            "2": f"2 1 {fund.ACCOUNT}# {fund.PIN} 0",
            "3": f"3 {fund.UNIT}# {fund.PIN} 0",
            "5": "5 1 1 20261015 0",
        }[first_key]
        trace, channel = await walk(keys)
        nodes = [n for n, _ in top(trace)]
        assert "system_busy" in nodes, (first_key, nodes)
        assert any(h.kind == "queue" for h in channel.heard), first_key


async def test_fund_system_errors_5xx_take_the_same_path(api):
    url, system = api
    system.down = True
    trace, channel = await walk(f"1 1 {fund.ACCOUNT}# {fund.PIN} 0", api=url)
    assert [n for n, _ in top(trace)][-3:-1] == ["system_busy", "agent_queue"]
    assert any(h.kind == "queue" for h in channel.heard)
