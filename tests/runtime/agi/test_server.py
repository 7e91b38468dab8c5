"""FastAgiServer over real sockets: probes, garbage, slow headers, load, handler failures and
a draining shutdown — each ends with every socket and task closed."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest

from runtime.agi.protocol import AgiConnection, AgiHangup
from runtime.agi.server import FastAgiServer

ENV = (
    "agi_network: yes\n"
    "agi_network_script: main\n"
    "agi_request: agi://127.0.0.1/main\n"
    "agi_channel: Local/s@ivr-entry-00000001;2\n"
    "agi_uniqueid: {uid}\n"
    "agi_callerid: 13800138000\n"
    "\n"
)


class Asterisk:
    """A FastAGI client, as Asterisk is one."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int) -> Asterisk:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def send(self, data: str | bytes) -> None:
        self.writer.write(data.encode() if isinstance(data, str) else data)
        await self.writer.drain()

    async def recv(self, wait_s: float = 2.0) -> str:
        line = await asyncio.wait_for(self.reader.readline(), wait_s)
        return line.decode()

    async def closed_by_server(self, wait_s: float = 2.0) -> bool:
        try:
            data = await asyncio.wait_for(self.reader.read(), wait_s)
        except ConnectionError:  # closed while we were still writing
            return True
        return data == b""

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()


@contextlib.asynccontextmanager
async def serving(handler, **options):
    server = FastAgiServer(handler, port=0, **options)
    await server.start()
    try:
        yield server
    finally:
        await server.close(0)


async def answer_handler(conn: AgiConnection, env: dict[str, str]) -> None:
    reply = await conn.send("ANSWER")
    assert reply.ok
    await conn.send("SET VARIABLE", "SEEN", env["agi_uniqueid"])


async def test_a_session(caplog):
    seen: list[dict[str, str]] = []

    async def handler(conn, env):
        seen.append(env)
        await answer_handler(conn, env)

    async with serving(handler) as server:
        assert server.port > 0 and server.host == "127.0.0.1"
        asterisk = await Asterisk.connect(server.port)
        await asterisk.send(ENV.format(uid="1.1"))
        assert await asterisk.recv() == "ANSWER\n"
        await asterisk.send("200 result=0\n")
        assert await asterisk.recv() == 'SET VARIABLE "SEEN" "1.1"\n'
        await asterisk.send("200 result=1\n")
        assert await asterisk.closed_by_server()  # closed after the handler
        await asterisk.close()
        assert seen[0]["agi_network_script"] == "main"
        assert (server.accepted, server.rejected, server.handler_errors) == (1, 0, 0)
        assert server.active == 0


async def test_crlf_headers():
    async with serving(answer_handler) as server:
        asterisk = await Asterisk.connect(server.port)
        await asterisk.send(ENV.format(uid="2").replace("\n", "\r\n"))
        assert await asterisk.recv() == "ANSWER\n"
        await asterisk.send("200 result=0\r\n")
        assert (await asterisk.recv()).startswith("SET VARIABLE")
        await asterisk.send("200 result=1\r\n")
        assert await asterisk.closed_by_server()
        await asterisk.close()


async def test_port_scan_is_harmless():
    calls = []

    async def handler(conn, env):
        calls.append(env)

    async with serving(handler) as server:
        for _ in range(20):  # connect and close at once
            asterisk = await Asterisk.connect(server.port)
            await asterisk.close()
        for _ in range(100):
            if server.rejected == 20:
                break
            await asyncio.sleep(0.01)
        assert server.rejected == 20 and server.connections == 0
        assert calls == []
        # and the server still serves
        asterisk = await Asterisk.connect(server.port)
        await asterisk.send(ENV.format(uid="3"))
        assert await asterisk.closed_by_server()
        await asterisk.close()
        assert len(calls) == 1


@pytest.mark.parametrize(
    "garbage",
    [
        b"GET / HTTP/1.1\r\nHost: ivr\r\n\r\n",
        b"\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\xff" * 5000 + b"\n\n",
        b"agi_network: yes\nagi_x: " + b"y" * 5000,  # over-long, then closes: no end of headers
    ],
    ids=["http", "blank", "tls-ish", "long-unterminated"],
)
async def test_garbage_headers_are_closed_quietly(garbage, caplog):
    calls = []

    async def handler(conn, env):
        calls.append(env)

    async with serving(handler) as server:
        asterisk = await Asterisk.connect(server.port)
        await asterisk.send(garbage)
        if garbage.endswith(b"y"):
            asterisk.writer.write_eof()
        with caplog.at_level(logging.WARNING):
            assert await asterisk.closed_by_server()
        await asterisk.close()
        assert calls == [] and server.rejected == 1
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_slow_headers_time_out():
    calls = []

    async def handler(conn, env):
        calls.append(env)

    async with serving(handler, header_timeout_s=0.3) as server:
        asterisk = await Asterisk.connect(server.port)
        loop = asyncio.get_running_loop()
        started = loop.time()
        with contextlib.suppress(ConnectionError):
            for byte in ENV.format(uid="4")[:40]:
                await asterisk.send(byte)
                await asyncio.sleep(0.05)
        assert await asterisk.closed_by_server()
        assert loop.time() - started < 2.0
        await asterisk.close()
        assert calls == [] and server.rejected == 1


async def test_many_concurrent_sessions():
    n = 200
    release = asyncio.Event()
    peak = 0

    async def handler(conn, env):
        nonlocal peak
        peak = max(peak, server.active)
        await release.wait()
        reply = await conn.send("GET VARIABLE", "X")
        assert reply.data == env["agi_uniqueid"]

    async def call(i: int) -> None:
        asterisk = await Asterisk.connect(server.port)
        try:
            await asterisk.send(ENV.format(uid=f"100.{i}"))
            assert await asterisk.recv(10) == 'GET VARIABLE "X"\n'
            await asterisk.send(f"200 result=1 (100.{i})\n")
            assert await asterisk.closed_by_server(10)
        finally:
            await asterisk.close()

    async with serving(handler) as server:
        calls = [asyncio.create_task(call(i)) for i in range(n)]
        for _ in range(500):
            if server.active == n:
                break
            await asyncio.sleep(0.01)
        assert server.active == n
        release.set()
        await asyncio.gather(*calls)
        assert peak == n or peak > 0
        assert (server.accepted, server.handler_errors, server.active) == (n, 0, 0)


async def test_handler_exception_is_logged_and_connection_closed(caplog):
    async def handler(conn, env):
        if env["agi_uniqueid"] == "bad":
            raise RuntimeError("boom")
        await answer_handler(conn, env)

    async with serving(handler) as server:
        asterisk = await Asterisk.connect(server.port)
        with caplog.at_level(logging.ERROR):
            await asterisk.send(ENV.format(uid="bad"))
            assert await asterisk.closed_by_server()
        await asterisk.close()
        assert "handler failed" in caplog.text and "boom" in caplog.text
        assert server.handler_errors == 1
        asterisk = await Asterisk.connect(server.port)
        await asterisk.send(ENV.format(uid="good"))
        assert await asterisk.recv() == "ANSWER\n"
        await asterisk.send("200 result=0\n")
        await asterisk.recv()
        await asterisk.send("200 result=1\n")
        assert await asterisk.closed_by_server()
        await asterisk.close()


async def test_hangup_ends_the_handler_quietly(caplog):
    async def handler(conn, env):
        await conn.send("ANSWER")
        await conn.send("STREAM FILE", "x", "")  # raises AgiHangup

    async with serving(handler) as server:
        asterisk = await Asterisk.connect(server.port)
        await asterisk.send(ENV.format(uid="5"))
        await asterisk.recv()
        with caplog.at_level(logging.WARNING):
            await asterisk.send("HANGUP\n200 result=0\n")
            assert await asterisk.closed_by_server()
        await asterisk.close()
        assert server.handler_errors == 0
        assert "handler failed" not in caplog.text


async def test_close_drains_then_cancels():
    finished: list[str] = []
    cancelled: list[str] = []

    async def handler(conn, env):
        uid = env["agi_uniqueid"]
        try:
            if uid == "quick":
                await asyncio.sleep(0.1)
            else:
                await conn.hung_up.wait()  # never ends by itself
            finished.append(uid)
        except asyncio.CancelledError:
            cancelled.append(uid)
            raise

    server = FastAgiServer(handler, port=0)
    await server.start()
    quick = await Asterisk.connect(server.port)
    stuck = await Asterisk.connect(server.port)
    try:
        await quick.send(ENV.format(uid="quick"))
        await stuck.send(ENV.format(uid="stuck"))
        for _ in range(200):
            if server.active == 2:
                break
            await asyncio.sleep(0.01)
        assert server.active == 2
        loop = asyncio.get_running_loop()
        started = loop.time()
        await server.close(drain_s=0.5)
        assert 0.4 <= loop.time() - started < 2.0
        assert finished == ["quick"] and cancelled == ["stuck"]
        assert server.active == 0 and server.connections == 0
        assert await quick.closed_by_server() and await stuck.closed_by_server()
        with pytest.raises(OSError):
            late = await Asterisk.connect(server.port)
            await late.close()
    finally:
        await quick.close()
        await stuck.close()


async def test_stop_accepting_keeps_running_sessions():
    release = asyncio.Event()

    async def handler(conn, env):
        await release.wait()
        await conn.send("ANSWER")

    server = FastAgiServer(handler, port=0)
    await server.start()
    asterisk = await Asterisk.connect(server.port)
    try:
        await asterisk.send(ENV.format(uid="6"))
        for _ in range(200):
            if server.active == 1:
                break
            await asyncio.sleep(0.01)
        await server.stop_accepting()
        with pytest.raises(OSError):
            late = await Asterisk.connect(server.port)
            await late.close()
        release.set()
        assert await asterisk.recv() == "ANSWER\n"
        await asterisk.send("200 result=0\n")
        assert await asterisk.closed_by_server()
        await server.close(drain_s=1.0)
    finally:
        await asterisk.close()


async def test_caller_gone_before_handler_finishes():
    done = asyncio.Event()

    async def handler(conn, env):
        try:
            await conn.hung_up.wait()
            with pytest.raises(AgiHangup):
                await conn.send("ANSWER")
        finally:
            done.set()

    async with serving(handler) as server:
        asterisk = await Asterisk.connect(server.port)
        await asterisk.send(ENV.format(uid="7"))
        await asyncio.sleep(0.05)
        await asterisk.close()
        await asyncio.wait_for(done.wait(), 2)
