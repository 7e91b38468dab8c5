"""A fake fund-centre back end for the 12329 example flow (tests only).

It answers the HTTP API the example flow calls, with fixed demo data, and records every
request so tests can check what the flow sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

PIN = "123456"
ACCOUNT = "20261234"
ID_CARD = "11010119900101123*"
UNIT = "880012"
LOCKED_ACCOUNT = "20269999"
BLOCKED = "13000000000"
VIP = "13900000000"


@dataclass
class FakeFundSystem:
    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    down: bool = False

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._record])
        app.add_routes(
            [
                web.get("/api/callers/{caller}/screening", self.screening),
                web.post("/api/auth", self.auth),
                web.get("/api/accounts/{pid}", self.account),
                web.get("/api/loans/{pid}", self.loan),
                web.get("/api/units/{uid}", self.unit),
                web.get("/api/appointments/slots", self.slots),
                web.post("/api/appointments", self.book),
                web.post("/api/callbacks", self.ok),
                web.post("/api/surveys", self.ok),
            ]
        )
        return app

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        body = await request.json() if request.can_read_body else None
        self.requests.append((request.method, request.path_qs, body))
        if self.down:
            return web.json_response({"error": "maintenance"}, status=503)
        return await handler(request)

    async def screening(self, request: web.Request) -> web.Response:
        caller = request.match_info["caller"]
        return web.json_response({"blocked": caller == BLOCKED, "vip": caller == VIP})

    async def auth(self, request: web.Request) -> web.Response:
        data = await request.json()
        if data["id"] == LOCKED_ACCOUNT:
            return web.json_response({"error": "locked"}, status=423)
        if data["pin"] != PIN or data["id"] not in (ACCOUNT, ID_CARD, UNIT):
            return web.json_response({"error": "bad credentials"}, status=401)
        if data["scope"] == "employer":
            return web.json_response({"unit_id": "U-880012"})
        return web.json_response({"person_id": "P-0001"})

    async def account(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"balance": 12345.67, "monthly_deposit": 1860.5, "last_deposit_date": "2026-10-15"}
        )

    async def loan(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "balance": 356000,
                "remaining_months": 212,
                "monthly_repayment": 2680.05,
                "next_due_date": "2026-12-05",
                "application_progress": "approved",
            }
        )

    async def unit(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"deposit_status": "normal", "headcount": 128, "paid_until": "2026-10-31"}
        )

    async def slots(self, request: web.Request) -> web.Response:
        return web.json_response({"open": True, "morning": 3, "afternoon": 1})

    async def book(self, request: web.Request) -> web.Response:
        data = await request.json()
        if data["slot"] == "2":
            return web.json_response({"error": "slot full"}, status=409)
        return web.json_response({"id": "A-1001"}, status=201)

    async def ok(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True})


@asynccontextmanager
async def running(system: FakeFundSystem | None = None) -> AsyncIterator[tuple[str, Any]]:
    """Serve the fake system on 127.0.0.1 (a free port); yield (api base URL, system)."""
    system = system or FakeFundSystem()
    runner = web.AppRunner(system.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/api", system
    finally:
        await runner.cleanup()
