"""The 12329 reference flow (brief §3), walked branch by branch through the simulator on the
plugins it is built from — the demo fund system, block/allow/VIP lists, office hours on the
PRC calendar, area routing, appointments, SMS, callbacks and the survey — and with the fund
system down (every self-service failure must still reach an agent)."""

from __future__ import annotations

import json
from datetime import date

import pytest
from ivrflow_fund.backend import REQUEST_TIME
from support.hotline import (
    BLOCKED,
    CALLER,
    CLOSED,
    DEMO,
    FOLDER,
    HOLIDAY,
    LOCAL_CALLER,
    MAKEUP,
    OPEN,
    VIP,
    hotline_plugins,
    library,
)

from runtime.document import load_flow_file
from runtime.simulator import simulate
from runtime.testing import make_test_engine
from runtime.validate import validate_text

LIBRARY = library()
MAIN = LIBRARY.get("12329-main")


def test_every_12329_flow_is_valid_without_warnings():  # "today": tests/conftest.py
    files = sorted(FOLDER.glob("*.json"))
    assert [p.stem for p in files] == ["agent", "appointment", "main"]
    for path in files:
        result = validate_text(load_flow_file(path), library=LIBRARY)
        assert result.problems == [], (path, [p.render(language="en") for p in result.problems])
    assert MAIN is not None


def test_a_year_without_calendar_data_is_a_warning_not_an_error(monkeypatch):
    import ivrflow_schedule.node as schedule_node

    monkeypatch.setattr(schedule_node, "today", lambda: date(2026, 11, 26))
    result = validate_text(load_flow_file(FOLDER / "main.json"), library=LIBRARY)
    assert result.errors == []
    codes = {(p.node, p.code) for p in result.warnings}
    assert codes == {
        ("hours", "schedule.calendar_unknown"),
        ("to_main", "schedule.calendar_unknown"),
    }


def test_every_plugin_node_type_of_the_issue_is_used():
    used = {
        node["type"]
        for path in FOLDER.glob("*.json")
        for node in json.loads(path.read_text("utf-8"))["nodes"].values()
    }
    assert {
        "lists.check",
        "schedule.route",
        "fund.auth",
        "fund.account_query",
        "fund.loan_query",
        "fund.employer_query",
        "fund.appointment_dates",
        "fund.appointment_slots",
        "fund.appointment_book",
        "fund.appointment_lookup",
        "fund.appointment_cancel",
        "sms.send",
        "callback.register",
        "area.route",
        "survey.ask",
    } <= used
    assert "core.http" not in used  # everything goes through the plugins' connectors


@pytest.fixture
def engine(tmp_path):
    engine = make_test_engine("sqlite", tmp_path)
    yield engine
    engine.dispose()


@pytest.fixture
def plugins(engine):
    with hotline_plugins(engine) as plugins:
        yield plugins


async def walk(plugins, keys, *, at=OPEN, caller=CALLER, **channel):
    return await simulate(
        MAIN,
        keys,
        at=at,
        caller=caller,
        library=LIBRARY,
        resources=plugins.resources,
        **channel,
    )


def path(trace, depth=0):
    """(node, exit) of the steps at ``depth`` (0: the main flow; 1: a sub-flow)."""
    return [(s.node, s.exit) for s in trace.steps if s.depth == depth]


def nodes(trace, depth=0):
    return [s.node for s in trace.steps if s.depth == depth]


def said(trace):
    return [e["text"] for s in trace.steps for e in s.events if e["event"] == "say"]


def heard(trace):
    return [e["text"] for s in trace.steps for e in s.events if e["event"] == "play"]


def in_order(seq, expected):
    it = iter(seq)
    return all(item in it for item in expected)


async def test_branch_1_personal_account(plugins):
    trace, _ = await walk(plugins, f"1 1 {DEMO.ACCOUNT}# {DEMO.PIN} 2 h")
    assert path(trace) == [
        ("start", "next"),
        ("screen", "allowed"),
        ("welcome", "next"),
        ("hours", "open"),
        ("main_menu", "1"),
        ("auth_account", "ok"),
        ("account_lookup", "ok"),
        ("account_status", "normal"),
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
    # neither the PIN nor the account number is in the trace
    dumped = json.dumps(trace.to_json(), ensure_ascii=False)
    assert DEMO.PIN not in dumped and DEMO.ACCOUNT not in dumped


async def test_branch_1_sealed_account_is_told_its_status(plugins):
    trace, _ = await walk(plugins, f"1 1 {DEMO.SEALED_ACCOUNT}# {DEMO.PIN} 0")
    assert in_order(
        path(trace),
        [("account_status", "default"), ("account_abnormal", "next"), ("after_account", "0")],
    )
    assert said(trace)[0] == "四万五千六百元零八分"


async def test_branch_2_personal_loan_by_id_card(plugins):
    trace, _ = await walk(plugins, f"2 2 {DEMO.ID_CARD} {DEMO.PIN} 2 h")
    assert in_order(
        path(trace),
        [("auth_loan", "ok"), ("loan_lookup", "ok"), ("loan_progress", "default")],
    )
    assert said(trace) == [
        "三十五万六千元整",
        "二百一十二",
        "二千六百八十元零五分",
        "二零二六年十二月五日",
    ]
    assert ("after_loan", "2") in path(trace)


async def test_branch_2_no_loan(plugins):
    trace, _ = await walk(plugins, f"2 1 {DEMO.SEALED_ACCOUNT}# {DEMO.PIN} *")
    assert in_order(
        path(trace), [("loan_lookup", "no_loan"), ("no_loan", "next"), ("after_auth_fail", "*")]
    )


async def test_branch_3_employer(plugins):
    trace, channel = await walk(plugins, f"3 {DEMO.UNIT}# {DEMO.UNIT_PIN} 0 #", caller=LOCAL_CALLER)
    assert in_order(
        path(trace),
        [("auth_unit", "ok"), ("unit_status", "normal"), ("after_unit", "0"), ("agent", "done")],
    )
    assert said(trace) == ["一百二十八", "二零二六年十月三十一日"]
    [queue] = [h for h in channel.heard if h.kind == "queue"]
    assert queue.text == "consult"  # a Shenzhen number: the local group


async def test_wrong_pin_three_times_then_agent(plugins):
    tries = " ".join(f"1 {DEMO.ACCOUNT}# {pin}" for pin in ("111111", "222222", "333333"))
    trace, channel = await walk(plugins, f"1 {tries} 0 #")
    assert in_order(path(trace), [("auth_account", "failed"), ("after_auth_fail", "0")])
    assert any(h.kind == "queue" for h in channel.heard)
    dumped = json.dumps(trace.to_json(), ensure_ascii=False)
    assert "111111" not in dumped and "333333" not in dumped


async def test_a_locked_account(plugins):
    trace, _ = await walk(plugins, f"1 1 {DEMO.LOCKED_ACCOUNT}# {DEMO.PIN} *")
    assert ("auth_account", "locked") in path(trace)
    assert "已被暂时锁定" in " ".join(heard(trace))


async def test_branch_4_business_guide(plugins):
    trace, _ = await walk(plugins, "4 3 4 2 * * h")
    walked = nodes(trace)
    assert walked[walked.index("main_menu") :] == [
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
    assert any("科技大道" in t for t in heard(trace))


async def test_star_repeats_the_main_menu(plugins):
    trace, _ = await walk(plugins, "* * h")
    assert nodes(trace).count("main_menu") == 3


async def test_branch_9_complaints_queue_then_survey(plugins):
    trace, channel = await walk(plugins, "9 4")
    assert path(trace)[-2:] == [("complaints", "ended"), ("end_quiet", None)]
    assert in_order(
        path(trace, 1),
        [("skill", "complaints"), ("complaints_queue", "completed"), ("survey", "done")],
    )
    [queue] = [h for h in channel.heard if h.kind == "queue"]
    assert queue.text == "complaints"
    assert queue.data["caller_data"]["CATEGORY"] == "complaint"
    survey = plugins.resources["survey"]
    assert survey.flush()
    [answer] = survey.answers(channel.call_id)
    assert (answer["question"], answer["score"], answer["queue"]) == ("agent", 4, "complaints")
    assert trace.outcome.kind == "completed"


async def test_branch_0_by_area_remote_callers_get_the_remote_group(plugins):
    trace, channel = await walk(plugins, "0 #")  # skips the survey question
    assert ("area", "other") in path(trace, 1)
    [queue] = [h for h in channel.heard if h.kind == "queue"]
    assert queue.text == "consult_remote"
    assert queue.data["caller_data"]["REGION"] == "beijing"
    assert path(trace)[-2:] == [("agent", "done"), ("goodbye", None)]


async def test_vip_gets_queue_priority(plugins):
    trace, channel = await walk(plugins, "0 5", caller=VIP)
    assert ("screen", "vip") in path(trace)
    [queue] = [h for h in channel.heard if h.kind == "queue"]
    assert queue.data["priority"] == 5


async def test_blocked_caller_hears_a_polite_message(plugins):
    trace, _ = await walk(plugins, "", caller=BLOCKED)
    assert nodes(trace) == ["start", "screen", "blocked_bye"]
    assert "暂时无法受理" in " ".join(heard(trace))
    assert trace.outcome.kind == "completed"


async def test_closed_hours_offer_voicemail_not_an_agent(plugins):
    trace, channel = await walk(plugins, "0 8", at=CLOSED)
    walked = nodes(trace)
    assert in_order(walked, ["closed_notice", "main_menu_closed", "agents_closed"])
    assert "leave_voicemail" in walked
    assert not any(h.kind == "queue" for h in channel.heard)


async def test_a_statutory_holiday_and_a_makeup_working_day(plugins):
    trace, _ = await walk(plugins, "h", at=HOLIDAY)
    assert ("hours", "holiday") in path(trace) and "holiday_notice" in nodes(trace)
    trace, _ = await walk(plugins, "h", at=MAKEUP)  # a Sunday worked for National Day
    assert ("hours", "open") in path(trace)


def sms(plugins):
    outbox = plugins.resources["sms"]
    assert outbox.flush()
    return [(m["template"], m["text"], m["status"]) for m in reversed(outbox.messages())]


async def test_branch_5_book_an_appointment_with_sms_confirmation(plugins):
    # new · loan application · B01 · the first day offered · the first slot · confirm
    trace, _ = await walk(plugins, "5 1 1 1 1 1 1 h")
    assert in_order(
        path(trace), [("main_menu", "5"), ("appointment", "booked"), ("to_main", "open")]
    )
    assert path(trace, 1) == [
        ("start", "next"),
        ("appt_menu", "1"),
        ("service_menu", "1"),
        ("svc_loan_application", "next"),
        ("branch_menu", "1"),
        ("branch_b01", "next"),
        ("dates", "ok"),
        ("slots", "ok"),
        ("confirm_intro", "next"),
        ("say_date", "next"),
        ("say_start", "next"),
        ("say_to", "next"),
        ("say_end", "next"),
        ("confirm", "1"),
        ("book", "booked"),
        ("sms_booked", "queued"),
        ("appt_done", "next"),
        ("say_code", "next"),
        ("sms_note", "next"),
        ("ret_booked", None),
    ]
    [booking] = await plugins.resources["fund"].bookings(CALLER, from_day=OPEN.date())
    # Friday 9 October 2026: the next working day is Saturday the 10th, worked for National Day
    assert booking.day == date(2026, 10, 10) and booking.branch_id == "B01"
    assert (booking.service, booking.start.isoformat()) == ("loan_application", "09:00:00")
    assert said(trace)[-1] == "".join("零一二三四五六七八九"[int(c)] for c in booking.code)
    [(template, text, status)] = sms(plugins)
    assert template == "appt_booked" and status == "sent"  # the development log sink
    [record] = plugins.resources["sms"].messages()
    assert (record["flow"], record["node"]) == ("12329-appointment", "sms_booked")
    assert booking.code in text and "2026-10-10 09:00-10:30" in text
    assert "市中心服务大厅" in text


async def test_branch_5_the_last_place_taken_while_confirming(plugins):
    """Another caller takes the last place between choosing the slot and confirming: the
    caller hears so, picks again, and the slot is never overbooked."""
    fund = plugins.resources["fund"]
    day = date(2026, 10, 10)
    REQUEST_TIME.set(OPEN)  # the demo system's "now", as during the call
    [first, *_] = await fund.appointment_slots("B02", day, "withdrawal")
    for i in range(first.capacity - 1):
        await fund.book(f"1390000000{i}", "withdrawal", "B02", day, first.period)
    real_book = fund.book
    raced = []

    async def racing_book(phone, service, branch_id, day, period, **kw):
        if phone == CALLER and not raced:  # the other caller confirms a moment earlier
            raced.append(await real_book("13999999999", service, branch_id, day, period))
        return await real_book(phone, service, branch_id, day, period, **kw)

    fund.book = racing_book
    try:
        # withdrawal · B02 · first day · first slot · confirm → taken → first slot left · confirm
        trace, _ = await walk(plugins, "5 1 3 2 1 1 1 1 1 h")
    finally:
        del fund.book
    sub = path(trace, 1)
    assert in_order(
        sub,
        [("book", "taken"), ("slot_taken", "next"), ("slots", "ok"), ("book", "booked")],
    )
    [mine] = await fund.bookings(CALLER, from_day=day)
    assert mine.period != first.period
    [slot] = [
        s
        for s in await fund.appointment_slots("B02", day, "withdrawal")
        if s.period == first.period
    ]
    assert slot.remaining == 0  # full, and not one over


async def test_branch_5_a_second_booking_of_the_same_service_is_refused(plugins):
    await walk(plugins, "5 1 1 1 1 1 1 h")
    trace, _ = await walk(plugins, "5 1 1 2 1 1 1 2 h")  # same service, other branch: kept
    assert in_order(
        path(trace, 1),
        [("book", "duplicate"), ("duplicate", "next"), ("say_found_date", "next"), ("manage", "2")],
    )
    assert ("appointment", "back") in path(trace)
    assert len(await plugins.resources["fund"].bookings(CALLER, from_day=OPEN.date())) == 1


async def test_branch_5_look_up_and_cancel_by_phone(plugins):
    await walk(plugins, "5 1 1 1 1 1 1 h")
    trace, _ = await walk(plugins, "5 2 1 h")
    assert path(trace, 1) == [
        ("start", "next"),
        ("appt_menu", "2"),
        ("lookup", "found"),
        ("found_intro", "next"),
        ("say_found_date", "next"),
        ("say_found_start", "next"),
        ("manage", "1"),
        ("cancel", "cancelled"),
        ("sms_cancelled", "queued"),
        ("cancelled_ok", "next"),
        ("ret_cancelled", None),
    ]
    assert said(trace)[:1] == ["二零二六年十月十日"]
    assert await plugins.resources["fund"].bookings(CALLER, from_day=OPEN.date()) == []
    assert [t for t, _, _ in sms(plugins)] == ["appt_booked", "appt_cancelled"]
    # nothing left to look up
    trace, _ = await walk(plugins, "5 2 * h")
    assert in_order(path(trace, 1), [("lookup", "none"), ("appt_none", "next"), ("appt_menu", "*")])


async def test_branch_5_no_bookable_day_when_the_calendar_is_unknown(plugins):
    """New Year's Eve 2026: the next 14 days are in 2027, which chinese-calendar does not know
    yet — no day is offered rather than a guess (the caller hears so and may pick another
    branch)."""
    at = OPEN.replace(year=2026, month=12, day=31)
    trace, _ = await walk(plugins, "5 1 1 1 *", at=at)
    assert in_order(
        path(trace, 1), [("dates", "none"), ("no_dates", "next"), ("branch_menu", None)]
    )


async def test_after_hours_callback_registration(plugins):
    trace, _ = await walk(plugins, "7", at=CLOSED)
    assert in_order(
        path(trace),
        [("register_callback", "registered"), ("callback_ok", "next"), ("goodbye", None)],
    )
    trace, _ = await walk(plugins, "7", at=CLOSED)  # asking twice keeps one request
    assert ("register_callback", "already") in path(trace)
    total, [request] = plugins.resources["callback"].search(status="pending")
    assert (total, request.phone, request.reason) == (1, CALLER, "after_hours")


async def test_queue_timeout_then_voicemail_or_callback(plugins):
    trace, _ = await walk(plugins, "0 2", queue_status="timeout")
    assert in_order(
        path(trace, 1),
        [("consult_remote", "timeout"), ("queue_busy", "2"), ("register_callback", "registered")],
    )
    trace, channel = await walk(plugins, "9 1", queue_status="timeout")
    assert ("leave_voicemail", "completed") in path(trace, 1)
    assert any(h.kind == "voicemail" for h in channel.heard)


async def test_system_busy_still_reaches_an_agent_when_the_fund_system_is_down(tmp_path):
    """No fund system at all: connection refused on every lookup."""
    engine = make_test_engine("sqlite", tmp_path)
    environ = {"IVRFLOW_FUND_URL": "http://127.0.0.1:9/api", "IVRFLOW_FUND_TOKEN": "t0k3n"}
    try:
        with hotline_plugins(engine, environ) as plugins:
            for keys in (
                f"1 1 {DEMO.ACCOUNT}# {DEMO.PIN} 0",
                f"2 1 {DEMO.ACCOUNT}# {DEMO.PIN} 0",
                f"3 {DEMO.UNIT}# {DEMO.UNIT_PIN} 0",
                "5 1 1 1 0",  # appointments: the days cannot be read
            ):
                trace, channel = await walk(plugins, keys)
                walked = nodes(trace)
                assert in_order(walked, ["system_busy", "agent"]), (keys, walked)
                assert any(h.kind == "queue" for h in channel.heard), keys
                assert "系统繁忙" in " ".join(heard(trace))
    finally:
        engine.dispose()


async def test_test_calls_never_change_the_fund_system_or_the_staff_lists(plugins):
    """The designer's test calls and ``ivrflow simulate`` run on ``for_test_calls()``: they
    hear real answers but their bookings, callbacks, survey answers and SMS stay out of the
    fund system, the callback list, the survey summary and the SMS gateway."""
    real = plugins.resources
    test = plugins.for_test_calls()
    assert all(test[key] is not real[key] for key in ("fund", "sms", "callback", "survey"))

    async def test_call(keys, **kw):
        return await simulate(
            MAIN, keys, at=OPEN, caller=CALLER, library=LIBRARY, resources=test, **kw
        )

    trace, _ = await test_call("5 1 1 1 1 1 1 h")
    assert ("book", "booked") in path(trace, 1) and ("sms_booked", "queued") in path(trace, 1)
    trace, _ = await test_call("5 2 1 h")  # the test booking is found and "cancelled"
    assert ("cancel", "cancelled") in path(trace, 1)
    trace, _ = await test_call("0 2", queue_status="timeout")
    assert ("register_callback", "registered") in path(trace, 1)
    trace, channel = await test_call("9 5")
    assert ("survey", "done") in path(trace, 1)

    assert await real["fund"].bookings(CALLER, from_day=OPEN.date()) == []
    assert real["callback"].search(status=None) == (0, [])
    assert real["survey"].flush() and real["survey"].answers(channel.call_id) == []
    assert real["sms"].flush() and real["sms"].messages() == []
    # a real booking is seen by a test call, and "cancelling" it there leaves it booked
    await walk(plugins, "5 1 1 1 1 1 1 h")
    trace, _ = await test_call("5 2 1 h")
    assert ("cancel", "cancelled") in path(trace, 1)
    assert len(await real["fund"].bookings(CALLER, from_day=OPEN.date())) == 1
