"""The fake Asterisk (tests/support/fake_asterisk.py) against tiny hand-written peers.

A FastAGI server and an AMI client written here, over real sockets, check that the fake
answers byte for byte like Asterisk 22 (../shared/design/pitfalls.md), parses commands like
res_agi.c, hangs up where the script says, and injects the faults it promises.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.fake_asterisk import (
    GARBLED_EVENTS,
    PARTIAL_EVENT,
    AmiQueueMember,
    AmiUser,
    CallResult,
    DialOutcome,
    FakeAmi,
    FakeCall,
    Fault,
    Hangup,
    Key,
    QueueOutcome,
    RecordOutcome,
    VoicemailOutcome,
    agi_quote,
    find_agi_command,
    parse_agi_args,
    run_many,
)

WAIT = 5.0
USAGE_GET_DATA = (
    b"520-Invalid command syntax.  Proper usage follows:\n"
    b"Stream the given <replaceable>file</replaceable>, and receive DTMF data.\n"
    b"Returns the digits received from the channel at the other end.\n"
    b"520 End of proper usage.\n"
)
DEAD_NEW = b"511 Command Not Permitted on a dead channel or intercept routine\n"
DEAD_OLD = b"511 Command Not Permitted on a dead channel\n"


# ------------------------------------------------------------------------------------------
# A tiny FastAGI server (the runtime's side)


@dataclass
class Peer:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    env_raw: bytes = b""
    env: dict[str, str] = field(default_factory=dict)
    replies: list[bytes] = field(default_factory=list)
    tail: bytes = b""
    error: BaseException | None = None

    async def read_env(self) -> None:
        while True:
            line = await asyncio.wait_for(self.reader.readline(), WAIT)
            self.env_raw += line
            if line in (b"\n", b"\r\n", b""):
                break
            key, _, value = line.decode().rstrip("\r\n").partition(": ")
            self.env[key] = value

    async def send(self, line: str | bytes) -> None:
        data = line.encode() if isinstance(line, str) else line
        self.writer.write(data if data.endswith(b"\n") else data + b"\n")
        await self.writer.drain()

    async def reply(self) -> bytes:
        """One reply as raw bytes: HANGUP notices before it and a whole 520 block included."""
        raw = b""
        while True:
            line = await asyncio.wait_for(self.reader.readline(), WAIT)
            raw += line
            if not line:
                return raw
            text = line.rstrip(b"\r\n")
            if text == b"HANGUP":
                continue
            if text.startswith(b"520-"):
                while True:
                    more = await asyncio.wait_for(self.reader.readline(), WAIT)
                    raw += more
                    if not more or more.startswith(b"520 "):
                        return raw
            return raw

    async def cmd(self, line: str | bytes) -> bytes:
        await self.send(line)
        raw = await self.reply()
        self.replies.append(raw)
        return raw

    async def rest(self, within: float = 0.2) -> bytes:
        """Whatever else arrives until EOF or a quiet spell."""
        data = b""
        with contextlib.suppress(TimeoutError):
            while chunk := await asyncio.wait_for(self.reader.read(65536), within):
                data += chunk
        return data


Script = Callable[[Peer], Awaitable[None]]


@dataclass
class Server:
    port: int
    peers: list[Peer]


@contextlib.asynccontextmanager
async def fastagi(script: Script, *, read_env: bool = True) -> AsyncIterator[Server]:
    peers: list[Peer] = []
    tasks: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        peer = Peer(reader, writer)
        peers.append(peer)
        try:
            if read_env:
                await peer.read_env()
            await script(peer)
        except Exception as exc:
            peer.error = exc
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield Server(server.sockets[0].getsockname()[1], peers)
    finally:
        server.close()
        await server.wait_closed()
        if tasks:
            await asyncio.wait(tasks, timeout=WAIT)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def call(script: Script, **kw: object) -> tuple[CallResult, Peer]:
    kw.setdefault("read_timeout", 2.0)
    kw.setdefault("timeout", 10.0)
    async with fastagi(script) as srv:
        result = await FakeCall(srv.port, **kw).run()  # type: ignore[arg-type]
    assert len(srv.peers) == 1
    peer = srv.peers[0]
    if peer.error is not None:
        raise peer.error
    return result, peer


def commands(*lines: str | bytes) -> Script:
    """Send each line, keep each reply (a HANGUP notice counts with the reply it precedes),
    and keep whatever follows the last reply in ``tail``."""

    async def script(agi: Peer) -> None:
        for line in lines:
            await agi.cmd(line)
        agi.tail = await agi.rest(0.05)

    return script


# ------------------------------------------------------------------------------------------
# Parsing like res_agi.c


@pytest.mark.parametrize(
    ("line", "argv"),
    [
        ('STREAM FILE welcome ""', ["STREAM", "FILE", "welcome", ""]),
        ('SET VARIABLE X "a b\\"c"', ["SET", "VARIABLE", "X", 'a b"c']),
        ("SET VARIABLE X a\\ b", ["SET", "VARIABLE", "X", "a b"]),
        ('SET VARIABLE X "back\\\\slash"', ["SET", "VARIABLE", "X", "back\\slash"]),
        ("SET VARIABLE X \\n", ["SET", "VARIABLE", "X", "n"]),
        ("GET  DATA\tbeep   1500", ["GET", "DATA", "beep", "1500"]),
        ('VERBOSE ab"c d"e', ["VERBOSE", "abc de"]),
        ('VERBOSE "a"b', ["VERBOSE", "ab"]),
        ("VERBOSE trailing\\", ["VERBOSE", "trailing"]),
        ('EXEC Dial "PJSIP/1001,30,tT"', ["EXEC", "Dial", "PJSIP/1001,30,tT"]),
        ("ANSWER\r", ["ANSWER\r"]),
        ('STREAM FILE x ""\r', ["STREAM", "FILE", "x", "\r"]),
        ("", []),
        ('""', [""]),
    ],
)
def test_parse_args_like_asterisk(line: str, argv: list[str]) -> None:
    assert parse_agi_args(line) == argv


def c_parse_args(s: str) -> list[str]:
    """res_agi.c parse_args(), transcribed statement by statement (cur/argv into one buffer)."""
    out = ["\0"] * (len(s) + 1)
    starts: list[int] = []
    quoted = escaped = False
    whitespace = True
    cur = 0
    for c in s:
        normal = False
        if c == '"':
            if escaped:
                normal = True
            else:
                quoted = not quoted
                if quoted and whitespace:
                    starts.append(cur)
                    whitespace = False
                escaped = False
        elif c in " \t":
            if not quoted and not escaped:
                whitespace = True
                out[cur] = "\0"
                cur += 1
            else:
                normal = True
        elif c == "\\":
            if escaped:
                normal = True
            else:
                escaped = True
        else:
            normal = True
        if normal:
            if whitespace:
                if len(starts) >= 128 - 1:
                    continue
                starts.append(cur)
                whitespace = False
            out[cur] = c
            cur += 1
            escaped = False
    out[cur] = "\0"
    text = "".join(out)
    return [text[i : text.index("\0", i)] for i in starts]


@given(st.text(alphabet=' \t"\\\rab\u00e9x', max_size=60))
def test_parse_args_matches_the_c_code(line: str) -> None:
    assert parse_agi_args(line) == c_parse_args(line)


def test_parse_args_truncates_at_max_args() -> None:
    line = "NOOP " + " ".join(str(i) for i in range(200))
    assert len(parse_agi_args(line)) == 127
    assert parse_agi_args(line) == c_parse_args(line)
    quoted = "NOOP " + " ".join(f'"{i}"' for i in range(200))
    assert parse_agi_args(quoted) == c_parse_args(quoted)


@given(st.text(alphabet=st.characters(blacklist_characters="\n\x00"), max_size=40))
def test_agi_quote_round_trips(value: str) -> None:
    argv = parse_agi_args(f"SET VARIABLE {agi_quote('NAME')} {agi_quote(value)}")
    assert argv == ["SET", "VARIABLE", "NAME", value]


@pytest.mark.parametrize(
    ("argv", "found"),
    [
        (["ANSWER"], ("ANSWER", False)),
        (["answer"], ("ANSWER", False)),
        (["get", "FULL", "variable", "x"], ("GET FULL VARIABLE", True)),
        (["GET", "VARIABLE", "x"], ("GET VARIABLE", True)),
        (["EXEC", "Playback", "x"], ("EXEC", True)),
        (["HANGUP"], ("HANGUP", False)),
        (["NOOP", "anything"], ("NOOP", True)),
        (["GET"], None),
        (["ANSWER\r"], None),
        (["STREAMFILE"], None),
        ([], None),
    ],
)
def test_find_command_like_asterisk(argv: list[str], found: tuple[str, bool] | None) -> None:
    assert find_agi_command(argv) == found


# ------------------------------------------------------------------------------------------
# The env block


async def test_env_block_is_asterisk_22s() -> None:
    result, agi = await call(commands(), caller="13800138000", args=["zh", "vip"])
    lines = agi.env_raw.decode().split("\n")
    keys = [line.split(":", 1)[0] for line in lines if line]
    assert keys == [
        "agi_network",
        "agi_network_script",
        "agi_request",
        "agi_channel",
        "agi_language",
        "agi_type",
        "agi_uniqueid",
        "agi_version",
        "agi_callerid",
        "agi_calleridname",
        "agi_callingpres",
        "agi_callingani2",
        "agi_callington",
        "agi_callingtns",
        "agi_dnid",
        "agi_rdnis",
        "agi_context",
        "agi_extension",
        "agi_priority",
        "agi_enhanced",
        "agi_accountcode",
        "agi_threadid",
        "agi_arg_1",
        "agi_arg_2",
    ]
    assert agi.env_raw.startswith(b"agi_network: yes\nagi_network_script: 12329\n")
    port = agi.writer.get_extra_info("sockname")[1]
    assert f"agi_request: agi://127.0.0.1:{port}/12329\n".encode() in agi.env_raw
    assert b"\nagi_accountcode: \n" in agi.env_raw  # empty value keeps its space
    assert agi.env_raw.endswith(b"agi_arg_2: vip\n\n")
    assert agi.env["agi_channel"].startswith("PJSIP/carrier-")
    assert agi.env["agi_type"] == "PJSIP"
    assert agi.env["agi_version"].startswith("22.")
    assert agi.env["agi_calleridname"] == "unknown"
    assert agi.env["agi_callerid"] == "13800138000"
    assert result.env == agi.env
    assert result.closed_by == "runtime"
    assert result.error is None


async def test_env_of_a_local_channel() -> None:
    _, agi = await call(commands(), channel_kind="local", caller=None, dnid=None)
    assert agi.env["agi_channel"].startswith("Local/s@ivr-entry-")
    assert agi.env["agi_channel"].endswith(";2")
    assert agi.env["agi_type"] == "Local"
    assert agi.env["agi_extension"] == "s"
    assert agi.env["agi_callerid"] == "unknown"
    assert agi.env["agi_dnid"] == "unknown"


async def test_env_faults() -> None:
    async def nothing(agi: Peer) -> None:
        agi.env_raw = await agi.rest(0.3)

    async with fastagi(nothing, read_env=False) as srv:
        probe = await FakeCall(srv.port, env_fault="probe").run()
        unterminated = await FakeCall(srv.port, env_fault="unterminated", read_timeout=0.3).run()
        partial = await FakeCall(srv.port, hangup=Hangup.before_env_end()).run()
        await FakeCall(srv.port, env_fault="duplicate", read_timeout=0.3).run()
    raw = [p.env_raw for p in srv.peers]
    assert raw[0] == b""
    assert probe.closed_by == "fake"
    assert raw[1].endswith(b"\n") and not raw[1].endswith(b"\n\n")
    assert unterminated.error is not None
    assert raw[2].startswith(b"agi_network: yes\n") and b"agi_threadid" not in raw[2]
    assert partial.hung_up_by == "caller"
    assert partial.agi_status == "HANGUP"
    assert raw[3].count(b"agi_channel: ") == 2


async def test_crlf_mode_ends_every_line_with_crlf() -> None:
    _, agi = await call(commands("ANSWER", "GET DATA"), crlf=True)
    assert agi.env_raw.endswith(b"\r\n\r\n")
    assert b"\n" not in agi.env_raw.replace(b"\r\n", b"")
    assert agi.replies[0] == b"200 result=0\r\n"
    assert agi.replies[1] == USAGE_GET_DATA.replace(b"\n", b"\r\n")


# ------------------------------------------------------------------------------------------
# Replies measured on Asterisk 22 (pitfalls.md)


async def test_replies_match_pitfalls_examples() -> None:
    result, agi = await call(
        commands(
            "ANSWER",
            'STREAM FILE welcome ""',
            "WAIT FOR DIGIT 5000",
            "GET DATA prompt 6000 4",
            'SET VARIABLE X "v"',
            "GET VARIABLE X",
            'GET FULL VARIABLE "${CHANNEL}"',
            "EXEC Playback beep",
            "CHANNEL STATUS",
        ),
        keys="51234",
        prompts={"welcome": 24071 / 8, "prompt": 2000, "beep": 300},
    )
    channel = agi.env["agi_channel"]
    assert agi.replies == [
        b"200 result=0\n",
        b"200 result=0 endpos=24071\n",
        b"200 result=53\n",
        b"200 result=1234\n",
        b"200 result=1\n",
        b"200 result=1 (v)\n",
        f"200 result=1 ({channel})\n".encode(),
        b"200 result=0\n",
        b"200 result=6\n",
    ]
    assert result.played == ["welcome", "prompt", "beep"]
    assert result.assignments == [("X", "v")]
    assert result.verbs[:3] == ["ANSWER", "STREAM FILE", "WAIT FOR DIGIT"]
    assert result.commands[1].args == ["welcome", ""]
    assert result.anomalies == []
    assert result.agi_status == "SUCCESS"


async def test_replies_verified_one_by_one() -> None:
    result, agi = await call(
        commands(
            'STREAM FILE no-such-prompt ""',
            "GET DATA beep 1500 4",
            "WAIT FOR DIGIT 1000",
            "FOO BAR",
            "GET DATA",
            'EXEC Playback "no-such-file"',
            "GET VARIABLE PLAYBACKSTATUS",
            'SET VARIABLE X "a b\\"c"',
            "GET VARIABLE X",
            "GET VARIABLE NOT_SET",
            'SET VARIABLE EMPTY ""',
            "GET VARIABLE EMPTY",
        ),
        prompts=["beep"],
    )
    assert agi.replies == [
        b"200 result=-1 endpos=0\n",
        b"200 result= (timeout)\n",
        b"200 result=0\n",
        b"510 Invalid or unknown command\n",
        USAGE_GET_DATA,
        b"200 result=0\n",
        b"200 result=1 (FAILED)\n",
        b"200 result=1\n",
        b'200 result=1 (a b"c)\n',
        b"200 result=0\n",
        b"200 result=1\n",
        b"200 result=1 ()\n",
    ]
    assert result.missing == ["no-such-prompt", "no-such-file"]
    assert result.variables["X"] == 'a b"c'
    assert result.agi_status == "FAILURE"  # a missing STREAM FILE prompt is RESULT_FAILURE


async def test_usage_errors_are_multi_line_520() -> None:
    _, agi = await call(
        commands(
            "STREAM FILE welcome",
            "WAIT FOR DIGIT",
            "WAIT FOR DIGIT soon",
            "SET VARIABLE X",
            "GET VARIABLE",
            "SAY DIGITS abc #",
            "EXEC",
            "RECORD FILE x wav #",
            "HANGUP a b",
        )
    )
    for raw in agi.replies:
        lines = raw.split(b"\n")
        assert lines[0] == b"520-Invalid command syntax.  Proper usage follows:"
        assert lines[-2] == b"520 End of proper usage."
        assert all(not line.startswith(b"520 ") for line in lines[1:-2])
    assert b"Example return code: 200 result=1 (testvariable)" in agi.replies[4]


async def test_say_set_music_verbose_noop_channel_status() -> None:
    result, agi = await call(
        commands(
            "CHANNEL STATUS",
            'SAY DIGITS 12329 ""',
            'SAY NUMBER 42 ""',
            "SET MUSIC on hold-zh",
            "SET MUSIC off",
            'VERBOSE "hello world" 3',
            "NOOP whatever",
            "ANSWER",
            "CHANNEL STATUS",
            "CHANNEL STATUS PJSIP/nobody-00000001",
            "GET FULL VARIABLE ${CALLERID(num)}-${EXTEN}",
            "GET VARIABLE CALLERID(num)",
            "GET VARIABLE NOSUCHFUNC(x)",
        ),
        caller="13912345678",
    )
    assert agi.replies == [
        b"200 result=4\n",
        b"200 result=0\n",
        b"200 result=0\n",
        b"200 result=0\n",
        b"200 result=0\n",
        b"200 result=1\n",
        b"200 result=0\n",
        b"200 result=0\n",
        b"200 result=6\n",
        b"200 result=-1\n",
        b"200 result=1 (13912345678-12329)\n",
        b"200 result=1 (13912345678)\n",
        b"200 result=0\n",
    ]
    assert result.said == [("DIGITS", "12329"), ("NUMBER", "42")]
    assert result.music == ["on hold-zh", "off"]
    assert result.verbose == ["hello world"]


# ------------------------------------------------------------------------------------------
# The caller's keys


async def test_escape_digits_decide_whether_a_key_interrupts() -> None:
    result, agi = await call(
        commands(
            'STREAM FILE menu "123"',  # '2' pressed 1 s in: interrupts
            'STREAM FILE menu "123"',  # '9' pressed 0.5 s in: not an escape digit, lost
            'STREAM FILE menu ""',  # cooperative '7': kept for a command that wants it
            "WAIT FOR DIGIT 3000",
        ),
        keys=[Key("2", after_ms=1000), Key("9", after_ms=500), "7"],
        prompts={"menu": 4000},
    )
    assert agi.replies == [
        b"200 result=50 endpos=8000\n",
        b"200 result=0 endpos=32000\n",
        b"200 result=0 endpos=32000\n",
        b"200 result=55\n",
    ]
    assert result.lost_keys == ["9"]
    assert result.variables["PLAYBACKSTATUS"] == "SUCCESS"


async def test_a_late_key_carries_over_to_the_next_command() -> None:
    _, agi = await call(
        commands('STREAM FILE menu "1"', "WAIT FOR DIGIT 5000"),
        keys=[Key("1", after_ms=4500)],
        prompts={"menu": 3000},
    )
    assert agi.replies == [b"200 result=0 endpos=24000\n", b"200 result=49\n"]


async def test_get_data_ends_on_hash_max_digits_or_timeout() -> None:
    result, agi = await call(
        commands(
            "GET DATA pin 5000 6",  # 1 2 # -> 12
            "GET DATA pin 5000 3",  # 4 5 6 (max) -> 456
            "GET DATA pin 5000 6",  # '#' first -> empty, no (timeout)
            "GET DATA pin 3000 6",  # 7 8, then the next key comes too late -> (timeout)
            "GET DATA pin 1000 1",  # that key now arrives in time, during the prompt
            'GET DATA "" 1000 2',  # no prompt: * counts as a digit
        ),
        keys=["12#", "456", "#", "78", Key("9", after_ms=4000), "*0"],
    )
    assert agi.replies == [
        b"200 result=12\n",
        b"200 result=456\n",
        b"200 result=\n",
        b"200 result=78 (timeout)\n",
        b"200 result=9\n",
        b"200 result=*0\n",
    ]
    assert result.played == ["pin"] * 5


async def test_record_file_ends_on_dtmf_timeout_silence_or_hangup() -> None:
    result, agi = await call(
        commands(
            'RECORD FILE msg1 wav "#" 10000 BEEP',
            'RECORD FILE msg2 wav "#" 4000',
            'RECORD FILE msg3 wav "#" 30000 s=3',
            'RECORD FILE msg4 wav "#" 30000',
        ),
        record=[
            RecordOutcome("dtmf", "#", 2500),
            RecordOutcome("timeout", duration_ms=4000),
            RecordOutcome("silence", duration_ms=6000),
            RecordOutcome("hangup", duration_ms=1000),
        ],
    )
    assert agi.replies == [
        b"200 result=35 (dtmf) endpos=20000\n",
        b"200 result=0 (timeout) endpos=32000\n",
        b"200 result=24000 (timeout) endpos=48000\n",
        b"200 result=-1 (hangup) endpos=8000\n",
    ]
    assert agi.tail == b"HANGUP\n"
    assert result.recorded == ["msg1.wav", "msg2.wav", "msg3.wav", "msg4.wav"]
    assert result.played == ["beep"]
    assert result.hung_up_by == "caller"


async def test_record_file_follows_the_keys_without_an_outcome() -> None:
    _, agi = await call(
        commands('RECORD FILE m wav "#" 20000', 'RECORD FILE m wav "#" 2000'),
        keys=[Key("#", after_ms=3000)],
    )
    assert agi.replies == [
        b"200 result=35 (dtmf) endpos=24000\n",
        b"200 result=0 (timeout) endpos=16000\n",
    ]


# ------------------------------------------------------------------------------------------
# Hang-ups


async def test_runtime_hangup_then_hangup_notice_then_511() -> None:
    async def script(agi: Peer) -> None:
        await agi.cmd("ANSWER")
        await agi.send("HANGUP")
        agi.replies.append(await agi.reader.readline())
        await agi.cmd('STREAM FILE welcome ""')  # HANGUP notice comes first
        await agi.cmd("GET VARIABLE X")  # runs on a dead channel
        await agi.cmd("EXEC NoOp hi")
        await agi.cmd("HANGUP")  # not on a dead channel

    result, agi = await call(script, variables={"X": "kept"})
    assert agi.replies == [
        b"200 result=0\n",
        b"200 result=1\n",
        b"HANGUP\n" + DEAD_NEW,
        b"200 result=1 (kept)\n",
        b"200 result=0\n",
        DEAD_NEW,
    ]
    assert result.hung_up_by == "runtime"
    assert result.agi_status == "HANGUP"
    assert [c.dead for c in result.commands] == [False, False, True, True, True, True]


async def test_a_half_closed_server_still_gets_replies_and_the_last_hangup() -> None:
    async def script(agi: Peer) -> None:
        await agi.send("HANGUP")
        agi.writer.write_eof()
        agi.tail = await agi.rest(WAIT)

    result, agi = await call(script)
    # the reply, the notice of the dead channel, then run_agi()'s own closing HANGUP
    assert agi.tail == b"200 result=1\nHANGUP\nHANGUP\n"
    assert result.closed_by == "runtime"
    assert result.hung_up_by == "runtime"


async def test_old_511_wording() -> None:
    _, agi = await call(commands("HANGUP", "ANSWER"), dead_wording="old")
    assert agi.replies == [b"200 result=1\n", b"HANGUP\n" + DEAD_OLD]


@pytest.mark.parametrize(
    ("line", "verb", "reply"),
    [
        ('STREAM FILE menu "1"', "STREAM FILE", b"200 result=-1 endpos=12000\n"),
        ("WAIT FOR DIGIT 5000", "WAIT FOR DIGIT", b"200 result=-1\n"),
        ("GET DATA menu 5000 4", "GET DATA", b"200 result=-1\n"),
        ('SAY DIGITS 123 ""', "SAY DIGITS", b"200 result=-1\n"),
        ("RECORD FILE m wav # 9000", "RECORD FILE", b"200 result=-1 (hangup) endpos=12000\n"),
        ("EXEC Playback menu", "EXEC", b"200 result=-1\n"),
        ("EXEC Queue support,,,,5", "EXEC Queue", b"200 result=-1\n"),
        ("EXEC Dial PJSIP/1001,30", "EXEC Dial", b"200 result=-1\n"),
        ("EXEC VoiceMail 1001@default", "EXEC voicemail", b"200 result=-1\n"),
        # not a listening command: the caller hung up before it arrived
        ("SET VARIABLE X 1", "SET VARIABLE", b"HANGUP\n200 result=1\n"),
    ],
)
async def test_hangup_during_a_command(line: str, verb: str, reply: bytes) -> None:
    result, agi = await call(
        commands("ANSWER", line, "STREAM FILE menu 1"),
        hangup=Hangup.during_command(verb, at_ms=1500),
        prompts={"menu": 4000},
    )
    assert agi.replies[1] == reply
    expected = DEAD_NEW if reply.startswith(b"HANGUP") else b"HANGUP\n" + DEAD_NEW
    assert agi.replies[2] == expected
    assert result.hung_up_by == "caller"
    assert result.agi_status == "HANGUP"


async def test_hangup_as_a_key_and_after_a_command() -> None:
    r1, a1 = await call(commands("GET DATA menu 5000 4", "NOOP"), keys=["12", "hangup"])
    assert a1.replies == [b"200 result=-1\n", b"HANGUP\n200 result=0\n"]
    assert r1.hung_up_by == "caller"

    r2, a2 = await call(commands("ANSWER", "NOOP", "ANSWER"), hangup=Hangup.after_command(1))
    assert a2.replies == [b"200 result=0\n", b"HANGUP\n200 result=0\n", DEAD_NEW]
    assert r2.agi_status == "HANGUP"


async def test_hangup_right_after_the_env() -> None:
    async def script(agi: Peer) -> None:
        agi.replies.append(await agi.reader.readline())
        await agi.cmd("ANSWER")

    result, agi = await call(script, hangup=Hangup.after_env())
    assert agi.replies == [b"HANGUP\n", DEAD_NEW]
    assert result.hung_up_by == "caller"


async def test_hangup_when_the_runtime_is_idle() -> None:
    async def script(agi: Peer) -> None:
        await agi.cmd("ANSWER")
        agi.replies.append(await agi.reader.readline())  # arrives while we "call a plugin"
        await agi.cmd("STREAM FILE x 1")

    result, agi = await call(script, hangup=Hangup.when_idle(50))
    assert agi.replies == [b"200 result=0\n", b"HANGUP\n", DEAD_NEW]
    assert result.hung_up_by == "caller"


@pytest.mark.parametrize(
    ("mode", "replies"),
    [
        ("immediate", [b"200 result=-1\nHANGUP\n", DEAD_NEW, b"200 result=0\n"]),
        ("before_next", [b"HANGUP\n200 result=-1\n", DEAD_NEW, b"200 result=0\n"]),
        ("after_next", [b"200 result=-1\n", DEAD_NEW + b"HANGUP\n", b"200 result=0\n"]),
        ("none", [b"200 result=-1\n", DEAD_NEW, b"200 result=0\n"]),
    ],
)
async def test_hangup_notice_placement(mode: str, replies: list[bytes]) -> None:
    async def script(agi: Peer) -> None:
        for line in ("WAIT FOR DIGIT 1000", "ANSWER", "NOOP"):
            await agi.send(line)
            agi.replies.append(await agi.reader.readline())
            if agi.replies[-1] == b"HANGUP\n":
                agi.replies[-1] += await agi.reader.readline()
            elif mode in ("immediate", "after_next") and agi.replies[-1] != b"200 result=0\n":
                with contextlib.suppress(TimeoutError):
                    extra = await asyncio.wait_for(agi.reader.readline(), 0.1)
                    agi.replies[-1] += extra

    _, agi = await call(script, keys=["hangup"], hangup_notice=mode)
    assert agi.replies == replies


async def test_fault_hangup_before_and_after_a_reply() -> None:
    _, agi = await call(
        commands("ANSWER", "GET VARIABLE X", "ANSWER"),
        faults={2: Fault.hangup_before(wording="old")},
        variables={"X": "1"},
    )
    assert agi.replies == [b"200 result=0\n", b"HANGUP\n200 result=1 (1)\n", DEAD_NEW]

    _, agi2 = await call(
        commands("ANSWER", "ANSWER", "ANSWER"),
        faults={2: Fault.hangup_before(wording="old"), 3: Fault.hangup_after()},
    )
    assert agi2.replies == [b"200 result=0\n", b"HANGUP\n" + DEAD_OLD, DEAD_NEW]

    _, agi3 = await call(commands("ANSWER", "NOOP"), faults={"ANSWER": Fault.hangup_after()})
    assert agi3.replies == [b"200 result=0\n", b"HANGUP\n200 result=0\n"]


async def test_live_hangup_interrupts_a_real_time_wait() -> None:
    holder: list[FakeCall] = []

    async def script(agi: Peer) -> None:
        await agi.send("WAIT FOR DIGIT 10000")
        await asyncio.sleep(0.05)
        holder[0].hang_up()
        agi.replies.append(await agi.reply() + await agi.reader.readline())

    async with fastagi(script) as srv:
        fake = FakeCall(srv.port, time_scale=1.0)
        holder.append(fake)
        started = time.monotonic()
        result = await fake.run()
    assert srv.peers[0].replies == [b"200 result=-1\nHANGUP\n"]
    assert time.monotonic() - started < 2
    assert result.hung_up_by == "caller"


# ------------------------------------------------------------------------------------------
# Queue, Dial, VoiceMail


async def test_queue_timeout_continues_with_queuestatus() -> None:
    result, agi = await call(
        commands(
            "EXEC Queue support,,,,5",
            "GET VARIABLE QUEUESTATUS",
            "GET VARIABLE ABANDONED",
            "GET VARIABLE QUEUEWAIT",
        ),
        queue=QueueOutcome("TIMEOUT", hold_s=5),
    )
    assert agi.replies == [
        b"200 result=0\n",
        b"200 result=1 (TIMEOUT)\n",
        b"200 result=1 (TRUE)\n",
        b"200 result=1 (5)\n",
    ]
    assert result.execs == [("Queue", "support,,,,5")]
    assert result.hung_up_by is None


async def test_queue_outcomes() -> None:
    result, agi = await call(
        commands(
            "EXEC Queue support",
            "GET VARIABLE QUEUESTATUS",
            "EXEC Queue support,c",
            "GET VARIABLE QUEUESTATUS",
            "GET VARIABLE MEMBERNAME",
            "EXEC Queue support",
            "GET VARIABLE QUEUESTATUS",
            "STREAM FILE x 1",
        ),
        queue=[
            QueueOutcome("JOINEMPTY"),
            QueueOutcome("ANSWERED", agent="王芳 1002"),
            QueueOutcome("ANSWERED"),
        ],
    )
    assert agi.replies == [
        b"200 result=0\n",
        b"200 result=1 (JOINEMPTY)\n",
        b"200 result=0\n",
        b"200 result=1 (CONTINUE)\n",
        "200 result=1 (王芳 1002)\n".encode(),
        b"200 result=-1\n",  # the agent ended the call, no 'c'
        b"HANGUP\n200 result=1 (CONTINUE)\n",  # still set from before
        DEAD_NEW,
    ]
    assert result.hung_up_by == "agent"


async def test_queue_abandon_leaves_queuestatus_unset() -> None:
    _, agi = await call(
        commands("EXEC Queue support", "GET VARIABLE QUEUESTATUS", "GET VARIABLE ABANDONED"),
        queue=QueueOutcome("ABANDON"),
    )
    assert agi.replies == [b"200 result=-1\n", b"HANGUP\n200 result=0\n", b"200 result=1 (TRUE)\n"]


async def test_dial_and_voicemail_statuses() -> None:
    result, agi = await call(
        commands(
            "EXEC Dial PJSIP/1001,30",
            "GET VARIABLE DIALSTATUS",
            'EXEC Dial "PJSIP/1001,30,g"',
            "GET VARIABLE DIALSTATUS",
            "EXEC VoiceMail 1001@default",
            "GET VARIABLE VMSTATUS",
            "EXEC Dial PJSIP/1001,30",
        ),
        dial=["BUSY", DialOutcome("ANSWER"), DialOutcome("ANSWER")],
        voicemail=VoicemailOutcome("USEREXIT"),
    )
    assert agi.replies == [
        b"200 result=0\n",
        b"200 result=1 (BUSY)\n",
        b"200 result=0\n",
        b"200 result=1 (ANSWER)\n",
        b"200 result=0\n",
        b"200 result=1 (USEREXIT)\n",
        b"200 result=-1\n",
    ]
    assert agi.tail == b"HANGUP\n"
    assert result.hung_up_by == "callee"


async def test_exec_of_unknown_and_dangerous_applications() -> None:
    result, agi = await call(
        commands(
            "EXEC NoSuchApp x",
            'EXEC System "rm -rf /"',
            'EXEC Set "CALLER_TYPE=vip"',
            "EXEC Dial PJSIP/1001 30",  # unquoted: Asterisk only sees "PJSIP/1001"
        ),
        dial="NOANSWER",
    )
    assert agi.replies == [
        b"200 result=-2\n",
        b"200 result=0\n",
        b"200 result=0\n",
        b"200 result=0\n",
    ]
    assert result.assignments == [("CALLER_TYPE", "vip")]
    assert result.execs[-1] == ("Dial", "PJSIP/1001")
    text = "\n".join(result.anomalies)
    assert "does not have: 'NoSuchApp'" in text
    assert "EXEC System" in text
    assert "extra argument" in text


# ------------------------------------------------------------------------------------------
# Bad command lines


async def test_injection_and_bad_bytes_are_flagged() -> None:
    result, agi = await call(
        commands(
            b"ANSWER\r",
            b'STREAM FILE x ""\r',
            b'SET VARIABLE NAME "Zhang" EXEC System "id"',
            b'VERBOSE "unterminated',
            b"VERBOSE \xff\xfe",
            b"ANS\x00WER",
            b'STREAM FILE welcome.wav ""',
        )
    )
    assert agi.replies[0] == b"510 Invalid or unknown command\n"
    assert agi.replies[1] == b"200 result=0 endpos=24000\n"
    assert agi.replies[2].startswith(b"520-")
    flagged = [c.anomalies for c in result.commands]
    assert any("raw CR" in a for a in flagged[0])
    assert any("raw CR" in a for a in flagged[1])
    assert any("extra argument" in a for a in flagged[2])
    assert any("unterminated quote" in a for a in flagged[3])
    assert any("not UTF-8" in a for a in flagged[4])
    assert any("NUL byte" in a for a in flagged[5])
    assert any("file extension" in a for a in flagged[6])
    assert result.commands[1].argv[-1] == "\r"


async def test_a_line_longer_than_agi_buf_len_is_two_commands() -> None:
    long = "VERBOSE " + "x" * 2100

    async def script(agi: Peer) -> None:
        await agi.send(long)
        agi.replies.append(await agi.reply())
        agi.replies.append(await agi.reply())

    result, agi = await call(script)
    assert len(result.commands) == 2
    assert len(result.commands[0].raw) == 2047
    assert agi.replies == [b"200 result=1\n", b"510 Invalid or unknown command\n"]
    assert "AGI_BUF_LEN" in result.anomalies[0]


# ------------------------------------------------------------------------------------------
# Faults


async def test_fault_replies_instead_of_the_real_one() -> None:
    result, agi = await call(
        commands("ANSWER", "ANSWER", "ANSWER", "ANSWER"),
        faults={
            1: Fault.error_503(),
            2: Fault.garbage(b"\xff\xfegarbage\n"),
            3: Fault.raw(b"200 result=0\r\n"),
            ("ANSWER", 4): Fault.usage(),
        },
    )
    assert agi.replies == [
        b"503 result=-2 Memory allocation failure\n",
        b"\xff\xfegarbage\n",
        b"200 result=0\r\n",
        b"520 Invalid command syntax.  Proper usage not available.\n",
    ]
    assert result.faults_applied == ["#1 raw", "#2 garbage", "#3 raw", "#4 usage"]


async def test_fault_rst_resets_the_connection() -> None:
    async def script(agi: Peer) -> None:
        await agi.cmd("ANSWER")
        await agi.send("STREAM FILE x 1")
        with pytest.raises(ConnectionResetError):
            await asyncio.wait_for(agi.reader.read(100), WAIT)

    result, _ = await call(script, faults={"STREAM FILE": Fault.rst()})
    assert result.closed_by == "fake"


async def test_fault_half_line_then_close() -> None:
    async def script(agi: Peer) -> None:
        await agi.send('STREAM FILE x ""')
        agi.replies.append(await agi.rest(WAIT))

    _, agi = await call(commands('STREAM FILE x ""'))
    assert agi.replies == [b"200 result=0 endpos=24000\n"]
    result, agi = await call(script, faults={1: Fault.half_line()})
    assert agi.replies == [b"200 result=0"]
    assert result.closed_by == "fake"


async def test_fault_slow_bytes() -> None:
    async def script(agi: Peer) -> None:
        await agi.send("ANSWER")
        stamps = []
        for _ in range(len(b"200 result=0\n")):
            byte = await asyncio.wait_for(agi.reader.readexactly(1), WAIT)
            stamps.append((byte, time.monotonic()))
        agi.replies.append(b"".join(b for b, _ in stamps))
        assert stamps[-1][1] - stamps[0][1] >= 12 * 0.02 * 0.9

    _, agi = await call(script, faults={"ANSWER": Fault.slow(0.02)})
    assert agi.replies == [b"200 result=0\n"]


async def test_fault_no_reply_and_close() -> None:
    async def script(agi: Peer) -> None:
        await agi.send("ANSWER")
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(agi.reader.readline(), 0.2)
        await agi.cmd("NOOP")
        await agi.send("NOOP")
        agi.replies.append(await agi.rest(WAIT))

    result, agi = await call(script, faults={"ANSWER": Fault.no_reply(), 3: Fault.close()})
    assert agi.replies == [b"200 result=0\n", b""]
    assert result.closed_by == "fake"


async def test_delay_and_playback_time() -> None:
    started = time.monotonic()
    _, agi = await call(commands("ANSWER", "NOOP"), delay_ms=50)
    assert time.monotonic() - started >= 0.1
    started = time.monotonic()
    _, agi = await call(commands('STREAM FILE x ""'), prompts={"x": 3000}, time_scale=0.05)
    assert time.monotonic() - started >= 0.14
    assert agi.replies == [b"200 result=0 endpos=24000\n"]


# ------------------------------------------------------------------------------------------
# Whole calls


async def test_timeouts_and_connection_refused() -> None:
    async def silent(agi: Peer) -> None:
        await agi.rest(1.0)

    result, _ = await call(silent, read_timeout=0.1)
    assert result.error is not None and "no command" in result.error
    assert result.closed_by == "fake"

    async with fastagi(silent) as srv:
        port = srv.port
    refused = await FakeCall(port).run()
    assert refused.error is not None and "connect" in refused.error
    assert refused.agi_status == "FAILURE"


async def test_run_many_and_step_gaps() -> None:
    async def script(agi: Peer) -> None:
        await agi.cmd("ANSWER")
        await agi.cmd(f"SET VARIABLE CALLER {agi.env['agi_callerid']}")
        await agi.cmd("GET DATA menu 3000 1")

    calls = [{"caller": f"1380000{i:04d}", "keys": str(i % 10), "delay_ms": 5} for i in range(60)]
    async with fastagi(script) as srv:
        results = await run_many(srv.port, calls, concurrency=20)
    assert [r.assignments[0][1] for r in results] == [c["caller"] for c in calls]
    assert all(
        r.commands[-1].reply == f"200 result={i % 10}\n".encode() for i, r in enumerate(results)
    )
    assert all(r.error is None for r in results)
    gaps = results[0].step_gaps()
    assert len(gaps) == 2 and all(0 <= g < 1 for g in gaps)


# ------------------------------------------------------------------------------------------
# A tiny AMI client (the runtime's side)


class Ami:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.banner = b""

    @classmethod
    async def connect(cls, port: int, *, rcvbuf: int | None = None) -> Ami:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
        if rcvbuf:
            writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        client = cls(reader, writer)
        client.banner = await asyncio.wait_for(reader.readline(), WAIT)
        return client

    async def send(self, *pairs: tuple[str, str]) -> None:
        self.writer.write("".join(f"{k}: {v}\r\n" for k, v in pairs).encode() + b"\r\n")
        await self.writer.drain()

    async def raw_message(self) -> bytes:
        data = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), WAIT)
        return data

    async def message(self) -> dict[str, str]:
        raw = await self.raw_message()
        out: dict[str, str] = {}
        for line in raw.decode().split("\r\n"):
            key, sep, value = line.partition(": ")
            if sep:
                out.setdefault(key, value)
        return out

    async def response(self) -> dict[str, str]:
        """The next response, skipping events."""
        while True:
            msg = await self.message()
            if "Response" in msg:
                return msg

    async def until(self, event: str) -> dict[str, str]:
        while True:
            msg = await self.message()
            if msg.get("Event") == event:
                return msg

    async def login(
        self, user: str = "ivrflow", secret: str = "ivrflow-secret", **extra: str
    ) -> dict[str, str]:
        await self.send(
            ("Action", "Login"),
            ("ActionID", "1"),
            ("Username", user),
            ("Secret", secret),
            *extra.items(),
        )
        return await self.message()

    async def closed(self) -> bool:
        with contextlib.suppress(ConnectionError):
            while await asyncio.wait_for(self.reader.read(1 << 16), WAIT):
                pass
        return True

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()


@contextlib.asynccontextmanager
async def ami_server(**kw: object) -> AsyncIterator[FakeAmi]:
    kw.setdefault("auth_fail_delay_s", 0.0)
    async with FakeAmi(**kw) as ami:  # type: ignore[arg-type]
        yield ami


@contextlib.asynccontextmanager
async def ami_client(ami: FakeAmi, **kw: object) -> AsyncIterator[Ami]:
    client = await Ami.connect(ami.port, **kw)  # type: ignore[arg-type]
    try:
        yield client
    finally:
        await client.close()


async def test_ami_banner_login_ping_logoff_byte_exact() -> None:
    async with ami_server() as ami, ami_client(ami) as c:
        assert c.banner == b"Asterisk Call Manager/11.0.0\r\n"
        await c.send(
            ("Action", "Login"),
            ("ActionID", "1"),
            ("Username", "ivrflow"),
            ("Secret", "ivrflow-secret"),
        )
        assert await c.raw_message() == (
            b"Response: Success\r\nActionID: 1\r\nMessage: Authentication accepted\r\n\r\n"
        )
        booted = await c.raw_message()
        assert booted.startswith(b"Event: FullyBooted\r\nPrivilege: system,all\r\nUptime: ")
        assert booted.endswith(b"Status: Fully Booted\r\n\r\n")
        await c.send(("Action", "Ping"), ("ActionID", "p1"))
        ping = await c.raw_message()
        assert ping.startswith(b"Response: Success\r\nActionID: p1\r\nPing: Pong\r\nTimestamp: ")
        await c.send(("Action", "Ping"))
        assert (await c.raw_message()).startswith(b"Response: Success\r\nPing: Pong\r\n")
        await c.send(("Action", "Logoff"), ("ActionID", "bye"))
        assert await c.raw_message() == (
            b"Response: Goodbye\r\nActionID: bye\r\nMessage: Thanks for all the fish.\r\n\r\n"
        )
        assert await c.closed()
        assert [m.action for m in ami.actions] == ["Login", "Ping", "Ping", "Logoff"]


async def test_ami_errors_before_and_after_login() -> None:
    async with ami_server() as ami, ami_client(ami) as c:
        await c.send(("Action", "Ping"), ("ActionID", "early"))
        assert (
            await c.raw_message()
            == b"Response: Error\r\nActionID: early\r\nMessage: Permission denied\r\n\r\n"
        )
        await c.login(Events="off")
        await c.send(("Action", "CoreShowChannelz"))
        assert await c.raw_message() == (
            b"Response: Error\r\nMessage: Invalid/unknown command: CoreShowChannelz. Use Action:"
            b" ListCommands to show available commands.\r\n\r\n"
        )
        await c.send(("ActionID", "x"))
        assert (
            await c.raw_message()
            == b"Response: Error\r\nActionID: x\r\nMessage: Missing action in request\r\n\r\n"
        )
        await c.send(("Action", "PlayDTMF"), ("Channel", "PJSIP/nobody-00000001"), ("Digit", "1"))
        assert await c.message() == {"Response": "Error", "Message": "Channel not found"}


async def test_ami_bad_secret_is_refused_and_disconnected() -> None:
    async with ami_server() as ami, ami_client(ami) as c:
        reply = await c.login(secret="wrong")
        assert reply == {"Response": "Error", "ActionID": "1", "Message": "Authentication failed"}
        assert await c.closed()
    async with ami_server(login_fails=True) as ami, ami_client(ami) as c:
        assert (await c.login())["Message"] == "Authentication failed"


async def test_ami_md5_challenge_login() -> None:
    async with ami_server(secret="s3cret") as ami, ami_client(ami) as c:
        await c.send(("Action", "Challenge"), ("AuthType", "MD5"))
        challenge = (await c.message())["Challenge"]
        key = hashlib.md5((challenge + "s3cret").encode()).hexdigest()
        await c.send(
            ("Action", "Login"),
            ("AuthType", "MD5"),
            ("Username", "ivrflow"),
            ("Key", key),
            ("Events", "off"),
        )
        assert (await c.message())["Message"] == "Authentication accepted"


async def test_ami_auth_timeout_closes_an_idle_client() -> None:
    async with ami_server(auth_timeout_s=0.1) as ami, ami_client(ami) as c:
        assert await c.closed()


async def test_ami_event_mask_and_read_rights() -> None:
    users = {"full": AmiUser("a"), "calls": AmiUser("b", read="call", write="originate")}
    async with ami_server(users=users) as ami, ami_client(ami) as full, ami_client(ami) as calls:
        await full.login("full", "a", Events="off")
        await calls.login("calls", "b", Events="on")
        await full.send(("Action", "Events"), ("EventMask", "agent,call"), ("ActionID", "e"))
        assert await full.raw_message() == b"Response: Success\r\nActionID: e\r\nEvents: On\r\n\r\n"
        assert await ami.emit("QueueCallerJoin", {"Queue": "support"}, "agent") == 1
        assert await ami.emit("DTMFEnd", {"Digit": "1"}, "dtmf") == 0
        assert await ami.emit("Hangup", [("Channel", "PJSIP/x-00000001"), ("Cause", "16")]) == 2
        assert (await full.message())["Event"] == "QueueCallerJoin"
        assert await full.raw_message() == (
            b"Event: Hangup\r\nPrivilege: call,all\r\n"
            b"Channel: PJSIP/x-00000001\r\nCause: 16\r\n\r\n"
        )
        assert (await calls.message())["Event"] == "Hangup"
        await calls.send(("Action", "Events"), ("EventMask", "off"))
        assert (await calls.message())["Events"] == "Off"
        assert await ami.emit("Hangup", {"Channel": "PJSIP/y-00000002"}) == 1
        await calls.send(("Action", "Hangup"), ("Channel", "PJSIP/x"))
        assert (await calls.message())["Message"] == "Permission denied"


async def test_ami_queue_status_and_summary() -> None:
    queues = {"support": [("agent-1001", "PJSIP/1001")], "loans": []}
    async with ami_server(queues=queues) as ami, ami_client(ami) as c:
        await c.login(Events="off")
        await c.send(("Action", "QueueStatus"), ("ActionID", "q"))
        assert await c.raw_message() == (
            b"Response: Success\r\nActionID: q\r\nEventList: start\r\n"
            b"Message: Queue status will follow\r\n\r\n"
        )
        names = []
        while True:
            msg = await c.message()
            names.append(msg["Event"])
            if msg["Event"] == "QueueStatusComplete":
                break
        assert names == ["QueueParams", "QueueMember", "QueueParams", "QueueStatusComplete"]
        assert msg == {
            "Event": "QueueStatusComplete",
            "ActionID": "q",
            "EventList": "Complete",
            "ListItems": "3",
        }
        await c.send(("Action", "QueueSummary"), ("Queue", "support"))
        assert (await c.message())["Message"] == "Queue summary will follow"
        summary = await c.message()
        assert summary["Event"] == "QueueSummary" and summary["LoggedIn"] == "1"
        assert (await c.message())["ListItems"] == "1"


async def test_ami_queue_member_status_item_and_member_filter() -> None:
    queues = {
        "consult": [
            AmiQueueMember("Agent 8001", "PJSIP/8001", login_time=1700000000),
            AmiQueueMember(
                "Agent 8002", "PJSIP/8002", paused=True, paused_reason="lunch", login_time=1
            ),
        ]
    }
    async with ami_server(queues=queues) as ami, ami_client(ami) as c:
        await c.login(Events="off")
        await c.send(("Action", "QueueStatus"), ("Queue", "CONSULT"), ("Member", "PJSIP/8002"))
        assert (await c.message())["EventList"] == "start"
        assert (await c.message())["Event"] == "QueueParams"  # queue names: strcasecmp
        # manager_queues_status(): Name/Location (not MemberName/Interface), no Ringinuse
        assert await c.raw_message() == (
            b"Event: QueueMember\r\nQueue: consult\r\nName: Agent 8002\r\n"
            b"Location: PJSIP/8002\r\nStateInterface: PJSIP/8002\r\nMembership: static\r\n"
            b"Penalty: 0\r\nCallsTaken: 0\r\nLastCall: 0\r\nLastPause: 0\r\n"
            b"LoginTime: 1\r\nInCall: 0\r\nStatus: 1\r\nPaused: 1\r\n"
            b"PausedReason: lunch\r\nWrapuptime: 0\r\n\r\n"
        )
        assert (await c.message())["ListItems"] == "2"
        await c.send(("Action", "QueueSummary"))
        await c.message()
        summary = await c.message()
        assert (summary["LoggedIn"], summary["Available"]) == ("2", "1")  # paused: not available


async def test_ami_queue_member_events_as_app_queue_sends_them() -> None:
    queues = {"consult": [("Agent 8001", "PJSIP/8001")], "complaints": [("A1", "PJSIP/8001")]}
    async with ami_server(queues=queues) as ami, ami_client(ami) as c:
        await c.login(Events="off")
        await c.send(("Action", "Events"), ("EventMask", "agent"))
        await c.message()
        # PauseQueueMember without a queue: one QueueMemberPause per queue
        assert await ami.pause_member("pjsip/8001", reason="break") == 2
        pause = await c.raw_message()
        assert pause.startswith(
            b"Event: QueueMemberPause\r\nPrivilege: agent,all\r\nQueue: consult\r\n"
            b"MemberName: Agent 8001\r\nInterface: PJSIP/8001\r\n"
            b"StateInterface: PJSIP/8001\r\nMembership: static\r\n"
        )
        assert b"\r\nPaused: 1\r\nPausedReason: break\r\nRinginuse: 1\r\n" in pause
        assert pause.endswith(b"Wrapuptime: 0\r\n\r\n")
        assert (await c.message())["Queue"] == "complaints"
        assert ami.find_member("consult", "PJSIP/8001").paused
        assert await ami.add_member("consult", "PJSIP/8002", "Agent 8002")
        added = await c.message()
        assert (added["Event"], added["Membership"], added["Paused"]) == (
            "QueueMemberAdded",
            "dynamic",
            "0",
        )
        assert not await ami.add_member("consult", "PJSIP/8002")  # already a member
        assert not await ami.add_member("nosuch", "PJSIP/8002")
        assert await ami.set_member_status("PJSIP/8002", 2, in_call=True) == 1
        status = await c.message()
        assert (status["Event"], status["Status"], status["InCall"]) == (
            "QueueMemberStatus",
            "2",
            "1",
        )
        assert await ami.set_member_status("PJSIP/8002", 2) == 0  # no change, no event
        assert await ami.remove_member("consult", "PJSIP/8002")
        removed = await c.message()
        assert (removed["Event"], removed["Interface"]) == ("QueueMemberRemoved", "PJSIP/8002")
        assert ami.find_member("consult", "PJSIP/8002") is None
        assert not await ami.remove_member("consult", "PJSIP/8002")


# ------------------------------------------------------------------------------------------
# AMI and AGI together


async def test_queue_life_cycle_events_in_asterisk_order() -> None:
    async with ami_server() as ami, ami_client(ami) as c:
        await c.login(Events="off")
        await c.send(("Action", "Events"), ("EventMask", "agent"))
        await c.message()

        async def script(agi: Peer) -> None:
            await agi.cmd("ANSWER")
            await agi.cmd("EXEC Queue support,,,,5")
            await agi.cmd("EXEC Queue support")
            agi.tail = await agi.rest(0.05)

        result, agi = await call(
            script,
            ami=ami,
            queue=[
                QueueOutcome("TIMEOUT", ring_no_answer=1),
                QueueOutcome("ANSWERED", agent="agent-1001"),
            ],
        )
        events = [await c.message() for _ in range(10)]
    assert [e["Event"] for e in events] == [
        "QueueCallerJoin",
        "AgentCalled",
        "AgentRingNoAnswer",
        "QueueCallerAbandon",  # also on a plain timeout
        "QueueCallerLeave",
        "QueueCallerJoin",
        "AgentCalled",
        "QueueCallerLeave",
        "AgentConnect",
        "AgentComplete",
    ]
    uid = agi.env["agi_uniqueid"]
    assert all(e["Uniqueid"] == uid and e["Linkedid"] == uid for e in events)
    assert all(e["Queue"] == "support" and e["Channel"] == agi.env["agi_channel"] for e in events)
    connect, complete = events[8], events[9]
    assert connect["MemberName"] == "agent-1001" and connect["Interface"] == "PJSIP/1001"
    assert connect["DestChannel"].startswith("PJSIP/1001-")
    assert complete["TalkTime"] == "90" and complete["Reason"] == "agent"
    assert events[3]["HoldTime"] == "12" and events[3]["OriginalPosition"] == "1"
    assert agi.replies == [b"200 result=0\n", b"200 result=0\n", b"200 result=-1\n"]
    assert agi.tail == b"HANGUP\n"
    assert result.hung_up_by == "agent"


async def test_originate_local_channel_into_fastagi_and_play_dtmf() -> None:
    async def script(agi: Peer) -> None:
        await agi.cmd("ANSWER")
        await agi.cmd("WAIT FOR DIGIT 5000")
        await agi.cmd("HANGUP")

    async with fastagi(script) as srv, ami_server() as ami:
        ami.originate_hook = lambda info: FakeCall(srv.port, entry="12329", time_scale=1.0)
        async with ami_client(ami) as c:
            await c.login(Events="on")
            await c.until("FullyBooted")
            await c.send(
                ("Action", "Originate"),
                ("ActionID", "o1"),
                ("Channel", "Local/s@ivr-entry"),
                ("Application", "Wait"),
                ("Data", "60"),
                ("CallerID", '"Test" <13800001111>'),
                ("Async", "true"),
            )
            assert await c.raw_message() == (
                b"Response: Success\r\nActionID: o1\r\n"
                b"Message: Originate successfully queued\r\n\r\n"
            )
            response = await c.until("OriginateResponse")
            assert response["ActionID"] == "o1"
            assert response["Response"] == "Success" and response["Reason"] == "4"
            assert response["Application"] == "Wait" and response["Data"] == "60"
            one = response["Channel"]
            assert one.startswith("Local/s@ivr-entry-") and one.endswith(";1")
            await c.send(
                ("Action", "PlayDTMF"), ("Channel", one), ("Digit", "58"), ("ActionID", "d")
            )
            while (msg := await c.message()).get("ActionID") != "d":
                pass
            assert msg == {
                "Response": "Success",
                "ActionID": "d",
                "Message": "DTMF successfully queued",
            }
            await c.until("Hangup")
            origin = ami.originated[0]
            assert origin.task is not None
            await origin.task
    agi = srv.peers[0]
    assert agi.env["agi_channel"] == one[:-1] + "2"
    assert agi.env["agi_callerid"] == "13800001111" and agi.env["agi_calleridname"] == "Test"
    assert agi.env["agi_context"] == "ivr-entry" and agi.env["agi_extension"] == "s"
    assert agi.replies == [b"200 result=0\n", b"200 result=53\n", b"200 result=1\n"]
    assert origin.result is not None and origin.result.hung_up_by == "runtime"
    assert ami.dtmf == [(one, "5", True)]


async def test_originate_failure_and_ami_hangup() -> None:
    async def script(agi: Peer) -> None:
        await agi.cmd("ANSWER")
        agi.replies.append(await agi.reader.readline())
        await agi.cmd("STREAM FILE x 1")

    async with fastagi(script) as srv, ami_server() as ami, ami_client(ami) as c:
        ami.originate_hook = lambda info: 5 if "busy" in info.channel else FakeCall(srv.port)
        await c.login(Events="on")
        await c.send(
            ("Action", "Originate"),
            ("Channel", "PJSIP/busy"),
            ("Application", "Wait"),
            ("Async", "yes"),
        )
        assert (await c.response())["Response"] == "Success"
        failed = await c.until("OriginateResponse")
        assert failed["Response"] == "Failure" and failed["Reason"] == "5"
        await c.send(
            ("Action", "Originate"),
            ("Channel", "Local/s@ivr-entry"),
            ("Application", "Wait"),
            ("Async", "1"),
        )
        await c.until("OriginateResponse")
        two = ami.originated[1].name2
        await c.send(("Action", "Hangup"), ("Channel", two))
        msg = await c.response()
        assert msg["Message"] == "Channel Hungup"
        await c.send(("Action", "Hangup"), ("Channel", "PJSIP/nobody"))
        msg = await c.response()
        assert msg["Message"] == "No such channel"
        task = ami.originated[1].task
        assert task is not None
        await task
        await c.send(("Action", "Originate"), ("Application", "Wait"))
        msg = await c.response()
        assert msg["Message"] == "Channel not specified"
    assert srv.peers[0].replies == [b"200 result=0\n", b"HANGUP\n", DEAD_NEW]


async def test_burst_of_10k_events_reaches_a_reading_client() -> None:
    async with ami_server(write_timeout_ms=2000) as ami, ami_client(ami) as c:
        await c.login(Events="off")
        await c.send(("Action", "Events"), ("EventMask", "call"))
        await c.message()
        received = 0

        async def reader() -> None:
            nonlocal received
            while received < 10_000:
                if (await c.message()).get("Event") == "Newstate":
                    received += 1

        task = asyncio.ensure_future(reader())
        assert await ami.burst(10_000) == 1
        await asyncio.wait_for(task, 30)
    assert received == 10_000
    assert ami.dropped == []


async def test_a_client_that_stops_reading_is_dropped() -> None:
    async with (
        ami_server(sndbuf=4096, write_timeout_ms=100) as ami,
        ami_client(ami, rcvbuf=4096) as c,
    ):
        await c.login(Events="on")
        started = time.monotonic()
        assert await ami.burst(10_000) == 0
        assert time.monotonic() - started < 5
        assert len(ami.dropped) == 1 and "100 ms" in ami.dropped[0][1]
        assert await c.closed()
        assert ami.sessions == []


async def test_garbled_and_partial_events_then_restart() -> None:
    async with ami_server() as ami:
        async with ami_client(ami) as c:
            await c.login(Events="on")
            await c.until("FullyBooted")
            expected = b"".join(GARBLED_EVENTS)
            reading = asyncio.ensure_future(c.reader.readexactly(len(expected)))
            for blob in GARBLED_EVENTS:
                assert await ami.emit_raw(blob) == 1
            assert await asyncio.wait_for(reading, WAIT) == expected
            await ami.emit_raw(PARTIAL_EVENT)
            await ami.disconnect_all()
            assert await asyncio.wait_for(c.reader.read(), WAIT) == PARTIAL_EVENT
        async with ami_client(ami) as c:
            await c.login(Events="on")
            await c.until("FullyBooted")
            await ami.restart(down_for=0.05)
            shutdown = await c.message()
            assert shutdown == {
                "Event": "Shutdown",
                "Privilege": "system,all",
                "Shutdown": "Cleanly",
                "Restart": "True",
            }
            assert await c.closed()
        async with ami_client(ami) as c:
            assert c.banner == b"Asterisk Call Manager/11.0.0\r\n"
            assert (await c.login())["Message"] == "Authentication accepted"


async def test_synchronous_originate_answers_after_the_call() -> None:
    async with ami_server() as ami, ami_client(ami) as c:
        ami.originate_hook = lambda info: 3 if info.channel.endswith("/2000") else None
        await c.login(Events="off")
        await c.send(("Action", "Originate"), ("Channel", "PJSIP/1000"), ("Application", "Wait"))
        assert await c.message() == {
            "Response": "Success",
            "Message": "Originate successfully queued",
        }
        await c.send(
            ("Action", "Originate"),
            ("Channel", "PJSIP/2000"),
            ("Context", "ivr-entry"),
            ("Exten", "s"),
            ("Priority", "1"),
            ("ActionID", "s2"),
        )
        assert await c.message() == {
            "Response": "Error",
            "ActionID": "s2",
            "Message": "Originate failed",
        }
        await c.send(("Action", "Originate"), ("Channel", "PJSIP/3000"), ("Exten", "s"))
        assert (await c.message())["Message"] == (
            "Originate with 'Exten' requires 'Context' and 'Priority'"
        )
        await c.send(("Action", "Originate"), ("Channel", "nonsense"), ("Application", "Wait"))
        assert (await c.message())["Message"] == "Invalid channel"
    assert [o.reason for o in ami.originated] == [4, 3]


# ------------------------------------------------------------------------------------------
# Sticky agent: device state and a directly dialled agent


async def test_device_state_and_a_directly_dialled_agent() -> None:
    result, agi = await call(
        commands(
            'GET FULL VARIABLE "${DEVICE_STATE(PJSIP/8001)}"',
            'GET FULL VARIABLE "${DEVICE_STATE(pjsip/8002)}"',
            'GET FULL VARIABLE "${DEVICE_STATE(PJSIP/9999)}"',
            'EXEC Dial "PJSIP/8001,15,gb(ivrflow-agent-predial^s^1)U(ivrflow-agent-connect)"',
            "GET VARIABLE DIALSTATUS",
            "GET VARIABLE ANSWEREDTIME",
            "GET VARIABLE DIALEDTIME",
            'EXEC Dial "PJSIP/8002,15,g"',
            "GET VARIABLE DIALSTATUS",
        ),
        devices={"PJSIP/8001": "NOT_INUSE", "PJSIP/8002": "INUSE"},
        dial=[DialOutcome("ANSWER", ring_s=4, talk_s=60), DialOutcome("NOANSWER")],
    )
    assert agi.replies == [
        b"200 result=1 (NOT_INUSE)\n",
        b"200 result=1 (INUSE)\n",  # the technology matches without regard to case
        b"200 result=1 (INVALID)\n",  # a device Asterisk does not know
        b"200 result=0\n",  # answered; the agent hung up, `g`: the caller goes on
        b"200 result=1 (ANSWER)\n",
        b"200 result=1 (60)\n",
        b"200 result=1 (64)\n",
        b"200 result=0\n",
        b"200 result=1 (NOANSWER)\n",
    ]
    assert [app for app, _ in result.execs] == ["Dial", "Dial"]
