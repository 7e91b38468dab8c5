"""Appointments through the HTTP connector against a local fund system: the wire format,
slot_full / already_booked / not found, and every fault bounded by the timeout and counted by
the circuit breaker."""

from __future__ import annotations

import time as clock
from datetime import date, datetime, time

import pytest
from aiohttp import web
from ivrflow_fund.backend import AlreadyBooked, FundNotFound, FundUnavailable, SlotFull
from ivrflow_fund.breaker import CircuitBreaker
from ivrflow_fund.http import HttpFundBackend

TUESDAY = date(2026, 9, 29)
PHONE = "13800138000"


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


async def test_slots_book_look_up_cancel_on_the_wire(fund_server):
    url, system = fund_server
    backend = HttpFundBackend(url)
    slots = await backend.appointment_slots("B01", TUESDAY, "loan_application")
    assert [(s.period, s.start, s.end, s.capacity, s.remaining) for s in slots] == [
        ("0900", time(9), time(10, 30), 2, 2),
        ("1030", time(10, 30), time(12), 2, 2),
        ("1330", time(13, 30), time(15), 2, 2),
        ("1500", time(15), time(17), 2, 2),
    ]
    assert system.requests[-1] == (
        "GET",
        "/api/appointments/slots?branch=B01&date=2026-09-29&service=loan_application",
        None,
    )
    assert await backend.appointment_slots("B01", date(2026, 10, 1), "withdrawal") == []

    booking = await backend.book(
        PHONE,
        "loan_application",
        "B01",
        TUESDAY,
        "1030",
        call_id="c-1",
        person_id="P-0001",
        request_id="r-1",
    )
    assert system.requests[-1] == (
        "POST",
        "/api/appointments",
        {
            "phone": PHONE,
            "service": "loan_application",
            "branch": "B01",
            "date": "2026-09-29",
            "slot": "1030",
            "call_id": "c-1",
            "person_id": "P-0001",
            "request_id": "r-1",
        },
    )
    assert (booking.booking_id, booking.code, booking.status) == ("H0001", "700000", "booked")
    assert (booking.branch_name, booking.day, booking.start, booking.end) == (
        "市中心服务大厅",
        TUESDAY,
        time(10, 30),
        time(12),
    )
    assert booking.created_at == datetime.fromisoformat("2026-09-28T09:00:00+08:00")
    assert [s.remaining for s in await backend.appointment_slots("B01", TUESDAY, "x")] == [
        2,
        1,
        2,
        2,
    ]

    with pytest.raises(AlreadyBooked) as caught:
        await backend.book(PHONE, "loan_application", "B02", TUESDAY, "0900")
    assert caught.value.booking == booking
    await backend.book("13900000001", "withdrawal", "B01", TUESDAY, "1030")
    with pytest.raises(SlotFull):
        await backend.book("13900000002", "withdrawal", "B01", TUESDAY, "1030")
    with pytest.raises(FundNotFound):
        await backend.book("13900000002", "withdrawal", "B99", TUESDAY, "1030")
    with pytest.raises(FundNotFound):
        await backend.appointment_slots("B99", TUESDAY, "withdrawal")

    assert await backend.bookings(PHONE, from_day=date(2026, 9, 28)) == [booking]
    assert system.requests[-1][1] == "/api/appointments?phone=13800138000&from=2026-09-28"
    assert await backend.bookings(PHONE, from_day=date(2026, 9, 30)) == []

    assert await backend.cancel("H0001", "13900000000") is False
    assert await backend.cancel("H0001", PHONE) is True
    assert system.requests[-1] == ("POST", "/api/appointments/H0001/cancel", {"phone": PHONE})
    assert await backend.cancel("H0001", PHONE) is False
    assert await backend.bookings(PHONE, from_day=date(2026, 9, 28)) == []
    assert backend.breaker.state == "closed"


CALLS = {
    "slots": lambda b: b.appointment_slots("B01", TUESDAY, "withdrawal"),
    "book": lambda b: b.book(PHONE, "withdrawal", "B01", TUESDAY, "0900"),
    "bookings": lambda b: b.bookings(PHONE, from_day=TUESDAY),
    "cancel": lambda b: b.cancel("H0001", PHONE),
}


@pytest.mark.parametrize("call", list(CALLS))
@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("5xx", "http_5xx"),
        ("invalid", "invalid_response"),
        ("hang", "timeout"),
        ("slow_body", "timeout"),
    ],
)
async def test_every_fault_is_unavailable_within_the_timeout(fund_server, call, fault, reason):
    url, system = fund_server
    system.fault = fault
    backend = HttpFundBackend(url, timeout_s=0.3)
    started = clock.monotonic()
    with pytest.raises(FundUnavailable) as caught:
        await CALLS[call](backend)
    assert caught.value.reason == reason
    assert clock.monotonic() - started < 1.0


@pytest.mark.parametrize("call", ["slots", "book", "bookings"])
async def test_a_wrong_shape_is_an_invalid_response(fund_server, call):
    url, system = fund_server
    system.fault = "bad_shape"
    backend = HttpFundBackend(url, breaker=CircuitBreaker(1, 30, clock=FakeClock()))
    with pytest.raises(FundUnavailable) as caught:
        await CALLS[call](backend)
    assert caught.value.reason == "invalid_response"
    assert backend.breaker.state == "open"  # counted as a failure


@pytest.mark.parametrize(
    "answer",
    [
        {"slots": "none"},
        {"slots": [{"id": "0900", "start": "9 am", "end": "10:30", "capacity": 2, "remaining": 1}]},
        {"slots": [{"id": "0900", "start": "09:00", "end": "10:30", "capacity": "2"}]},
    ],
)
async def test_malformed_slots(fund_server, monkeypatch, answer):
    url, system = fund_server
    monkeypatch.setattr(system, "appointment", lambda *a: web.json_response(answer))
    with pytest.raises(FundUnavailable) as caught:
        await HttpFundBackend(url).appointment_slots("B01", TUESDAY, "withdrawal")
    assert caught.value.reason == "invalid_response"


@pytest.mark.parametrize(
    ("status", "answer"),
    [
        (201, {"id": "H1", "code": "12345", "phone": PHONE}),  # code not 6 digits, fields missing
        (409, {"error": "something_else"}),
        (409, {"error": "already_booked", "booking": "H1"}),
        (409, "<html>"),
    ],
)
async def test_malformed_booking_answers(fund_server, monkeypatch, status, answer):
    url, system = fund_server
    monkeypatch.setattr(system, "appointment", lambda *a: web.json_response(answer, status=status))
    with pytest.raises(FundUnavailable) as caught:
        await HttpFundBackend(url).book(PHONE, "withdrawal", "B01", TUESDAY, "0900")
    assert caught.value.reason == "invalid_response"


async def test_an_unexpected_4xx_is_rejected_not_a_breaker_failure(fund_server, monkeypatch):
    url, system = fund_server
    monkeypatch.setattr(
        system, "appointment", lambda *a: web.json_response({"error": "bad"}, status=422)
    )
    backend = HttpFundBackend(url, breaker=CircuitBreaker(1, 30, clock=FakeClock()))
    with pytest.raises(FundUnavailable) as caught:
        await backend.book(PHONE, "withdrawal", "B01", TUESDAY, "0900")
    assert caught.value.reason == "rejected"
    assert backend.breaker.state == "closed"


async def test_the_breaker_opens_on_appointment_calls_and_fails_fast(fund_server):
    url, system = fund_server
    ticks = FakeClock()
    backend = HttpFundBackend(url, breaker=CircuitBreaker(3, 30, clock=ticks))
    system.fault = "5xx"
    for call in ("slots", "book", "bookings"):
        with pytest.raises(FundUnavailable):
            await CALLS[call](backend)
    assert backend.breaker.state == "open"
    sent = len(system.requests)
    for make in CALLS.values():
        with pytest.raises(FundUnavailable) as caught:
            await make(backend)
        assert caught.value.reason == "breaker_open"
    assert len(system.requests) == sent
    ticks.t += 30
    system.fault = None
    assert len(await CALLS["slots"](backend)) == 4  # the probe closes it
    assert backend.breaker.state == "closed"
