"""The HTTP connector against a local fund system: answers, every fault bounded by the
timeout, and the circuit breaker (open, fail fast, half-open probe)."""

from __future__ import annotations

import time
from datetime import date
from decimal import Decimal

import pytest
from ivrflow_fund.backend import FundBackend, FundNotFound, FundUnavailable
from ivrflow_fund.breaker import CircuitBreaker
from ivrflow_fund.http import HttpFundBackend
from ivrflow_fund.plugin import make_backend

from nodes.plugins import PluginHost


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


async def test_answers_are_typed(fund_server):
    url, system = fund_server
    backend = HttpFundBackend(url, token="s3cret-token")
    assert isinstance(backend, FundBackend)
    ok = await backend.authenticate("personal", "account", "20261234", "123456")
    assert ok.status == "ok" and ok.subject_id == "P-0001"
    wrong = await backend.authenticate("personal", "account", "20261234", "000000")
    assert wrong.status == "failed" and wrong.remaining == 7
    locked = await backend.authenticate("personal", "account", "20269999", "123456")
    assert locked.status == "locked" and locked.locked_until is not None
    unknown = await backend.authenticate("personal", "account", "40400000", "123456")
    assert unknown.status == "failed"
    unit = await backend.authenticate("employer", "unit", "880012", "654321")
    assert unit.status == "ok" and unit.subject_id == "U-880012"

    account = await backend.personal_account("P-0001")
    assert account.balance == Decimal("12345.67") and account.monthly_deposit == Decimal("1860.50")
    assert account.last_deposit_date == date(2026, 10, 15) and account.status == "normal"
    loan = await backend.loan("P-0001")
    assert loan.balance == Decimal("356000.00") and loan.remaining_months == 212
    assert loan.monthly_repayment == Decimal("2680.05") and loan.next_due_date == date(2026, 12, 5)
    with pytest.raises(FundNotFound):
        await backend.loan("P-0002")
    employer = await backend.employer_account("U-880012")
    assert employer.headcount == 128 and employer.paid_until == date(2026, 10, 31)
    assert [b.branch_id for b in await backend.branches()] == ["B01"]
    assert (await backend.policy("loan")).title == "贷款"
    slots = await backend.appointment_slots("B01", date(2026, 11, 3), "withdrawal")
    assert [(s.period, s.remaining) for s in slots] == [
        ("0900", 2),
        ("1030", 2),
        ("1330", 2),
        ("1500", 2),
    ]

    # the PIN travels only in the body of POST /auth; credentials in the header
    assert system.requests[0] == (
        "POST",
        "/api/auth",
        {"scope": "personal", "id_type": "account", "id": "20261234", "pin": "123456"},
    )
    assert all(h["Authorization"] == "Bearer s3cret-token" for h in system.headers)
    assert all("123456" not in path for _, path, _ in system.requests)
    assert "s3cret" not in repr(backend)
    assert backend.breaker.state == "closed"


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("5xx", "http_5xx"),
        ("invalid", "invalid_response"),
        ("bad_shape", "invalid_response"),
        ("hang", "timeout"),
        ("slow_body", "timeout"),
    ],
)
async def test_every_fault_is_unavailable_within_the_timeout(fund_server, fault, reason, caplog):
    url, system = fund_server
    system.fault = fault
    backend = HttpFundBackend(url, timeout_s=0.3)
    started = time.monotonic()
    with pytest.raises(FundUnavailable) as caught:
        await backend.personal_account("P-0001")
    assert caught.value.reason == reason
    assert time.monotonic() - started < 1.0
    assert "fund system" in caplog.text
    with pytest.raises(FundUnavailable):  # and for authentication too
        await backend.authenticate("personal", "account", "20261234", "123456")
    assert "123456" not in caplog.text


async def test_connection_refused_and_unexpected_4xx(fund_server):
    url, _ = fund_server
    refused = HttpFundBackend("http://127.0.0.1:9/api", timeout_s=0.5)
    with pytest.raises(FundUnavailable) as caught:
        await refused.branches()
    assert caught.value.reason in ("connect", "timeout")
    backend = HttpFundBackend(url)
    with pytest.raises(FundUnavailable) as caught:
        await backend._get("/bad-request")
    assert caught.value.reason == "rejected"
    assert backend.breaker.state == "closed"  # the system answered: not a failure


async def test_a_hung_server_costs_the_timeout(black_hole):
    backend = HttpFundBackend(black_hole, timeout_s=0.2)
    started = time.monotonic()
    with pytest.raises(FundUnavailable) as caught:
        await backend.authenticate("personal", "account", "20261234", "123456")
    assert caught.value.reason == "timeout"
    assert 0.19 <= time.monotonic() - started < 0.6


async def test_the_breaker_opens_fails_fast_and_probes(fund_server):
    url, system = fund_server
    clock = FakeClock()
    backend = HttpFundBackend(url, breaker=CircuitBreaker(3, 30, clock=clock))
    system.fault = "5xx"
    for _ in range(3):
        with pytest.raises(FundUnavailable):
            await backend.personal_account("P-0001")
    assert backend.breaker.state == "open"
    sent = len(system.requests)
    started = time.monotonic()
    with pytest.raises(FundUnavailable) as caught:
        await backend.personal_account("P-0001")
    assert caught.value.reason == "breaker_open"
    assert time.monotonic() - started < 0.05
    assert len(system.requests) == sent  # nothing sent while open

    clock.t += 30  # cool-down over: one probe goes through; it fails → open again
    assert backend.breaker.state == "half_open"
    with pytest.raises(FundUnavailable) as caught:
        await backend.personal_account("P-0001")
    assert caught.value.reason == "http_5xx" and backend.breaker.state == "open"
    assert len(system.requests) == sent + 1

    clock.t += 30  # the system is back: the probe succeeds and closes the breaker
    system.fault = None
    assert (await backend.personal_account("P-0001")).balance == Decimal("12345.67")
    assert backend.breaker.state == "closed"


def test_breaker_half_open_lets_one_probe_through():
    clock = FakeClock()
    breaker = CircuitBreaker(1, 10, clock=clock)
    breaker.before()
    breaker.failure()
    with pytest.raises(FundUnavailable):
        breaker.before()
    clock.t += 10
    breaker.before()  # the probe
    with pytest.raises(FundUnavailable):
        breaker.before()  # others still fail fast while it runs
    breaker.release()  # the probe's caller hung up: the next call may probe
    breaker.before()
    breaker.success()
    assert breaker.state == "closed"
    breaker.before()
    with pytest.raises(ValueError):
        CircuitBreaker(0, 1)


def test_a_success_resets_the_count():
    breaker = CircuitBreaker(3, 10, clock=FakeClock())
    for _ in range(2):
        breaker.failure()
    breaker.success()
    for _ in range(2):
        breaker.failure()
    assert breaker.state == "closed"


def test_configuration_from_the_environment(engine):
    backend = make_backend(
        PluginHost(
            engine=engine,
            environ={
                "IVRFLOW_FUND_URL": "https://gjj.example.cn/ivr/api/",
                "IVRFLOW_FUND_TOKEN": "tok",
                "IVRFLOW_FUND_TIMEOUT_S": "2.5",
                "IVRFLOW_FUND_BREAKER_FAILURES": "4",
                "IVRFLOW_FUND_BREAKER_RESET_S": "60",
            },
        )
    )
    assert isinstance(backend, HttpFundBackend)
    assert backend.base_url == "https://gjj.example.cn/ivr/api" and backend.timeout_s == 2.5
    assert backend.breaker.threshold == 4 and backend.breaker.reset_s == 60
    assert backend.demo is False
    forced = make_backend(
        PluginHost(
            engine=engine, environ={"IVRFLOW_FUND_URL": "https://x", "IVRFLOW_FUND_DEMO": "1"}
        )
    )
    assert forced.demo is True
    with pytest.raises(ValueError):
        HttpFundBackend("ftp://nope")
    default = HttpFundBackend.from_environ({"IVRFLOW_FUND_URL": "http://h"})
    assert default.timeout_s == 3.0
