"""AmiClient against a small AMI server over real sockets; QueueTracker's outcome rules.

The server below speaks just enough of Asterisk's AMI (``Key: Value`` lines, a blank line per
block, banner ``Asterisk Call Manager/11.0.0``) to exercise the client: Login, Ping, Logoff,
Originate with ``Async: true`` (response, then an ``OriginateResponse`` event), PlayDTMF,
QueueStatus (an event list), pushed events, restarts, refused logins — and, like Asterisk
with ``writetimeout = 100``, it drops a client whose socket stays full for 100 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from runtime.ami import (
    AmiActionError,
    AmiClient,
    AmiConnectionLost,
    AmiEvent,
    AmiLoginError,
    AmiNotConnected,
    QueueLeg,
    QueueTracker,
    backoff_delays,
)

USER = "ivrflow"
SECRET = "s3cr3t-Ami-Pa55word"


# -- a small AMI server -------------------------------------------------------------------------


def block(*pairs: tuple[str, object], **headers: object) -> bytes:
    """One AMI block: ``Key: Value`` lines and a blank line."""
    lines = [f"{k}: {v}\r\n" for k, v in [*pairs, *headers.items()]]
    return "".join(lines).encode() + b"\r\n"


def parse(raw: bytes) -> dict[str, str | list[str]]:
    fields: dict[str, str | list[str]] = {}
    for line in raw.decode("utf-8", "replace").split("\r\n"):
        if ": " not in line:
            continue
        key, value = line.split(": ", 1)
        if key in fields:
            old = fields[key]
            fields[key] = [*(old if isinstance(old, list) else [old]), value]
        else:
            fields[key] = value
    return fields


class Conn:
    def __init__(self, number: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.number = number
        self.reader = reader
        self.writer = writer
        self.authed = False


class FakeAsterisk:
    def __init__(self) -> None:
        self.server: asyncio.Server | None = None
        self.port = 0
        self.conns: set[Conn] = set()
        self.tasks: set[asyncio.Task] = set()
        self.actions: list[tuple[int, dict]] = []  # (connection number, fields)
        self.connections = 0
        self.logins_ok = 0
        self.logins_failed = 0
        self.denied: list[str] = []  # actions refused because they came before Login
        self.reject_logins = 0  # refuse the next N logins
        self.answer_pings = True
        self.originate_reply = "answered"  # answered | busy | denied | silent
        self.writetimeout = 0.1
        self.slow_drops = 0

    async def start(self, port: int = 0) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None
        for conn in list(self.conns):
            conn.writer.transport.abort()  # its handler task ends on the closed stream
        if self.tasks:
            _, stuck = await asyncio.wait(list(self.tasks), timeout=2)
            for task in stuck:
                task.cancel()
            await asyncio.gather(*stuck, return_exceptions=True)
        await asyncio.sleep(0)

    async def restart(self, down_s: float = 0.3) -> None:
        """Asterisk restarting: Shutdown event, connections closed, port closed for a while."""
        for conn in list(self.conns):
            await self.write(conn, block(Event="Shutdown", Shutdown="Cleanly", Restart="True"))
        await self.stop()
        await asyncio.sleep(down_s)
        await self.start(self.port)

    def names(self, connection: int | None = None) -> list[str]:
        return [
            str(f.get("Action")) for n, f in self.actions if connection is None or n == connection
        ]

    def last(self, action: str) -> dict:
        return next(f for _, f in reversed(self.actions) if f.get("Action") == action)

    async def write(self, conn: Conn, data: bytes) -> bool:
        """Write like Asterisk: a client that does not take the bytes in time is dropped."""
        if conn.writer.is_closing():
            return False
        conn.writer.write(data)
        try:
            await asyncio.wait_for(conn.writer.drain(), self.writetimeout)
        except TimeoutError:
            self.slow_drops += 1
            conn.writer.transport.abort()
            return False
        except ConnectionError:
            return False
        return True

    async def push(self, *events: dict | bytes, batch: int = 100) -> None:
        """Send events to every logged-in client, ``batch`` blocks per write."""
        for conn in [c for c in self.conns if c.authed]:
            chunk: list[bytes] = []
            for item in events:
                chunk.append(item if isinstance(item, bytes) else block(**item))
                if len(chunk) >= batch:
                    await self.write(conn, b"".join(chunk))
                    chunk = []
            if chunk:
                await self.write(conn, b"".join(chunk))

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        self.connections += 1
        conn = Conn(self.connections, reader, writer)
        self.conns.add(conn)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
        writer.transport.set_write_buffer_limits(high=64 * 1024)
        try:
            await self.write(conn, b"Asterisk Call Manager/11.0.0\r\n")
            while True:
                fields = parse(await reader.readuntil(b"\r\n\r\n"))
                self.actions.append((conn.number, fields))
                await self._act(conn, fields)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            self.conns.discard(conn)
            writer.transport.abort()
            self.tasks.discard(task)

    async def _act(self, conn: Conn, fields: dict) -> None:
        name = str(fields.get("Action", "")).lower()
        aid = fields.get("ActionID", "")
        if name == "login":
            if self.reject_logins == 0 and (fields.get("Username"), fields.get("Secret")) == (
                USER,
                SECRET,
            ):
                conn.authed = True
                self.logins_ok += 1
                await self.write(
                    conn,
                    block(Response="Success", ActionID=aid, Message="Authentication accepted")
                    + block(Event="FullyBooted", Privilege="system,all", Status="Fully Booted"),
                )
                return
            self.reject_logins = max(0, self.reject_logins - 1)
            self.logins_failed += 1
            await self.write(
                conn, block(Response="Error", ActionID=aid, Message="Authentication failed")
            )
            raise ConnectionResetError  # Asterisk hangs up after a failed login
        if not conn.authed and name not in ("logoff", "challenge"):
            self.denied.append(name)
            await self.write(
                conn, block(Response="Error", ActionID=aid, Message="Permission denied")
            )
            return
        if name == "ping":
            if self.answer_pings:
                reply = block(Response="Success", ActionID=aid, Ping="Pong", Timestamp=time.time())
                await self.write(conn, reply)
        elif name == "logoff":
            await self.write(
                conn, block(Response="Goodbye", ActionID=aid, Message="Thanks for all the fish.")
            )
            raise ConnectionResetError
        elif name == "originate":
            await self._originate(conn, fields)
        elif name == "playdtmf":
            if str(fields.get("Channel", "")).startswith("Local/"):
                reply = block(Response="Success", ActionID=aid, Message="DTMF successfully queued")
            else:
                reply = block(Response="Error", ActionID=aid, Message="No such channel")
            await self.write(conn, reply)
        elif name == "queuestatus":
            await self.write(
                conn,
                block(
                    Response="Success",
                    ActionID=aid,
                    EventList="start",
                    Message="Queue status will follow",
                )
                + block(
                    Event="QueueParams", ActionID=aid, Queue="consult", Calls=2, Strategy="rrmemory"
                )
                + block(Event="QueueMember", ActionID=aid, Queue="consult", Name="Agent 1001")
                + block(
                    Event="QueueStatusComplete", ActionID=aid, EventList="Complete", ListItems=2
                ),
            )
        else:
            await self.write(
                conn, block(Response="Error", ActionID=aid, Message="Invalid/unknown command")
            )

    async def _originate(self, conn: Conn, fields: dict) -> None:
        aid = fields.get("ActionID", "")
        if self.originate_reply == "denied":
            await self.write(
                conn, block(Response="Error", ActionID=aid, Message="Permission denied")
            )
            return
        await self.write(
            conn, block(Response="Success", ActionID=aid, Message="Originate successfully queued")
        )
        if self.originate_reply == "silent":
            return
        await asyncio.sleep(0.02)
        channel = fields.get("Channel", "")
        if self.originate_reply == "answered":
            event = block(
                Event="OriginateResponse",
                Privilege="call,all",
                ActionID=aid,
                Response="Success",
                Channel=f"{channel}-00000001;1",
                Context=fields.get("Context", ""),
                Exten=fields.get("Exten", ""),
                Application=fields.get("Application", ""),
                Data=fields.get("Data", ""),
                Reason=4,
                Uniqueid="1700000000.1",
                CallerIDNum="<unknown>",
                CallerIDName="<unknown>",
            )
        else:
            event = block(
                Event="OriginateResponse",
                Privilege="call,all",
                ActionID=aid,
                Response="Failure",
                Channel=channel,
                Reason=5,
                Uniqueid="<null>",
            )
        await self.write(conn, event)


@pytest.fixture
async def asterisk():
    fake = FakeAsterisk()
    await fake.start()
    yield fake
    await fake.stop()


def client_for(fake: FakeAsterisk, **kw) -> AmiClient:
    kw.setdefault("reconnect_backoff", (0.05, 0.2))
    kw.setdefault("ping_interval_s", 30)
    return AmiClient("127.0.0.1", fake.port, USER, kw.pop("secret", SECRET), **kw)


async def until(predicate: Callable[[], bool], timeout_s: float = 3.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        await asyncio.sleep(0.005)


def user_event(i: int, **extra: object) -> dict:
    return {"Event": "UserEvent", "UserEvent": "Probe", "Seq": i, "SentAt": time.time(), **extra}


# -- connection, login, keep-alive ------------------------------------------------------------


def test_building_a_client_outside_a_loop_is_quiet() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        client = AmiClient("127.0.0.1", 5038, USER, SECRET)
    assert not client.connected
    assert SECRET not in repr(client)


async def test_login_then_logoff_on_close(asterisk: FakeAsterisk) -> None:
    client = client_for(asterisk)
    await client.start()
    assert client.connected
    assert client.asterisk_version == "11.0.0"
    login = asterisk.last("Login")
    assert login["Username"] == USER
    assert login["Events"] == "call,agent"
    await client.close()
    assert not client.connected
    assert asterisk.names() == ["Login", "Logoff"]
    with pytest.raises(AmiNotConnected):
        await client.action("CoreStatus")


async def test_refused_login_raises_and_leaves_nothing_running(
    asterisk: FakeAsterisk, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = client_for(asterisk, secret="wrong-secret-value")
    with pytest.raises(AmiLoginError, match="Authentication failed"):
        await client.start()
    assert not client.connected
    assert client.stats.login_failures == 1
    assert asterisk.connections == 1  # no retry storm with bad credentials
    assert "wrong-secret-value" not in caplog.text
    assert "refused" in caplog.text


async def test_unreachable_asterisk(asterisk: FakeAsterisk) -> None:
    port = asterisk.port
    await asterisk.stop()  # nothing listens on the port now
    client = client_for(asterisk)
    with pytest.raises(AmiNotConnected):
        await client.start()

    # The runtime can start without AMI: the client keeps trying in the background.
    await client.start(require_connection=False)
    assert not client.connected
    await asyncio.sleep(0.15)
    await asterisk.start(port)
    await client.wait_connected(3)
    assert client.connected
    await client.close()


async def test_ping_only_after_login_then_periodically(asterisk: FakeAsterisk) -> None:
    client = client_for(asterisk, ping_interval_s=0.03)
    await client.start()
    await until(lambda: asterisk.names().count("Ping") >= 3, what="three pings")
    await client.close()
    assert asterisk.names()[0] == "Login"
    assert asterisk.denied == []  # never a Ping (or anything) before Login


async def test_unanswered_ping_rebuilds_the_connection(asterisk: FakeAsterisk) -> None:
    client = client_for(asterisk, ping_interval_s=0.03, ping_timeout_s=0.1)
    await client.start()
    asterisk.answer_pings = False
    await until(lambda: asterisk.connections >= 2, what="a new connection")
    asterisk.answer_pings = True
    await client.wait_connected(3)
    assert client.stats.disconnects >= 1
    await client.close()


def test_backoff_doubles_up_to_the_cap() -> None:
    delays = backoff_delays(0.5, 30)
    got = [next(delays) for _ in range(10)]
    nominal = [0.5, 1, 2, 4, 8, 16, 30, 30, 30, 30]
    for value, expected in zip(got, nominal, strict=True):
        assert expected * 0.8 <= value <= expected


async def test_restart_reconnects_and_keeps_handlers(asterisk: FakeAsterisk) -> None:
    seen: list[int] = []

    async def probe(event: AmiEvent) -> None:
        seen.append(int(event["Seq"]))

    client = client_for(asterisk)
    client.on("UserEvent", probe)
    await client.start()
    await asterisk.push(user_event(1))
    await until(lambda: seen == [1])

    restart = asyncio.create_task(asterisk.restart(down_s=0.3))
    await until(lambda: not client.connected, what="the disconnect")
    with pytest.raises(AmiNotConnected):
        await client.action("CoreStatus")  # fails fast while down
    await restart
    await client.wait_connected(3)
    await asterisk.push(user_event(2))
    await until(lambda: seen == [1, 2])
    assert client.stats.connects == 2
    assert client.stats.disconnects == 1
    assert asterisk.logins_ok == 2
    await client.close()


async def test_refused_logins_after_a_restart_are_retried(asterisk: FakeAsterisk) -> None:
    client = client_for(asterisk)
    await client.start()
    asterisk.reject_logins = 2
    await asterisk.restart(down_s=0.05)
    await client.wait_connected(5)
    assert asterisk.logins_failed == 2
    assert client.stats.login_failures == 2
    assert asterisk.logins_ok == 2
    await client.close()


async def test_secret_is_never_logged(
    asterisk: FakeAsterisk, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    asterisk.reject_logins = 1
    client = client_for(asterisk)
    with pytest.raises(AmiLoginError):
        await client.start()  # refused once…
    await client.start()  # …then accepted
    await client.originate("Local/s@ivr-entry", application="Wait", data="1")
    # Even a Login action dumped through the AMI loggers is masked.
    logging.getLogger("ivrflow.ami.wire").error("Fail to send Action: Login\r\nSecret: %s", SECRET)
    logging.getLogger("ivrflow.ami").warning("oops %s", SECRET)
    await client.close()
    assert "refused" in caplog.text
    assert SECRET not in caplog.text
    assert SECRET not in repr(client)


# -- actions ------------------------------------------------------------------------------------


async def test_originate_answered(asterisk: FakeAsterisk) -> None:
    async with client_for(asterisk) as client:
        result = await client.originate(
            "Local/s@ivr-entry",
            application="Wait",
            data="60",
            caller_id='"12329" <12329>',
            variables={"__IVR_NOTE": 'a,b "c" \\d', "IVR_ENTRY": "12329"},
            timeout_s=20,
        )
        assert result.success
        assert result.reason == "answered"
        assert result.reason_code == 4
        assert result.uniqueid == "1700000000.1"
        assert result.channel == "Local/s@ivr-entry-00000001;1"
        sent = asterisk.last("Originate")
        assert sent["Async"] == "true"
        assert sent["Timeout"] == "20000"
        assert sent["Application"] == "Wait"
        assert sent["Data"] == "60"
        assert sent["Variable"] == ['__IVR_NOTE=a\\,b \\"c\\" \\\\d', "IVR_ENTRY=12329"]
        assert client._protocol is not None and client._protocol.responses == {}


async def test_originate_to_the_dialplan(asterisk: FakeAsterisk) -> None:
    async with client_for(asterisk) as client:
        result = await client.originate(
            "PJSIP/13912345678@fund-trunk", context="ivr-entry", exten="reminder"
        )
        assert result.success
        sent = asterisk.last("Originate")
        assert (sent["Context"], sent["Exten"], sent["Priority"]) == ("ivr-entry", "reminder", "1")


async def test_originate_failures_are_results(asterisk: FakeAsterisk) -> None:
    async with client_for(asterisk) as client:
        asterisk.originate_reply = "busy"
        busy = await client.originate("PJSIP/100", application="Wait", data="1")
        assert (busy.success, busy.reason, busy.reason_code, busy.uniqueid) == (
            False,
            "busy",
            5,
            None,
        )
        asterisk.originate_reply = "denied"
        denied = await client.originate("PJSIP/100", application="Wait", data="1")
        assert (denied.success, denied.reason, denied.message) == (
            False,
            "rejected",
            "Permission denied",
        )
        asterisk.originate_reply = "silent"
        lost = await client.originate(
            "PJSIP/100", application="Wait", data="1", response_timeout_s=0.2
        )
        assert (lost.success, lost.reason) == (False, "no_response")
        assert client._protocol is not None and client._protocol.responses == {}
        assert client.connected
        assert client.stats.connects == 1


async def test_originate_refuses_bad_arguments(asterisk: FakeAsterisk) -> None:
    async with client_for(asterisk) as client:
        with pytest.raises(ValueError, match="CR or LF"):
            await client.originate("Local/s@x\r\nAction: Command", application="Wait")
        with pytest.raises(ValueError, match="either"):
            await client.originate("Local/s@x", application="Wait", context="c", exten="s")
        with pytest.raises(ValueError, match="both"):
            await client.originate("Local/s@x", context="c")
        with pytest.raises(ValueError, match="variable name"):
            await client.originate("Local/s@x", application="Wait", variables={"A=B": "1"})
        with pytest.raises(ValueError, match="CR or LF"):
            await client.action("Command", Command="core show channels\r\nAction: Originate")
    assert "Originate" not in asterisk.names()


async def test_play_dtmf_keeps_the_connection(asterisk: FakeAsterisk) -> None:
    async with client_for(asterisk) as client:
        for digit in "5*#":
            await client.play_dtmf("Local/s@ivr-entry-00000001;1", digit)
        with pytest.raises(AmiActionError, match="No such channel"):
            await client.play_dtmf("PJSIP/none", "1")
        with pytest.raises(ValueError):
            await client.play_dtmf("Local/s@ivr-entry-00000001;1", "12")
        # The generic action path is safe from panoramisk's KeyError('async') as well.
        response = await client.action("PlayDTMF", Channel="Local/x;1", Digit="7")
        assert response.success
        assert response.message == "DTMF successfully queued"
        assert client.connected
        assert client.stats.connects == 1
        assert [f["Digit"] for _, f in asterisk.actions if f.get("Action") == "PlayDTMF"] == [
            "5",
            "*",
            "#",
            "1",
            "7",
        ]


async def test_list_action_and_error_response(asterisk: FakeAsterisk) -> None:
    async with client_for(asterisk) as client:
        status = await client.action("QueueStatus", Queue="consult")
        assert status.success
        assert [e.name for e in status.events] == [
            "QueueParams",
            "QueueMember",
            "QueueStatusComplete",
        ]
        assert status.events[0]["queue"] == "consult"
        unknown = await client.action("NoSuchThing")
        assert not unknown.success
        assert unknown.message == "Invalid/unknown command"


async def test_action_in_flight_fails_when_the_connection_drops(asterisk: FakeAsterisk) -> None:
    async with client_for(asterisk) as client:
        asterisk.originate_reply = "silent"
        pending = asyncio.create_task(client.originate("PJSIP/100", application="Wait"))
        await until(lambda: "Originate" in asterisk.names())
        await asterisk.restart(down_s=0.05)
        with pytest.raises(AmiConnectionLost):
            await pending
        await client.wait_connected(3)
    # Never replayed after the reconnect (panoramisk would re-send it and call twice).
    assert asterisk.names().count("Originate") == 1


# -- events -------------------------------------------------------------------------------------


async def test_sync_handlers_are_refused() -> None:
    client = AmiClient("127.0.0.1", 5038, USER, SECRET)
    with pytest.raises(TypeError, match="async"):
        client.on("Hangup", lambda event: None)


async def test_burst_of_10000_events(asterisk: FakeAsterisk) -> None:
    seqs: list[int] = []

    async def count(event: AmiEvent) -> None:
        seqs.append(int(event["Seq"]))

    async with client_for(asterisk) as client:
        client.on("UserEvent", count)
        started = time.perf_counter()
        await asterisk.push(*(user_event(i) for i in range(10_000)), batch=200)
        await until(lambda: len(seqs) == 10_000, timeout_s=20, what="10,000 events")
        elapsed = time.perf_counter() - started
        assert seqs == list(range(10_000))  # all of them, in order
        assert asterisk.slow_drops == 0
        assert client.stats.dropped_events == 0
        assert client.stats.connects == 1
    print(f"10,000 AMI events read and handled in {elapsed:.2f} s")


async def test_slow_handler_never_stalls_the_reader(asterisk: FakeAsterisk) -> None:
    """A handler sleeps 1 s while 1,000 events arrive: reading goes on (latency measured)."""
    loop = asyncio.get_running_loop()
    slow_seen: list[int] = []
    fast_seen: list[tuple[int, float, float]] = []  # (seq, reader latency, handled at)
    slow_returned_at: list[float] = []

    async def slow(event: AmiEvent) -> None:
        slow_seen.append(int(event["Seq"]))
        if len(slow_seen) == 1:
            await asyncio.sleep(1.0)
            slow_returned_at.append(loop.time())

    async def fast(event: AmiEvent) -> None:
        latency = event.received_at - float(event["SentAt"])
        fast_seen.append((int(event["Seq"]), latency, loop.time()))

    async with client_for(asterisk) as client:
        client.on("UserEvent", slow)
        client.on("UserEvent", fast)
        await asterisk.push(user_event(0))
        await until(lambda: slow_seen == [0])
        for start in range(1, 1001, 50):  # 1,000 events over ~0.4 s
            await asterisk.push(*(user_event(i) for i in range(start, start + 50)))
            await asyncio.sleep(0.02)
        await until(lambda: len(fast_seen) == 1001, what="the fast handler")
        fast_done = loop.time()
        assert not slow_returned_at, "the slow handler was expected to be still asleep"
        await until(lambda: len(slow_seen) == 1001, what="the slow handler")
        worst = max(latency for _, latency, _ in fast_seen)
        assert slow_returned_at[0] > fast_done
        assert [s for s, _, _ in fast_seen] == list(range(1001))
        assert slow_seen == list(range(1001))  # the slow handler still gets all, in order
        assert asterisk.slow_drops == 0
        assert client.stats.connects == 1
        # The fake enforces Asterisk's 100 ms writetimeout (slow_drops above), so the reader kept
        # up. The latency bound only proves no event waited for the sleeping handler (1 s);
        # it is loose on purpose: a busy CI machine may pause the process for a while.
        assert worst < 0.5, f"reader lagged {worst * 1000:.0f} ms behind the server"
    print(f"worst reader latency while a handler slept: {worst * 1000:.1f} ms")


async def test_the_fake_drops_a_client_that_stops_reading(asterisk: FakeAsterisk) -> None:
    """The harness is faithful: a client that does not read is cut off after 100 ms."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", asterisk.port))
    reader, writer = await asyncio.open_connection(sock=sock)
    writer.write(block(Action="Login", ActionID="1", Username=USER, Secret=SECRET))
    await writer.drain()
    await until(lambda: asterisk.logins_ok == 1)
    await asterisk.push(*(user_event(i, Pad="x" * 200) for i in range(5_000)))
    assert asterisk.slow_drops == 1
    assert await reader.read(1) == b"A"  # the banner was sent before it stopped reading
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()


async def test_handler_queue_overflow_drops_and_counts(
    asterisk: FakeAsterisk, caplog: pytest.LogCaptureFixture
) -> None:
    release = asyncio.Event()
    handled: list[int] = []

    async def stuck(event: AmiEvent) -> None:
        await release.wait()
        handled.append(int(event["Seq"]))

    async with client_for(asterisk, handler_queue_size=10) as client:
        client.on("UserEvent", stuck)
        await asterisk.push(*(user_event(i) for i in range(100)))
        await until(lambda: client.stats.events == 101)  # FullyBooted + 100
        # 10 queued (+ 1 taken by the worker if it ran between two reads); the rest dropped.
        assert client.stats.dropped_events in (89, 90)
        assert "dropped" in caplog.text
        release.set()
        await until(lambda: len(handled) == 100 - client.stats.dropped_events)
        assert client.connected


async def test_handler_exception_is_logged_and_the_connection_stays(
    asterisk: FakeAsterisk, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[int] = []
    others: list[int] = []

    async def broken(event: AmiEvent) -> None:
        calls.append(int(event["Seq"]))
        raise ValueError("handler bug")

    async def other(event: AmiEvent) -> None:
        others.append(int(event["Seq"]))

    async with client_for(asterisk) as client:
        client.on("UserEvent", broken)
        client.on("*", other)
        await asterisk.push(*(user_event(i) for i in range(100)))
        await until(lambda: len(calls) == 100 and len(others) == 100)
        assert client.stats.handler_errors == 100
        assert client.connected
        assert client.stats.connects == 1
    assert "failed on event UserEvent" in caplog.text
    assert "handler bug" in caplog.text


async def test_garbled_partial_and_oversized_input_is_skipped(asterisk: FakeAsterisk) -> None:
    got: list[AmiEvent] = []

    async def keep(event: AmiEvent) -> None:
        got.append(event)

    async with client_for(asterisk) as client:
        client.on("*", keep)
        conn = next(iter(asterisk.conns))
        name = "CallerIDName: 张三\r\n".encode()
        cut = name.index("张".encode()) + 1  # in the middle of a UTF-8 character
        join = block(Event="QueueCallerJoin", Uniqueid="1.1", Queue="consult")[:-2]
        await asterisk.write(conn, join + name[:cut])
        await asyncio.sleep(0.05)
        await asterisk.write(conn, name[cut:] + b"\r\n")
        await asterisk.write(
            conn,
            b"garbage without any colon\r\n\r\n"
            b"Event:NoSpace\r\n\r\n"
            b"\xff\xfe\x00: \x80\x81\r\n\r\n"
            + block(Response="Success", Message="nobody asked")
            + block(Event="Hangup", Uniqueid="9.9", Cause="16", CauseTxt="\xff".encode().decode())
            + b"Event: Bad\xffBytes\r\nUniqueid: 2.2\r\n\r\n"
            + b"\r\n\r\n\r\n",
        )
        garbage = b"x" * (1 << 20) + b"y" * 300_000  # over 1 MiB with no block end
        await asterisk.write(conn, garbage[:600_000])
        await asterisk.write(conn, garbage[600_000:])
        await asterisk.write(conn, b"\r\n\r\n" + block(Event="UserEvent", Seq="last"))
        await until(lambda: got and got[-1].name == "UserEvent", what="the last event")
        assert client.connected
        assert client.stats.connects == 1
        assert client.stats.skipped_blocks >= 4
    names = [e.name for e in got]
    join_event = got[0]
    assert join_event.name == "QueueCallerJoin"
    assert join_event["CallerIDName"] == "张三"  # split across two reads, intact
    assert "Hangup" in names
    assert "Bad\ufffdBytes" in names
    assert "NoSpace" not in "".join(names)


# -- queue legs ---------------------------------------------------------------------------------

T0 = 1_760_000_000.0  # event timestamps (epoch seconds)


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def ev(name: str, at: float, uid: str = "1760000000.11", **headers: object) -> AmiEvent:
    fields = {
        "Uniqueid": uid,
        "Linkedid": headers.pop("Linkedid", uid),
        "Timestamp": f"{T0 + at:.6f}",
        **{k: str(v) for k, v in headers.items()},
    }
    return AmiEvent(name, fields)


def joined(at: float = 0.0, uid: str = "1760000000.11", queue: str = "consult") -> AmiEvent:
    return ev("QueueCallerJoin", at, uid, Queue=queue, Position=3, Count=3)


class Legs:
    def __init__(self, **kw) -> None:
        self.clock = FakeMonotonic()
        self.legs: list[QueueLeg] = []
        kw.setdefault("abandon_grace_s", 2.0)
        self.tracker = QueueTracker(self.sink, monotonic=self.clock, **kw)

    async def sink(self, leg: QueueLeg) -> None:
        self.legs.append(leg)

    async def feed(self, *events: AmiEvent) -> None:
        for event in events:
            await self.tracker.handle_event(event)

    async def later(self, seconds: float) -> None:
        self.clock.now += seconds
        await self.tracker.sweep()

    @property
    def only(self) -> QueueLeg:
        assert len(self.legs) == 1, self.legs
        return self.legs[0]


async def test_answered_leg() -> None:
    t = Legs(wrapup_s={"consult": 15})
    await t.feed(
        joined(0),
        ev("AgentCalled", 1, Queue="consult", MemberName="Agent 1001"),
        ev("AgentRingNoAnswer", 16, Queue="consult", MemberName="Agent 1001", RingTime=15),
        ev("AgentCalled", 21, Queue="consult", MemberName="Agent 1002"),
        ev("AgentConnect", 25, Queue="consult", MemberName="Agent 1002", HoldTime=25, RingTime=4),
        ev("QueueCallerLeave", 25, Queue="consult", Position=1),
    )
    assert t.legs == []
    await t.later(5)  # waiting for AgentComplete, not for the grace period
    assert t.legs == []
    await t.feed(
        ev("AgentComplete", 120, Queue="consult", MemberName="Agent 1002", HoldTime=25, TalkTime=95)
    )
    leg = t.only
    assert leg.outcome == "answered"
    assert leg.decided_by == "AgentComplete"
    assert (leg.queue, leg.agent, leg.position) == ("consult", "Agent 1002", 3)
    assert (leg.hold_s, leg.talk_s, leg.wrapup_s, leg.ring_no_answer) == (25, 95, 15, 1)
    assert leg.joined_at == datetime.fromtimestamp(T0, UTC)
    assert leg.connected_at == datetime.fromtimestamp(T0 + 25, UTC)
    assert leg.left_at == datetime.fromtimestamp(T0 + 25, UTC)
    assert t.tracker.open_legs == 0
    fields = leg.record_fields()
    assert fields["agent"] == "Agent 1002" and fields["outcome"] == "answered"


async def test_plain_timeout_is_not_an_abandon() -> None:
    """Asterisk sends QueueCallerAbandon on a plain timeout: no hangup → timeout."""
    t = Legs()
    await t.feed(
        joined(0),
        ev(
            "QueueCallerAbandon", 180, Queue="consult", Position=1, OriginalPosition=3, HoldTime=180
        ),
        ev("QueueCallerLeave", 180, Queue="consult", Position=1),
    )
    await t.later(1.0)
    assert t.legs == []  # still within the grace period
    await t.later(1.5)
    leg = t.only
    assert (leg.outcome, leg.hold_s) == ("timeout", 180)
    assert leg.decided_by == "QueueCallerAbandon without a hangup"
    assert (leg.connected_at, leg.agent, leg.talk_s) == (None, None, None)


async def test_runtime_queuestatus_decides_at_once_in_either_order() -> None:
    t = Legs()
    await t.feed(joined(0), ev("QueueCallerAbandon", 180, Queue="consult", HoldTime=180))
    await t.tracker.note_queue_result("1760000000.11", "TIMEOUT")  # before QueueCallerLeave
    assert t.legs == []
    await t.feed(ev("QueueCallerLeave", 180, Queue="consult"))
    assert (t.only.outcome, t.only.decided_by) == ("timeout", "QUEUESTATUS=TIMEOUT")

    # The runtime's report can even beat the join event (events queued behind a slow sink).
    t = Legs()
    await t.tracker.note_queue_result("u2", "LEAVEEMPTY", queue="complaints")
    await t.feed(
        joined(0, "u2", "complaints"),
        ev("QueueCallerAbandon", 5, "u2", Queue="complaints", HoldTime=5),
        ev("QueueCallerLeave", 5, "u2", Queue="complaints"),
    )
    assert (t.only.outcome, t.only.decided_by) == ("left", "QUEUESTATUS=LEAVEEMPTY")

    t = Legs()
    await t.feed(joined(0), ev("QueueCallerLeave", 30, Queue="consult"))
    await t.tracker.note_queue_result("1760000000.11", None, caller_hung_up=True)
    assert t.only.outcome == "abandoned"


async def test_caller_hangup_is_an_abandon() -> None:
    t = Legs()
    await t.feed(
        joined(0),
        ev("HangupRequest", 40, Cause=16),
        ev("QueueCallerAbandon", 40, Queue="consult", HoldTime=40),
        ev("QueueCallerLeave", 40, Queue="consult"),
    )
    assert (t.only.outcome, t.only.decided_by, t.only.hold_s) == ("abandoned", "HangupRequest", 40)

    t = Legs()  # no HangupRequest seen, but the channel is gone right after leaving
    await t.feed(
        joined(0),
        ev("QueueCallerAbandon", 40, Queue="consult", HoldTime=40),
        ev("QueueCallerLeave", 40, Queue="consult"),
    )
    await t.later(0.5)
    await t.feed(ev("Hangup", 40.5, Cause=16))
    assert (t.only.outcome, t.only.decided_by) == ("abandoned", "Hangup within the grace period")


async def test_runtime_hanging_up_after_a_timeout_keeps_it_a_timeout() -> None:
    t = Legs()
    await t.feed(
        joined(0),
        ev("QueueCallerAbandon", 180, Queue="consult", HoldTime=180),
        ev("QueueCallerLeave", 180, Queue="consult"),
        ev("SoftHangupRequest", 180.5, Cause=16),  # the flow said goodbye and hung up
        ev("Hangup", 180.6, Cause=16),
    )
    await t.later(2.5)
    assert t.only.outcome == "timeout"


async def test_leaving_without_abandon_event_or_hangup_is_left() -> None:
    t = Legs()
    await t.feed(joined(0), ev("QueueCallerLeave", 12, Queue="consult"))  # exit key pressed
    await t.later(2.5)
    assert (t.only.outcome, t.only.hold_s) == ("left", 12)


async def test_events_for_unknown_channels_are_ignored() -> None:
    t = Legs()
    await t.feed(
        ev("AgentConnect", 1, "nobody", Queue="consult", HoldTime=3),
        ev("AgentComplete", 2, "nobody", Queue="consult", TalkTime=1),
        ev("QueueCallerLeave", 2, "nobody", Queue="consult"),
        ev("Hangup", 3, "nobody"),
        AmiEvent("QueueCallerLeave", {"Queue": "consult"}),  # no Uniqueid at all
        joined(0, "u1", "consult"),
        ev("AgentConnect", 1, "u1", Queue="complaints"),  # another queue's event
    )
    await t.later(10)
    assert t.legs == []
    assert t.tracker.open_legs == 1
    assert t.tracker.ignored == 6


async def test_garbage_field_values_do_not_break_the_tracker() -> None:
    t = Legs()
    await t.feed(
        AmiEvent(
            "QueueCallerJoin",
            {"Uniqueid": "g1", "Queue": "consult", "Position": "first", "Timestamp": "soon"},
        ),
        AmiEvent("AgentConnect", {"Uniqueid": "g1", "Queue": "consult", "HoldTime": ""}),
        AmiEvent("AgentComplete", {"Uniqueid": "g1", "Queue": "consult", "TalkTime": ["1", "x"]}),
    )
    leg = t.only
    assert (leg.outcome, leg.position) == ("answered", None)
    assert leg.hold_s is not None and leg.hold_s >= 0
    assert leg.talk_s is not None and leg.talk_s >= 0  # measured, the header was garbage


async def test_stale_legs_expire_and_memory_is_bounded(caplog: pytest.LogCaptureFixture) -> None:
    t = Legs(ttl_s=3600, max_legs=3)
    await t.feed(*(joined(i, f"u{i}") for i in range(5)))
    assert t.tracker.open_legs == 3  # u0 and u1 were dropped first
    assert t.tracker.expired == 2
    await t.later(3601)
    assert t.tracker.open_legs == 0
    assert t.tracker.expired == 5
    assert t.legs == []
    assert "expired" in caplog.text


async def test_lost_events_still_end_the_leg() -> None:
    t = Legs()  # QueueCallerLeave lost (AMI reconnect): the Hangup ends it
    await t.feed(joined(0), ev("Hangup", 50, Cause=16))
    assert (t.only.outcome, t.only.hold_s) == ("abandoned", 50)

    t = Legs()  # AgentComplete lost: Hangup after connect, talk measured
    await t.feed(
        joined(0),
        ev("AgentConnect", 10, Queue="consult", MemberName="Agent 1001", HoldTime=10),
        ev("QueueCallerLeave", 10, Queue="consult"),
        ev("Hangup", 70, Cause=16),
    )
    assert t.legs == []  # AgentComplete may still come
    await t.later(2.5)
    leg = t.only
    assert (leg.outcome, leg.decided_by, leg.talk_s) == (
        "answered",
        "Hangup after AgentConnect",
        60,
    )


async def test_one_channel_two_queues_two_legs() -> None:
    t = Legs()
    await t.feed(
        joined(0, "u1", "consult"),
        ev("QueueCallerAbandon", 60, "u1", Queue="consult", HoldTime=60),
        ev("QueueCallerLeave", 60, "u1", Queue="consult"),
        joined(65, "u1", "complaints"),  # the flow sent the caller on to another queue
        ev("AgentConnect", 70, "u1", Queue="complaints", MemberName="Agent 2001", HoldTime=5),
        ev("AgentComplete", 130, "u1", Queue="complaints", MemberName="Agent 2001", TalkTime=60),
    )
    assert [(leg.queue, leg.outcome) for leg in t.legs] == [
        ("consult", "timeout"),
        ("complaints", "answered"),
    ]


async def test_a_failing_sink_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    async def broken(leg: QueueLeg) -> None:
        raise RuntimeError("database down")

    tracker = QueueTracker(broken)
    await tracker.handle_event(joined(0))
    await tracker.handle_event(ev("HangupRequest", 5))
    await tracker.handle_event(ev("QueueCallerLeave", 5, Queue="consult"))
    assert tracker.sink_errors == 1
    assert tracker.open_legs == 0
    assert "database down" in caplog.text


async def test_close_hands_over_legs_that_left(caplog: pytest.LogCaptureFixture) -> None:
    t = Legs()
    await t.tracker.start()
    await t.feed(
        joined(0, "left"),
        ev("QueueCallerLeave", 5, "left", Queue="consult"),
        joined(0, "waiting"),
    )
    await t.tracker.close()
    assert [(leg.uniqueid, leg.outcome) for leg in t.legs] == [("left", "left")]
    assert t.tracker.open_legs == 0


async def test_tracker_on_a_live_ami_connection(asterisk: FakeAsterisk) -> None:
    legs: list[QueueLeg] = []

    async def sink(leg: QueueLeg) -> None:
        legs.append(leg)

    tracker = QueueTracker(sink, abandon_grace_s=0.05)
    client = client_for(asterisk)
    tracker.attach(client)
    await client.start()
    await tracker.start()
    base = {"Privilege": "agent,all", "Linkedid": "L1"}
    await asterisk.push(
        {"Event": "Newchannel", "Uniqueid": "x.1", "Channel": "PJSIP/trunk-1"},
        {"Event": "QueueCallerJoin", "Uniqueid": "a.1", "Queue": "consult", "Position": 1, **base},
        {
            "Event": "AgentConnect",
            "Uniqueid": "a.1",
            "Queue": "consult",
            "MemberName": "Agent 1001",
            "HoldTime": 8,
            **base,
        },
        {"Event": "QueueCallerLeave", "Uniqueid": "a.1", "Queue": "consult", **base},
        {
            "Event": "AgentComplete",
            "Uniqueid": "a.1",
            "Queue": "consult",
            "TalkTime": 30,
            "MemberName": "Agent 1001",
            "Reason": "caller",
            **base,
        },
        {"Event": "QueueCallerJoin", "Uniqueid": "b.1", "Queue": "complaints", "Position": 1},
        {"Event": "QueueCallerAbandon", "Uniqueid": "b.1", "Queue": "complaints", "HoldTime": 3},
        {"Event": "QueueCallerLeave", "Uniqueid": "b.1", "Queue": "complaints"},
        {"Event": "AgentConnect", "Uniqueid": "ghost.9", "Queue": "consult"},
        {"Event": "Hangup", "Uniqueid": "ghost.9", "Cause": 16},
    )
    await until(lambda: len(legs) == 2, what="two legs")
    await tracker.close()
    await client.close()
    assert [(leg.uniqueid, leg.queue, leg.outcome) for leg in legs] == [
        ("a.1", "consult", "answered"),
        ("b.1", "complaints", "timeout"),
    ]
    assert legs[0].linkedid == "L1"
    assert (legs[0].hold_s, legs[0].talk_s, legs[0].agent) == (8, 30, "Agent 1001")
