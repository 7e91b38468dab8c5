"""Property tests: the AGI parsers never fail other than with AgiProtocolError, and a
connection fed arbitrary bytes always ends each command in a defined way."""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime.agi.protocol import (
    AgiConnection,
    AgiError,
    AgiHangup,
    AgiProtocolError,
    Reply,
    parse_environment,
    parse_reply,
)

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SEEDS = [
    b"200 result=",
    b"200 result= (timeout)",
    b"200 result=-1",
    b"200 result=-1 endpos=0",
    b"200 result=1 (speech) endpos=1234 results=2",
    b"503 result=-2 Memory allocation failure",
    b"510 Invalid or unknown command",
    b"511 Command Not Permitted on a dead channel",
    b"511 Command Not Permitted on a dead channel or intercept routine",
    b"520-Invalid command syntax.  Proper usage follows:",
    b"520 End of proper usage.",
    b"HANGUP",
    b"",
    b"\r",
    b"200 result=1 (\xff\xfe)",
    b"200 result=1 (" + b"x" * 2100 + b")",
]
PIECES = [b"200", b"511", b"520", b"-", b" ", b"result=", b"-1", b"0", b"53", b"(", b")"]
PIECES += [b"timeout", b"endpos=", b"=", b"\r", b"\xff", b"\x00", b"HANGUP", b"a", b"\t", b"x=y"]
pieces = st.sampled_from(PIECES)
reply_like = st.one_of(
    st.sampled_from(SEEDS),
    st.lists(pieces, max_size=12).map(b"".join),
    st.builds(lambda s, t: s + t, st.sampled_from(SEEDS), st.binary(max_size=40)),
    st.binary(max_size=300),
)


def check_reply(reply: Reply) -> None:
    assert 0 <= reply.code <= 999
    assert isinstance(reply.result, str) and isinstance(reply.data, str)
    reply.result_int  # noqa: B018 — properties never raise
    reply.endpos  # noqa: B018
    reply.timed_out  # noqa: B018
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in reply.extras.items())


@FUZZ
@given(reply_like)
def test_parse_reply_bytes(line):
    try:
        reply = parse_reply(line)
    except AgiProtocolError:
        return
    check_reply(reply)


@FUZZ
@given(st.text(max_size=300))
def test_parse_reply_text(line):
    try:
        reply = parse_reply(line)
    except AgiProtocolError:
        return
    check_reply(reply)


env_line = st.one_of(
    st.builds(
        lambda k, v: k + b": " + v,
        st.sampled_from([b"agi_channel", b"agi_callerid", b"agi_x", b"", b" ", b"agi y"]),
        st.binary(max_size=40),
    ),
    st.binary(max_size=60),
    st.just(b"agi_long: " + b"z" * 3000),
)
env_block = st.builds(
    lambda lines, sep, end: sep.join(lines) + end,
    st.lists(env_line, max_size=12),
    st.sampled_from([b"\n", b"\r\n"]),
    st.sampled_from([b"", b"\n", b"\n\n", b"\r\n\r\n"]),
)


@FUZZ
@given(st.one_of(env_block, st.binary(max_size=400)))
def test_parse_environment(block):
    env = parse_environment(block)
    assert isinstance(env, dict)
    for key, value in env.items():
        assert key and isinstance(value, str)
        assert not any(c.isspace() for c in key)
        assert len(key.encode()) + len(value.encode("utf-8", "surrogatepass")) <= 2048 * 3


class FakeWriter:
    def __init__(self) -> None:
        self.data = bytearray()
        self.closed = False

    def write(self, data: bytes) -> None:
        self.data += data

    async def drain(self) -> None:
        await asyncio.sleep(0)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    async def wait_closed(self) -> None:
        return None


async def feed_and_send(chunks: list[bytes], eof: bool) -> list[object]:
    reader = asyncio.StreamReader(limit=2048)
    conn = AgiConnection(reader, FakeWriter(), command_timeout_s=0.02)  # type: ignore[arg-type]
    outcomes: list[object] = []
    try:
        for chunk in chunks:
            task = asyncio.ensure_future(conn.send("GET VARIABLE", "X"))
            await asyncio.sleep(0)
            reader.feed_data(chunk)
            try:
                outcomes.append(await task)
            except (AgiError, AgiHangup) as exc:  # every defined end of a command
                outcomes.append(exc)
        if eof:
            reader.feed_eof()
            await asyncio.wait_for(conn.hung_up.wait(), 1)
        assert conn.reader_errors == 0
    finally:
        await conn.close()
    return outcomes


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.one_of(
            st.sampled_from([s + b"\n" for s in SEEDS]),
            st.lists(st.sampled_from([s + b"\n" for s in SEEDS]), max_size=4).map(b"".join),
            st.binary(max_size=200),
        ),
        max_size=5,
    ),
    st.booleans(),
)
def test_connection_survives_any_bytes(chunks, eof):
    outcomes = asyncio.run(feed_and_send(chunks, eof))
    for outcome in outcomes:
        assert isinstance(outcome, Reply | AgiError | AgiHangup)
        if isinstance(outcome, Reply):
            assert outcome.code == 200
