"""The AGI wire protocol: environment, quoting, replies, and one connection over a real socket
with a scripted Asterisk on the other end."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.agi.protocol import (
    MAX_COMMAND_BYTES,
    AgiCommandError,
    AgiConnection,
    AgiHangup,
    AgiProtocolError,
    AgiTimeout,
    AgiUsageError,
    Reply,
    Word,
    command,
    parse_environment,
    parse_reply,
    quote,
)
from runtime.call import CallerHangup

# -- a scripted Asterisk ---------------------------------------------------------------------


class Peer:
    """The Asterisk end of a FastAGI socket, driven by the test."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.commands: list[str] = []

    async def recv(self, wait_s: float = 2.0) -> str:
        line = await asyncio.wait_for(self.reader.readline(), wait_s)
        assert line.endswith(b"\n"), f"command without newline: {line!r}"
        text = line.decode()[:-1]
        self.commands.append(text)
        return text

    async def nothing_sent(self, within: float = 0.1) -> bool:
        try:
            line = await asyncio.wait_for(self.reader.readline(), within)
        except TimeoutError:
            return True
        self.commands.append(line.decode(errors="replace"))
        return False

    async def send(self, *lines: str | bytes) -> None:
        for line in lines:
            data = line if isinstance(line, bytes) else line.encode()
            self.writer.write(
                data if data.endswith(b"\n") or isinstance(line, bytes) else data + b"\n"
            )
        await self.writer.drain()

    async def reset(self) -> None:
        """Close with a TCP RST."""
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await self.close()

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()


@contextlib.asynccontextmanager
async def agi_pair(limit: int = 2048, **options):
    """A connected (AgiConnection, Peer): Asterisk connects to us, as in FastAGI."""
    loop = asyncio.get_running_loop()
    accepted: asyncio.Future = loop.create_future()
    server = await asyncio.start_server(
        lambda r, w: accepted.set_result((r, w)), "127.0.0.1", 0, limit=limit
    )
    port = server.sockets[0].getsockname()[1]
    peer_reader, peer_writer = await asyncio.open_connection("127.0.0.1", port)
    reader, writer = await accepted
    server.close()
    await server.wait_closed()
    conn = AgiConnection(reader, writer, **options)
    peer = Peer(peer_reader, peer_writer)
    try:
        yield conn, peer
    finally:
        await conn.close()
        await peer.close()


# -- environment -----------------------------------------------------------------------------

ENV = (
    b"agi_network: yes\n"
    b"agi_network_script: main\n"
    b"agi_request: agi://127.0.0.1:4573/main\n"
    b"agi_channel: Local/s@ivr-entry-00000001;2\n"
    b"agi_language: en\n"
    b"agi_uniqueid: 1700000000.1\n"
    b"agi_version: 22.0.0\n"
    b"agi_callerid: 13800138000\n"
    b"agi_calleridname: unknown\n"
    b"agi_dnid: 12329\n"
    b"agi_extension: s\n"
    b"agi_arg_1: x: y\n"
    b"\n"
)


def test_environment_lf():
    env = parse_environment(ENV)
    assert env["agi_network_script"] == "main"
    assert env["agi_channel"] == "Local/s@ivr-entry-00000001;2"
    assert env["agi_callerid"] == "13800138000"
    assert env["agi_arg_1"] == "x: y"
    assert len(env) == 12


def test_environment_crlf_equals_lf():
    assert parse_environment(ENV.replace(b"\n", b"\r\n")) == parse_environment(ENV)


def test_environment_stops_at_blank_line_and_tolerates_missing_one():
    assert parse_environment(b"agi_a: 1\n\nagi_b: 2\n") == {"agi_a": "1"}
    assert parse_environment(b"agi_a: 1\nagi_b: 2") == {"agi_a": "1", "agi_b": "2"}
    assert parse_environment(b"") == {}
    assert parse_environment(b"\nagi_a: 1\n") == {}


def test_environment_tolerant():
    block = (
        b"agi_a: 1\n"
        b"no separator here\n"
        b"agi_b:2\n"  # no ": " -> ignored
        b": no key\n"
        b"agi_a: 2\n"  # duplicate: last wins
        b"agi_name: \xff\xfe caf\xc3\xa9\n"  # non-UTF-8
        b"agi_dnid: \n"  # empty value
        b"agi_long: " + b"x" * 3000 + b"\n"  # over 2,048 bytes: dropped
        b"agi_after_long: ok\n"
        b"\n"
    )
    env = parse_environment(block)
    assert env == {
        "agi_a": "2",
        "agi_name": "\ufffd\ufffd café",
        "agi_dnid": "",
        "agi_after_long": "ok",
    }
    assert parse_environment("agi_x: 文本\n") == {"agi_x": "文本"}


# -- quoting ---------------------------------------------------------------------------------


def unquote_args(line: str) -> list[str]:
    """Asterisk's res_agi.c parse_args(), in Python: the reference for what Asterisk reads."""
    args: list[str] = []
    cur: list[str] | None = None
    quoted = escaped = False
    for ch in line:
        if ch == '"' and not escaped:
            quoted = not quoted
            if quoted and cur is None:
                cur = []
                args.append("")
            escaped = False
            continue
        if ch in " \t" and not quoted and not escaped:
            if cur is not None:
                args[-1] = "".join(cur)
            cur = None
            continue
        if ch == "\\" and not escaped:
            escaped = True
            continue
        if cur is None:
            cur = []
            args.append("")
        cur.append(ch)
        escaped = False
    if cur is not None:
        args[-1] = "".join(cur)
    return args


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain", '"plain"'),
        ("", '""'),
        ("a b", '"a b"'),
        ('a"b', '"a\\"b"'),
        ("a\\b", '"a\\\\b"'),
        ("x\nEXEC System rm", '"xEXEC System rm"'),
        ("x\r\nEXEC System rm", '"xEXEC System rm"'),
        ("nul\x00byte", '"nulbyte"'),
        ("tab\tbell\x07del\x7f", '"tabbelldel"'),
        ('\\"\n', '"\\\\\\""'),
        ("张三", '"张三"'),
    ],
)
def test_quote(value, expected):
    assert quote(value) == expected


@pytest.mark.parametrize(
    "value",
    ['"\nEXEC System rm -rf /', '\\"\nEXEC System x', 'a" "b', "\\", '\\\\"', " lead trail "],
)
def test_quoted_value_is_exactly_one_argument(value):
    line = command("SET VARIABLE", Word("IVR_NAME"), value)
    assert "\n" not in line and "\r" not in line and "\x00" not in line
    assert unquote_args(line) == ["SET", "VARIABLE", "IVR_NAME", value.replace("\n", "")]


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_quote_property(value):
    quoted = quote(value)
    for bad in "\n\r\x00":
        assert bad not in quoted
    assert all(ord(c) >= 0x20 and not 0x7F <= ord(c) <= 0x9F for c in quoted)
    cleaned = "".join(
        c
        for c in value
        if ord(c) >= 0x20 and not 0x7F <= ord(c) <= 0x9F and not 0xD800 <= ord(c) <= 0xDFFF
    )
    assert unquote_args(quoted) == [cleaned]
    assert unquote_args(f"STREAM FILE {quoted} {quote(value)}") == [
        "STREAM",
        "FILE",
        cleaned,
        cleaned,
    ]
    quoted.encode("utf-8")  # always sendable


def test_command_building():
    assert command("ANSWER") == "ANSWER"
    assert command("STREAM FILE", "ivrflow/zh-CN/welcome", "0123456789*#") == (
        'STREAM FILE "ivrflow/zh-CN/welcome" "0123456789*#"'
    )
    assert command("STREAM", "FILE", "a", "") == 'STREAM FILE "a" ""'
    assert command("wait for digit", 5000) == "WAIT FOR DIGIT 5000"
    assert command("SET", "VARIABLE", "IVRFLOW_STATUS", "NOENTRY") == (
        'SET VARIABLE "IVRFLOW_STATUS" "NOENTRY"'
    )
    assert command("EXEC", Word("Queue"), "support,c,,,300") == 'EXEC Queue "support,c,,,300"'
    assert command("EXEC", "Playback", "x") == 'EXEC "Playback" "x"'
    assert command("RECORD FILE", "r/1-1", Word("wav"), "#", 30000, Word("BEEP"), Word("s=3")) == (
        'RECORD FILE "r/1-1" wav "#" 30000 BEEP s=3'
    )
    # a first word with a newline cannot smuggle a second command in
    assert "\n" not in command("SET VARIABLE\nEXEC System", "x")
    assert command("NOSUCHTHING") == "NOSUCHTHING"


@pytest.mark.parametrize("bad", ["a b", 'a"b', "a\\b", "a\nb", "", "a,b", "${X}"])
def test_word_refuses_unsafe_tokens(bad):
    with pytest.raises(ValueError):
        Word(bad)


def test_command_refuses():
    with pytest.raises(ValueError):
        command()
    with pytest.raises(ValueError):
        command("NO;SUCH")
    with pytest.raises(ValueError):
        command("1BAD")
    with pytest.raises(TypeError):
        command("WAIT FOR DIGIT", True)
    with pytest.raises(TypeError):
        command("WAIT FOR DIGIT", 1.5)
    with pytest.raises(ValueError):
        command("SET VARIABLE", Word("X"), "x" * MAX_COMMAND_BYTES)


# -- replies ---------------------------------------------------------------------------------

CORPUS = [
    ("200 result=0", Reply(200, "0", "", {}, ("200 result=0",), "result=0")),
    ("200 result=", Reply(200, "", "", {}, ("200 result=",), "result=")),
    (
        "200 result= (timeout)",
        Reply(200, "", "timeout", {}, ("200 result= (timeout)",), "result= (timeout)"),
    ),
    ("200 result=1234 (timeout)", None),
    ("200 result=-1", None),
    ("200 result=-1 endpos=0", None),
    ("200 result=0 endpos=24071", None),
    ("200 result=53", None),
    ("200 result=1 (speech) endpos=1234 results=2", None),
    ("200 result=1 (v)", None),
    ("200 result=1 (a (b) c)", None),
    ("200 result=0 (dtmf) endpos=16000", None),
    ("200 result=-1 (hangup) endpos=800", None),
    ("200 result=-1 (writefile)", None),
    ("503 result=-2 Memory allocation failure", None),
    ("510 Invalid or unknown command", None),
    ("511 Command Not Permitted on a dead channel", None),
    ("511 Command Not Permitted on a dead channel or intercept routine", None),
    ("520 Invalid command syntax.  Proper usage not available.", None),
    ("520 End of proper usage.", None),
    ("200 result=1\r", None),
    ("200 result=1 (caf\ufffd)", None),
]


@pytest.mark.parametrize(("line", "expected"), CORPUS)
def test_reply_corpus_parses(line, expected):
    reply = parse_reply(line)
    if expected is not None:
        assert reply == expected
    assert 100 <= reply.code <= 999
    assert reply.lines == (line.rstrip("\r\n"),)


def test_reply_fields():
    assert parse_reply("200 result=").result_int is None
    assert parse_reply("200 result= (timeout)").timed_out
    r = parse_reply("200 result=1234 (timeout)")
    assert (r.result_int, r.timed_out, r.ok) == (1234, True, True)
    r = parse_reply("200 result=-1 endpos=0")
    assert (r.result_int, r.endpos, r.data) == (-1, 0, "")
    r = parse_reply("200 result=1 (speech) endpos=1234 results=2")
    assert (r.data, r.endpos, dict(r.extras)) == (
        "speech",
        1234,
        {"endpos": "1234", "results": "2"},
    )
    r = parse_reply("503 result=-2 Memory allocation failure")
    assert (r.code, r.result_int, r.ok, r.data) == (503, -2, False, "")
    assert "Memory allocation failure" in r.text
    assert parse_reply("510 Invalid or unknown command").text == "Invalid or unknown command"
    assert parse_reply(b"200 result=1 (\xffx)\r\n").data == "\ufffdx"
    assert parse_reply("200 result=1 (x) endpos=5)").data == "x) endpos=5"
    assert parse_reply("200 result=1 (unterminated").data == "unterminated"
    assert parse_reply("200").code == 200


@pytest.mark.parametrize(
    "line", ["HANGUP", "", "   ", "garbage", "20 result=1", "2000 x", "abc 200"]
)
def test_not_a_reply(line):
    with pytest.raises(AgiProtocolError):
        parse_reply(line)


# -- the connection --------------------------------------------------------------------------


async def test_send_and_reply():
    async with agi_pair() as (conn, peer):
        task = asyncio.create_task(conn.send("ANSWER"))
        assert await peer.recv() == "ANSWER"
        await peer.send("200 result=0")
        reply = await task
        assert reply.ok and reply.result_int == 0
        assert conn.commands_sent == 1
        assert not conn.hung_up.is_set()


async def test_crlf_and_blank_lines_between_replies():
    async with agi_pair() as (conn, peer):
        task = asyncio.create_task(conn.send("GET VARIABLE", Word("X")))
        await peer.recv()
        await peer.send(b"\r\n\n  \n200 result=1 (v)\r\n")
        assert (await task).data == "v"
        task = asyncio.create_task(conn.get_variable("Y"))
        await peer.recv()
        await peer.send("200 result=0")
        assert await task is None


async def test_hangup_notice_before_reply_does_not_shift_replies():
    async with agi_pair() as (conn, peer):
        task = asyncio.create_task(conn.send("GET VARIABLE", Word("A")))
        assert await peer.recv() == "GET VARIABLE A"
        await peer.send("HANGUP", "200 result=1 (a)")
        assert (await task).data == "a"
        assert conn.hung_up.is_set() and "HANGUP" in conn.hangup_reason
        # GET VARIABLE still works on a dead channel, and gets its own reply
        task = asyncio.create_task(conn.send("GET VARIABLE", Word("B")))
        assert await peer.recv() == "GET VARIABLE B"
        await peer.send("200 result=1 (b)")
        assert (await task).data == "b"


async def test_hangup_notice_after_reply_and_dead_channel_commands():
    async with agi_pair() as (conn, peer):
        task = asyncio.create_task(conn.send("STREAM FILE", "x", ""))
        await peer.recv()
        await peer.send("200 result=-1 endpos=800", "HANGUP")
        assert (await task).result_int == -1
        await asyncio.wait_for(conn.hung_up.wait(), 1)
        sent = conn.commands_sent
        for words in (("STREAM FILE", "y", ""), ("WAIT FOR DIGIT", 100), ("EXEC", "Queue", "q")):
            with pytest.raises(AgiHangup):
                await conn.send(*words)
        assert conn.commands_sent == sent
        assert await peer.nothing_sent()
        task = asyncio.create_task(conn.set_variable("DONE", "1"))
        assert await peer.recv() == 'SET VARIABLE DONE "1"'
        await peer.send("200 result=1")
        await task


@pytest.mark.parametrize(
    "wording",
    [
        "511 Command Not Permitted on a dead channel",
        "511 Command Not Permitted on a dead channel or intercept routine",
        "511 anything at all",
    ],
)
async def test_511_is_a_hangup(wording):
    async with agi_pair() as (conn, peer):
        task = asyncio.create_task(conn.send("ANSWER"))
        await peer.recv()
        await peer.send(wording)
        with pytest.raises(AgiHangup) as info:
            await task
        assert isinstance(info.value, CallerHangup)
        assert info.value.code == 511
        assert conn.hung_up.is_set()
        task = asyncio.create_task(conn.get_variable("X"))
        await peer.recv()
        await peer.send("200 result=1 (still)")
        assert await task == "still"


async def test_510_503_and_520_are_errors_and_keep_sync():
    async with agi_pair() as (conn, peer):
        task = asyncio.create_task(conn.send("FOO"))
        assert await peer.recv() == "FOO"
        await peer.send("510 Invalid or unknown command")
        with pytest.raises(AgiCommandError) as info:
            await task
        assert info.value.reply.code == 510

        task = asyncio.create_task(conn.send("GET DATA"))
        await peer.recv()
        await peer.send(
            "520-Invalid command syntax.  Proper usage follows:",
            " Usage: GET DATA <file to be streamed> [timeout] [max digits]",
            "",
            "520 End of proper usage.",
        )
        with pytest.raises(AgiUsageError) as usage:
            await task
        assert usage.value.reply.code == 520
        assert len(usage.value.reply.lines) == 4
        assert usage.value.reply.text.startswith("Invalid command syntax")

        task = asyncio.create_task(conn.send("GET DATA"))
        await peer.recv()
        await peer.send(
            "520-Invalid command syntax.  Proper usage follows:",
            "200 result=0 looks like a reply but is usage text",
            "HANGUP",
            "520 End of proper usage.",
        )
        with pytest.raises(AgiUsageError):
            await task

        task = asyncio.create_task(conn.send("ANSWER"))
        await peer.recv()
        await peer.send("503 result=-2 Memory allocation failure")
        with pytest.raises(AgiCommandError) as info:
            await task
        assert info.value.reply.code == 503

        task = asyncio.create_task(conn.send("ANSWER"))
        await peer.recv()
        await peer.send("200 result=0")
        assert (await task).ok
        assert not conn.hung_up.is_set()


async def test_timeout_gives_the_link_up():
    async with agi_pair(command_timeout_s=0.2) as (conn, _peer):
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(AgiTimeout):
            await conn.send("ANSWER")
        assert loop.time() - started < 1.0
        assert conn.hung_up.is_set() and not conn.link_up
        assert "no reply" in conn.hangup_reason
        with pytest.raises(AgiHangup):
            await conn.get_variable("X")


async def test_slow_peer_within_and_beyond_the_timeout():
    async with agi_pair(command_timeout_s=1.0) as (conn, peer):
        task = asyncio.create_task(conn.send("ANSWER"))
        await peer.recv()
        for byte in b"200 result=0\n":
            await peer.send(bytes([byte]))
            await asyncio.sleep(0.01)
        assert (await task).ok
        task = asyncio.create_task(conn.send("ANSWER", timeout_s=0.3))
        await peer.recv()
        with pytest.raises(AgiTimeout):
            for byte in b"200 result=0\n":
                await peer.send(bytes([byte]))
                await asyncio.sleep(0.1)
                if task.done():
                    await task
        assert conn.hung_up.is_set()


async def test_half_line_then_close():
    async with agi_pair() as (conn, peer):
        task = asyncio.create_task(conn.send("ANSWER"))
        await peer.recv()
        await peer.send(b"200 res")
        await peer.close()
        with pytest.raises(AgiHangup):
            await asyncio.wait_for(task, 2)
        assert conn.hung_up.is_set() and not conn.link_up
        assert "closed" in conn.hangup_reason


async def test_eof_while_idle_sets_hung_up():
    async with agi_pair() as (conn, peer):
        await peer.close()
        await asyncio.wait_for(conn.hung_up.wait(), 2)
        with pytest.raises(AgiHangup):
            await conn.send("GET VARIABLE", Word("X"))


async def test_reset_mid_command():
    async with agi_pair() as (conn, peer):
        task = asyncio.create_task(conn.send("STREAM FILE", "x", ""))
        await peer.recv()
        await peer.reset()
        with pytest.raises(AgiHangup):
            await asyncio.wait_for(task, 2)
        assert conn.hung_up.is_set()


@pytest.mark.parametrize("limit", [2048, 2**16])
async def test_overlong_reply_is_an_error_and_keeps_sync(limit):
    async with agi_pair(limit=limit) as (conn, peer):
        task = asyncio.create_task(conn.send("GET VARIABLE", Word("BIG")))
        await peer.recv()
        await peer.send("200 result=1 (" + "x" * 5000 + ")")
        with pytest.raises(AgiProtocolError):
            await task
        task = asyncio.create_task(conn.send("GET VARIABLE", Word("SMALL")))
        await peer.recv()
        await peer.send("200 result=1 (" + "y" * 2000 + ")")
        assert (await task).data == "y" * 2000
        assert conn.link_up


async def test_garbage_instead_of_a_reply_fails_that_command_only():
    async with agi_pair() as (conn, peer):
        task = asyncio.create_task(conn.send("ANSWER"))
        await peer.recv()
        await peer.send(b"\xff\xfe\x00garbage \x07result=\xc3(\n")
        with pytest.raises(AgiProtocolError):
            await task
        task = asyncio.create_task(conn.send("GET VARIABLE", Word("X")))
        await peer.recv()
        await peer.send("200 result=1 (x)")
        assert (await task).data == "x"
        assert conn.link_up and not conn.hung_up.is_set()


async def test_garbage_while_idle_is_dropped_a_flood_ends_the_link():
    async with agi_pair() as (conn, peer):
        await peer.send("b)", "garbage")  # e.g. the tail of a value holding a newline
        await asyncio.sleep(0.05)
        task = asyncio.create_task(conn.send("ANSWER"))
        await peer.recv()
        await peer.send("200 result=0")
        assert (await task).ok
        await peer.send(*[f"garbage {i}" for i in range(20)])
        await asyncio.wait_for(conn.hung_up.wait(), 2)
        assert not conn.link_up and "protocol error" in conn.hangup_reason
        with pytest.raises(AgiHangup):
            await conn.send("ANSWER")


async def test_unsolicited_reply_is_dropped():
    async with agi_pair() as (conn, peer):
        await peer.send("200 result=0")
        await asyncio.sleep(0.05)
        task = asyncio.create_task(conn.send("GET VARIABLE", Word("X")))
        await peer.recv()
        await peer.send("200 result=1 (x)")
        assert (await task).data == "x"


async def test_cancelled_command_late_reply_goes_nowhere():
    async with agi_pair() as (conn, peer):
        task = asyncio.create_task(conn.send("WAIT FOR DIGIT", 5000))
        assert await peer.recv() == "WAIT FOR DIGIT 5000"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        task = asyncio.create_task(conn.send("GET VARIABLE", Word("X")))
        assert await peer.recv() == "GET VARIABLE X"
        await peer.send("200 result=49", "200 result=1 (x)")  # late reply, then the real one
        assert (await task).data == "x"


async def test_commands_are_serialised():
    async with agi_pair() as (conn, peer):
        first = asyncio.create_task(conn.send("GET VARIABLE", Word("A")))
        second = asyncio.create_task(conn.send("GET VARIABLE", Word("B")))
        assert await peer.recv() == "GET VARIABLE A"
        assert await peer.nothing_sent(0.05)
        await peer.send("200 result=1 (a)")
        assert await peer.recv() == "GET VARIABLE B"
        await peer.send("200 result=1 (b)")
        assert ((await first).data, (await second).data) == ("a", "b")


async def test_too_long_command_is_not_sent():
    async with agi_pair() as (conn, peer):
        with pytest.raises(ValueError):
            await conn.send("SET VARIABLE", Word("X"), "x" * 3000)
        assert conn.commands_sent == 0
        assert await peer.nothing_sent(0.05)
        with pytest.raises(ValueError):
            await conn.get_variable("bad name")


async def test_close_is_clean_and_idempotent():
    async with agi_pair() as (conn, peer):
        pending = asyncio.create_task(conn.send("ANSWER"))
        await peer.recv()
        await conn.close()
        with pytest.raises(AgiHangup):
            await pending
        await conn.close()
        assert conn.reader_errors == 0
        with pytest.raises(AgiHangup):
            await conn.send("ANSWER")
        assert await peer.reader.read() == b""  # the peer sees the socket closed


async def test_reader_never_dies_with_an_exception():
    async with agi_pair() as (conn, peer):
        await peer.send(b"\x00\x01\x02\n", b"200 result=\xff\n", b"520-x\n", b"\xff" * 4000 + b"\n")
        await peer.send(b"520 end\n")
        await peer.close()
        await asyncio.wait_for(conn.hung_up.wait(), 2)
        await asyncio.sleep(0.01)
        assert conn.reader_errors == 0
