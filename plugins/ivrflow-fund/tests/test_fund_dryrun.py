"""Test calls (the designer's test-call panel, ``ivrflow simulate``) see the real fund system
but never book or cancel in it: :class:`~ivrflow_fund.dryrun.DryRunFund`."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from ivrflow_fund.backend import REQUEST_TIME, AlreadyBooked, FundBackend, SlotFull
from ivrflow_fund.dryrun import DryRunFund

DAY = date(2026, 10, 12)  # a Monday
PHONE = "13800138000"


@pytest.fixture(autouse=True)
def call_time():
    token = REQUEST_TIME.set(datetime(2026, 10, 9, 10, tzinfo=ZoneInfo("Asia/Shanghai")))
    yield
    REQUEST_TIME.reset(token)


@pytest.fixture
def dry(plugins, demo) -> DryRunFund:
    stand_in = plugins.for_test_calls()["fund"]
    assert isinstance(stand_in, DryRunFund) and stand_in.real is demo
    assert isinstance(stand_in, FundBackend)  # reads go to the real system
    return stand_in


async def test_a_test_booking_takes_a_place_only_in_the_test_calls_view(dry, demo):
    [first, *_] = await dry.appointment_slots("B02", DAY, "withdrawal")
    booking = await dry.book(PHONE, "withdrawal", "B02", DAY, first.period)
    assert (
        booking.booking_id.startswith("TEST-") and booking.branch_name == "高新区服务网点（演示）"
    )
    seen = {s.period: s.remaining for s in await dry.appointment_slots("B02", DAY, "withdrawal")}
    real = {s.period: s.remaining for s in await demo.appointment_slots("B02", DAY, "withdrawal")}
    assert seen[first.period] == real[first.period] - 1
    assert await demo.bookings(PHONE, from_day=DAY) == []
    assert await dry.bookings(PHONE, from_day=DAY) == [booking]
    with pytest.raises(AlreadyBooked):  # the same service again, as the real system would say
        await dry.book(PHONE, "withdrawal", "B01", DAY, first.period)
    assert await dry.cancel(booking.booking_id, "13900000000") is False  # not theirs
    assert await dry.cancel(booking.booking_id, PHONE) is True
    assert await dry.bookings(PHONE, from_day=DAY) == []


async def test_a_full_slot_is_full_for_test_calls_and_real_bookings_stay(dry, demo):
    [first, *_] = await demo.appointment_slots("B02", DAY, "withdrawal")
    for i in range(first.capacity):
        await demo.book(f"1390000000{i}", "withdrawal", "B02", DAY, first.period)
    with pytest.raises(SlotFull):
        await dry.book(PHONE, "withdrawal", "B02", DAY, first.period)
    # "cancelling" a real booking in a test call hides it there and leaves it booked
    real = "13900000000"
    [held] = await demo.bookings(real, from_day=DAY)
    assert await dry.cancel(held.booking_id, real) is True
    assert await dry.bookings(real, from_day=DAY) == []
    assert await demo.bookings(real, from_day=DAY) == [held]
    assert await dry.cancel(held.booking_id, real) is False  # already "cancelled"
