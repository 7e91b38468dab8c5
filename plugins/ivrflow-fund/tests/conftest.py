"""Fixtures of the fund plugin's tests (self-contained, as a plugin outside ivrflow's
repository would have them): a migrated database with the demo fund system, a fund system
HTTP server that can be told to fail in every way, a server that accepts and never answers,
and a flow around ``fund.auth``.

Helpers are fixtures, not imports: with ``--import-mode=importlib`` a test module cannot
import this conftest by name."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web
from ivrflow_fund.demo import DemoFundBackend, appt_usage
from ivrflow_fund.plugin import setup
from ivrflow_fund.prompts import PROMPTS
from sqlalchemy import delete, insert

from nodes.plugins import PluginHost, Plugins, load_plugins
from runtime.pytest_fixtures import engine  # noqa: F401  (a fixture)

PIN = "123456"
UNIT_PIN = "654321"


@pytest.fixture
def plugins(engine) -> Plugins:
    """The plugin set up on the database without IVRFLOW_FUND_URL: the demo fund system."""
    loaded = load_plugins(
        PluginHost(engine=engine, environ={}), include_entry_points=False, extra={"fund": setup}
    )
    assert loaded.problems == []
    return loaded


@pytest.fixture
def demo(plugins) -> DemoFundBackend:
    backend = plugins.resources["fund"]
    assert isinstance(backend, DemoFundBackend)
    return backend


class Clock:
    """A settable clock for the demo's lock-out."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(demo) -> Clock:
    """The demo backend's clock, settable (``clock.now += timedelta(minutes=31)``)."""
    made = Clock()
    demo._clock = made
    return made


APPT_NOW = datetime(2026, 9, 28, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
"""Monday 28 September 2026, 09:00 Beijing time: the days after it cross the National Day
holiday (1–7 October closed) and the 调休 make-up Saturday 10 October (open)."""


@pytest.fixture
def appt_now() -> datetime:
    return APPT_NOW


@pytest.fixture
def appt(demo) -> DemoFundBackend:
    """The demo fund system with its clock at :data:`APPT_NOW` (nodes pass their call's time
    anyway; this is for the backend called directly)."""
    demo._clock = lambda: APPT_NOW
    return demo


@pytest.fixture
def fill_slot(engine):
    """``fill_slot(branch, day, period, booked)``: set a slot's usage count directly."""

    def fill(branch: str, day: date, period: str, booked: int) -> None:
        with engine.begin() as connection:
            connection.execute(
                delete(appt_usage).where(
                    appt_usage.c.branch_id == branch,
                    appt_usage.c.day == day,
                    appt_usage.c.period == period,
                )
            )
            connection.execute(
                insert(appt_usage).values(branch_id=branch, day=day, period=period, booked=booked)
            )

    return fill


# -- a fund system over HTTP that fails on demand ------------------------------------------


@dataclass
class FaultyFundSystem:
    """``fault``: None (answers), ``"5xx"``, ``"hang"`` (headers never come), ``"invalid"``
    (not JSON), ``"slow_body"`` (headers, then the body never ends), ``"bad_shape"``;
    ``"book_then_hang"`` / ``"book_then_5xx"``: a booking is made, but its reply never comes /
    is a 503 (other requests are answered)."""

    fault: str | None = None
    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    capacity: int = 2
    """Places per appointment slot (branches B01 and B02; 2026-10-01 is closed)."""
    appointments: dict[str, dict[str, Any]] = field(default_factory=dict)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/api/{tail:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json() if request.can_read_body else None
        self.requests.append((request.method, request.path_qs, body))
        self.headers.append(dict(request.headers))
        if self.fault in ("book_then_hang", "book_then_5xx"):
            if (request.method, request.path) != ("POST", "/api/appointments"):
                return self.answer(request.method, request.path, body, request.query)
            self.answer(request.method, request.path, body, request.query)  # it is booked…
            if self.fault == "book_then_5xx":
                return web.json_response({"error": "gateway"}, status=503)
            await self._wait()  # …and the reply never comes
            return web.json_response({})
        if self.fault == "5xx":
            return web.json_response({"error": "maintenance"}, status=503)
        if self.fault == "hang":
            await self._wait()
            return web.json_response({})
        if self.fault == "invalid":
            return web.Response(text="<html>gateway error</html>", content_type="text/html")
        if self.fault == "slow_body":
            response = web.StreamResponse(headers={"Content-Type": "application/json"})
            response.content_length = 200
            await response.prepare(request)
            await response.write(b'{"balance": ')
            await self._wait()
            return response
        if self.fault == "bad_shape":
            return web.json_response({"balance": "lots"})
        return self.answer(request.method, request.path, body, request.query)

    async def _wait(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.release.wait(), 30)

    def answer(self, method: str, path: str, body: Any, query: Any) -> web.Response:
        path = path.removeprefix("/api")
        if method == "POST" and path == "/auth":
            if body["id"] == "40400000":
                return web.json_response({"error": "no such account"}, status=404)
            if body["id"] == "20269999":
                return web.json_response({"locked_until": "2026-11-02T09:30:00+08:00"}, status=423)
            known = body["id"] in ("20261234", "110101199001011237", "880012")
            if not known or body["pin"] != (UNIT_PIN if body["scope"] == "employer" else PIN):
                return web.json_response({"error": "bad credentials", "remaining": 7}, status=401)
            key = "unit_id" if body["scope"] == "employer" else "person_id"
            return web.json_response({key: "U-880012" if key == "unit_id" else "P-0001"})
        if path == "/accounts/P-0001":
            return web.json_response(
                {
                    "balance": 12345.67,
                    "monthly_deposit": 1860.5,
                    "last_deposit_date": "2026-10-15",
                    "status": "normal",
                }
            )
        if path == "/loans/P-0001":
            return web.json_response(
                {
                    "balance": 356000,
                    "remaining_months": 212,
                    "monthly_repayment": "2680.05",
                    "next_due_date": "2026-12-05",
                    "application_progress": "repaying",
                }
            )
        if path == "/units/U-880012":
            return web.json_response(
                {"deposit_status": "normal", "headcount": 128, "paid_until": "2026-10-31"}
            )
        if path == "/branches":
            return web.json_response({"branches": [{"id": "B01", "name": "市中心服务大厅"}]})
        if path == "/policies/loan":
            return web.json_response({"title": "贷款", "text": "……"})
        if path.startswith("/appointments"):
            return self.appointment(method, path, body, query)
        if path == "/bad-request":
            return web.json_response({}, status=400)
        return web.json_response({"error": "not found"}, status=404)

    SLOTS: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("0900", "09:00", "10:30"),
        ("1030", "10:30", "12:00"),
        ("1330", "13:30", "15:00"),
        ("1500", "15:00", "17:00"),
    )

    def _taken(self, branch: str, day: str, slot: str) -> int:
        return sum(
            1
            for a in self.appointments.values()
            if (a["branch"], a["date"], a["slot"], a["status"]) == (branch, day, slot, "booked")
        )

    def appointment(self, method: str, path: str, body: Any, query: Any) -> web.Response:
        if method == "GET" and path == "/appointments/slots":
            if query["branch"] not in ("B01", "B02"):
                return web.json_response({"error": "no such branch"}, status=404)
            if query["date"] == "2026-10-01":
                return web.json_response({"slots": []})
            return web.json_response(
                {
                    "slots": [
                        {
                            "id": slot,
                            "start": start,
                            "end": end,
                            "capacity": self.capacity,
                            "remaining": self.capacity
                            - self._taken(query["branch"], query["date"], slot),
                        }
                        for slot, start, end in self.SLOTS
                    ]
                }
            )
        if method == "GET" and path == "/appointments":
            found = [
                a
                for a in self.appointments.values()
                if a["phone"] == query["phone"]
                and a["status"] == "booked"
                and a["date"] >= query["from"]
            ]
            return web.json_response({"appointments": found})
        if method == "POST" and path == "/appointments":
            if body["branch"] not in ("B01", "B02"):
                return web.json_response({"error": "no such branch"}, status=404)
            for held in self.appointments.values():
                if (held["phone"], held["service"], held["status"]) == (
                    body["phone"],
                    body["service"],
                    "booked",
                ):
                    return web.json_response(
                        {"error": "already_booked", "booking": held}, status=409
                    )
            times = {slot: (start, end) for slot, start, end in self.SLOTS}
            if body["slot"] not in times or body["date"] == "2026-10-01":
                return web.json_response({"error": "slot_full"}, status=409)
            if self._taken(body["branch"], body["date"], body["slot"]) >= self.capacity:
                return web.json_response({"error": "slot_full"}, status=409)
            booking = {
                "id": f"H{len(self.appointments) + 1:04d}",
                "code": f"{700000 + len(self.appointments):06d}",
                "phone": body["phone"],
                "service": body["service"],
                "branch": body["branch"],
                "branch_name": "市中心服务大厅" if body["branch"] == "B01" else "高新区服务网点",
                "date": body["date"],
                "slot": body["slot"],
                "start": times[body["slot"]][0],
                "end": times[body["slot"]][1],
                "status": "booked",
                "created_at": "2026-09-28T09:00:00+08:00",
            }
            self.appointments[booking["id"]] = booking
            return web.json_response(booking, status=201)
        if method == "POST" and path.endswith("/cancel"):
            held = self.appointments.get(path.split("/")[2])
            if held is None or held["phone"] != body["phone"] or held["status"] != "booked":
                return web.json_response({"error": "not found"}, status=404)
            held["status"] = "cancelled"
            return web.json_response(held)
        return web.json_response({"error": "not found"}, status=404)


@pytest.fixture
async def fund_server() -> AsyncIterator[tuple[str, FaultyFundSystem]]:
    """(base URL, system): a fund system on 127.0.0.1; set ``system.fault`` to break it."""
    system = FaultyFundSystem()
    runner = web.AppRunner(system.app(), shutdown_timeout=1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/api", system
    finally:
        system.release.set()
        await asyncio.sleep(0.01)
        await runner.cleanup()


@pytest.fixture
async def black_hole() -> AsyncIterator[str]:
    """A server that accepts connections and never answers (a hung fund system)."""
    from ivrflow_fund.testing import BlackHole

    async with BlackHole() as url:
        yield url


# -- flows -----------------------------------------------------------------------------------


@pytest.fixture
def auth_flow():
    """``auth_flow(config=None)``: start → fund.auth → one prompt per exit → hang up; the
    ok branch reads the balance out with fund.account_query and core.say."""
    return _auth_flow


def _auth_flow(config: dict[str, Any] | None = None) -> dict[str, Any]:
    def play(prompt: str, then: str = "bye") -> dict[str, Any]:
        return {
            "type": "core.play",
            "version": 1,
            "config": {"prompts": [prompt]},
            "exits": {"next": then},
        }

    return {
        "schema_version": 1,
        "id": "fund-auth",
        "name": "身份验证",
        "languages": ["zh-CN"],
        "variables": {
            "fund_id": {"type": "string", "default": ""},
            "fund_id_type": {"type": "string", "default": ""},
            "auth_reason": {"type": "string", "default": ""},
            "auth_tries": {"type": "number", "default": 0},
            "balance": {"type": "string", "default": "0"},
            "monthly_deposit": {"type": "string", "default": "0"},
            "last_deposit_date": {"type": "string", "default": ""},
            "account_status": {"type": "string", "default": ""},
        },
        "prompts": {
            **PROMPTS,
            "welcome_ok": {"text": {"zh-CN": "验证通过。您的公积金余额为"}},
            "auth_failed": {"text": {"zh-CN": "验证未通过，请核对后再拨。"}},
            "auth_locked": {"text": {"zh-CN": "您的账户已锁定，请三十分钟后再试。"}},
            "busy": {"text": {"zh-CN": "系统繁忙，请稍后再拨。"}},
        },
        "settings": {"fallback": "busy_node"},
        "nodes": {
            "start": {"type": "core.start", "version": 1, "exits": {"next": "auth"}},
            "auth": {
                "type": "fund.auth",
                "version": 1,
                "config": config or {},
                "exits": {
                    "ok": "query",
                    "failed": "failed_node",
                    "locked": "locked_node",
                    "unavailable": "busy_node",
                },
            },
            "query": {
                "type": "fund.account_query",
                "version": 1,
                "config": {},
                "exits": {"ok": "ok_node", "not_found": "failed_node", "unavailable": "busy_node"},
            },
            "ok_node": play("welcome_ok", "say_balance"),
            "say_balance": {
                "type": "core.say",
                "version": 1,
                "config": {"kind": "money", "value": "{{balance}}"},
                "exits": {"next": "bye"},
            },
            "failed_node": play("auth_failed"),
            "locked_node": play("auth_locked"),
            "busy_node": play("busy"),
            "bye": {"type": "core.hangup", "version": 1},
        },
    }
