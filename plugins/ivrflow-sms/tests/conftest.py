"""Fixtures of the SMS plugin's tests (self-contained): a migrated database, a scriptable fake
gateway, a settable clock, outboxes that are always closed, the plugin set up on the
database, a designer app with its routes and signed-in clients, and an SMS gateway over HTTP
that can be told to fail in every way.

Helpers are fixtures (``gateway``, ``make_outbox``, ``message``…), not imports: with
``--import-mode=importlib`` a test module cannot import this conftest by name."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from ivrflow_sms.gateway import OutgoingSms, SmsPermanentError, SmsTemporaryError
from ivrflow_sms.plugin import setup
from ivrflow_sms.store import SmsOutbox
from sqlalchemy import Engine

from designer.testing import ApiTestClient, designer_with_plugins
from nodes.plugins import PluginHost, Plugins, load_plugins
from runtime.pytest_fixtures import engine  # noqa: F401  (a fixture)


@pytest.fixture(autouse=True)
def no_outbox_left_running() -> Iterator[None]:
    """Every test stops the outboxes it starts (no worker thread outlives its test)."""
    yield
    running = [t for t in threading.enumerate() if t.name == "ivrflow-sms-outbox"]
    assert running == [], "an SMS outbox was not closed"


@pytest.fixture
def migrated(engine) -> Engine:
    """The database with the plugin's table (its own revisions)."""
    from ivrflow_sms.plugin import MIGRATIONS

    PluginHost(engine=engine).migrate("sms", MIGRATIONS)
    return engine


# -- a gateway that does what it is told -----------------------------------------------------


@dataclass
class FakeGateway:
    """Answers from ``script`` in order (then ``"ok"``): ``"ok"``, an exception to raise
    (``SmsTemporaryError``, ``SmsPermanentError``…), or ``("sleep", seconds)``. Every
    attempt is recorded in ``sent`` (in the outbox's worker thread)."""

    script: list[Any] = field(default_factory=list)
    name: str = "fake"
    delivers: bool = True
    sent: list[OutgoingSms] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    started: threading.Event = field(default_factory=threading.Event)
    errors: dict[str, Exception] = field(
        default_factory=lambda: {
            "5xx": SmsTemporaryError("http_503", "maintenance"),
            "timeout": SmsTemporaryError("timeout", "no answer within 5 s"),
            "429": SmsTemporaryError("http_429", "slow down", retry_after=7),
            "4xx": SmsPermanentError("http_400", "invalid number"),
        }
    )
    """Typical failures by name, for ``script``."""

    async def send(self, message: OutgoingSms) -> str:
        self.sent.append(message)
        self.events.append("send started")
        self.started.set()
        step = self.script.pop(0) if self.script else "ok"
        if isinstance(step, tuple) and step[0] == "sleep":
            try:
                await asyncio.sleep(step[1])
            except asyncio.CancelledError:
                self.events.append("send cancelled")
                raise
            self.events.append("send finished")
            return f"gw-{len(self.sent)}"
        if isinstance(step, BaseException):
            raise step
        return f"gw-{len(self.sent)}"


@pytest.fixture
def gateway() -> FakeGateway:
    return FakeGateway()


class Clock:
    """A settable UTC clock: ``clock.now += timedelta(seconds=5)``."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_outbox(clock) -> Iterator[Callable[..., SmsOutbox]]:
    """``make_outbox(engine, gateway, **options)``: an outbox on the test clock
    (``outbox.clock.advance(5)``), closed after the test."""
    made: list[SmsOutbox] = []

    def make(engine: Engine | None, gateway: Any, **options: Any) -> SmsOutbox:
        options.setdefault("clock", clock)
        outbox = SmsOutbox(engine, gateway, **options)
        made.append(outbox)
        return outbox

    yield make
    for outbox in made:
        outbox.close(2.0)


def _message(to: str = "13800138000", **fields: Any) -> OutgoingSms:
    values: dict[str, Any] = {
        "text": "您的公积金余额为12345.67元。",
        "template": "balance",
        "params": {"balance": "12345.67"},
        "call_id": "call-1",
        "flow": "hotline",
    }
    values.update(fields)
    return OutgoingSms(to=to, **values)


@pytest.fixture
def message() -> Callable[..., OutgoingSms]:
    """``message(to=…, text=…, call_id=…, max_attempts=…)``: an :class:`OutgoingSms`."""
    return _message


# -- the plugin and the designer ------------------------------------------------------------


@pytest.fixture
def plugins(engine) -> Iterator[Plugins]:
    """The plugin set up on the database, exactly as ``ivrflow serve`` does (no
    IVRFLOW_SMS_URL: the log sink)."""
    loaded = load_plugins(
        PluginHost(engine=engine, environ={}), include_entry_points=False, extra={"sms": setup}
    )
    assert loaded.problems == []
    yield loaded
    loaded.resources["sms"].close(2.0)


@pytest.fixture
def outbox(plugins) -> SmsOutbox:
    return plugins.resources["sms"]


@pytest.fixture
def app(engine, plugins, tmp_path):
    """The designer with the plugin's routes and resources, as ``ivrflow serve`` builds it."""
    return designer_with_plugins(
        engine,
        plugins,
        tmp_path / "media",
        {
            "admin": ["admin"],
            "ops": ["operator"],
            "pub": ["publisher"],
            "ed": ["editor"],
            "viewer": ["viewer"],
        },
    )


@pytest.fixture
def clients(app) -> Iterator[dict[str, ApiTestClient]]:
    made = {name: ApiTestClient(app, name) for name in ("admin", "ops", "pub", "ed", "viewer")}
    made["anon"] = ApiTestClient(app, None)
    yield made
    for client in made.values():
        client.close()


# -- an SMS gateway over HTTP ----------------------------------------------------------------


@dataclass
class HttpGatewayServer:
    """``fault``: None (answers ``{"id": "gw-N"}``), ``"5xx"``, ``"429"``, ``"400"``,
    ``"invalid"`` (not JSON), ``"no_id"``, ``"hang"`` (headers never come), ``"slow_body"``
    (headers, then the body never ends)."""

    fault: str | None = None
    requests: list[tuple[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/sms/send", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.path, await request.json()))
        self.headers.append(dict(request.headers))
        if self.fault == "5xx":
            return web.json_response({"error": "maintenance"}, status=503)
        if self.fault == "429":
            return web.json_response(
                {"error": "rate limited"}, status=429, headers={"Retry-After": "12"}
            )
        if self.fault == "400":
            return web.json_response({"error": "invalid mobile number"}, status=400)
        if self.fault == "invalid":
            return web.Response(text="<html>bad gateway</html>", content_type="text/html")
        if self.fault == "no_id":
            return web.json_response({"ok": True})
        if self.fault == "hang":
            await self._wait()
            return web.json_response({"id": "late"})
        if self.fault == "slow_body":
            response = web.StreamResponse(headers={"Content-Type": "application/json"})
            response.content_length = 100
            await response.prepare(request)
            await response.write(b'{"id": ')
            await self._wait()
            return response
        return web.json_response({"id": f"gw-{len(self.requests)}"})

    async def _wait(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.release.wait(), 30)


@pytest.fixture
async def sms_server() -> AsyncIterator[tuple[str, HttpGatewayServer]]:
    """(URL, server): an SMS gateway on 127.0.0.1; set ``server.fault`` to break it."""
    server = HttpGatewayServer()
    runner = web.AppRunner(server.app(), shutdown_timeout=1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/sms/send", server
    finally:
        server.release.set()
        await asyncio.sleep(0.01)
        await runner.cleanup()
