"""A fake Asterisk 22 for tests and benchmarks: FastAGI and AMI wire protocols over real sockets.

Asterisk is not packaged for Debian 12, so CI cannot run it. This module plays its part:

* :class:`FakeCall` is Asterisk running ``AGI(agi://127.0.0.1:4573/ENTRY)`` on one channel: it
  connects to a FastAGI server, sends the ``agi_*`` environment exactly as ``res_agi.c`` does
  (``agi_network`` and ``agi_network_script`` first, then ``setup_env()``'s lines, then a blank
  line) and answers every command the way Asterisk 22 does, driven by a script of the caller
  (keys, hang-up point, queue/dial/voicemail/record outcomes, delays, missing prompts) and by
  injected faults (RST, half line, slow bytes, garbage, 503, unsolicited ``HANGUP`` placement,
  CRLF). Everything it saw is kept in a :class:`CallResult`.
* :class:`FakeAmi` is the Asterisk Manager Interface: banner, Login/Challenge, Ping, Events,
  Logoff, Originate (optionally starting a :class:`FakeCall` into the runtime like a ``Local``
  channel running the AGI dialplan), PlayDTMF, Hangup, QueueStatus/QueueSummary, scripted events
  (the queue life cycle in Asterisk's order), bursts, garbled events, restarts, and dropping a
  client that stops reading (Asterisk's ``writetimeout``, 100 ms by default).

Reply texts, argument parsing, dead-channel rules and the AMI message layout follow
``../shared/design/pitfalls.md`` (measured on Asterisk 22) and, where pitfalls.md is silent,
Asterisk's own sources (``res/res_agi.c``, ``main/manager.c``, ``apps/app_queue.c``,
``apps/app_playback.c``, ``apps/app_senddtmf.c``).

Nothing here imports ivrflow: the fake must stay an independent witness of the runtime.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import inspect
import itertools
import random
import re
import socket
import struct
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "AGI_BUF_LEN",
    "AMI_VERSION",
    "ASTERISK_VERSION",
    "GARBLED_EVENTS",
    "PARTIAL_EVENT",
    "AgiCommand",
    "AmiChannel",
    "AmiEvent",
    "AmiMessage",
    "AmiQueueMember",
    "AmiUser",
    "CallResult",
    "DialOutcome",
    "FakeAmi",
    "FakeCall",
    "Fault",
    "Hangup",
    "Key",
    "Originated",
    "QueueOutcome",
    "RecordOutcome",
    "VoicemailOutcome",
    "agi_quote",
    "find_agi_command",
    "parse_agi_args",
    "queue_events",
    "run_many",
]

ASTERISK_VERSION = "22.1.0"
AMI_VERSION = "11.0.0"  # what Asterisk 22 announces in its banner (master says 13.0.0)
AGI_BUF_LEN = 2048  # res_agi.c: a command line longer than AGI_BUF_LEN - 1 is cut in two
MAX_ARGS = 128  # res_agi.c parse_args()

DEAD_WORDING = {
    "new": "511 Command Not Permitted on a dead channel or intercept routine",
    "old": "511 Command Not Permitted on a dead channel",
}
REPLY_510 = "510 Invalid or unknown command"
REPLY_503 = "503 result=-2 Memory allocation failure"
NO_USAGE_520 = "520 Invalid command syntax.  Proper usage not available."

# AST_STATE_* and ast_state2str()
STATE_RING = 4
STATE_UP = 6
STATE_NAMES = {
    0: "Down",
    1: "Rsrvd",
    2: "OffHook",
    3: "Dialing",
    4: "Ring",
    5: "Ringing",
    6: "Up",
    7: "Busy",
    8: "Dialing Offhook",
    9: "Pre-ring",
}

# ------------------------------------------------------------------------------------------
# AGI command table: res_agi.c's commands[] in registration order (find_command() takes the
# first entry whose words prefix the line), then app_stack's "gosub". The flag is the
# "dead" column: may the command run on a hung-up channel (else 511)?
_AGI_TABLE: tuple[tuple[str, bool], ...] = (
    ("answer", False),
    ("asyncagi break", True),
    ("channel status", False),
    ("database del", True),
    ("database deltree", True),
    ("database get", True),
    ("database put", True),
    ("exec", True),
    ("get data", False),
    ("get full variable", True),
    ("get option", False),
    ("get variable", True),
    ("hangup", False),
    ("noop", True),
    ("receive char", False),
    ("receive text", False),
    ("record file", False),
    ("say alpha", False),
    ("say digits", False),
    ("say number", False),
    ("say phonetic", False),
    ("say date", False),
    ("say time", False),
    ("say datetime", False),
    ("send image", False),
    ("send text", False),
    ("set autohangup", False),
    ("set callerid", False),
    ("set context", False),
    ("set extension", False),
    ("set music", False),
    ("set priority", False),
    ("set variable", True),
    ("stream file", False),
    ("control stream file", False),
    ("tdd mode", False),
    ("verbose", True),
    ("wait for digit", False),
    ("speech create", False),
    ("speech set", False),
    ("speech destroy", True),
    ("speech load grammar", False),
    ("speech unload grammar", True),
    ("speech activate grammar", False),
    ("speech deactivate grammar", False),
    ("speech recognize", False),
    ("gosub", False),
)
# No command's words are a prefix of another command's, so the first match of find_command()
# is the only one: a dict keyed by the lower-case words finds it.
_AGI_BY_WORDS = {
    tuple(w.encode() for w in _words.split()): (_words.upper(), _dead)
    for _words, _dead in _AGI_TABLE
}

# The most arguments (argv[0] included) each emulated command reads; more is a sign of a
# value that broke out of its quotes.
_MAX_ARGC = {
    "ANSWER": 1,
    "CHANNEL STATUS": 3,
    "EXEC": 3,
    "GET DATA": 5,
    "GET FULL VARIABLE": 5,
    "GET OPTION": 5,
    "GET VARIABLE": 3,
    "HANGUP": 2,
    "RECORD FILE": 9,
    "SAY ALPHA": 5,
    "SAY DIGITS": 4,
    "SAY NUMBER": 5,
    "SET MUSIC": 4,
    "SET VARIABLE": 4,
    "STREAM FILE": 5,
    "VERBOSE": 3,
    "WAIT FOR DIGIT": 4,
}

# Usage text sent inside a 520 block: the command's XML <description> rendered the way
# main/xmldoc.c builds agi_command.usage (tags kept, one line per <para>).
_USAGE = {
    "CHANNEL STATUS": "Returns the status of the specified <replaceable>channelname</replaceable>."
    " If no channel name is given then returns the status of the current channel.\n"
    "Return values:\n"
    "    <enum>0</enum> - Channel is down and available.\n"
    "    <enum>1</enum> - Channel is down, but reserved.\n"
    "    <enum>2</enum> - Channel is off hook.\n"
    "    <enum>3</enum> - Digits (or equivalent) have been dialed.\n"
    "    <enum>4</enum> - Line is ringing.\n"
    "    <enum>5</enum> - Remote end is ringing.\n"
    "    <enum>6</enum> - Line is up.\n"
    "    <enum>7</enum> - Line is busy.",
    "EXEC": "Executes <replaceable>application</replaceable> with given"
    " <replaceable>options</replaceable>.\n"
    "Returns whatever the <replaceable>application</replaceable> returns, or <literal>-2</literal>"
    " on failure to find <replaceable>application</replaceable>.\n"
    "<note>NOTE:</note> exec does not evaluate dialplan functions and variables unless it is"
    " explicitly enabled by setting the <variable>AGIEXECFULL</variable> variable to"
    " <literal>yes</literal>.",
    "GET DATA": "Stream the given <replaceable>file</replaceable>, and receive DTMF data.\n"
    "Returns the digits received from the channel at the other end.",
    "GET FULL VARIABLE": "Evaluates the given <replaceable>expression</replaceable> against the"
    " channel specified by <replaceable>channelname</replaceable>, or the current channel if"
    " <replaceable>channelname</replaceable> is not provided.\n"
    "Unlike GET VARIABLE, the <replaceable>expression</replaceable> is processed in a manner"
    " similar to dialplan evaluation, allowing complex and built-in variables to be accessed,"
    " e.g. <literal>The time is ${EPOCH}</literal>\n"
    "Returns <literal>0</literal> if no channel matching <replaceable>channelname</replaceable>"
    " exists, <literal>1</literal> otherwise.\n"
    "Example return code: 200 result=1 (The time is 1578493800)",
    "GET OPTION": "Behaves similar to STREAM FILE but used with a timeout option.",
    "GET VARIABLE": "Returns <literal>0</literal> if <replaceable>variablename</replaceable> is"
    " not set. Returns <literal>1</literal> if <replaceable>variablename</replaceable> is set"
    " and returns the variable in parentheses.\n"
    "Example return code: 200 result=1 (testvariable)",
    "HANGUP": "Hangs up the specified channel. If no channel name is given, hangs up the"
    " current channel",
    "RECORD FILE": "Record to a file until a given dtmf digit in the sequence is received."
    " Returns <literal>-1</literal> on hangup or error.  The format will specify what kind of"
    " file will be recorded. The <replaceable>timeout</replaceable> is the maximum record time"
    " in milliseconds, or <literal>-1</literal> for no <replaceable>timeout</replaceable>."
    " <replaceable>offset samples</replaceable> is optional, and, if provided, will seek to"
    " the offset without exceeding the end of the file. <replaceable>beep</replaceable> can"
    " take any value, and causes Asterisk to play a beep to the channel that is about to be"
    " recorded. <replaceable>silence</replaceable> is the number of seconds of silence allowed"
    " before the function returns despite the lack of dtmf digits or reaching"
    " <replaceable>timeout</replaceable>. <replaceable>silence</replaceable> value must be"
    " preceded by <literal>s=</literal> and is also optional.",
    "SAY ALPHA": "Say a given character string, returning early if any of the given DTMF"
    " digits are received on the channel.",
    "SAY DIGITS": "Say a given digit string, returning early if any of the given DTMF digits"
    " are received on the channel. Returns <literal>0</literal> if playback completes without"
    " a digit being pressed, or the ASCII numerical value of the digit if one was pressed or"
    " <literal>-1</literal> on error/hangup.",
    "SAY NUMBER": "Say a given number, returning early if any of the given DTMF digits are"
    " received on the channel.  Returns <literal>0</literal> if playback completes without a"
    " digit being pressed, or the ASCII numerical value of the digit if one was pressed or"
    " <literal>-1</literal> on error/hangup.",
    "SET MUSIC": "Enables/Disables the music on hold generator. If"
    " <replaceable>class</replaceable> is not specified, then the <literal>default</literal>"
    " music on hold class will be used. This generator will be stopped automatically when"
    " playing a file.\nAlways returns <literal>0</literal>.",
    "SET VARIABLE": "Sets a variable to the current channel.",
    "STREAM FILE": "Send the given file, allowing playback to be interrupted by the given"
    " digits, if any. Returns <literal>0</literal> if playback completes without a digit being"
    " pressed, or the ASCII numerical value of the digit if one was pressed, or"
    " <literal>-1</literal> on error or if the channel was disconnected. If musiconhold is"
    " playing before calling stream file it will be automatically stopped and will not be"
    " restarted after completion.\n"
    "It sets the following channel variables upon completion:\n"
    "<variable>PLAYBACKSTATUS</variable>: The status of the playback attempt as a text string.\n"
    "    <value>SUCCESS</value>\n"
    "    <value>FAILED</value>",
    "VERBOSE": "Sends <replaceable>message</replaceable> to the console via verbose message"
    " system. <replaceable>level</replaceable> is the verbose level (1-4). Always returns"
    " <literal>1</literal>",
    "WAIT FOR DIGIT": "Waits up to <replaceable>timeout</replaceable> milliseconds for channel"
    " to receive a DTMF digit. Returns <literal>-1</literal> on channel failure,"
    " <literal>0</literal> if no digit is received in the timeout, or the numerical value of"
    " the ascii of the digit if one is received. Use <literal>-1</literal> for the"
    " <replaceable>timeout</replaceable> value if you desire the call to block indefinitely.",
}

# Dialplan applications this fake Asterisk has loaded (pbx_findapp() is case-insensitive);
# EXEC of anything else answers "200 result=-2".
# fmt: off
KNOWN_APPS = {a.lower(): a for a in (
    "AGI", "Answer", "Background", "Busy", "ChanSpy", "Congestion", "ConfBridge", "Dial", "Echo",
    "ExecIf", "Gosub", "GosubIf", "Goto", "GotoIf", "Hangup", "Log", "MixMonitor", "MusicOnHold",
    "NoOp", "Playback", "PlayTones", "Progress", "Queue", "QueueLog", "Read", "Record", "Ringing",
    "SayAlpha", "SayDigits", "SayNumber", "SendDTMF", "Set", "StopMixMonitor", "StopPlayTones",
    "System", "Transfer", "TrySystem", "UserEvent", "Verbose", "VoiceMail", "VoiceMailMain",
    "Wait", "WaitExten", "WaitForSilence",
)}
# fmt: on
DANGEROUS_APPS = {"system", "trysystem"}
# fmt: off
_MEDIA_APPS = {
    "background", "dial", "echo", "musiconhold", "playback", "playtones", "queue", "read",
    "record", "saydigits", "saynumber", "sayalpha", "voicemail", "voicemailmain", "wait",
    "waitexten", "waitforsilence",
}
# fmt: on
QUEUE_STATUSES = (
    "TIMEOUT",
    "FULL",
    "JOINEMPTY",
    "LEAVEEMPTY",
    "JOINUNAVAIL",
    "LEAVEUNAVAIL",
    "CONTINUE",
    "WITHDRAW",
)  # fmt: skip
DIAL_STATUSES = ("ANSWER", "BUSY", "NOANSWER", "CANCEL", "CONGESTION", "CHANUNAVAIL", "DONTCALL",
                 "TORTURE", "INVALIDARGS")  # fmt: skip
HANGUP_CAUSES = {16: "Normal Clearing", 17: "User busy", 19: "No answer", 21: "Call Rejected"}

_seq = itertools.count(1)
_INT = re.compile(r"\s*([+-]?\d+)")


def _sscanf_int(text: str) -> int | None:
    """``sscanf(text, "%30d")``: leading blanks, a sign, digits; None when nothing matched."""
    m = _INT.match(text)
    return int(m.group(1)) if m else None


def _atoi(text: str) -> int:
    return _sscanf_int(text) or 0


# ------------------------------------------------------------------------------------------
# AGI argument parsing


def parse_agi_args(line: str) -> list[str]:
    """Split an AGI command line exactly like ``parse_args()`` in res_agi.c.

    Spaces and tabs separate arguments unless quoted or escaped; ``"`` toggles quoting (an
    opening quote after whitespace starts an argument, so ``""`` is an empty argument);
    a backslash makes the next character literal (``\\"`` → ``"``, ``\\\\`` → ``\\``,
    ``\\n`` → ``n``); CR and other control characters are ordinary characters.
    """
    return _parse(line)[0]


_BLANKS = re.compile(r"[ \t]+")


def _parse(line: str) -> tuple[list[str], bool]:
    """parse_agi_args() and whether a quote was left open."""
    if '"' not in line and "\\" not in line:  # the common case, in one C-speed step
        return [a for a in _BLANKS.split(line) if a][: MAX_ARGS - 1], False
    argv: list[list[str]] = []
    quoted = escaped = False
    whitespace = True
    for ch in line:
        if ch == '"' and not escaped:
            quoted = not quoted
            if quoted and whitespace:
                argv.append([])
                whitespace = False
            continue
        if ch in " \t" and not quoted and not escaped:
            whitespace = True
            continue
        if ch == "\\" and not escaped:
            escaped = True
            continue
        if whitespace:
            if len(argv) >= MAX_ARGS - 1:  # "Too many arguments, truncating"
                continue
            argv.append([])
            whitespace = False
        argv[-1].append(ch)
        escaped = False
    return ["".join(a) for a in argv], quoted


def agi_quote(value: str) -> str:
    """Quote a value the way a correct AGI client must: ``"…"`` with ``\\`` and ``"`` escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def find_agi_command(argv: Sequence[str]) -> tuple[str, bool] | None:
    """``find_command(argv, 0)``: the command whose words prefix argv (ASCII case-insensitive).

    Returns (``"STREAM FILE"``, runs_on_dead_channel) or None (Asterisk answers 510).
    """
    raw = tuple(a.encode("utf-8", "surrogateescape").lower() for a in argv[:4])
    for n in range(1, len(raw) + 1):
        found = _AGI_BY_WORDS.get(raw[:n])
        if found is not None:
            return found
    return None


# ------------------------------------------------------------------------------------------
# The caller's script


@dataclass
class Key:
    """One DTMF key of the caller (``0-9 * # A-D``), or ``"hangup"``.

    ``after_ms=None`` (a *cooperative* key) is pressed as soon as a command that accepts it
    listens: a prompt whose escape digits include it, GET DATA, WAIT FOR DIGIT. With
    ``after_ms`` the key is pressed that many (virtual) ms after it became the next key,
    i.e. after the previous key or the start of the listening command: a key that falls
    after a prompt or timeout carries over; one pressed during a prompt that does not accept
    it is lost, as on a real phone.
    """

    digit: str
    after_ms: float | None = None

    @classmethod
    def hangup(cls, after_ms: float | None = None) -> Key:
        return cls("hangup", after_ms)


KeySpec = str | Key | tuple[str, float]


def _keys_from(spec: str | Iterable[KeySpec]) -> deque[Key]:
    keys: deque[Key] = deque()
    items: Iterable[KeySpec] = list(spec) if isinstance(spec, str) else spec
    for item in items:
        if isinstance(item, Key):
            keys.append(Key(item.digit, item.after_ms))
        elif isinstance(item, tuple):
            keys.append(Key(item[0], item[1]))
        elif item == "hangup":
            keys.append(Key("hangup"))
        else:
            keys.extend(Key(ch) for ch in item)
    return keys


@dataclass(frozen=True)
class Hangup:
    """When the caller hangs up (see the constructors)."""

    point: str  # "before_env_end" | "after_env" | "after_command" | "during" | "idle"
    command: int = 0
    during: str = ""
    nth: int = 1
    at_ms: float = 0.0
    idle_ms: float = 0.0

    @classmethod
    def before_env_end(cls) -> Hangup:
        """Half the env block is sent, then the socket closes (hang-up in the handshake)."""
        return cls("before_env_end")

    @classmethod
    def after_env(cls) -> Hangup:
        """The whole env block, then at once the unsolicited ``HANGUP``."""
        return cls("after_env")

    @classmethod
    def after_command(cls, n: int) -> Hangup:
        """After the reply to the n-th command (1-based) the channel dies (``HANGUP``)."""
        return cls("after_command", command=n)

    @classmethod
    def during_command(cls, verb: str, nth: int = 1, at_ms: float = 0.0) -> Hangup:
        """During the nth ``verb`` (``"STREAM FILE"``, ``"GET DATA"``, ``"EXEC"``,
        ``"EXEC Queue"``…), ``at_ms`` into it; a non-listening command gets 511 instead."""
        return cls("during", during=verb, nth=nth, at_ms=at_ms)

    @classmethod
    def when_idle(cls, ms: float) -> Hangup:
        """When the runtime sends nothing for ``ms`` real ms (a slow plugin, or after the flow
        returned without closing the socket)."""
        return cls("idle", idle_ms=ms)


@dataclass(frozen=True)
class Fault:
    """A fault applied to the reply of one command (see ``FakeCall(faults=...)``)."""

    kind: str
    data: bytes = b""
    interval: float = 1.0
    wording: str | None = None

    @classmethod
    def rst(cls) -> Fault:
        """No reply: the TCP connection is reset (SO_LINGER 0)."""
        return cls("rst")

    @classmethod
    def half_line(cls) -> Fault:
        """Half the reply line, then a normal close."""
        return cls("half_line")

    @classmethod
    def slow(cls, interval: float = 1.0) -> Fault:
        """The reply one byte every ``interval`` seconds."""
        return cls("slow", interval=interval)

    @classmethod
    def garbage(cls, data: bytes = b"\xff\xfe\x00garbage \x07result=\xc3(\n") -> Fault:
        """These bytes instead of the reply; the call goes on."""
        return cls("garbage", data=data)

    @classmethod
    def error_503(cls) -> Fault:
        """``503 result=-2 Memory allocation failure`` instead of the reply."""
        return cls("raw", data=(REPLY_503 + "\n").encode())

    @classmethod
    def raw(cls, data: bytes) -> Fault:
        """Exactly these bytes instead of the reply."""
        return cls("raw", data=data)

    @classmethod
    def usage(cls) -> Fault:
        """The command's multi-line 520 usage block instead of its reply."""
        return cls("usage")

    @classmethod
    def no_reply(cls) -> Fault:
        """Never answer this command (the call goes on reading)."""
        return cls("no_reply")

    @classmethod
    def close(cls) -> Fault:
        """Close the connection cleanly instead of answering."""
        return cls("close")

    @classmethod
    def hangup_before(cls, wording: str | None = None) -> Fault:
        """The caller hung up just before this command: ``HANGUP``, then the dead-channel reply
        (511 in the given wording, "new" or "old", unless the command runs on dead channels)."""
        return cls("hangup_before", wording=wording)

    @classmethod
    def hangup_after(cls) -> Fault:
        """The normal reply, then the caller hangs up: ``HANGUP`` right after it."""
        return cls("hangup_after")


@dataclass
class QueueOutcome:
    """What ``EXEC Queue`` does. ``status`` is a QUEUESTATUS value or ``"ANSWERED"`` (an agent
    took the call) or ``"ABANDON"`` (the caller hangs up while waiting)."""

    status: str = "TIMEOUT"
    agent: str = "agent-1001"  # MemberName
    interface: str = "PJSIP/1001"
    hold_s: int = 12
    talk_s: int = 90
    ring_no_answer: int = 0  # AgentCalled + AgentRingNoAnswer rounds before the end
    ended_by: str = "agent"  # ANSWERED: "agent" | "caller" | "transfer"
    position: int = 1


@dataclass
class DialOutcome:
    """What ``EXEC Dial`` does (DIALSTATUS). ``ANSWER``: the callee talks ``talk_s`` and hangs
    up (or the caller does, ``ended_by="caller"``); ``CANCEL``: the caller hangs up ringing."""

    status: str = "NOANSWER"
    talk_s: int = 30
    ring_s: int = 5
    ended_by: str = "callee"
    peer: str = "PJSIP/1001-00000abc"


@dataclass
class VoicemailOutcome:
    """What ``EXEC VoiceMail`` does (VMSTATUS SUCCESS/USEREXIT/FAILED)."""

    status: str = "SUCCESS"
    caller_hangs_up: bool = False  # the usual end of a message: result -1, VMSTATUS kept
    duration_ms: int = 8000


@dataclass
class RecordOutcome:
    """How ``RECORD FILE`` ends: ``dtmf`` (key), ``timeout``, ``silence`` or ``hangup``."""

    end: str = "dtmf"
    key: str = "#"
    duration_ms: int = 5000


# ------------------------------------------------------------------------------------------
# What the fake saw


@dataclass
class AgiCommand:
    """One command line received from the runtime, as Asterisk parsed it."""

    index: int
    raw: bytes  # the line without its "\n"
    argv: list[str]
    verb: str  # "STREAM FILE"…, "" when Asterisk does not know it (510)
    dead: bool  # the channel was already hung up when it arrived
    received_at: float
    anomalies: list[str] = field(default_factory=list)
    reply: bytes = b""
    replied_at: float | None = None

    @property
    def line(self) -> str:
        return self.raw.decode("utf-8", "replace")

    @property
    def args(self) -> list[str]:
        """The arguments after the command words."""
        return self.argv[len(self.verb.split()) :] if self.verb else list(self.argv)

    @property
    def app(self) -> str | None:
        """For EXEC: the application name."""
        return self.argv[1] if self.verb == "EXEC" and len(self.argv) > 1 else None


@dataclass
class CallResult:
    env: dict[str, str] = field(default_factory=dict)
    commands: list[AgiCommand] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)  # channel variables at the end
    assignments: list[tuple[str, str]] = field(default_factory=list)  # SET VARIABLE / Set()
    played: list[str] = field(default_factory=list)  # prompt files played (existing ones)
    missing: list[str] = field(default_factory=list)  # prompt files asked for, not found
    said: list[tuple[str, str]] = field(default_factory=list)  # ("DIGITS", "123")…
    execs: list[tuple[str, str]] = field(default_factory=list)  # (application, data)
    recorded: list[str] = field(default_factory=list)  # "name.format"
    verbose: list[str] = field(default_factory=list)
    music: list[str] = field(default_factory=list)  # "on default", "off"
    hung_up_by: str | None = None  # "caller" | "runtime" | "agent" | "callee"
    closed_by: str | None = None  # "runtime" (EOF) | "fake"
    agi_status: str = "SUCCESS"  # AGISTATUS Asterisk would set: SUCCESS|FAILURE|HANGUP
    error: str | None = None
    anomalies: list[str] = field(default_factory=list)
    keys_left: list[str] = field(default_factory=list)
    lost_keys: list[str] = field(default_factory=list)
    faults_applied: list[str] = field(default_factory=list)
    reset: bool = False  # the runtime's side reset the connection (e.g. closed with unread data)
    started_at: float = 0.0
    ended_at: float = 0.0

    @property
    def verbs(self) -> list[str]:
        return [c.verb or c.line for c in self.commands]

    @property
    def lines(self) -> list[str]:
        return [c.line for c in self.commands]

    def step_gaps(self) -> list[float]:
        """Seconds between a reply written and the next command received (runtime overhead)."""
        gaps = []
        for prev, nxt in itertools.pairwise(self.commands):
            if prev.replied_at is not None:
                gaps.append(nxt.received_at - prev.replied_at)
        return gaps


class _AgiConnection(asyncio.Protocol):
    """The FastAGI socket: complete lines are queued as they arrive (no task per line, so a
    thousand calls fit in one process); writes honour flow control."""

    LIMIT = 1 << 20

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.lines: deque[bytes] = deque()
        self.closed = False
        self.reset = False
        self.overflow = False
        self.waiter: asyncio.Future[None] | None = None
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._paused = False
        self._drain: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        start = 0
        while (end := self.buffer.find(b"\n", start)) >= 0:
            self.lines.append(bytes(self.buffer[start : end + 1]))
            start = end + 1
        if start:
            del self.buffer[:start]
        if len(self.buffer) > self.LIMIT:
            self.overflow = True
        self._wake()

    def eof_received(self) -> bool:
        self._end()
        return True  # keep writing: a half-closed peer still gets its replies

    def connection_lost(self, exc: Exception | None) -> None:
        self.reset = self.reset or isinstance(exc, ConnectionResetError)
        self.transport = None
        self._end()
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)
        if not self.lost.done():
            self.lost.set_result(None)

    def _end(self) -> None:
        if self.buffer:  # a last line without its newline
            self.lines.append(bytes(self.buffer))
            self.buffer.clear()
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    async def write(self, data: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            raise ConnectionResetError("the connection is closed")
        self.transport.write(data)
        if self._paused:
            self._drain = asyncio.get_running_loop().create_future()
            await self._drain
            if self.transport is None or self.transport.is_closing():
                raise ConnectionResetError("the connection closed while writing")


class _Stop(Exception):
    """Control flow: the fake ends the connection itself."""


class _RuntimeGone(Exception):
    """Control flow: the runtime closed or reset the connection."""


# ------------------------------------------------------------------------------------------
# FakeCall


class FakeCall:
    """Asterisk running ``AGI(agi://host:port/ENTRY)`` for one caller.

    ``result = await FakeCall(port, entry="12329", caller="13800138000", keys="1#").run()``
    """

    def __init__(
        self,
        port: int,
        *,
        host: str = "127.0.0.1",
        entry: str = "12329",
        caller: str | None = "13800138000",
        caller_name: str | None = None,
        dnid: str | None = "12329",
        rdnis: str | None = None,
        args: Sequence[str] = (),
        keys: str | Iterable[KeySpec] = (),
        hangup: Hangup | None = None,
        queue: QueueOutcome | Sequence[QueueOutcome] | None = None,
        dial: DialOutcome | str | Sequence[DialOutcome | str] | None = None,
        voicemail: VoicemailOutcome | str | Sequence[VoicemailOutcome | str] | None = None,
        record: RecordOutcome | Sequence[RecordOutcome] | None = None,
        prompts: Mapping[str, float] | Iterable[str] | None = None,
        missing_prompts: Iterable[str] = (),
        sounds_dir: Path | None = None,
        playback_ms: float | tuple[float, float] | Callable[[str], float] = 3000,
        delay_ms: float | tuple[float, float] = 0,
        time_scale: float = 0.0,
        faults: Mapping[int | str | tuple[str, int], Fault] | None = None,
        crlf: bool = False,
        hangup_notice: str = "immediate",
        dead_wording: str = "new",
        channel_kind: str = "pjsip",
        channel: str | None = None,
        endpoint: str = "carrier",
        context: str | None = None,
        extension: str | None = None,
        priority: int = 1,
        language: str = "zh",
        accountcode: str = "",
        uniqueid: str | None = None,
        linkedid: str | None = None,
        env_fault: str | None = None,
        env_extra: Sequence[tuple[str, str]] = (),
        variables: Mapping[str, str] | None = None,
        answered: bool = False,
        idle_dtmf: str = "queue",
        timeout: float = 60.0,
        read_timeout: float = 10.0,
        connect_timeout: float = 2.0,
        seed: int | None = None,
        ami: FakeAmi | None = None,
        devices: Mapping[str, str] | None = None,
    ) -> None:
        """Script one call.

        keys: the caller's DTMF (a string of keys, or :class:`Key` / ``(key, after_ms)`` /
          ``"hangup"`` items). hangup: a :class:`Hangup` point. queue/dial/voicemail/record:
          outcomes (a list is used in order, the last one repeats).
        prompts: the prompt files that exist (names, or name → duration in ms); None: all
          exist but ``missing_prompts``. playback_ms: duration of a prompt not given a
          duration (a number, a (min, max) range, or a function of the name).
        delay_ms: real time before each reply (a number or a (min, max) range).
        time_scale: real seconds slept per virtual second of playback, timeouts, queue and
          talk time (0: answer at once).
        faults: command → :class:`Fault`; the command is its 1-based index, a verb
          (``"STREAM FILE"``, ``"EXEC Queue"``: its first occurrence), ``(verb, n)`` or ``"*"``.
        crlf: end every line with CRLF (real Asterisk sends LF).
        hangup_notice: where the unsolicited ``HANGUP`` goes when the channel dies:
          ``"immediate"`` (as Asterisk: right after the reply of the command it died in, or at
          once when idle), ``"before_next"``, ``"after_next"`` (around the next reply) or
          ``"none"`` (AGISIGHUP=no).
        dead_wording: ``"new"`` or ``"old"`` 511 text.
        channel_kind: ``"pjsip"`` (``PJSIP/carrier-0000001a``) or ``"local"``
          (``Local/s@ivr-entry-0000001a;2``).
        env_fault: ``"probe"`` (connect and close, no env), ``"unterminated"`` (env without
          its blank line, then silence), ``"duplicate"`` (agi_channel twice), ``"partial"``
          (= ``Hangup.before_env_end()``).
        idle_dtmf: what :meth:`press` does while no command listens: ``"queue"`` (kept for the
          next listening command) or ``"drop"`` (lost, as Asterisk's idle AGI loop does).
        devices: device interface → state, what ``${DEVICE_STATE(PJSIP/8001)}`` gives
          (``NOT_INUSE``, ``INUSE``, ``BUSY``, ``RINGING``, ``UNAVAILABLE``…; an interface not
          listed is ``INVALID``, as Asterisk says of a device it does not know). Whether a
          dialled interface answers is the ``dial`` outcome (``EXEC Dial`` of any target).
        """
        self.port = port
        self.host = host
        self.entry = entry
        self.caller = caller
        self.caller_name = caller_name
        self.dnid = dnid
        self.rdnis = rdnis
        self.args = list(args)
        self.hangup = hangup
        self.queue_outcomes = _outcomes(queue, QueueOutcome())
        self.dial_outcomes = _outcomes(dial, DialOutcome())
        self.voicemail_outcomes = _outcomes(voicemail, VoicemailOutcome())
        self.record_outcomes = _outcomes(record, None)
        self.prompts: dict[str, float | None] | None
        if prompts is None:
            self.prompts = None
        elif isinstance(prompts, Mapping):
            self.prompts = {k: float(v) for k, v in prompts.items()}
        else:
            self.prompts = dict.fromkeys(prompts)
        self.missing_prompts = set(missing_prompts)
        self.sounds_dir = sounds_dir
        self.playback_ms = playback_ms
        self.delay_ms = delay_ms
        self.time_scale = time_scale
        self.faults = dict(faults or {})
        self.crlf = crlf
        if hangup_notice not in ("immediate", "before_next", "after_next", "none"):
            raise ValueError(f"hangup_notice: {hangup_notice!r}")
        self.hangup_notice = hangup_notice
        self.dead_wording = dead_wording
        self.language = language
        self.accountcode = accountcode
        self.priority = priority
        self.env_fault = env_fault
        self.env_extra = list(env_extra)
        self.idle_dtmf = idle_dtmf
        self.timeout = timeout
        self.read_timeout = read_timeout
        self.connect_timeout = connect_timeout
        self.ami = ami
        self.devices = dict(devices or {})
        self._rng = random.Random(seed)
        seq = next(_seq)
        self.channel_kind = channel_kind
        if channel_kind == "local":
            self.channel = channel or f"Local/s@ivr-entry-{seq:08x};2"
            self.channel_type = "Local"
            default_exten = "s"
        else:
            self.channel = channel or f"PJSIP/{endpoint}-{seq:08x}"
            self.channel_type = self.channel.split("/", 1)[0]
            default_exten = entry or "s"
        self.context = context or "ivr-entry"
        self.extension = extension or default_exten
        self.uniqueid = uniqueid or f"{int(time.time())}.{seq}"
        self.linkedid = linkedid or self.uniqueid
        self.threadid = str(self._rng.randrange(139_000_000_000_000, 140_000_000_000_000))
        self.state = STATE_UP if answered else STATE_RING

        self._keys = _keys_from(keys)
        self._vars: dict[str, str] = dict(variables or {})
        self.result = CallResult()
        self._dead = False
        self._in_command = False
        self._notice: tuple[str, int] | None = None  # ("before"|"after", replies to skip)
        self._notice_now = False
        self._live = asyncio.Event()
        self._wake: asyncio.Future[None] | None = None  # resolved by press()/hang_up()
        self._live_hangup = False
        self._cur_hangup_at: float | None = None
        self._counts: Counter[str] = Counter()
        self._conn: _AgiConnection | None = None
        self._on_answer: Callable[[], None] | None = None
        self._ran = False

    # -- public -------------------------------------------------------------------------

    def press(self, digits: str) -> None:
        """Keys pressed now (e.g. delivered by AMI PlayDTMF)."""
        if self.idle_dtmf == "drop" and not self._in_command:
            self.result.lost_keys.extend(digits)
            return
        self._keys.extend(Key(d) for d in digits)
        self._poke()

    def hang_up(self) -> None:
        """The caller hangs up now (e.g. AMI Hangup)."""
        self._live_hangup = True
        self._poke()

    def _poke(self) -> None:
        self._live.set()
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    @property
    def dead(self) -> bool:
        return self._dead

    def snapshot(self) -> AmiChannel:
        """This channel as AMI describes it."""
        return AmiChannel(
            name=self.channel,
            uniqueid=self.uniqueid,
            linkedid=self.linkedid,
            state=self.state,
            caller_num=self.caller or "<unknown>",
            caller_name=self.caller_name or "<unknown>",
            language=self.language,
            accountcode=self.accountcode,
            context=self.context,
            exten=self.extension,
            priority=self.priority,
        )

    async def run(self) -> CallResult:
        """Place the call; returns when the runtime closes, the fake ends it, or on timeout."""
        if self._ran:
            raise RuntimeError("a FakeCall runs once")
        self._ran = True
        res = self.result
        res.started_at = time.monotonic()
        if self.ami is not None:
            self.ami._register_channel(self.channel, self, "self")
            await self.ami.emit_event(AmiEvent("Newchannel", self.snapshot().fields()))
        try:
            async with asyncio.timeout(self.timeout):
                await self._run()
        except TimeoutError:
            res.error = res.error or f"call not finished after {self.timeout} s"
        except _Stop:
            res.closed_by = "fake"
        except _RuntimeGone:
            res.closed_by = "runtime"
        except (ConnectionError, OSError) as exc:
            res.error = res.error or f"connection error: {exc!r}"
        finally:
            await self._close()
            res.ended_at = time.monotonic()
            res.variables = dict(self._vars)
            res.keys_left = [k.digit for k in self._keys]
            for cmd in res.commands:
                res.anomalies.extend(f"#{cmd.index} {cmd.line!r}: {a}" for a in cmd.anomalies)
            if self.ami is not None:
                self.ami._unregister_channel(self.channel)
                await self.ami.emit_event(
                    AmiEvent("Hangup", [*self.snapshot().fields(), *_cause(16)])
                )
        return res

    # -- connection ---------------------------------------------------------------------

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, self._conn = await asyncio.wait_for(
                loop.create_connection(_AgiConnection, self.host, self.port),
                self.connect_timeout,
            )
        except (OSError, TimeoutError) as exc:
            self.result.error = f"FastAGI connect failed: {exc!r}"
            self.result.agi_status = "FAILURE"
            return
        if self.env_fault == "probe":
            self.result.closed_by = "fake"
            return
        await self._send_env()
        if self.hangup is not None and self.hangup.point == "after_env":
            self._kill("caller")
            await self._flush_notice_now()
        while True:
            line = await self._next_line()
            if line is None:
                self.result.closed_by = "runtime"
                await self._last_hangup()
                return
            final = not line.endswith(b"\n")
            # fgets() into a buffer of AGI_BUF_LEN: at most 2047 bytes (newline included) make
            # one command; the rest of a longer line becomes the next command(s).
            step = AGI_BUF_LEN - 1
            chunks = [line[i : i + step] for i in range(0, len(line), step)]
            for chunk in chunks:
                body = chunk[:-1] if chunk.endswith(b"\n") else chunk
                await self._handle(body, split=len(chunks) > 1)
            if final:  # the line ended with EOF: Asterisk ran it, then saw the end
                self.result.closed_by = "runtime"
                await self._last_hangup()
                return

    async def _last_hangup(self) -> None:
        """run_agi() ends by writing ``HANGUP`` to a FastAGI socket (unless AGISIGHUP=no),
        whatever the channel's state; only a half-closed server reads it."""
        if self.hangup_notice != "none":
            with contextlib.suppress(_RuntimeGone):
                await self._send(("HANGUP" + self._eol()).encode())

    def _eol(self) -> str:
        return "\r\n" if self.crlf else "\n"

    def env_lines(self) -> list[tuple[str, str]]:
        """The env block as (key, value), in Asterisk 22's order."""
        script = self.entry
        request = f"agi://{self.host}:{self.port}" + (f"/{script}" if script else "")
        env: list[tuple[str, str]] = [("agi_network", "yes")]
        if script:
            env.append(("agi_network_script", script))
        env += [
            ("agi_request", request),
            ("agi_channel", self.channel),
            ("agi_language", self.language),
            ("agi_type", self.channel_type),
            ("agi_uniqueid", self.uniqueid),
            ("agi_version", ASTERISK_VERSION),
            ("agi_callerid", self.caller or "unknown"),
            ("agi_calleridname", self.caller_name or "unknown"),
            ("agi_callingpres", "0"),
            ("agi_callingani2", "0"),
            ("agi_callington", "0"),
            ("agi_callingtns", "0"),
            ("agi_dnid", self.dnid or "unknown"),
            ("agi_rdnis", self.rdnis or "unknown"),
            ("agi_context", self.context),
            ("agi_extension", self.extension),
            ("agi_priority", str(self.priority)),
            ("agi_enhanced", "0.0"),
            ("agi_accountcode", self.accountcode),
            ("agi_threadid", self.threadid),
        ]
        env += [(f"agi_arg_{i}", a) for i, a in enumerate(self.args, 1)]
        env += self.env_extra
        if self.env_fault == "duplicate":
            env.insert(4, ("agi_channel", self.channel + "-dup"))
        return env

    async def _send_env(self) -> None:
        assert self._conn is not None
        eol = self._eol()
        pairs = self.env_lines()
        self.result.env = dict(pairs)
        text = "".join(f"{k}: {v}{eol}" for k, v in pairs)
        partial = self.env_fault == "partial" or (
            self.hangup is not None and self.hangup.point == "before_env_end"
        )
        if partial:
            await self._send(text[: len(text) // 2].encode())
            self._dead = True
            self.result.hung_up_by = "caller"
            self.result.agi_status = "HANGUP"
            raise _Stop
        if self.env_fault != "unterminated":
            text += eol
        await self._send(text.encode("utf-8", "surrogateescape"))

    async def _next_line(self) -> bytes | None:
        """The next command line; handles idle hang-ups and live events meanwhile."""
        conn = self._conn
        assert conn is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.read_timeout
        idle_at = None
        if self.hangup is not None and self.hangup.point == "idle" and not self._dead:
            idle_at = loop.time() + self.hangup.idle_ms / 1000
        while True:
            if self._live_hangup and not self._dead:
                self._kill("caller")
            await self._flush_notice_now()
            if conn.lines:
                return conn.lines.popleft()
            if conn.overflow:
                self.result.error = f"a command line longer than {conn.LIMIT} bytes"
                raise _Stop
            if conn.closed:
                self.result.reset = self.result.reset or conn.reset
                return None
            if self._live.is_set():
                self._live.clear()
                continue
            # One future, woken by a line, the end, press()/hang_up() or the clock.
            wake = self._wake = conn.waiter = loop.create_future()
            timer = loop.call_at(
                deadline if idle_at is None else min(deadline, idle_at),
                lambda wake=wake: None if wake.done() else wake.set_result(None),
            )
            try:
                await wake
            finally:
                timer.cancel()
            if conn.lines or conn.closed or conn.overflow:
                continue
            if self._live.is_set():
                self._live.clear()
                continue
            if idle_at is not None and loop.time() >= idle_at:
                idle_at = None
                self._kill("caller")
                continue
            if loop.time() >= deadline:
                self.result.error = f"the runtime sent no command for {self.read_timeout} s" + (
                    " after the hang-up" if self._dead else ""
                )
                raise _Stop

    async def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            if conn.transport is not None:
                conn.transport.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(conn.lost), 1.0)

    # -- hang-up and replies -----------------------------------------------------------

    def _kill(self, by: str, notice: str | None = None) -> None:
        """The channel dies now; place the unsolicited HANGUP line."""
        if self._dead:
            return
        self._dead = True
        self.result.hung_up_by = by
        if self.result.agi_status == "SUCCESS":
            self.result.agi_status = "HANGUP"
        mode = notice or self.hangup_notice
        if mode == "none":
            return
        if self._in_command:
            self._notice = {
                "immediate": ("after", 0),
                "before_next": ("before", 0),
                "after_next": ("after", 1),
            }[mode]
        elif mode == "immediate":
            self._notice_now = True
        else:
            self._notice = ("before", 0) if mode == "before_next" else ("after", 0)

    async def _flush_notice_now(self) -> None:
        if self._notice_now and self._conn is not None:
            self._notice_now = False
            await self._send(("HANGUP" + self._eol()).encode())

    async def _send(self, data: bytes) -> None:
        """Write; a runtime that already closed or reset the connection ends the call quietly
        (Asterisk's ast_agi_send() fails, then its read sees the end)."""
        assert self._conn is not None
        try:
            await self._conn.write(data)
        except ConnectionError as exc:
            self.result.reset = self.result.reset or isinstance(exc, ConnectionResetError)
            raise _RuntimeGone from exc

    async def _write_reply(self, cmd: AgiCommand, lines: list[str], fault: Fault | None) -> None:
        assert self._conn is not None
        eol = self._eol()
        before = after = ""
        if self._notice is not None:
            where, skip = self._notice
            if skip:
                self._notice = (where, skip - 1)
            else:
                self._notice = None
                if where == "before":
                    before = "HANGUP" + eol
                else:
                    after = "HANGUP" + eol
        if fault is not None and fault.kind == "usage":
            lines = _usage_lines(cmd.verb or "NOOP")
        body = "".join(line.replace("\n", eol) + eol for line in lines)
        data = (before + body + after).encode("utf-8", "surrogateescape")
        if fault is not None and fault.kind in ("garbage", "raw"):
            data = before.encode() + fault.data + after.encode()
        cmd.reply = data
        cmd.replied_at = time.monotonic()
        if fault is None or fault.kind not in ("no_reply", "close", "rst", "half_line", "slow"):
            await self._send(data)
            return
        if fault.kind == "no_reply":
            cmd.reply = b""
            return
        if fault.kind == "close":
            cmd.reply = b""
            raise _Stop
        if fault.kind == "rst":
            cmd.reply = b""
            transport = self._conn.transport
            if transport is not None:
                sock = transport.get_extra_info("socket")
                if sock is not None:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                transport.abort()
            raise _Stop
        if fault.kind == "half_line":
            first = data.split(b"\n", 1)[0]
            cmd.reply = first[: max(1, len(first) // 2)]
            await self._send(cmd.reply)
            raise _Stop
        if fault.kind == "slow":
            for i in range(len(data)):
                await self._send(data[i : i + 1])
                if i < len(data) - 1:
                    await asyncio.sleep(fault.interval)
            return
        raise ValueError(f"unknown fault {fault.kind!r}")

    # -- one command ---------------------------------------------------------------------

    def _spec_matches(self, spec: str, verb: str, argv: Sequence[str]) -> bool:
        spec = " ".join(spec.split()).upper()
        if spec.startswith("EXEC "):
            return verb == "EXEC" and len(argv) > 1 and argv[1].lower() == spec[5:].lower()
        return verb == spec

    def _fault_for(self, index: int, verb: str, argv: Sequence[str]) -> Fault | None:
        found = None
        for key, fault in self.faults.items():
            if key in ("*", index):
                found = found or fault
                continue
            if isinstance(key, int):
                continue
            spec, nth = (key, 1) if isinstance(key, str) else key
            if self._spec_matches(spec, verb, argv):
                self._counts[f"fault:{spec}"] += 1
                if self._counts[f"fault:{spec}"] == nth:
                    found = found or fault
        return found

    async def _handle(self, raw: bytes, *, split: bool) -> None:
        index = len(self.result.commands) + 1
        anomalies = []
        if split:
            anomalies.append(f"line longer than AGI_BUF_LEN ({AGI_BUF_LEN}): Asterisk splits it")
        if b"\x00" in raw:
            anomalies.append("NUL byte in the command line (Asterisk's C string ends there)")
            raw_cmd = raw.split(b"\x00", 1)[0]
        else:
            raw_cmd = raw
        if b"\r" in raw_cmd:
            anomalies.append("raw CR in the command line (Asterisk keeps it in the last argument)")
        try:
            raw_cmd.decode("utf-8")
        except UnicodeDecodeError:
            anomalies.append("bytes that are not UTF-8")
        text = raw_cmd.decode("utf-8", "surrogateescape")
        argv, open_quote = _parse(text)
        if open_quote:
            anomalies.append("unterminated quote")
        found = find_agi_command(argv)
        verb, runs_dead = found if found else ("", False)
        cmd = AgiCommand(
            index=index,
            raw=raw,
            argv=argv,
            verb=verb,
            dead=self._dead,
            received_at=time.monotonic(),
            anomalies=anomalies,
        )
        self.result.commands.append(cmd)
        if len(argv) >= MAX_ARGS - 1:
            anomalies.append(f"{len(argv)} arguments: Asterisk keeps {MAX_ARGS - 1} at most")
        if not verb:
            anomalies.append("unknown command (510)")
        elif verb in _MAX_ARGC and len(argv) > _MAX_ARGC[verb]:
            anomalies.append(
                f"{len(argv) - _MAX_ARGC[verb]} extra argument(s) that Asterisk ignores or"
                " rejects: a value that broke out of its quotes?"
            )
        if verb == "EXEC" and len(argv) > 1 and argv[1].lower() in DANGEROUS_APPS:
            anomalies.append(f"EXEC {argv[1]}: shell access from AGI, an injected command?")

        fault = self._fault_for(index, verb, argv) if self.faults else None
        if fault is not None:
            self.result.faults_applied.append(f"#{index} {fault.kind}")
        self._cur_hangup_at = None
        hang = self.hangup
        if (
            hang is not None
            and hang.point == "during"
            and verb
            and self._spec_matches(hang.during, verb, argv)
        ):
            self._counts["hangup"] += 1
            if self._counts["hangup"] == hang.nth:
                self._cur_hangup_at = hang.at_ms
        self._in_command = True
        try:
            if fault is not None and fault.kind == "hangup_before":
                self._kill("caller", notice="before_next")
            if self._cur_hangup_at is not None and verb not in _LISTENING and verb != "EXEC":
                self._cur_hangup_at = None
                self._kill("caller", notice="before_next")
            await self._delay()
            if not verb:
                lines = [REPLY_510]
            elif self._dead and not runs_dead:
                wording = fault.wording if fault is not None and fault.wording else None
                lines = [DEAD_WORDING[wording or self.dead_wording]]
            else:
                handler = _HANDLERS.get(verb)
                if handler is None:
                    anomalies.append(f"{verb} is not emulated by the fake (answered 200 result=0)")
                    lines = ["200 result=0"]
                else:
                    lines = await handler(self, cmd)
            if self._cur_hangup_at is not None:  # a hang-up point the command did not use
                self._cur_hangup_at = None
                self._kill("caller")
            await self._write_reply(cmd, lines, fault)
        finally:
            self._in_command = False
        if fault is not None and fault.kind == "hangup_after":
            self._kill("caller", notice="immediate")
        if hang is not None and hang.point == "after_command" and hang.command == index:
            self._kill("caller")
        if self._live_hangup:
            self._kill("caller")
        await self._flush_notice_now()

    async def _delay(self) -> None:
        ms = self.delay_ms
        if isinstance(ms, tuple):
            ms = self._rng.uniform(*ms)
        if ms > 0:
            await asyncio.sleep(ms / 1000)

    # -- virtual time ------------------------------------------------------------------------

    async def _sleep_virtual(self, ms: float) -> float:
        """Let ``ms`` virtual ms pass; returns how many passed (less if a live event came)."""
        if ms <= 0 or self.time_scale <= 0:
            return max(ms, 0.0)
        self._live.clear()
        loop = asyncio.get_running_loop()
        start = loop.time()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._live.wait(), ms * self.time_scale / 1000)
            self._live.clear()
            return min(ms, (loop.time() - start) * 1000 / self.time_scale)
        return ms

    async def _listen(self, window: float | None, accept: str | None) -> tuple[str | None, float]:
        """Run a listening command for ``window`` virtual ms (None: forever).

        Returns (key, t): a key accepted (``accept`` None means any key), ``"hangup"``, or
        None when the window ended; t is the virtual time into the command.
        """
        t = 0.0
        while True:
            if self._live_hangup:
                return "hangup", t
            hang_at = self._cur_hangup_at
            head = self._keys[0] if self._keys else None
            due = None
            if head is not None:
                if head.after_ms is not None:
                    due = t + head.after_ms
                elif window is None or window > 0:
                    due = t
            candidates = [x for x in (hang_at, due, window) if x is not None]
            if not candidates:  # waits forever and the script has nothing: wait for live keys
                loop = asyncio.get_running_loop()
                start = loop.time()
                self._live.clear()
                try:
                    await asyncio.wait_for(self._live.wait(), self.read_timeout)
                except TimeoutError:
                    return "hangup", t  # the caller gives up
                self._live.clear()
                t += (loop.time() - start) * 1000 / max(self.time_scale, 1e-9)
                continue
            first = min(candidates)
            if hang_at is not None and hang_at <= first:
                passed = await self._sleep_virtual(hang_at - t)
                if passed < hang_at - t:
                    t += passed
                    continue
                self._cur_hangup_at = None
                return "hangup", hang_at
            if due is not None and due <= first and (window is None or due < window):
                assert head is not None
                passed = await self._sleep_virtual(due - t)
                if passed < due - t:  # a live event: re-plan from here
                    if head.after_ms is not None:
                        head.after_ms -= passed
                    t += passed
                    continue
                t = due
                self._keys.popleft()
                if head.digit == "hangup":
                    return "hangup", t
                if accept is None or head.digit in accept:
                    return head.digit, t
                if head.after_ms is None:  # cooperative key: keep it for a later command
                    self._keys.appendleft(head)
                    assert window is not None
                    passed = await self._sleep_virtual(window - t)
                    return None, t + passed
                self.result.lost_keys.append(head.digit)
                continue
            assert window is not None
            if head is not None and head.after_ms is not None and due is not None:
                head.after_ms = max(0.0, due - window)
            passed = await self._sleep_virtual(window - t)
            if passed < window - t:
                if head is not None and head.after_ms is not None and due is not None:
                    head.after_ms = due - (t + passed)
                t += passed
                continue
            return None, window

    # -- helpers for handlers ----------------------------------------------------------------

    def _exists(self, name: str) -> bool:
        if name in self.missing_prompts:
            return False
        if self.sounds_dir is not None:  # like Asterisk: a .wav or .sln there, at play time
            return any((self.sounds_dir / f"{name}.{ext}").is_file() for ext in ("wav", "sln"))
        return self.prompts is None or name in self.prompts

    def _duration(self, name: str) -> float:
        if self.prompts is not None and self.prompts.get(name) is not None:
            return float(self.prompts[name])  # type: ignore[arg-type]
        spec = self.playback_ms
        if callable(spec):
            return float(spec(name))
        if isinstance(spec, tuple):
            return self._rng.uniform(*spec)
        return float(spec)

    def _prompt_anomalies(self, cmd: AgiCommand, name: str) -> None:
        if re.search(r"\.(wav|sln|ulaw|alaw|gsm|mp3|g722|g729)$", name, re.I):
            cmd.anomalies.append(f"prompt {name!r} has a file extension (Asterisk adds its own)")

    def _set(self, name: str, value: str, *, by_runtime: bool = False) -> None:
        self._vars[name] = value
        if by_runtime:
            self.result.assignments.append((name, value))

    def _answer(self) -> None:
        if self.state != STATE_UP:
            self.state = STATE_UP
            if self._on_answer is not None:
                self._on_answer()

    def _lookup(self, name: str) -> str | None:
        """A variable (pbx_retrieve_variable) or, for ``NAME(args)``, a dialplan function."""
        if name.endswith(")") and "(" in name:
            func, arg = name[:-1].split("(", 1)
            return self._function(func, arg)
        if name in self._vars:
            return self._vars[name]
        builtins = {
            "CHANNEL": self.channel,
            "UNIQUEID": self.uniqueid,
            "EXTEN": self.extension,
            "CONTEXT": self.context,
            "PRIORITY": str(self.priority),
            "EPOCH": str(int(time.time())),
            "HANGUPCAUSE": "16" if self._dead else "0",
        }
        return builtins.get(name)

    def _function(self, func: str, arg: str) -> str | None:
        func = func.upper()
        if func == "DEVICE_STATE":
            # func_devstate.c: ast_devstate_str(ast_device_state(arg)); the technology is
            # matched without regard to case, the device name exactly
            tech, _, name = arg.strip().partition("/")
            for device, state in self.devices.items():
                dtech, _, dname = device.partition("/")
                if dtech.lower() == tech.lower() and dname == name:
                    return state
            return "INVALID" if name else ""
        arg = arg.strip().lower()
        if func == "CALLERID":
            values = {
                "num": self.caller or "",
                "number": self.caller or "",
                "name": self.caller_name or "",
                "all": f'"{self.caller_name or ""}" <{self.caller or ""}>',
                "dnid": self.dnid or "",
            }
            return values.get(arg)
        if func == "CHANNEL":
            values = {
                "name": self.channel,
                "language": self.language,
                "linkedid": self.linkedid,
                "state": STATE_NAMES.get(self.state, ""),
                "channeltype": self.channel_type,
                "accountcode": self.accountcode,
            }
            return values.get(arg)
        if func == "EXISTS":
            return "0"
        return None

    def _substitute(self, text: str) -> str:
        """``ast_str_substitute_variables`` for ``${NAME}`` / ``${FUNC(args)}`` (nesting ok)."""
        out = []
        i = 0
        while i < len(text):
            if text.startswith("${", i):
                depth, j = 1, i + 2
                while j < len(text) and depth:
                    if text.startswith("${", j):
                        depth += 1
                        j += 2
                        continue
                    if text[j] == "}":
                        depth -= 1
                    j += 1
                inner = self._substitute(text[i + 2 : j - 1]) if depth == 0 else text[i + 2 :]
                out.append(self._lookup(inner) or "")
                i = j
                continue
            out.append(text[i])
            i += 1
        return "".join(out)

    def _next(self, outcomes: list[Any]) -> Any:
        return outcomes.pop(0) if len(outcomes) > 1 else outcomes[0]

    async def _emit(self, events: Iterable[AmiEvent], gaps_s: Sequence[float] = ()) -> None:
        if self.ami is None:
            return
        for i, event in enumerate(events):
            if i < len(gaps_s) and gaps_s[i] > 0:
                await self._sleep_virtual(gaps_s[i] * 1000)
            await self.ami.emit_event(event)


def _outcomes(value: Any, default: Any) -> list[Any]:
    if value is None:
        return [default]
    if isinstance(value, (str, QueueOutcome, DialOutcome, VoicemailOutcome, RecordOutcome)):
        return [value]
    items = list(value)
    return items or [default]


def _usage_lines(verb: str) -> list[str]:
    usage = _USAGE.get(verb)
    if not usage:
        return [NO_USAGE_520]
    return ["520-Invalid command syntax.  Proper usage follows:", usage, "520 End of proper usage."]


def _cause(code: int) -> list[tuple[str, str]]:
    return [("Cause", str(code)), ("Cause-txt", HANGUP_CAUSES.get(code, "Unknown"))]


# ------------------------------------------------------------------------------------------
# Command handlers: each returns the reply lines (res_agi.c wording)

Handler = Callable[[FakeCall, AgiCommand], Awaitable[list[str]]]
_HANDLERS: dict[str, Handler] = {}
_LISTENING = {
    "STREAM FILE",
    "WAIT FOR DIGIT",
    "GET DATA",
    "GET OPTION",
    "SAY DIGITS",
    "SAY NUMBER",
    "SAY ALPHA",
    "RECORD FILE",
}


def _handler(verb: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        _HANDLERS[verb] = fn
        return fn

    return register


@_handler("ANSWER")
async def _answer(call: FakeCall, cmd: AgiCommand) -> list[str]:
    call._answer()
    return ["200 result=0"]


@_handler("NOOP")
async def _noop(call: FakeCall, cmd: AgiCommand) -> list[str]:
    return ["200 result=0"]


@_handler("HANGUP")
async def _hangup(call: FakeCall, cmd: AgiCommand) -> list[str]:
    argv = cmd.argv
    if len(argv) > 2:
        return _usage_lines("HANGUP")
    if len(argv) == 2 and argv[1] != call.channel:
        return ["200 result=-1"]
    call._kill("runtime")
    return ["200 result=1"]


@_handler("CHANNEL STATUS")
async def _channel_status(call: FakeCall, cmd: AgiCommand) -> list[str]:
    argv = cmd.argv
    if len(argv) == 2:
        return [f"200 result={call.state}"]
    if len(argv) == 3:
        return [f"200 result={call.state}" if argv[2] == call.channel else "200 result=-1"]
    return _usage_lines("CHANNEL STATUS")


@_handler("SET VARIABLE")
async def _set_variable(call: FakeCall, cmd: AgiCommand) -> list[str]:
    if len(cmd.argv) != 4:
        return _usage_lines("SET VARIABLE")
    call._set(cmd.argv[2], cmd.argv[3], by_runtime=True)
    return ["200 result=1"]


@_handler("GET VARIABLE")
async def _get_variable(call: FakeCall, cmd: AgiCommand) -> list[str]:
    if len(cmd.argv) != 3:
        return _usage_lines("GET VARIABLE")
    value = call._lookup(cmd.argv[2])
    return ["200 result=0"] if value is None else [f"200 result=1 ({value})"]


@_handler("GET FULL VARIABLE")
async def _get_full_variable(call: FakeCall, cmd: AgiCommand) -> list[str]:
    argv = cmd.argv
    if len(argv) not in (4, 5):
        return _usage_lines("GET FULL VARIABLE")
    if len(argv) == 5 and argv[4] != call.channel:
        return ["200 result=0"]
    return [f"200 result=1 ({call._substitute(argv[3])})"]


@_handler("VERBOSE")
async def _verbose(call: FakeCall, cmd: AgiCommand) -> list[str]:
    if len(cmd.argv) < 2:
        return _usage_lines("VERBOSE")
    call.result.verbose.append(cmd.argv[1])
    return ["200 result=1"]


@_handler("SET MUSIC")
async def _set_music(call: FakeCall, cmd: AgiCommand) -> list[str]:
    argv = cmd.argv
    if len(argv) < 3:
        return _usage_lines("SET MUSIC")
    if argv[2].lower().startswith("on"):
        call.result.music.append("on " + (argv[3] if len(argv) > 3 else "default"))
    elif argv[2].lower().startswith("off"):
        call.result.music.append("off")
    return ["200 result=0"]


@_handler("STREAM FILE")
async def _stream_file(call: FakeCall, cmd: AgiCommand) -> list[str]:
    argv = cmd.argv
    if len(argv) < 4 or len(argv) > 5:
        return _usage_lines("STREAM FILE")
    offset = 0
    if len(argv) > 4:
        parsed = _sscanf_int(argv[4])
        if parsed is None:
            return _usage_lines("STREAM FILE")
        offset = parsed
    name, edigits = argv[2], argv[3]
    call._prompt_anomalies(cmd, name)
    if not call._exists(name):
        call.result.missing.append(name)
        if call.result.agi_status == "SUCCESS":
            call.result.agi_status = "FAILURE"  # RESULT_FAILURE, not caused by a hang-up
        return [f"200 result=-1 endpos={offset}"]
    call.result.played.append(name)
    duration = call._duration(name)
    total = int(duration * 8)
    start_ms = offset / 8
    key, t = await call._listen(max(0.0, duration - start_ms), edigits)
    if key == "hangup":
        call._kill("caller")
        res, endpos = -1, int((start_ms + t) * 8)
    elif key:
        res, endpos = ord(key), int((start_ms + t) * 8)
    else:
        res, endpos = 0, total
    call._set("PLAYBACKSTATUS", "FAILED" if res else "SUCCESS")
    return [f"200 result={res} endpos={endpos}"]


@_handler("GET OPTION")
async def _get_option(call: FakeCall, cmd: AgiCommand) -> list[str]:
    argv = cmd.argv
    if len(argv) < 4 or len(argv) > 5:
        return _usage_lines("GET OPTION")
    name, edigits = argv[2], argv[3]
    timeout = _atoi(argv[4]) if len(argv) == 5 else 5000
    if not call._exists(name):
        call.result.missing.append(name)
        return ["200 result=-1 endpos=0"]
    call.result.played.append(name)
    duration = call._duration(name)
    key, t = await call._listen(duration, edigits)
    endpos = int(t * 8) if key else int(duration * 8)
    if key is None:
        key, _ = await call._listen(timeout if timeout >= 0 else None, None)
        if key not in (None, "hangup") and key not in edigits:
            key = None
    if key == "hangup":
        call._kill("caller")
        return [f"200 result=-1 endpos={endpos}"]
    return [f"200 result={ord(key) if key else 0} endpos={endpos}"]


@_handler("WAIT FOR DIGIT")
async def _wait_for_digit(call: FakeCall, cmd: AgiCommand) -> list[str]:
    if len(cmd.argv) != 4:
        return _usage_lines("WAIT FOR DIGIT")
    timeout = _sscanf_int(cmd.argv[3])
    if timeout is None:
        return _usage_lines("WAIT FOR DIGIT")
    key, _ = await call._listen(None if timeout < 0 else float(timeout), None)
    if key == "hangup":
        call._kill("caller")
        return ["200 result=-1"]
    return [f"200 result={ord(key) if key else 0}"]


@_handler("GET DATA")
async def _get_data(call: FakeCall, cmd: AgiCommand) -> list[str]:
    argv = cmd.argv
    if len(argv) < 3:
        return _usage_lines("GET DATA")
    timeout = _atoi(argv[3]) if len(argv) >= 4 else 0
    maxlen = _atoi(argv[4]) if len(argv) >= 5 else 1024
    prompt = argv[2]
    first: float | None = 6000.0
    inter: float | None = 2000.0
    if timeout > 0:
        first = inter = float(timeout)
    elif timeout < 0:
        first = inter = None
    key: str | None = None
    if prompt:
        call._prompt_anomalies(cmd, prompt)
        if not call._exists(prompt):  # ast_streamfile() fails: ast_app_getdata_full() -> -1
            call.result.missing.append(prompt)
            return ["200 result=-1"]
        call.result.played.append(prompt)
    if maxlen == 0:
        return ["200 result=-1"]
    if prompt:
        key, _ = await call._listen(call._duration(prompt), None)
    if key is None:
        key, _ = await call._listen(first, None)
    digits = ""
    while True:
        if key == "hangup":
            call._kill("caller")
            return ["200 result=-1"]
        if key is None:
            return [f"200 result={digits} (timeout)"]
        if key == "#":
            return [f"200 result={digits}"]
        digits += key
        if len(digits) >= maxlen:
            return [f"200 result={digits}"]
        key, _ = await call._listen(inter, None)


async def _say(call: FakeCall, kind: str, text: str, edigits: str, per_item_ms: float) -> list[str]:
    call.result.said.append((kind, text))
    key, _ = await call._listen(per_item_ms * max(1, len(text)), edigits)
    if key == "hangup":
        call._kill("caller")
        return ["200 result=-1"]
    return [f"200 result={ord(key) if key else 0}"]


@_handler("SAY DIGITS")
async def _say_digits(call: FakeCall, cmd: AgiCommand) -> list[str]:
    argv = cmd.argv
    if len(argv) != 4 or _sscanf_int(argv[2]) is None:
        return _usage_lines("SAY DIGITS")
    return await _say(call, "DIGITS", argv[2], argv[3], 600)


@_handler("SAY NUMBER")
async def _say_number(call: FakeCall, cmd: AgiCommand) -> list[str]:
    argv = cmd.argv
    if len(argv) < 4 or len(argv) > 5:
        return _usage_lines("SAY NUMBER")
    number = _sscanf_int(argv[2])
    if number is None:
        return _usage_lines("SAY NUMBER")
    return await _say(call, "NUMBER", str(number), argv[3], 450)


@_handler("SAY ALPHA")
async def _say_alpha(call: FakeCall, cmd: AgiCommand) -> list[str]:
    argv = cmd.argv
    if len(argv) < 4 or len(argv) > 5:
        return _usage_lines("SAY ALPHA")
    return await _say(call, "ALPHA", argv[2], argv[3], 500)


@_handler("RECORD FILE")
async def _record_file(call: FakeCall, cmd: AgiCommand) -> list[str]:
    argv = cmd.argv
    if len(argv) < 6:
        return _usage_lines("RECORD FILE")
    timeout = _sscanf_int(argv[5])
    if timeout is None:
        return _usage_lines("RECORD FILE")
    name, fmt, edigits = argv[2], argv[3], argv[4]
    beep = (len(argv) > 6 and _sscanf_int(argv[6]) is None and not argv[6].startswith("s=")) or (
        len(argv) > 7 and not argv[7].startswith("s=")
    )
    if beep:
        call.result.played.append("beep")
    call.result.recorded.append(f"{name}.{fmt}")
    outcome: RecordOutcome | None = call._next(call.record_outcomes)
    if outcome is not None:
        end, key, duration = outcome.end, outcome.key, float(outcome.duration_ms)
        await call._sleep_virtual(duration)
    else:
        window = None if timeout < 0 else float(timeout)
        got, duration = await call._listen(window, edigits)
        end = "hangup" if got == "hangup" else "dtmf" if got else "timeout"
        key = got or ""
    samples = int(duration * 8)
    if end == "dtmf":
        return [f"200 result={ord(key[0])} (dtmf) endpos={samples}"]
    if end == "hangup":
        call._kill("caller")
        return [f"200 result=-1 (hangup) endpos={samples}"]
    if end == "silence":  # the loop ends on silence with ast_waitfor()'s remaining ms
        return [f"200 result={max(0, int(timeout - duration))} (timeout) endpos={samples}"]
    return [f"200 result=0 (timeout) endpos={samples}"]


@_handler("EXEC")
async def _exec(call: FakeCall, cmd: AgiCommand) -> list[str]:
    argv = cmd.argv
    if len(argv) < 2:
        return _usage_lines("EXEC")
    app = argv[1]
    data = argv[2] if len(argv) >= 3 else ""
    call.result.execs.append((app, data))
    canonical = KNOWN_APPS.get(app.lower())
    if canonical is None:
        cmd.anomalies.append(f"EXEC of an application Asterisk does not have: {app!r}")
        return ["200 result=-2"]
    if call._dead:
        return [f"200 result={-1 if canonical.lower() in _MEDIA_APPS else 0}"]
    runner = _APPS.get(canonical.lower())
    res = await runner(call, data) if runner is not None else 0
    return [f"200 result={res}"]


# -- dialplan applications run by EXEC: each returns the application's result -------------

AppRunner = Callable[[FakeCall, str], Awaitable[int]]
_APPS: dict[str, AppRunner] = {}


def _app(name: str) -> Callable[[AppRunner], AppRunner]:
    def register(fn: AppRunner) -> AppRunner:
        _APPS[name] = fn
        return fn

    return register


def _hangup_in_exec(call: FakeCall) -> float | None:
    at = call._cur_hangup_at
    call._cur_hangup_at = None
    return at


@_app("playback")
async def _app_playback(call: FakeCall, data: str) -> int:
    if not data:
        return -1
    files, _, options = data.partition(",")
    if call.state != STATE_UP and "noanswer" not in options.lower():
        call._answer()
    failed = False
    for raw in files.split("&"):
        name = raw.strip().strip('"').strip()
        if not call._exists(name):
            call.result.missing.append(name)
            failed = True
            continue
        call.result.played.append(name)
        key, _ = await call._listen(call._duration(name), "")
        if key == "hangup":
            call._kill("caller")
            call._set("PLAYBACKSTATUS", "FAILED" if failed else "SUCCESS")
            return -1
    call._set("PLAYBACKSTATUS", "FAILED" if failed else "SUCCESS")
    return 0


@_app("background")
async def _app_background(call: FakeCall, data: str) -> int:
    files = data.partition(",")[0]
    for name in files.split("&"):
        if not call._exists(name):
            call.result.missing.append(name)
            return -1
        call.result.played.append(name)
        key, _ = await call._listen(call._duration(name), "0123456789*#")
        if key == "hangup":
            call._kill("caller")
            return -1
        if key:
            return 0
    return 0


@_app("answer")
async def _app_answer(call: FakeCall, data: str) -> int:
    call._answer()
    return 0


@_app("set")
async def _app_set(call: FakeCall, data: str) -> int:
    name, sep, value = data.partition("=")
    if sep:
        call._set(name.strip(), value, by_runtime=True)
    return 0


@_app("hangup")
async def _app_hangup(call: FakeCall, data: str) -> int:
    call._kill("runtime")
    return -1


@_app("wait")
async def _app_wait(call: FakeCall, data: str) -> int:
    seconds = float(data or 0) if re.fullmatch(r"\s*\d+(\.\d+)?\s*", data or "0") else 0.0
    key, _ = await call._listen(seconds * 1000, "")
    if key == "hangup":
        call._kill("caller")
        return -1
    return 0


@_app("queue")
async def _app_queue(call: FakeCall, data: str) -> int:
    parts = data.split(",")
    queue = parts[0].strip()
    if not queue:
        return -1
    options = parts[1] if len(parts) > 1 else ""
    outcome: QueueOutcome = call._next(call.queue_outcomes)
    hang_at = _hangup_in_exec(call)
    status = outcome.status.upper()
    if hang_at is not None and status == "ANSWERED":
        outcome = dataclasses.replace(outcome, ended_by="caller")
    elif hang_at is not None:
        status = "ABANDON"
    me = call.snapshot()
    agent = AmiChannel(
        name=f"{outcome.interface}-{next(_seq):08x}",
        uniqueid=f"{int(time.time())}.{next(_seq)}",
        linkedid=call.linkedid,
        state=STATE_UP,
        caller_num=outcome.interface.rsplit("/", 1)[-1],
        caller_name=outcome.agent,
        connected_num=call.caller or "<unknown>",
        connected_name=call.caller_name or "<unknown>",
        language=call.language,
        context="from-queue",
        exten=outcome.interface.rsplit("/", 1)[-1],
    )
    call._vars.pop("ABANDONED", None)
    if status in ("FULL", "JOINEMPTY", "JOINUNAVAIL"):  # never joins
        call._set("QUEUESTATUS", status)
        return 0
    events = queue_events(me, queue, outcome, agent=agent, status=status)
    gaps = [0.0] + [0.0] * (len(events) - 1)
    if status == "ANSWERED":
        connect = next(i for i, e in enumerate(events) if e.name == "AgentConnect")
        complete = next(i for i, e in enumerate(events) if e.name == "AgentComplete")
        gaps[connect] = outcome.hold_s
        gaps[complete] = outcome.talk_s
    elif len(events) > 1:
        gaps[-2] = outcome.hold_s
    if call.ami is not None:
        call.ami._queue_waiting.setdefault(queue, []).append(call)
    try:
        await call._emit(events, gaps)
        if call.ami is None:
            wait = outcome.hold_s + (outcome.talk_s if status == "ANSWERED" else 0)
            await call._sleep_virtual(wait * 1000)
    finally:
        if call.ami is not None:
            call.ami._queue_waiting.get(queue, [call]).remove(call)
    call._set("QUEUEWAIT", str(outcome.hold_s))
    call._set("QUEUEWAIT_MS", str(outcome.hold_s * 1000))
    talk = outcome.talk_s if status == "ANSWERED" else 0
    call._set("ANSWEREDTIME", str(talk))
    call._set("ANSWEREDTIME_MS", str(talk * 1000))
    call._set("DIALEDTIME", str(outcome.hold_s + talk))
    call._set("DIALEDTIME_MS", str((outcome.hold_s + talk) * 1000))
    if status == "ANSWERED":
        # setinterfacevar=yes (examples/asterisk/queues.conf): MEMBERINTERFACE, MEMBERNAME…
        call._set("MEMBERINTERFACE", outcome.interface)
        call._set("MEMBERNAME", outcome.agent)
        if outcome.ended_by == "agent" and "c" in options:
            call._set("QUEUESTATUS", "CONTINUE")
            return 0
        call._kill("caller" if outcome.ended_by == "caller" else "agent")
        return -1
    call._set("ABANDONED", "TRUE")
    if status == "ABANDON":  # the caller hung up while waiting: QUEUESTATUS is not set
        call._kill("caller")
        return -1
    call._set("QUEUESTATUS", status)
    return 0


@_app("dial")
async def _app_dial(call: FakeCall, data: str) -> int:
    parts = data.split(",")
    if not parts[0].strip():
        call._set("DIALSTATUS", "INVALIDARGS")
        return -1
    options = parts[2] if len(parts) > 2 else ""
    raw = call._next(call.dial_outcomes)
    outcome = DialOutcome(status=raw) if isinstance(raw, str) else raw
    status = outcome.status.upper()
    if _hangup_in_exec(call) is not None:
        status = "CANCEL"
    await call._sleep_virtual(outcome.ring_s * 1000)
    talk = outcome.talk_s if status == "ANSWER" else 0
    if talk:
        await call._sleep_virtual(talk * 1000)
    call._set("DIALSTATUS", status)
    call._set("DIALEDTIME", str(outcome.ring_s + talk))
    call._set("ANSWEREDTIME", str(talk))
    if status == "ANSWER":
        call._set("DIALEDPEERNAME", outcome.peer)
        call._set("DIALEDPEERNUMBER", parts[0].split("&")[0].strip())
        if outcome.ended_by == "callee" and "g" in options:
            return 0
        call._kill("caller" if outcome.ended_by == "caller" else "callee")
        return -1
    if status == "CANCEL":
        call._kill("caller")
        return -1
    return 0


@_app("voicemail")
async def _app_voicemail(call: FakeCall, data: str) -> int:
    raw = call._next(call.voicemail_outcomes)
    outcome = VoicemailOutcome(status=raw) if isinstance(raw, str) else raw
    if not data.partition(",")[0].strip():
        call._set("VMSTATUS", "FAILED")
        return -1
    hang_at = _hangup_in_exec(call)
    await call._sleep_virtual(float(outcome.duration_ms if hang_at is None else hang_at))
    call._set("VMSTATUS", outcome.status.upper())
    if outcome.caller_hangs_up or hang_at is not None:
        call._kill("caller")
        return -1
    return 0


# ------------------------------------------------------------------------------------------
# AMI


@dataclass
class AmiChannel:
    """A channel snapshot as AMI events print it (ast_manager_build_channel_state_string)."""

    name: str
    uniqueid: str
    linkedid: str = ""
    state: int = STATE_UP
    caller_num: str = "<unknown>"
    caller_name: str = "<unknown>"
    connected_num: str = "<unknown>"
    connected_name: str = "<unknown>"
    language: str = "zh"
    accountcode: str = ""
    context: str = "ivr-entry"
    exten: str = "s"
    priority: int = 1

    def fields(self, prefix: str = "") -> list[tuple[str, str]]:
        p = prefix
        return [
            (f"{p}Channel", self.name),
            (f"{p}ChannelState", str(self.state)),
            (f"{p}ChannelStateDesc", STATE_NAMES.get(self.state, f"Unknown ({self.state})")),
            (f"{p}CallerIDNum", self.caller_num or "<unknown>"),
            (f"{p}CallerIDName", self.caller_name or "<unknown>"),
            (f"{p}ConnectedLineNum", self.connected_num or "<unknown>"),
            (f"{p}ConnectedLineName", self.connected_name or "<unknown>"),
            (f"{p}Language", self.language),
            (f"{p}AccountCode", self.accountcode),
            (f"{p}Context", self.context),
            (f"{p}Exten", self.exten),
            (f"{p}Priority", str(self.priority)),
            (f"{p}Uniqueid", self.uniqueid),
            (f"{p}Linkedid", self.linkedid or self.uniqueid),
        ]


@dataclass
class AmiEvent:
    """An AMI event; ``category`` is its class (``call``, ``agent``, ``system``, ``dtmf``…)."""

    name: str
    fields: list[tuple[str, str]] = field(default_factory=list)
    category: str = "call"

    def encode(self, *, timestamp: bool = False) -> bytes:
        lines = [f"Event: {self.name}", f"Privilege: {self.category},all"]
        if timestamp:
            lines.append(f"Timestamp: {time.time():.6f}")
        lines += [f"{k}: {v}" for k, v in self.fields]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape")

    def get(self, key: str, default: str | None = None) -> str | None:
        for k, v in self.fields:
            if k.lower() == key.lower():
                return v
        return default


def queue_events(
    caller: AmiChannel,
    queue: str,
    outcome: QueueOutcome,
    *,
    agent: AmiChannel | None = None,
    status: str | None = None,
) -> list[AmiEvent]:
    """The queue life cycle of one caller, in app_queue.c's order.

    Answered: QueueCallerJoin, (AgentCalled, AgentRingNoAnswer)×n, AgentCalled,
    QueueCallerLeave, AgentConnect, AgentComplete. Not answered (TIMEOUT/LEAVEEMPTY/…, or
    ABANDON = the caller hung up): QueueCallerJoin, (AgentCalled, AgentRingNoAnswer)×n,
    QueueCallerAbandon, QueueCallerLeave — the Abandon comes on a plain timeout too.
    """
    status = (status or outcome.status).upper()
    member = agent or AmiChannel(
        name=f"{outcome.interface}-00000001", uniqueid=f"{caller.uniqueid}1", state=STATE_UP
    )
    pos = outcome.position
    member_fields = [
        ("Queue", queue),
        ("Interface", outcome.interface),
        ("MemberName", outcome.agent),
    ]

    def both() -> list[tuple[str, str]]:
        return [*caller.fields(), *member.fields("Dest")]

    events = [
        AmiEvent(
            "QueueCallerJoin",
            [*caller.fields(), ("Queue", queue), ("Position", str(pos)), ("Count", str(pos))],
            "agent",
        )
    ]
    for _ in range(outcome.ring_no_answer):
        events.append(AmiEvent("AgentCalled", [*both(), *member_fields], "agent"))
        events.append(
            AmiEvent("AgentRingNoAnswer", [*both(), *member_fields, ("RingTime", "15")], "agent")
        )
    if status == "ANSWERED":
        events += [
            AmiEvent("AgentCalled", [*both(), *member_fields], "agent"),
            AmiEvent(
                "QueueCallerLeave",
                [*caller.fields(), ("Queue", queue), ("Position", str(pos)), ("Count", "0")],
                "agent",
            ),
            AmiEvent(
                "AgentConnect",
                [*both(), *member_fields, ("HoldTime", str(outcome.hold_s)), ("RingTime", "3")],
                "agent",
            ),
            AmiEvent(
                "AgentComplete",
                [
                    *both(),
                    *member_fields,
                    ("HoldTime", str(outcome.hold_s)),
                    ("TalkTime", str(outcome.talk_s)),
                    ("Reason", outcome.ended_by),
                ],
                "agent",
            ),
        ]
        return events
    events += [
        AmiEvent(
            "QueueCallerAbandon",
            [
                *caller.fields(),
                ("Queue", queue),
                ("Position", str(pos)),
                ("OriginalPosition", str(pos)),
                ("HoldTime", str(outcome.hold_s)),
            ],
            "agent",
        ),
        AmiEvent(
            "QueueCallerLeave",
            [*caller.fields(), ("Queue", queue), ("Position", str(pos)), ("Count", "0")],
            "agent",
        ),
    ]
    return events


# Bad event bytes for the AMI fault tests (send with FakeAmi.emit_raw).
GARBLED_EVENTS: tuple[bytes, ...] = (
    b"Event: Newchannel\r\nPrivilege: call,all\r\nChannel PJSIP/no-colon-00000001\r\n\r\n",
    b"Event: Hangup\r\nPrivilege: call,all\r\nUniqueid: \xff\xfe\xfd\r\nCause: sixteen\r\n\r\n",
    b"Privilege: call,all\r\nChannel: PJSIP/no-event-line-00000002\r\n\r\n",
    b"\r\n\r\n",
    b"Event: VarSet\nPrivilege: dialplan,all\nVariable: BARE_LF\nValue: 1\n\n",
    b"Event: UserEvent\r\nPrivilege: user,all\r\nData: " + b"A" * 70_000 + b"\r\n\r\n",
    b"Event: Newstate\r\nPrivilege: call,all\r\nChannel: \r\nChannelState: 99\r\n"
    b"Uniqueid: 1.1\r\nUniqueid: 2.2\r\n\r\n",
)
PARTIAL_EVENT = b"Event: QueueCallerJoin\r\nPrivilege: agent,all\r\nChannel: PJSIP/carrier-0"


@dataclass
class AmiMessage:
    """An AMI message as received: ordered headers (duplicates kept)."""

    headers: list[tuple[str, str]]
    raw_lines: list[str] = field(default_factory=list)
    session: int = 0

    def get(self, key: str, default: str = "") -> str:
        """astman_get_header(): the first non-empty value of the header, case-insensitive."""
        for k, v in self.headers:
            if k.lower() == key.lower() and v:
                return v
        return default

    def get_all(self, key: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == key.lower()]

    @property
    def action(self) -> str:
        return self.get("Action")


@dataclass
class AmiUser:
    secret: str
    read: str = "all"
    write: str = "all"


@dataclass
class AmiQueueMember:
    """A queue member as app_queue keeps it (``struct member``): what ``QueueStatus`` lists and
    the member events carry. ``status`` is the numeric device state (1 = NOT_INUSE)."""

    name: str
    interface: str
    state_interface: str = ""
    membership: str = "static"
    penalty: int = 0
    calls: int = 0
    last_call: int = 0
    last_pause: int = 0
    login_time: int = 0
    in_call: bool = False
    status: int = 1
    paused: bool = False
    paused_reason: str = ""
    ringinuse: bool = True
    wrapuptime: int = 0

    def blob(self, queue: str) -> list[tuple[str, str]]:
        """queue_member_blob_create(): the fields of every QueueMember* event, in its order."""
        return [
            ("Queue", queue),
            ("MemberName", self.name),
            ("Interface", self.interface),
            ("StateInterface", self.state_interface or self.interface),
            ("Membership", self.membership),
            ("Penalty", str(self.penalty)),
            ("CallsTaken", str(self.calls)),
            ("LastCall", str(self.last_call)),
            ("LastPause", str(self.last_pause)),
            ("LoginTime", str(self.login_time)),
            ("InCall", "1" if self.in_call else "0"),
            ("Status", str(self.status)),
            ("Paused", "1" if self.paused else "0"),
            ("PausedReason", self.paused_reason),
            ("Ringinuse", "1" if self.ringinuse else "0"),
            ("Wrapuptime", str(self.wrapuptime)),
        ]

    def listed(self, queue: str) -> list[tuple[str, str]]:
        """manager_queues_status(): one ``QueueMember`` item (Name/Location, not
        MemberName/Interface; no Ringinuse)."""
        return [
            ("Queue", queue),
            ("Name", self.name),
            ("Location", self.interface),
            ("StateInterface", self.state_interface or self.interface),
            ("Membership", self.membership),
            ("Penalty", str(self.penalty)),
            ("CallsTaken", str(self.calls)),
            ("LastCall", str(self.last_call)),
            ("LastPause", str(self.last_pause)),
            ("LoginTime", str(self.login_time)),
            ("InCall", "1" if self.in_call else "0"),
            ("Status", str(self.status)),
            ("Paused", "1" if self.paused else "0"),
            ("PausedReason", self.paused_reason),
            ("Wrapuptime", str(self.wrapuptime)),
        ]


QueueMemberSpec = tuple[str, str] | AmiQueueMember


@dataclass
class Originated:
    """One Originate the fake AMI accepted."""

    request: AmiMessage
    channel: str  # the requested channel, e.g. Local/s@ivr-entry
    name1: str  # Local/s@ivr-entry-0000000a;1 (or the channel's name)
    name2: str | None  # …;2 for Local channels
    uniqueid1: str
    uniqueid2: str | None
    call: FakeCall | None = None
    result: CallResult | None = None
    response: str | None = None  # "Success" | "Failure" once OriginateResponse went out
    reason: int | None = None
    task: asyncio.Task[None] | None = None


OriginateHook = Callable[[Originated], Any]

# fmt: off
_PERM_NAMES = (
    "system", "call", "log", "verbose", "command", "agent", "user", "config", "dtmf", "reporting",
    "cdr", "dialplan", "originate", "agi", "cc", "aoc", "test", "security", "message",
)
# fmt: on


def _perms(text: str) -> set[str]:
    words = {w.strip().lower() for w in text.split(",") if w.strip()}
    if "all" in words:
        return {*_PERM_NAMES, "all"}
    return words & set(_PERM_NAMES)


def _event_mask(text: str) -> set[str] | None:
    """strings2mask(): the event classes a session asked for (None: a bad mask)."""
    value = text.strip().lower()
    if value in ("yes", "true", "y", "t", "1", "on"):
        return set(_PERM_NAMES)
    if value in ("no", "false", "n", "f", "0", "off"):
        return set()
    if value.lstrip("-").isdigit():
        return None if int(value) < 0 else set(_PERM_NAMES)
    return _perms(value)


_ACTION_PERMS = {
    "originate": {"originate"},
    "playdtmf": {"call"},
    "hangup": {"system", "call"},
}


class _Session:
    def __init__(self, sid: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.id = sid
        self.reader = reader
        self.writer = writer
        self.authenticated = False
        self.username = ""
        self.read: set[str] = set()
        self.write: set[str] = set()
        self.events: set[str] = set()  # send_events: read rights & the Events mask
        self.challenge = ""
        self.closed = False
        self.lock = asyncio.Lock()
        self.started = time.monotonic()


class FakeAmi:
    """An Asterisk Manager Interface server (``async with FakeAmi(...) as ami: ami.port``)."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        username: str = "ivrflow",
        secret: str = "ivrflow-secret",
        users: Mapping[str, AmiUser] | None = None,
        version: str = AMI_VERSION,
        write_timeout_ms: float = 100.0,
        auth_timeout_s: float = 30.0,
        auth_fail_delay_s: float = 1.0,
        login_fails: bool = False,
        originate_hook: OriginateHook | None = None,
        queues: Mapping[str, Sequence[QueueMemberSpec]] | None = None,
        sndbuf: int | None = None,
        timestamp_events: bool = False,
    ) -> None:
        """users: username → :class:`AmiUser` (default: one user with all rights).
        write_timeout_ms: a client whose socket stays full this long is dropped (Asterisk's
        manager.conf ``writetimeout``). auth_fail_delay_s: Asterisk sleeps 1 s before
        answering a bad login, then disconnects. originate_hook(info): return a
        :class:`FakeCall` to run for the originated channel (the fake fills in its channel
        name, uniqueid and AMI link), an int (the call fails with that Reason: 3 no answer,
        5 busy, 8 congestion) or None (the channel just answers). queues: name →
        [(member name, interface)] or [:class:`AmiQueueMember`] (paused or not…) for
        QueueStatus/QueueSummary; :meth:`add_member`, :meth:`remove_member`,
        :meth:`pause_member` and :meth:`set_member_status` change them and send the events
        Asterisk sends. sndbuf: SO_SNDBUF of client
        sockets (small values make slow-client tests fast)."""
        self.host = host
        self._port = port
        self.users = dict(users) if users else {username: AmiUser(secret)}
        self.version = version
        self.write_timeout_ms = write_timeout_ms
        self.auth_timeout_s = auth_timeout_s
        self.auth_fail_delay_s = auth_fail_delay_s
        self.login_fails = login_fails
        self.originate_hook = originate_hook
        self._started_at = time.time()
        self.queues: dict[str, list[AmiQueueMember]] = {
            k: [self._member(m) for m in v] for k, v in (queues or {"support": []}).items()
        }
        self.sndbuf = sndbuf
        self.timestamp_events = timestamp_events
        self.actions: list[AmiMessage] = []
        self.dropped: list[tuple[int, str]] = []  # (session id, reason)
        self.originated: list[Originated] = []
        self.dtmf: list[tuple[str, str, bool]] = []  # (channel, digit, delivered to an AGI)
        self.events_sent = 0
        self._server: asyncio.Server | None = None
        self._sessions: dict[int, _Session] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._sids = itertools.count(1)
        self._channels: dict[str, tuple[FakeCall, str]] = {}
        self._queue_waiting: dict[str, list[FakeCall]] = {}
        self._local_seq = itertools.count(0x10)
        self._changed = asyncio.Condition()

    # -- life cycle ------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._port

    # -- queue members (app_queue) -----------------------------------------------------------

    def _member(self, spec: QueueMemberSpec) -> AmiQueueMember:
        if isinstance(spec, AmiQueueMember):
            member = dataclasses.replace(spec)
        else:
            name, interface = spec
            member = AmiQueueMember(name, interface)
        if not member.login_time:
            member.login_time = int(self._started_at)
        return member

    def find_member(self, queue: str, interface: str) -> AmiQueueMember | None:
        """member_cmp_fn(): interfaces compare case-insensitively (so do queue names)."""
        for name, members in self.queues.items():
            if name.lower() == queue.lower():
                for member in members:
                    if member.interface.lower() == interface.lower():
                        return member
        return None

    def _queues_of(self, interface: str, queue: str | None) -> list[tuple[str, AmiQueueMember]]:
        found = []
        for name, members in self.queues.items():
            if queue is not None and name.lower() != queue.lower():
                continue
            for member in members:
                if member.interface.lower() == interface.lower():
                    found.append((name, member))
        return found

    async def add_member(
        self,
        queue: str,
        interface: str,
        name: str = "",
        *,
        paused: bool = False,
        reason: str = "",
        penalty: int = 0,
    ) -> bool:
        """AddQueueMember/QueueAdd: a dynamic member and ``QueueMemberAdded``. False (no event)
        when the queue does not exist or the interface is a member already (RES_EXISTS)."""
        members = next((m for q, m in self.queues.items() if q.lower() == queue.lower()), None)
        if members is None or self.find_member(queue, interface) is not None:
            return False
        member = AmiQueueMember(
            name or interface,
            interface,
            membership="dynamic",
            penalty=penalty,
            paused=paused,
            paused_reason=reason if paused else "",
            login_time=int(time.time()),
        )
        members.append(member)
        await self.emit("QueueMemberAdded", member.blob(queue), "agent")
        return True

    async def remove_member(self, queue: str, interface: str) -> bool:
        """RemoveQueueMember/QueueRemove: ``QueueMemberRemoved`` with the member as it was."""
        for name, member in self._queues_of(interface, queue):
            self.queues[name].remove(member)
            await self.emit("QueueMemberRemoved", member.blob(name), "agent")
            return True
        return False

    async def pause_member(
        self, interface: str, paused: bool = True, *, queue: str | None = None, reason: str = ""
    ) -> int:
        """PauseQueueMember/QueuePause (``queue=None``: every queue the interface is in). One
        ``QueueMemberPause`` per queue — also when the state does not change, as
        set_queue_member_pause() does. Returns how many queues."""
        found = self._queues_of(interface, queue)
        for name, member in found:
            member.paused = paused
            if paused:
                member.last_pause = int(time.time())
            member.paused_reason = reason
            await self.emit("QueueMemberPause", member.blob(name), "agent")
            if not paused:
                member.paused_reason = ""
        return len(found)

    async def set_member_status(
        self, interface: str, status: int, *, in_call: bool | None = None
    ) -> int:
        """A device state change: ``QueueMemberStatus`` for every queue the interface is in
        whose member status changes (update_status()). Returns how many events."""
        sent = 0
        for name, member in self._queues_of(interface, None):
            if in_call is not None:
                member.in_call = in_call
            if member.status == status:
                continue
            member.status = status
            await self.emit("QueueMemberStatus", member.blob(name), "agent")
            sent += 1
        return sent

    async def start(self) -> FakeAmi:
        self._server = await asyncio.start_server(
            self._on_client, self.host, self._port, limit=1 << 20, reuse_address=True
        )
        self._port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aenter__(self) -> FakeAmi:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def stop(self) -> None:
        """Close the listener, every session and every originated call."""
        await self._close_listener()
        await self.disconnect_all()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()

    async def _close_listener(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def disconnect_all(self) -> None:
        """Close every client connection (FIN), as a crashing Asterisk would."""
        sessions = list(self._sessions.values())
        for s in sessions:
            s.closed = True
            s.writer.close()
        for s in sessions:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(s.writer.wait_closed(), 1.0)

    async def restart(self, down_for: float = 0.1) -> None:
        """``core restart now``: a Shutdown event, every connection closed, the port closed for
        ``down_for`` seconds, then listening again on the same port."""
        await self.emit_event(
            AmiEvent("Shutdown", [("Shutdown", "Cleanly"), ("Restart", "True")], "system")
        )
        await self._close_listener()
        await self.disconnect_all()
        await asyncio.sleep(down_for)
        self._started_at = time.time()
        await self.start()

    @property
    def sessions(self) -> list[_Session]:
        return [s for s in self._sessions.values() if not s.closed]

    async def wait_for_logins(self, n: int = 1, within: float = 5.0) -> None:
        """Until n clients are logged in."""
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(
                lambda: sum(1 for s in self.sessions if s.authenticated) >= n
            )

    async def wait_for_action(self, name: str, count: int = 1, within: float = 5.0) -> AmiMessage:
        """Until ``count`` actions named ``name`` arrived; returns the last."""

        def seen() -> list[AmiMessage]:
            return [m for m in self.actions if m.action.lower() == name.lower()]

        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(lambda: len(seen()) >= count)
        return seen()[count - 1]

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # -- sending ---------------------------------------------------------------------------

    async def _send(self, s: _Session, data: bytes) -> bool:
        """Write; a client whose socket stays full for write_timeout_ms is dropped."""
        if s.closed:
            return False
        try:
            s.writer.write(data)
        except (ConnectionError, RuntimeError):
            self._drop(s, "connection lost")
            return False
        if s.writer.transport.get_write_buffer_size() == 0:
            return True
        async with s.lock:
            try:
                await asyncio.wait_for(s.writer.drain(), self.write_timeout_ms / 1000)
            except TimeoutError:
                self._drop(s, f"write blocked for more than {self.write_timeout_ms:g} ms")
                return False
            except ConnectionError:
                self._drop(s, "connection lost")
                return False
        return True

    def _drop(self, s: _Session, reason: str) -> None:
        if s.closed:
            return
        s.closed = True
        self.dropped.append((s.id, reason))
        s.writer.transport.abort()

    def _wants(self, s: _Session, category: str) -> bool:
        return s.authenticated and not s.closed and category in s.events

    async def emit_event(self, event: AmiEvent) -> int:
        """Send an event to every logged-in client whose read rights and event mask take its
        class. Returns how many got it."""
        data = event.encode(timestamp=self.timestamp_events)
        sent = 0
        for s in list(self._sessions.values()):
            if self._wants(s, event.category) and await self._send(s, data):
                sent += 1
        self.events_sent += 1
        return sent

    async def emit(
        self,
        name: str,
        fields: Mapping[str, str] | Sequence[tuple[str, str]] = (),
        category: str = "call",
    ) -> int:
        pairs = list(fields.items()) if isinstance(fields, Mapping) else list(fields)
        return await self.emit_event(AmiEvent(name, pairs, category))

    async def emit_events(self, events: Iterable[AmiEvent]) -> None:
        for event in events:
            await self.emit_event(event)

    async def emit_raw(self, data: bytes) -> int:
        """Raw bytes to every logged-in client (garbled or partial events)."""
        sent = 0
        for s in list(self._sessions.values()):
            if s.authenticated and not s.closed and await self._send(s, data):
                sent += 1
        return sent

    async def burst(
        self,
        n: int = 10_000,
        *,
        name: str = "Newstate",
        category: str = "call",
        chunk: int = 200,
    ) -> int:
        """n events for channels nobody knows, written in chunks as fast as the sockets take
        them. Returns how many clients got all of them."""
        base = int(time.time())
        events = [
            AmiEvent(
                name,
                AmiChannel(
                    name=f"PJSIP/unknown-{i:08x}",
                    uniqueid=f"{base}.{100000 + i}",
                    state=STATE_UP if i % 2 else STATE_RING,
                    caller_num=f"1380000{i % 10000:04d}",
                ).fields(),
                category,
            ).encode()
            for i in range(n)
        ]
        blobs = [b"".join(events[i : i + chunk]) for i in range(0, n, chunk)]
        complete = 0
        for s in list(self._sessions.values()):
            if not self._wants(s, category):
                continue
            ok = True
            for blob in blobs:
                if not await self._send(s, blob):
                    ok = False
                    break
                await asyncio.sleep(0)
            complete += ok
        self.events_sent += n
        return complete

    # -- sessions ----------------------------------------------------------------------------

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        s = _Session(next(self._sids), reader, writer)
        self._sessions[s.id] = s
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.sndbuf:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.sndbuf)
        writer.transport.set_write_buffer_limits(high=0)
        try:
            await self._send(s, f"Asterisk Call Manager/{self.version}\r\n".encode())
            while not s.closed:
                msg = await self._read_message(s)
                if msg is None:
                    break
                self.actions.append(msg)
                await self._notify()
                if not await self._process(s, msg):
                    break
        except (ConnectionError, OSError, asyncio.IncompleteReadError):
            pass
        finally:
            s.closed = True
            self._sessions.pop(s.id, None)
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)
            self._tasks.discard(task)
            await self._notify()

    async def _read_message(self, s: _Session) -> AmiMessage | None:
        headers: list[tuple[str, str]] = []
        lines: list[str] = []
        too_long = False
        while True:
            if s.authenticated:
                line = await s.reader.readline()
            else:
                left = self.auth_timeout_s - (time.monotonic() - s.started)
                try:
                    line = await asyncio.wait_for(s.reader.readline(), max(0.0, left))
                except TimeoutError:
                    return None  # "failed to authenticate in N seconds"
            if not line:
                return None
            text = line.rstrip(b"\n").rstrip(b"\r").decode("utf-8", "surrogateescape")
            if not text:
                if not headers and not lines:
                    continue
                msg = AmiMessage(headers, lines, s.id)
                if too_long:
                    msg.headers.append(("X-Fake-Too-Long", "1"))
                return msg
            if len(text) > 1024:
                too_long = True
                continue
            lines.append(text)
            key, sep, value = text.partition(":")
            if sep:
                headers.append((key.strip(), value.lstrip(" \t")))

    def _reply(
        self,
        msg: AmiMessage,
        response: str,
        message: str | None = None,
        extra: Sequence[tuple[str, str]] = (),
        listflag: str | None = None,
    ) -> bytes:
        lines = [f"Response: {response}"]
        action_id = msg.get("ActionID")
        if action_id:
            lines.append(f"ActionID: {action_id}")
        if listflag:
            lines.append(f"EventList: {listflag}")
        if message is not None:
            lines.append(f"Message: {message}")
        lines += [f"{k}: {v}" for k, v in extra]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape")

    async def _error(self, s: _Session, msg: AmiMessage, text: str) -> bool:
        await self._send(s, self._reply(msg, "Error", text))
        return True

    async def _process(self, s: _Session, msg: AmiMessage) -> bool:
        """Run one action; False closes the session."""
        if msg.get("X-Fake-Too-Long"):
            return await self._error(s, msg, "Failed to parse message: line too long")
        action = msg.action
        if not action:
            return await self._error(s, msg, "Missing action in request")
        name = action.lower()
        if not s.authenticated and name not in ("login", "logoff", "challenge"):
            return await self._error(s, msg, "Permission denied")
        handler = {
            "login": self._a_login,
            "challenge": self._a_challenge,
            "logoff": self._a_logoff,
            "ping": self._a_ping,
            "events": self._a_events,
            "originate": self._a_originate,
            "playdtmf": self._a_playdtmf,
            "hangup": self._a_hangup,
            "queuestatus": self._a_queuestatus,
            "queuesummary": self._a_queuesummary,
        }.get(name)
        if handler is None:
            return await self._error(
                s,
                msg,
                f"Invalid/unknown command: {action}. Use Action: ListCommands to show"
                " available commands.",
            )
        need = _ACTION_PERMS.get(name)
        if need and not (need & s.write):
            return await self._error(s, msg, "Permission denied")
        return await handler(s, msg)

    async def _a_login(self, s: _Session, msg: AmiMessage) -> bool:
        if s.authenticated:
            await self._send(s, self._reply(msg, "Success", "Already authenticated"))
            return True
        user = self.users.get(msg.get("Username"))
        ok = False
        if user is not None and not self.login_fails:
            if msg.get("AuthType").lower() == "md5":
                want = hashlib.md5((s.challenge + user.secret).encode()).hexdigest()
                ok = bool(s.challenge) and msg.get("Key").lower() == want
            else:
                ok = msg.get("Secret") == user.secret
        if not ok:
            await asyncio.sleep(self.auth_fail_delay_s)
            await self._send(s, self._reply(msg, "Error", "Authentication failed"))
            return False
        assert user is not None
        s.authenticated = True
        s.username = msg.get("Username")
        s.read, s.write = _perms(user.read), _perms(user.write)
        s.events = set(s.read)
        events = msg.get("Events")
        if events:
            mask = _event_mask(events)
            if mask is not None:
                s.events = s.read & mask
        await self._send(s, self._reply(msg, "Success", "Authentication accepted"))
        if "system" in s.events:
            uptime = int(time.time() - self._started_at)
            await self._send(
                s,
                (
                    "Event: FullyBooted\r\nPrivilege: system,all\r\n"
                    f"Uptime: {uptime}\r\nLastReload: {uptime}\r\nStatus: Fully Booted\r\n\r\n"
                ).encode(),
            )
        await self._notify()
        return True

    async def _a_challenge(self, s: _Session, msg: AmiMessage) -> bool:
        if msg.get("AuthType").lower() != "md5":
            return await self._error(s, msg, "Must specify AuthType")
        s.challenge = s.challenge or str(random.randrange(100_000_000, 999_999_999))
        await self._send(s, self._reply(msg, "Success", extra=[("Challenge", s.challenge)]))
        return True

    async def _a_logoff(self, s: _Session, msg: AmiMessage) -> bool:
        await self._send(s, self._reply(msg, "Goodbye", "Thanks for all the fish."))
        return False

    async def _a_ping(self, s: _Session, msg: AmiMessage) -> bool:
        await self._send(
            s,
            self._reply(
                msg, "Success", extra=[("Ping", "Pong"), ("Timestamp", f"{time.time():.6f}")]
            ),
        )
        return True

    async def _a_events(self, s: _Session, msg: AmiMessage) -> bool:
        mask = _event_mask(msg.get("EventMask"))
        if mask is None:
            return await self._error(s, msg, "Invalid event mask")
        s.events = s.read & mask
        await self._send(
            s, self._reply(msg, "Success", extra=[("Events", "On" if mask else "Off")])
        )
        return True

    # -- channels, Originate, PlayDTMF ----------------------------------------------------

    def _register_channel(self, name: str, call: FakeCall, side: str) -> None:
        self._channels[name] = (call, side)

    def _unregister_channel(self, name: str) -> None:
        self._channels.pop(name, None)

    async def _a_originate(self, s: _Session, msg: AmiMessage) -> bool:
        name = msg.get("Channel")
        if not name:
            return await self._error(s, msg, "Channel not specified")
        timeout = msg.get("Timeout")
        if timeout and _sscanf_int(timeout) is None:
            return await self._error(s, msg, "Invalid timeout")
        tech, sep, rest = name.partition("/")
        if not sep:
            return await self._error(s, msg, "Invalid channel")
        app = msg.get("Application")
        if app and app.lower() in DANGEROUS_APPS and "system" not in s.write:
            return await self._error(s, msg, "Originate Access Forbidden: app or data blacklisted")
        if not app and not (msg.get("Exten") and msg.get("Context") and msg.get("Priority")):
            return await self._error(
                s, msg, "Originate with 'Exten' requires 'Context' and 'Priority'"
            )
        n = next(self._local_seq)
        base = int(time.time())
        if tech.lower() == "local":
            target = rest.split("/", 1)[0]
            name1, name2 = f"Local/{target}-{n:08x};1", f"Local/{target}-{n:08x};2"
            uid2: str | None = msg.get("OtherChannelId") or f"{base}.{n * 2 + 1}"
        else:
            name1, name2, uid2 = f"{name}-{n:08x}", None, None
        info = Originated(
            request=msg,
            channel=name,
            name1=name1,
            name2=name2,
            uniqueid1=msg.get("ChannelId") or f"{base}.{n * 2}",
            uniqueid2=uid2,
        )
        self.originated.append(info)
        done = asyncio.Event()
        info.task = self._spawn(self._run_originate(info, msg, done))
        if msg.get("Async").lower() in ("true", "yes", "1", "on", "y", "t"):
            await self._send(s, self._reply(msg, "Success", "Originate successfully queued"))
        else:
            await done.wait()
            if info.response == "Success":
                await self._send(s, self._reply(msg, "Success", "Originate successfully queued"))
            else:
                await self._send(s, self._reply(msg, "Error", "Originate failed"))
        return True

    async def _run_originate(self, info: Originated, msg: AmiMessage, done: asyncio.Event) -> None:
        is_async = msg.get("Async").lower() in ("true", "yes", "1", "on", "y", "t")
        cid_name, cid_num = _parse_callerid(msg.get("CallerID"))
        app = msg.get("Application")
        first = AmiChannel(
            name=info.name1,
            uniqueid=info.uniqueid1,
            state=0,
            caller_num=cid_num or "<unknown>",
            caller_name=cid_name or "<unknown>",
        )

        async def respond(response: str, reason: int) -> None:
            if info.response is not None:
                return
            info.response, info.reason = response, reason
            done.set()
            if not is_async:
                return
            fields = [("ActionID", msg.get("ActionID"))] if msg.get("ActionID") else []
            fields += [("Response", response), ("Channel", info.name1)]
            if app:
                fields += [("Application", app), ("Data", msg.get("Data"))]
            else:
                fields += [("Context", msg.get("Context")), ("Exten", msg.get("Exten"))]
            fields += [
                ("Reason", str(reason)),
                ("Uniqueid", info.uniqueid1),
                ("CallerIDNum", cid_num or "<unknown>"),
                ("CallerIDName", cid_name or "<unknown>"),
            ]
            await self.emit_event(AmiEvent("OriginateResponse", fields))

        await self.emit_event(AmiEvent("Newchannel", first.fields()))
        hook = self.originate_hook
        outcome = hook(info) if hook is not None else None
        if inspect.isawaitable(outcome):
            outcome = await outcome
        if isinstance(outcome, int) and not isinstance(outcome, bool):
            await respond("Failure", outcome)
            await self.emit_event(AmiEvent("Hangup", [*first.fields(), *_cause(16)]))
            return
        if not isinstance(outcome, FakeCall):
            await respond("Success", 4)
            return
        call = outcome
        info.call = call
        if info.name2 is not None:
            call.channel, call.channel_type, call.channel_kind = info.name2, "Local", "local"
            exten, _, context = info.channel.split("/", 1)[1].split("/")[0].partition("@")
            call.extension, call.context = exten or "s", context or "default"
            call.uniqueid = info.uniqueid2 or call.uniqueid
            call.linkedid = info.uniqueid1
            if cid_num:
                call.caller = cid_num
            if cid_name:
                call.caller_name = cid_name
            self._register_channel(info.name1, call, "1")
        call.ami = self

        def answered() -> None:
            self._spawn(respond("Success", 4))

        call._on_answer = answered
        try:
            info.result = await call.run()
        finally:
            self._unregister_channel(info.name1)
        await respond("Failure", 1)
        first.state = STATE_UP if info.response == "Success" else 0
        await self.emit_event(AmiEvent("Hangup", [*first.fields(), *_cause(16)]))

    async def _a_playdtmf(self, s: _Session, msg: AmiMessage) -> bool:
        name = msg.get("Channel")
        found = self._channels.get(name)
        if found is None:
            return await self._error(s, msg, "Channel not found")
        digit = msg.get("Digit")
        if not digit:
            return await self._error(s, msg, "No digit specified")
        duration = msg.get("Duration")
        if duration and _sscanf_int(duration) is None:
            return await self._error(s, msg, "Could not convert Duration parameter")
        call, side = found
        receive = msg.get("Receive").lower() in ("true", "yes", "1", "on", "y", "t")
        # Only the first character is played. Without Receive the digit is sent *out* of the
        # channel: from ;1 it reaches the AGI on ;2; from ;2 or a phone it goes to the far end.
        delivered = (side == "1" and not receive) or (side in ("2", "self") and receive)
        self.dtmf.append((name, digit[0], delivered))
        if delivered:
            call.press(digit[0])
            snap = call.snapshot().fields()
            await self.emit_event(
                AmiEvent(
                    "DTMFBegin", [*snap, ("Digit", digit[0]), ("Direction", "Received")], "dtmf"
                )
            )
            await self.emit_event(
                AmiEvent(
                    "DTMFEnd",
                    [
                        *snap,
                        ("Digit", digit[0]),
                        ("DurationMs", duration or "100"),
                        ("Direction", "Received"),
                    ],
                    "dtmf",
                )
            )
        await self._send(s, self._reply(msg, "Success", "DTMF successfully queued"))
        return True

    async def _a_hangup(self, s: _Session, msg: AmiMessage) -> bool:
        name = msg.get("Channel")
        if not name:
            return await self._error(s, msg, "No channel specified")
        found = self._channels.get(name)
        if found is None:
            return await self._error(s, msg, "No such channel")
        found[0].hang_up()
        await self._send(s, self._reply(msg, "Success", "Channel Hungup"))
        return True

    async def _a_queuestatus(self, s: _Session, msg: AmiMessage) -> bool:
        wanted = msg.get("Queue")
        action_id = msg.get("ActionID")
        idtext = [("ActionID", action_id)] if action_id else []
        await self._send(
            s, self._reply(msg, "Success", "Queue status will follow", listflag="start")
        )
        items = 0
        for queue, members in self.queues.items():
            if wanted and wanted.lower() != queue.lower():
                continue
            waiting = self._queue_waiting.get(queue, [])
            fields = [
                ("Queue", queue),
                ("Max", "0"),
                ("Strategy", "ringall"),
                ("Calls", str(len(waiting))),
                ("Holdtime", "0"),
                ("TalkTime", "0"),
                ("Completed", "0"),
                ("Abandoned", "0"),
                ("ServiceLevel", "60"),
                ("ServicelevelPerf", "0.0"),
                ("ServicelevelPerf2", "0.0"),
                ("Weight", "0"),
                *idtext,
            ]
            await self._send(s, _plain("QueueParams", fields))
            items += 1
            member_filter = msg.get("Member")
            for member in members:
                if member_filter and member_filter not in (member.interface, member.name):
                    continue
                await self._send(s, _plain("QueueMember", [*member.listed(queue), *idtext]))
                items += 1
            for pos, call in enumerate(waiting, 1):
                fields = [
                    ("Queue", queue),
                    ("Position", str(pos)),
                    ("Channel", call.channel),
                    ("Uniqueid", call.uniqueid),
                    ("CallerIDNum", call.caller or "unknown"),
                    ("CallerIDName", call.caller_name or "unknown"),
                    ("ConnectedLineNum", "unknown"),
                    ("ConnectedLineName", "unknown"),
                    ("Wait", "0"),
                    ("Priority", "0"),
                    *idtext,
                ]
                await self._send(s, _plain("QueueEntry", fields))
                items += 1
        await self._send(s, _list_complete("QueueStatusComplete", action_id, items))
        return True

    async def _a_queuesummary(self, s: _Session, msg: AmiMessage) -> bool:
        wanted = msg.get("Queue")
        action_id = msg.get("ActionID")
        idtext = [("ActionID", action_id)] if action_id else []
        await self._send(
            s, self._reply(msg, "Success", "Queue summary will follow", listflag="start")
        )
        items = 0
        for queue, members in self.queues.items():
            if wanted and wanted.lower() != queue.lower():
                continue
            logged_in = [m for m in members if m.status not in (4, 5)]  # INVALID, UNAVAILABLE
            available = [m for m in logged_in if m.status in (0, 1) and not m.paused]
            fields = [
                ("Queue", queue),
                ("LoggedIn", str(len(logged_in))),
                ("Available", str(len(available))),
                ("Callers", str(len(self._queue_waiting.get(queue, [])))),
                ("HoldTime", "0"),
                ("TalkTime", "0"),
                ("LongestHoldTime", "0"),
                *idtext,
            ]
            await self._send(s, _plain("QueueSummary", fields))
            items += 1
        await self._send(s, _list_complete("QueueSummaryComplete", action_id, items))
        return True


def _plain(event: str, fields: Sequence[tuple[str, str]]) -> bytes:
    """An event written with astman_append() (no Privilege line): list-action items."""
    lines = [f"Event: {event}", *(f"{k}: {v}" for k, v in fields)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape")


def _list_complete(event: str, action_id: str, items: int) -> bytes:
    lines = [f"Event: {event}"]
    if action_id:
        lines.append(f"ActionID: {action_id}")
    lines += ["EventList: Complete", f"ListItems: {items}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _parse_callerid(text: str) -> tuple[str, str]:
    """ast_callerid_parse() for the usual forms: ``"Name" <num>``, ``Name <num>``, ``num``."""
    text = text.strip()
    m = re.fullmatch(r'"?([^"<]*?)"?\s*<([^>]*)>', text)
    if m:
        return m.group(1).strip(), re.sub(r"[^0-9*#+]", "", m.group(2))
    if re.fullmatch(r"[0-9*#+()\- ]+", text):
        return "", re.sub(r"[^0-9*#+]", "", text)
    return text, ""


# ------------------------------------------------------------------------------------------


async def run_many(
    port: int,
    calls: Iterable[FakeCall | Mapping[str, Any]],
    concurrency: int = 100,
    *,
    host: str = "127.0.0.1",
) -> list[CallResult]:
    """Run calls with at most ``concurrency`` at a time; results in the calls' order.

    An item is a :class:`FakeCall` or the keyword arguments of one (``{"keys": "1"}``).
    """
    items = [c if isinstance(c, FakeCall) else FakeCall(port, host=host, **c) for c in calls]
    gate = asyncio.Semaphore(max(1, concurrency))

    async def one(call: FakeCall) -> CallResult:
        async with gate:
            return await call.run()

    return list(await asyncio.gather(*(one(c) for c in items)))
