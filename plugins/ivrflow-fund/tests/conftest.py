"""Fixtures of the fund plugin's tests (self-contained, as a plugin outside ivrflow's
repository would have them): a migrated database with the demo fund system, a fund system
HTTP server that can be told to fail in every way, a server that accepts and never answers,
and a flow around ``fund.auth``.

Helpers are fixtures, not imports: with ``--import-mode=importlib`` a test module cannot
import this conftest by name."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from ivrflow_fund.demo import DemoFundBackend
from ivrflow_fund.plugin import setup
from ivrflow_fund.prompts import PROMPTS
from sqlalchemy import Engine

from nodes.plugins import PluginHost, Plugins, load_plugins
from runtime.testing import make_test_engine

PIN = "123456"
UNIT_PIN = "654321"


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path) -> Iterator[Engine]:
    """ivrflow's database, migrated: SQLite, and PostgreSQL when IVRFLOW_TEST_POSTGRES_URL
    names a throwaway server (./test starts one)."""
    engine = make_test_engine(request.param, tmp_path)
    if engine is None:
        pytest.skip("IVRFLOW_TEST_POSTGRES_URL is not set (./test starts a server)")
    yield engine
    engine.dispose()


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


# -- a fund system over HTTP that fails on demand ------------------------------------------


@dataclass
class FaultyFundSystem:
    """``fault``: None (answers), ``"5xx"``, ``"hang"`` (headers never come), ``"invalid"``
    (not JSON), ``"slow_body"`` (headers, then the body never ends), ``"bad_shape"``."""

    fault: str | None = None
    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/api/{tail:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json() if request.can_read_body else None
        self.requests.append((request.method, request.path_qs, body))
        self.headers.append(dict(request.headers))
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
        if path == "/appointments/slots":
            return web.json_response({"open": True, "morning": 3, "afternoon": 1})
        if path == "/bad-request":
            return web.json_response({}, status=400)
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
