"""Appointments in the demo fund system: the PRC working calendar, slots and places, booking,
look-up and cancelling — and no double booking when callers book at once (SQLite and
PostgreSQL)."""

from __future__ import annotations

import asyncio
import logging
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from ivrflow_fund.backend import (
    REQUEST_TIME,
    AlreadyBooked,
    FundBackend,
    FundNotFound,
    SlotFull,
)
from ivrflow_fund.demo import appt_bookings, appt_usage, branches_table
from ivrflow_fund.plugin import MIGRATIONS
from ivrflow_schedule.calendar import default_calendar
from sqlalchemy import func, select, text, update

from runtime.store.migrate import migrate_plugin

SHANGHAI = ZoneInfo("Asia/Shanghai")
TUESDAY = date(2026, 9, 29)
NATIONAL_DAY = date(2026, 10, 1)  # statutory holiday (a Thursday)
MAKEUP_SATURDAY = date(2026, 10, 10)  # 调休: worked for the National Day holiday
SUNDAY = date(2026, 10, 11)
PHONE = "13800138000"


async def _remaining(backend, branch: str, day: date) -> dict[str, int]:
    slots = await backend.appointment_slots(branch, day, "withdrawal")
    return {s.period: s.remaining for s in slots}


def _no_data_year() -> int:
    return default_calendar().years()[1] + 1


def test_the_calendar_days_used_here_are_what_they_say():
    calendar = default_calendar()
    assert calendar.day(NATIONAL_DAY).kind == "holiday"
    assert calendar.day(MAKEUP_SATURDAY).kind == "makeup_workday"
    assert MAKEUP_SATURDAY.weekday() == 5
    assert calendar.day(SUNDAY).kind == "weekend"
    assert not calendar.day(date(_no_data_year(), 3, 2)).known


async def test_four_slots_on_a_working_day_with_the_branch_capacity(appt):
    assert isinstance(appt, FundBackend)
    slots = await appt.appointment_slots("B01", TUESDAY, "loan_application")
    assert [(s.period, s.start, s.end, s.capacity, s.remaining) for s in slots] == [
        ("0900", time(9, 0), time(10, 30), 10, 10),
        ("1030", time(10, 30), time(12, 0), 10, 10),
        ("1330", time(13, 30), time(15, 0), 10, 10),
        ("1500", time(15, 0), time(17, 0), 10, 10),
    ]
    assert {(s.branch_id, s.day) for s in slots} == {("B01", TUESDAY)}
    assert [s.capacity for s in await appt.appointment_slots("B02", TUESDAY, "withdrawal")] == [
        3
    ] * 4


async def test_holidays_and_weekends_closed_makeup_days_open(appt):
    assert await appt.appointment_slots("B01", NATIONAL_DAY, "withdrawal") == []
    assert await appt.appointment_slots("B01", SUNDAY, "withdrawal") == []
    assert len(await appt.appointment_slots("B01", MAKEUP_SATURDAY, "withdrawal")) == 4
    with pytest.raises(SlotFull):
        await appt.book(PHONE, "withdrawal", "B01", NATIONAL_DAY, "0900")
    booking = await appt.book(PHONE, "withdrawal", "B01", MAKEUP_SATURDAY, "0900")
    assert booking.day == MAKEUP_SATURDAY


async def test_a_day_without_calendar_data_is_closed_and_logged(appt, caplog):
    year = _no_data_year()
    monday = date(year, 3, 1) + timedelta(days=-date(year, 3, 1).weekday() + 7)
    token = REQUEST_TIME.set(datetime(year, 1, 5, 9, tzinfo=SHANGHAI))
    try:
        with caplog.at_level(logging.WARNING, "ivrflow.fund"):
            assert await appt.appointment_slots("B01", monday, "withdrawal") == []
            with pytest.raises(SlotFull):
                await appt.book(PHONE, "withdrawal", "B01", monday, "0900")
    finally:
        REQUEST_TIME.reset(token)
    assert f"no calendar data for {year}" in caplog.text


async def test_past_days_and_begun_slots_cannot_be_booked(appt):
    # the clock: Monday 28 September 09:00 — its first slot has begun, the others not
    today = await appt.appointment_slots("B01", date(2026, 9, 28), "withdrawal")
    assert [s.period for s in today] == ["1030", "1330", "1500"]
    with pytest.raises(SlotFull):
        await appt.book(PHONE, "withdrawal", "B01", date(2026, 9, 28), "0900")
    assert await appt.appointment_slots("B01", date(2026, 9, 25), "withdrawal") == []
    with pytest.raises(SlotFull):
        await appt.book(PHONE, "withdrawal", "B01", date(2026, 9, 25), "1030")
    with pytest.raises(SlotFull):  # no such slot
        await appt.book(PHONE, "withdrawal", "B01", TUESDAY, "0800")


async def test_unknown_branch_and_service(appt):
    with pytest.raises(FundNotFound):
        await appt.appointment_slots("B99", TUESDAY, "withdrawal")
    with pytest.raises(FundNotFound):
        await appt.book(PHONE, "withdrawal", "B99", TUESDAY, "0900")
    with pytest.raises(ValueError, match="service"):
        await appt.appointment_slots("B01", TUESDAY, "haircut")
    with pytest.raises(ValueError, match="service"):
        await appt.book(PHONE, "haircut", "B01", TUESDAY, "0900")


async def test_book_look_up_and_cancel(appt, engine):
    booking = await appt.book(
        PHONE, "loan_application", "B01", TUESDAY, "1330", call_id="call-1", person_id="P-0001"
    )
    assert booking.status == "booked" and booking.phone == PHONE
    assert len(booking.code) == 6 and booking.code.isdigit()
    assert (booking.branch_id, booking.branch_name) == ("B01", "市中心服务大厅（演示）")
    assert (booking.day, booking.period, booking.start, booking.end) == (
        TUESDAY,
        "1330",
        time(13, 30),
        time(15, 0),
    )
    assert booking.created_at is not None and booking.created_at.tzinfo is not None
    slots = {
        s.period: s.remaining for s in await appt.appointment_slots("B01", TUESDAY, "withdrawal")
    }
    assert slots == {"0900": 10, "1030": 10, "1330": 9, "1500": 10}
    with engine.connect() as connection:
        row = connection.execute(select(appt_bookings)).one()
    assert (row.call_id, row.person_id) == ("call-1", "P-0001")

    later = await appt.book(PHONE, "withdrawal", "B02", date(2026, 10, 8), "0900")
    found = await appt.bookings(PHONE, from_day=date(2026, 9, 28))
    assert [b.booking_id for b in found] == [booking.booking_id, later.booking_id]
    assert await appt.bookings(PHONE, from_day=date(2026, 10, 1)) == [later]
    assert await appt.bookings("13900000000", from_day=date(2026, 9, 28)) == []

    assert await appt.cancel(booking.booking_id, "13900000000") is False  # not this phone
    assert await appt.cancel("A-NOPE", PHONE) is False
    assert await appt.cancel(booking.booking_id, PHONE) is True
    assert await appt.cancel(booking.booking_id, PHONE) is False  # already cancelled
    assert await appt.bookings(PHONE, from_day=date(2026, 9, 28)) == [later]
    slots = {
        s.period: s.remaining for s in await appt.appointment_slots("B01", TUESDAY, "withdrawal")
    }
    assert slots["1330"] == 10  # the place is free again
    # and the service can be booked again
    again = await appt.book(PHONE, "loan_application", "B01", TUESDAY, "1330")
    assert again.booking_id != booking.booking_id


async def test_one_upcoming_booking_per_phone_and_service(appt):
    first = await appt.book(PHONE, "withdrawal", "B01", TUESDAY, "0900")
    with pytest.raises(AlreadyBooked) as caught:
        await appt.book(PHONE, "withdrawal", "B02", date(2026, 10, 9), "1500")
    assert caught.value.booking == first
    # another service is fine; another phone too
    await appt.book(PHONE, "loan_repayment", "B01", TUESDAY, "0900")
    await appt.book("13900000000", "withdrawal", "B01", TUESDAY, "0900")
    # a past booking does not count: the next week, the phone books again
    token = REQUEST_TIME.set(datetime(2026, 10, 8, 9, tzinfo=SHANGHAI))
    try:
        later = await appt.book(PHONE, "withdrawal", "B01", date(2026, 10, 9), "0900")
    finally:
        REQUEST_TIME.reset(token)
    assert later.day == date(2026, 10, 9)


async def test_a_full_slot(appt):
    for n in range(3):
        await appt.book(f"1380000000{n}", "withdrawal", "B02", TUESDAY, "1030")
    with pytest.raises(SlotFull):
        await appt.book("13800000009", "withdrawal", "B02", TUESDAY, "1030")
    assert await _remaining(appt, "B02", TUESDAY) == {"0900": 3, "1030": 0, "1330": 3, "1500": 3}


async def test_twenty_callers_three_places_exactly_three_bookings(appt, engine):
    """The race the spec is about: 20 concurrent bookings of a slot with 3 places."""
    results = await asyncio.gather(
        *(
            appt.book(f"1390000{n:04d}", "withdrawal", "B02", TUESDAY, "0900", call_id=f"c{n}")
            for n in range(20)
        ),
        return_exceptions=True,
    )
    booked = [r for r in results if not isinstance(r, BaseException)]
    full = [r for r in results if isinstance(r, SlotFull)]
    assert len(booked) == 3 and len(full) == 17, [type(r).__name__ for r in results]
    assert len({b.code for b in booked}) == 3
    with engine.connect() as connection:
        stored = connection.execute(
            select(func.count())
            .select_from(appt_bookings)
            .where(
                appt_bookings.c.branch_id == "B02",
                appt_bookings.c.day == TUESDAY,
                appt_bookings.c.period == "0900",
                appt_bookings.c.status == "booked",
            )
        ).scalar_one()
        used = connection.execute(
            select(appt_usage.c.booked).where(
                appt_usage.c.branch_id == "B02",
                appt_usage.c.day == TUESDAY,
                appt_usage.c.period == "0900",
            )
        ).scalar_one()
    assert stored == used == 3
    slot = (await appt.appointment_slots("B02", TUESDAY, "withdrawal"))[0]
    assert (slot.period, slot.remaining) == ("0900", 0)


async def test_one_phone_booking_many_slots_at_once_gets_one(appt, engine):
    results = await asyncio.gather(
        *(
            appt.book(PHONE, "withdrawal", "B01", day, period)
            for day in (TUESDAY, date(2026, 9, 30))
            for period in ("0900", "1030", "1330", "1500")
        ),
        return_exceptions=True,
    )
    booked = [r for r in results if not isinstance(r, BaseException)]
    assert len(booked) == 1
    assert all(isinstance(r, AlreadyBooked) for r in results if r not in booked)
    with engine.connect() as connection:
        assert connection.execute(select(func.sum(appt_usage.c.booked))).scalar_one() == 1


async def test_concurrent_cancels_free_one_place(appt, engine):
    booking = await appt.book(PHONE, "withdrawal", "B02", TUESDAY, "1500")
    results = await asyncio.gather(*(appt.cancel(booking.booking_id, PHONE) for _ in range(6)))
    assert sorted(results) == [False] * 5 + [True]
    with engine.connect() as connection:
        assert connection.execute(select(appt_usage.c.booked)).scalar_one() == 0


async def test_a_branch_with_capacity_changed(appt, engine):
    with engine.begin() as connection:
        connection.execute(
            update(branches_table)
            .where(branches_table.c.branch_id == "B01")
            .values(slot_capacity=1)
        )
    await appt.book(PHONE, "withdrawal", "B01", TUESDAY, "0900")
    with pytest.raises(SlotFull):
        await appt.book("13900000000", "withdrawal", "B01", TUESDAY, "0900")


def test_upgrading_a_fund_0001_database_keeps_its_branches(engine):
    migrate_plugin(engine, "fund", MIGRATIONS, to="fund_0001")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO fund_branch (branch_id, name, address, phone, morning_capacity, "
                "afternoon_capacity) VALUES ('B07', '老网点', '某路 7 号', '12329', 30, 20)"
            )
        )
    assert migrate_plugin(engine, "fund", MIGRATIONS) == "fund_0002"
    with engine.connect() as connection:
        row = connection.execute(
            select(branches_table).where(branches_table.c.branch_id == "B07")
        ).one()
    assert (row.name, row.slot_capacity) == ("老网点", 13)  # 50 a day over 4 slots
