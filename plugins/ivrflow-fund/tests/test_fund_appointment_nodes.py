"""The appointment nodes with a scripted caller: every exit, retries, the calendar, the race
for the last place, and the fund system failing."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from ivrflow_fund.appointment import (
    FundAppointmentBook,
    FundAppointmentCancel,
    FundAppointmentDates,
    FundAppointmentLookup,
    FundAppointmentSlots,
)
from ivrflow_fund.http import HttpFundBackend
from ivrflow_fund.nodes import NODES
from ivrflow_fund.prompts import APPOINTMENT_PROMPTS, PROMPTS
from ivrflow_schedule.calendar import default_calendar

from nodes.registry import load_registry
from runtime.simulator import SimulatedChannel, simulate
from runtime.testing import run_node
from runtime.validate import validate

SHANGHAI = ZoneInfo("Asia/Shanghai")
TUESDAY = date(2026, 9, 29)
PHONE = "13800138000"
CHOICE = {"appt_service": "withdrawal", "appt_branch": "B02"}
OFFERED = ["2026-09-29", "2026-09-30", "2026-10-08", "2026-10-09", "2026-10-10"]
NODE_CLASSES = [
    FundAppointmentDates,
    FundAppointmentSlots,
    FundAppointmentBook,
    FundAppointmentLookup,
    FundAppointmentCancel,
]


async def _run(node, appt_now, backend, config=None, **options):
    options.setdefault("prompts", PROMPTS)
    return await run_node(node, config or {}, at=appt_now, resources={"fund": backend}, **options)


def _said(run) -> str:
    return " | ".join(h.text for h in run.heard)


def _attempts(run, event) -> list[tuple[str | None, str]]:
    return [(e["key"], e["result"]) for e in run.events if e["event"] == event and "attempt" in e]


# -- fund.appointment_dates ------------------------------------------------------------------


async def test_dates_skip_the_holiday_and_offer_the_makeup_saturday(appt, appt_now):
    run = await _run(FundAppointmentDates, appt_now, appt, keys="5", vars=CHOICE)
    assert run.exit == "ok"
    assert run.vars_changed == {"appt_date": "2026-10-10"}
    offered = next(e for e in run.events if "offered" in e)
    assert offered["offered"] == OFFERED  # 1–7 October (National Day) closed
    said = _said(run)
    assert said.startswith(
        "请选择预约日期。 | 二 零 二 六 年 九 月 二 十 九 日 | 星期 二 | 请按 | 一"
    )
    assert "十 月 十 日 | 星期 六 | 请按 | 五" in said
    assert "十 月 一 日" not in said
    assert _attempts(run, "fund_appt_dates") == [("5", "ok")]


async def test_dates_ask_again_after_silence_and_a_wrong_key(appt, appt_now):
    run = await _run(FundAppointmentDates, appt_now, appt, keys="- 7 2", vars=CHOICE)
    assert run.exit == "ok" and run.vars["appt_date"] == "2026-09-30"
    assert _attempts(run, "fund_appt_dates") == [(None, "timeout"), ("7", "invalid"), ("2", "ok")]
    said = _said(run)
    assert said.count("请选择预约日期。") == 3
    assert said.index("没有收到您的按键。") < said.index("您的按键有误。")


@pytest.mark.parametrize(
    ("keys", "attempts", "exit"),
    [("- - -", 3, "timeout"), ("9 0 *", 3, "invalid"), ("- 8", 2, "invalid"), ("6", 1, "invalid")],
)
async def test_dates_out_of_attempts(appt, appt_now, keys, attempts, exit):
    run = await _run(
        FundAppointmentDates,
        appt_now,
        appt,
        {"max_attempts": attempts},
        keys=keys,
        vars=CHOICE,
    )
    assert run.exit == exit
    assert "appt_date" not in run.vars_changed
    assert len(_attempts(run, "fund_appt_dates")) == attempts
    assert _said(run).count("请选择预约日期。") == attempts


async def test_dates_skip_full_days_and_respect_max_options(appt, appt_now, fill_slot):
    for period in ("0900", "1030", "1330", "1500"):
        fill_slot("B02", TUESDAY, period, 3)
    run = await _run(
        FundAppointmentDates, appt_now, appt, {"max_options": 2}, keys="1", vars=CHOICE
    )
    assert run.exit == "ok" and run.vars["appt_date"] == "2026-09-30"
    assert next(e for e in run.events if "offered" in e)["offered"] == ["2026-09-30", "2026-10-08"]
    # the first day and the horizon are configurable
    run = await _run(
        FundAppointmentDates,
        appt_now,
        appt,
        {"first_day_offset": 10, "horizon_days": 12},
        keys="3",
        vars=CHOICE,
    )
    # 8 October (today + 10) … 10 October (today + 12, the make-up Saturday), both included
    offered = next(e for e in run.events if "offered" in e)["offered"]
    assert offered == ["2026-10-08", "2026-10-09", "2026-10-10"]
    assert run.vars["appt_date"] == "2026-10-10"


async def test_dates_none_in_the_horizon(appt):
    # from 30 September the next 7 days are the National Day holiday
    at = datetime(2026, 9, 30, 10, tzinfo=SHANGHAI)
    run = await run_node(
        FundAppointmentDates,
        {"horizon_days": 7},
        vars=CHOICE,
        at=at,
        resources={"fund": appt},
        prompts=PROMPTS,
    )
    assert run.exit == "none"
    assert run.heard == []  # the flow plays what it wants on none
    assert run.events[-1] == {
        "event": "fund_appt_dates",
        "result": "none",
        "branch": "B02",
        "service": "withdrawal",
    }


async def test_days_without_calendar_data_are_skipped_and_noted(appt):
    last = default_calendar().years()[1]
    at = datetime(last, 12, 24, 10, tzinfo=SHANGHAI)
    run = await run_node(
        FundAppointmentDates,
        {"horizon_days": 14, "max_options": 9},
        keys="1",
        vars=CHOICE,
        at=at,
        resources={"fund": appt},
        prompts=PROMPTS,
    )
    note = next(e for e in run.events if e["event"] == "fund_appt_no_calendar")
    assert note["days"][0] == f"{last + 1}-01-01" and note["days"][-1] == f"{last + 1}-01-07"
    assert "no calendar data" in note["detail"]
    offered = next(e for e in run.events if "offered" in e)["offered"]
    assert offered and all(d.startswith(str(last)) for d in offered)
    assert run.exit == "ok"
    # a year entirely without data: nothing to offer
    run = await run_node(
        FundAppointmentDates,
        {},
        vars=CHOICE,
        at=datetime(last + 1, 3, 2, 10, tzinfo=SHANGHAI),
        resources={"fund": appt},
    )
    assert run.exit == "none"
    assert len(next(e for e in run.events if e["event"] == "fund_appt_no_calendar")["days"]) == 14


@pytest.mark.parametrize(
    ("variables", "missing"),
    [
        ({"appt_branch": "B02"}, "appt_service"),
        ({"appt_branch": "B02", "appt_service": "haircut"}, "appt_service"),
        ({"appt_service": "withdrawal"}, "appt_branch"),
        ({"appt_service": "withdrawal", "appt_branch": "  "}, "appt_branch"),
    ],
)
@pytest.mark.parametrize("node", [FundAppointmentDates, FundAppointmentSlots])
async def test_choosing_without_service_or_branch_is_invalid(
    appt, appt_now, node, variables, missing
):
    run = await _run(node, appt_now, appt, keys="1", vars={**variables, "appt_date": "2026-09-29"})
    assert run.exit == "invalid"
    assert run.events == [
        {
            "event": node.event,
            "result": "invalid",
            "reason": "missing or malformed",
            "variable": missing,
        }
    ]
    assert run.heard == []


@pytest.mark.parametrize("node", [FundAppointmentDates, FundAppointmentSlots])
async def test_an_unknown_branch_is_invalid(appt, appt_now, node):
    run = await _run(
        node,
        appt_now,
        appt,
        vars={"appt_service": "withdrawal", "appt_branch": "B99", "appt_date": "2026-09-29"},
    )
    assert run.exit == "invalid"
    assert run.events[-1]["reason"] == "unknown branch"


def test_dates_config_check():
    issues = FundAppointmentDates.check_config(
        FundAppointmentDates.with_defaults({"first_day_offset": 20, "horizon_days": 10})
    )
    assert [i.code for i in issues] == ["fund.appointment_dates.range"]
    assert FundAppointmentDates.check_config(FundAppointmentDates.with_defaults({})) == []
    assert FundAppointmentDates.config_errors(
        FundAppointmentDates.with_defaults({"max_options": 10, "horizon_days": 61})
    )


class BargeIn(SimulatedChannel):
    """A caller who presses ``key`` while the ``at``-th prompt plays."""

    def __init__(self, key: str, at: int) -> None:
        super().__init__("")
        self.key, self.at = key, at

    async def play(self, prompts, *, barge_in=True):
        await super().play(prompts, barge_in=barge_in)
        return self.key if barge_in and len(self.heard) == self.at else None


async def test_a_key_pressed_during_the_list_stops_it_and_chooses(appt, appt_now):
    run = await _run(FundAppointmentDates, appt_now, appt, vars=CHOICE, channel=BargeIn("2", at=6))
    assert run.exit == "ok" and run.vars["appt_date"] == "2026-09-30"
    assert len(run.heard) == 6  # intro, then option 1 (4 prompts), then option 2's date: stop


# -- fund.appointment_slots ------------------------------------------------------------------


async def test_slots_offer_the_free_times(appt, appt_now, fill_slot):
    fill_slot("B02", TUESDAY, "0900", 3)
    run = await _run(
        FundAppointmentSlots,
        appt_now,
        appt,
        keys="3",
        vars={**CHOICE, "appt_date": "2026-09-29"},
    )
    assert run.exit == "ok"
    assert run.vars_changed == {
        "appt_slot": "1500",
        "appt_slot_start": "15:00",
        "appt_slot_end": "17:00",
    }
    assert next(e for e in run.events if "offered" in e)["offered"] == ["1030", "1330", "1500"]
    said = _said(run)
    assert said.startswith("请选择预约时段。 | 十 点 三 十 分 | 至 | 十 二 点 | 请按 | 一")
    assert "十 五 点 | 至 | 十 七 点 | 请按 | 三" in said
    assert "九 点" not in said


async def test_slots_full_and_retries(appt, appt_now, fill_slot):
    day = {**CHOICE, "appt_date": "2026-09-29"}
    run = await _run(FundAppointmentSlots, appt_now, appt, keys="- 5 1", vars=day)
    assert run.exit == "ok" and run.vars["appt_slot"] == "0900"
    assert _attempts(run, "fund_appt_slots") == [(None, "timeout"), ("5", "invalid"), ("1", "ok")]
    run = await _run(FundAppointmentSlots, appt_now, appt, keys="- - -", vars=day)
    assert run.exit == "timeout"
    for period in ("0900", "1030", "1330", "1500"):
        fill_slot("B02", TUESDAY, period, 3)
    run = await _run(FundAppointmentSlots, appt_now, appt, keys="1", vars=day)
    assert run.exit == "full" and run.heard == []
    holiday = await _run(
        FundAppointmentSlots, appt_now, appt, vars={**CHOICE, "appt_date": "2026-10-01"}
    )
    assert holiday.exit == "full"


@pytest.mark.parametrize("value", [None, "", "2026-13-01", "20260929", "next tuesday"])
async def test_slots_without_a_date_is_invalid(appt, appt_now, value):
    run = await _run(FundAppointmentSlots, appt_now, appt, vars={**CHOICE, "appt_date": value})
    assert run.exit == "invalid"
    assert run.events[0]["variable"] == "appt_date"


# -- fund.appointment_book -------------------------------------------------------------------

CHOSEN = {**CHOICE, "appt_date": "2026-09-29", "appt_slot": "1030"}


async def test_book(appt, appt_now):
    run = await _run(
        FundAppointmentBook,
        appt_now,
        appt,
        {"person_variable": "fund_id"},
        vars={**CHOSEN, "fund_id": "P-0001"},
    )
    assert run.exit == "booked"
    changed = run.vars_changed
    assert set(changed) == {
        "appt_booking",
        "appt_code",
        "appt_branch_name",
        "appt_slot_start",
        "appt_slot_end",
    }
    assert changed["appt_branch_name"] == "高新区服务网点（演示）"
    assert len(changed["appt_code"]) == 6 and changed["appt_code"].isdigit()
    assert (changed["appt_slot_start"], changed["appt_slot_end"]) == ("10:30", "12:00")
    [held] = await appt.bookings(PHONE, from_day=TUESDAY)
    assert held.booking_id == changed["appt_booking"] and held.code == changed["appt_code"]
    # the phone is shown as its last 4 digits only
    assert run.events == [
        {
            "event": "fund_appt_book",
            "result": "booked",
            "booking": held.booking_id,
            "phone": "*******8000",
            "service": "withdrawal",
            "branch": "B02",
            "date": "2026-09-29",
            "slot": "1030",
        }
    ]
    assert PHONE not in str(run.events)


async def test_book_under_another_phone_from_a_template(appt, appt_now):
    run = await _run(
        FundAppointmentBook,
        appt_now,
        appt,
        {"phone": "{{mobile}}"},
        vars={**CHOSEN, "mobile": "139-0000-1111"},
    )
    assert run.exit == "booked"
    assert [b.phone for b in await appt.bookings("13900001111", from_day=TUESDAY)] == [
        "13900001111"
    ]


async def test_the_last_place_goes_while_the_caller_confirms(appt, appt_now):
    """slots → (the caller listens to the confirmation) → someone else books the last
    places → book: taken."""
    chose = await _run(
        FundAppointmentSlots,
        appt_now,
        appt,
        keys="2",
        vars={**CHOICE, "appt_date": "2026-09-29"},
    )
    assert chose.exit == "ok" and chose.vars["appt_slot"] == "1030"
    for n in range(3):
        await appt.book(f"1370000000{n}", "withdrawal", "B02", TUESDAY, "1030")
    run = await _run(
        FundAppointmentBook,
        appt_now,
        appt,
        vars={**CHOICE, **chose.vars_changed, "appt_date": "2026-09-29"},
    )
    assert run.exit == "taken"
    assert run.events[0]["result"] == "taken"
    assert "appt_booking" not in run.vars_changed
    assert await appt.bookings(PHONE, from_day=TUESDAY) == []


async def test_a_second_booking_for_the_service_is_a_duplicate(appt, appt_now):
    held = await appt.book(PHONE, "withdrawal", "B01", date(2026, 10, 8), "1500")
    run = await _run(FundAppointmentBook, appt_now, appt, vars=CHOSEN)
    assert run.exit == "duplicate"
    assert run.vars_changed == {
        "appt_service": "withdrawal",
        "appt_branch": "B01",
        "appt_branch_name": "市中心服务大厅（演示）",
        "appt_date": "2026-10-08",
        "appt_slot": "1500",
        "appt_slot_start": "15:00",
        "appt_slot_end": "17:00",
        "appt_booking": held.booking_id,
        "appt_code": held.code,
    }
    assert run.events[0]["existing"] == held.booking_id
    assert len(await appt.bookings(PHONE, from_day=TUESDAY)) == 1


@pytest.mark.parametrize(
    ("variables", "caller", "missing"),
    [
        ({**CHOSEN, "appt_date": ""}, PHONE, "appt_date"),
        ({**CHOSEN, "appt_date": "29/09/2026"}, PHONE, "appt_date"),
        ({**CHOSEN, "appt_slot": None}, PHONE, "appt_slot"),
        ({**CHOSEN, "appt_slot": "09:00 AM"}, PHONE, "appt_slot"),
        ({**CHOSEN, "appt_service": "loan"}, PHONE, "appt_service"),
        ({**CHOSEN, "appt_branch": ""}, PHONE, "appt_branch"),
        (CHOSEN, "anonymous", "phone"),
        (CHOSEN, "", "phone"),
    ],
)
async def test_book_with_missing_details_is_invalid(appt, appt_now, variables, caller, missing):
    run = await _run(FundAppointmentBook, appt_now, appt, vars=variables, caller=caller)
    assert run.exit == "invalid"
    assert run.events == [
        {
            "event": "fund_appt_book",
            "result": "invalid",
            "reason": "missing or malformed",
            "variable": missing,
        }
    ]


async def test_book_a_closed_day_or_unknown_branch(appt, appt_now):
    run = await _run(
        FundAppointmentBook, appt_now, appt, vars={**CHOSEN, "appt_date": "2026-10-01"}
    )
    assert run.exit == "taken"  # not bookable: the caller hears the slot is gone
    run = await _run(FundAppointmentBook, appt_now, appt, vars={**CHOSEN, "appt_branch": "B99"})
    assert run.exit == "invalid" and run.events[0]["reason"] == "unknown branch"


# -- fund.appointment_lookup and fund.appointment_cancel --------------------------------------


async def test_look_up_the_earliest_booking_then_cancel_it(appt, appt_now):
    later = await appt.book(PHONE, "withdrawal", "B01", date(2026, 10, 9), "0900")
    first = await appt.book(PHONE, "loan_repayment", "B02", TUESDAY, "1330")
    run = await _run(FundAppointmentLookup, appt_now, appt)
    assert run.exit == "found"
    assert run.vars_changed == {
        "appt_count": 2,
        "appt_booking": first.booking_id,
        "appt_code": first.code,
        "appt_service": "loan_repayment",
        "appt_branch": "B02",
        "appt_branch_name": "高新区服务网点（演示）",
        "appt_date": "2026-09-29",
        "appt_slot": "1330",
        "appt_slot_start": "13:30",
        "appt_slot_end": "15:00",
    }
    assert run.events[0]["phone"] == "*******8000"

    other = await _run(FundAppointmentCancel, appt_now, appt, vars=run.vars, caller="13900000000")
    assert other.exit == "not_found"  # not this caller's booking
    cancelled = await _run(FundAppointmentCancel, appt_now, appt, vars=run.vars)
    assert cancelled.exit == "cancelled"
    assert cancelled.events == [
        {
            "event": "fund_appt_cancel",
            "result": "cancelled",
            "booking": first.booking_id,
            "phone": "*******8000",
        }
    ]
    again = await _run(FundAppointmentCancel, appt_now, appt, vars=run.vars)
    assert again.exit == "not_found"
    run = await _run(FundAppointmentLookup, appt_now, appt)
    assert run.exit == "found" and run.vars["appt_booking"] == later.booking_id
    assert run.vars["appt_count"] == 1


async def test_look_up_nothing(appt, appt_now):
    run = await _run(FundAppointmentLookup, appt_now, appt)
    assert run.exit == "none" and run.vars_changed == {"appt_count": 0}
    run = await _run(FundAppointmentLookup, appt_now, appt, caller="anonymous")
    assert run.exit == "none" and run.events[0]["reason"] == "no phone number"
    run = await _run(FundAppointmentCancel, appt_now, appt)
    assert run.exit == "not_found" and run.events[0]["reason"] == "no booking id"


# -- the fund system failing -------------------------------------------------------------------

INPUTS = {**CHOSEN, "appt_booking": "H0001"}


@pytest.mark.parametrize("fault", ["5xx", "invalid", "hang"])
@pytest.mark.parametrize("node", NODE_CLASSES)
async def test_the_fund_system_failing_is_unavailable(fund_server, appt_now, node, fault):
    url, system = fund_server
    system.fault = fault
    backend = HttpFundBackend(url, timeout_s=0.2)
    run = await _run(node, appt_now, backend, keys="1", vars=INPUTS)
    assert run.exit == "unavailable"
    assert run.events[-1]["why"] in ("http_5xx", "invalid_response", "timeout")
    asked = [path for _, path, _ in system.requests]
    assert len(set(asked)) == len(asked)  # at once: no retry
    # the date node asks for one batch of days concurrently (max_options: 5); the book node
    # looks once whether its failed request booked after all; the others ask once
    assert len(asked) == {FundAppointmentDates: 5, FundAppointmentBook: 2}.get(node, 1)
    assert run.heard == []


@pytest.mark.parametrize("node", NODE_CLASSES)
async def test_no_fund_system_is_unavailable(appt_now, node):
    run = await run_node(node, {}, vars=INPUTS, at=appt_now)
    assert run.exit == "unavailable"


async def test_the_nodes_over_http(fund_server, appt_now):
    url, _ = fund_server
    backend = HttpFundBackend(url)
    dates = await _run(FundAppointmentDates, appt_now, backend, keys="3", vars=CHOICE)
    assert dates.exit == "ok" and dates.vars["appt_date"] == "2026-10-08"
    state = {**CHOICE, **dates.vars_changed}
    slots = await _run(FundAppointmentSlots, appt_now, backend, keys="4", vars=state)
    assert slots.exit == "ok"
    state.update(slots.vars_changed)
    book = await _run(FundAppointmentBook, appt_now, backend, vars=state)
    assert book.exit == "booked" and book.vars["appt_code"] == "700000"
    assert book.vars["appt_branch_name"] == "高新区服务网点"
    lookup = await _run(FundAppointmentLookup, appt_now, backend)
    assert lookup.exit == "found" and lookup.vars["appt_slot_start"] == "15:00"
    cancel = await _run(FundAppointmentCancel, appt_now, backend, vars=lookup.vars)
    assert cancel.exit == "cancelled"


# -- in a flow ---------------------------------------------------------------------------------


def _flow() -> dict:
    def play(prompt: str, then: str = "bye") -> dict:
        return {
            "type": "core.play",
            "version": 1,
            "config": {"prompts": [prompt]},
            "exits": {"next": then},
        }

    def say(kind: str, value: str, then: str) -> dict:
        return {
            "type": "core.say",
            "version": 1,
            "config": {"kind": kind, "value": value},
            "exits": {"next": then},
        }

    def var(kind: str = "string") -> dict:
        return {"type": kind}

    return {
        "schema_version": 1,
        "id": "appointment",
        "name": "业务预约",
        "languages": ["zh-CN"],
        "variables": {
            "appt_service": var(),
            "appt_branch": var(),
            "appt_branch_name": var(),
            "appt_date": var(),
            "appt_slot": var(),
            "appt_slot_start": var(),
            "appt_slot_end": var(),
            "appt_booking": var(),
            "appt_code": var(),
            "appt_count": var("number"),
        },
        "prompts": {**PROMPTS, "busy": {"text": {"zh-CN": "系统繁忙，请稍后再拨。"}}},
        "settings": {"fallback": "busy"},
        "nodes": {
            "start": {"type": "core.start", "version": 1, "exits": {"next": "choice"}},
            "choice": {
                "type": "core.set_variable",
                "version": 1,
                "config": {
                    "assignments": [
                        {"variable": "appt_service", "text": "withdrawal"},
                        {"variable": "appt_branch", "text": "B01"},
                    ]
                },
                "exits": {"next": "dates"},
            },
            "dates": {
                "type": "fund.appointment_dates",
                "version": 1,
                "exits": {
                    "ok": "slots",
                    "none": "none",
                    "timeout": "bye",
                    "invalid": "bye",
                    "unavailable": "busy",
                },
            },
            "slots": {
                "type": "fund.appointment_slots",
                "version": 1,
                "exits": {
                    "ok": "book",
                    "full": "full",
                    "timeout": "bye",
                    "invalid": "bye",
                    "unavailable": "busy",
                },
            },
            "book": {
                "type": "fund.appointment_book",
                "version": 1,
                "exits": {
                    "booked": "booked",
                    "taken": "taken",
                    "duplicate": "duplicate",
                    "invalid": "busy",
                    "unavailable": "busy",
                },
            },
            "booked": play("fund_appt_booked", "say_code"),
            "say_code": say("digits", "{{appt_code}}", "lookup"),
            "duplicate": play("fund_appt_duplicate", "say_code"),
            "lookup": {
                "type": "fund.appointment_lookup",
                "version": 1,
                "exits": {"found": "found", "none": "not_found", "unavailable": "busy"},
            },
            "found": play("fund_appt_found", "say_date"),
            "say_date": say("date", "{{appt_date}}", "say_start"),
            "say_start": say("time", "{{appt_slot_start}}", "cancel"),
            "cancel": {
                "type": "fund.appointment_cancel",
                "version": 1,
                "exits": {
                    "cancelled": "cancelled",
                    "not_found": "not_found",
                    "unavailable": "busy",
                },
            },
            "cancelled": play("fund_appt_cancelled"),
            "not_found": play("fund_appt_not_found"),
            "none": play("fund_appt_none"),
            "full": play("fund_appt_full"),
            "taken": play("fund_appt_taken"),
            "busy": play("busy"),
            "bye": {"type": "core.hangup", "version": 1},
        },
    }


async def test_a_flow_books_reads_back_and_cancels(appt, appt_now):
    registry = load_registry(include_entry_points=False, extra=list(NODES))
    result = validate(_flow(), registry=registry)
    assert result.ok and result.problems == [], [p.message_en for p in result.problems]
    trace, channel = await simulate(result.flow, "4 1", at=appt_now, resources={"fund": appt})
    said = " ".join(h.text for h in channel.heard)
    assert "预约成功，您的预约码为" in said
    assert "您的预约为 二 零 二 六 年 十 月 九 日 九 点" in said
    assert "您的预约已取消。" in said
    assert [s.node for s in trace.steps if s.type.startswith("fund.")] == [
        "dates",
        "slots",
        "book",
        "lookup",
        "cancel",
    ]
    assert await appt.bookings(PHONE, from_day=TUESDAY) == []


def test_default_prompts_exist_in_both_languages():
    used = set()
    for node in NODE_CLASSES:
        prompts = node.config_schema["properties"].get("prompts")
        if prompts:
            used |= {p["default"] for p in prompts["properties"].values()}
    assert used <= set(APPOINTMENT_PROMPTS) and used <= set(PROMPTS)
    for prompt in APPOINTMENT_PROMPTS.values():
        assert prompt["text"]["zh-CN"] and prompt["text"]["en-US"]


# -- a booking whose reply is lost ------------------------------------------------------------

BOOK_INPUTS = {**CHOICE, "appt_date": "2026-10-08", "appt_slot": "0900"}


@pytest.mark.parametrize("fault", ["book_then_hang", "book_then_5xx"])
async def test_a_booking_made_but_its_reply_lost_is_confirmed_by_a_look_up(
    fund_server, appt_now, fault
):
    """The fund system booked, but the reply timed out or was a 5xx: before telling the
    caller it failed, the node looks — the booking is there, so the caller hears its code."""
    url, system = fund_server
    system.fault = fault
    backend = HttpFundBackend(url, timeout_s=0.3)
    run = await _run(FundAppointmentBook, appt_now, backend, vars=BOOK_INPUTS)
    assert run.exit == "booked"
    [booked] = system.appointments.values()
    assert run.vars["appt_booking"] == booked["id"] and run.vars["appt_code"] == booked["code"]
    note = next(e for e in run.events if "confirmed_after" in e)
    assert note["confirmed_after"] in ("timeout", "http_5xx")
    posted = [body for method, _, body in system.requests if method == "POST"]
    assert len(posted) == 1 and len(posted[0]["request_id"]) == 32  # sent once, named
    assert [m for m, _, _ in system.requests] == ["POST", "GET"]


async def test_a_failed_booking_that_did_not_land_is_unavailable(fund_server, appt_now):
    url, system = fund_server
    system.fault = "5xx"  # nothing is booked, and the look-up fails too
    backend = HttpFundBackend(url, timeout_s=0.3)
    run = await _run(FundAppointmentBook, appt_now, backend, vars=BOOK_INPUTS)
    assert run.exit == "unavailable" and system.appointments == {}
    assert [m for m, _, _ in system.requests] == ["POST", "GET"]
