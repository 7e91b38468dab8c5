"""The FastAGI wire protocol, owned here (no panoramisk): environment, quoting, replies.

Asterisk connects, sends ``agi_*: value`` lines ended by a blank line, then waits for one
command line at a time and answers each with a reply line:

* ``200 result=<n> [(<data>)] [key=value ...]`` — success (``result`` is command specific);
* ``510 Invalid or unknown command``;
* ``511 Command Not Permitted on a dead channel or intercept routine`` (wording varies);
* ``520-Invalid command syntax.  Proper usage follows:`` + usage lines +
  ``520 End of proper usage.`` — a usage error spanning several lines;
* an unsolicited ``HANGUP`` line when the caller hangs up (FastAGI's SIGHUP). It is a notice,
  never the reply to a command: taking it as one shifts every later reply by one (the
  panoramisk bug recorded in ``design/pitfalls.md``).

:class:`AgiConnection` owns one socket: a background task reads every line as it arrives,
matches replies to commands in order (one line, one reply: a line that is not a reply fails
the pending command with :class:`AgiProtocolError` instead of shifting later replies) and
turns ``HANGUP``, ``511``, EOF and resets into ``hung_up``. Every wait is bounded; every
argument is quoted so no value can inject a second command (:func:`quote`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from runtime.call import CallerHangup

__all__ = [
    "DEAD_CHANNEL_COMMANDS",
    "MAX_COMMAND_BYTES",
    "MAX_LINE",
    "AgiCommandError",
    "AgiConnection",
    "AgiError",
    "AgiHangup",
    "AgiProtocolError",
    "AgiTimeout",
    "AgiUsageError",
    "Reply",
    "Word",
    "command",
    "parse_environment",
    "parse_reply",
    "quote",
    "read_environment",
    "read_line",
]

log = logging.getLogger("ivrflow.agi")

MAX_LINE = 2048
"""Longest line accepted from Asterisk (``AGI_BUF_LEN`` of older Asterisk releases)."""
MAX_COMMAND_BYTES = 2046
"""Longest command line sent, without its newline. Asterisk reads a command with ``fgets``
into a fixed buffer (2,048 bytes in older releases, 8,192 in 22): a longer line would be cut
and its tail run as a *second* command, so longer commands are refused before sending."""
MAX_ENV_LINES = 256
MAX_BLOCK_LINES = 200
"""Most lines in one multi-line (``520-``) reply."""
MAX_GARBAGE_LINES = 8
"""Lines in a row that are not AGI replies tolerated before the link is given up."""
DEFAULT_COMMAND_TIMEOUT_S = 10.0

# The AGI commands of res_agi.c (plus app_stack's GOSUB), as keyword tuples, and those it
# still runs on a dead channel (``dead=1`` there). EXEC is allowed by Asterisk on a dead
# channel but deliberately not here: no application is started for a caller who has left.
KNOWN_COMMANDS: frozenset[tuple[str, ...]] = frozenset(
    tuple(name.split())
    for name in (
        "ANSWER",
        "ASYNCAGI BREAK",
        "CHANNEL STATUS",
        "CONTROL STREAM FILE",
        "DATABASE DEL",
        "DATABASE DELTREE",
        "DATABASE GET",
        "DATABASE PUT",
        "EXEC",
        "GET DATA",
        "GET FULL VARIABLE",
        "GET OPTION",
        "GET VARIABLE",
        "GOSUB",
        "HANGUP",
        "NOOP",
        "RECEIVE CHAR",
        "RECEIVE TEXT",
        "RECORD FILE",
        "SAY ALPHA",
        "SAY DATE",
        "SAY DATETIME",
        "SAY DIGITS",
        "SAY NUMBER",
        "SAY PHONETIC",
        "SAY TIME",
        "SEND IMAGE",
        "SEND TEXT",
        "SET AUTOHANGUP",
        "SET CALLERID",
        "SET CONTEXT",
        "SET EXTENSION",
        "SET MUSIC",
        "SET PRIORITY",
        "SET VARIABLE",
        "SPEECH ACTIVATE GRAMMAR",
        "SPEECH CREATE",
        "SPEECH DEACTIVATE GRAMMAR",
        "SPEECH DESTROY",
        "SPEECH LOAD GRAMMAR",
        "SPEECH RECOGNIZE",
        "SPEECH SET",
        "SPEECH UNLOAD GRAMMAR",
        "STREAM FILE",
        "TDD MODE",
        "VERBOSE",
        "WAIT FOR DIGIT",
    )
)
DEAD_CHANNEL_COMMANDS: frozenset[tuple[str, ...]] = frozenset(
    tuple(name.split())
    for name in (
        "ASYNCAGI BREAK",
        "DATABASE DEL",
        "DATABASE DELTREE",
        "DATABASE GET",
        "DATABASE PUT",
        "GET FULL VARIABLE",
        "GET VARIABLE",
        "NOOP",
        "SET VARIABLE",
        "SPEECH DESTROY",
        "SPEECH UNLOAD GRAMMAR",
        "VERBOSE",
    )
)


# -- errors --------------------------------------------------------------------------------


class AgiError(Exception):
    """Something went wrong talking AGI (not a hang-up: see :class:`AgiHangup`)."""


class AgiProtocolError(AgiError):
    """The peer sent something that is not AGI (garbage, an over-long line, no headers)."""


class AgiTimeout(AgiError):
    """No reply within the command's timeout. The link is given up: a late reply could no
    longer be matched to its command."""


class AgiCommandError(AgiError):
    """Asterisk refused a command (``510``, ``503``, …). ``reply`` holds what it said."""

    def __init__(self, reply: Reply, command: str = "") -> None:
        self.reply = reply
        self.command = command
        detail = " | ".join(reply.lines) if reply.lines else f"{reply.code} {reply.text}"
        super().__init__(f"{command or 'command'}: {detail}")


class AgiUsageError(AgiCommandError):
    """``520``: wrong arguments; ``reply.lines`` holds the whole usage text."""


class AgiHangup(CallerHangup):
    """The caller hung up (``HANGUP`` notice, ``511``, ``result=-1``) or the AGI link is gone
    (EOF, reset, timeout). A :class:`~runtime.call.CallerHangup`, so the interpreter ends
    the call."""

    def __init__(self, reason: str = "caller hung up", *, code: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


# -- quoting and commands --------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_WORD = re.compile(r"[A-Za-z0-9_.:/@()=+*#-]+")
_KEYWORD = re.compile(r"[A-Za-z]+")


def quote(arg: str) -> str:
    """One AGI argument, always in double quotes, safe whatever it holds.

    Control characters (CR, LF, NUL, …) and lone surrogates are removed — a newline would end
    the command and start another (``"x\\nEXEC System …"``); ``\\`` and ``"`` are escaped with a
    backslash, which Asterisk's ``parse_args`` undoes.
    """
    text = _CONTROL.sub("", str(arg))
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Word(str):
    """A bare token sent without quotes: an application or variable name, a file format, an
    option such as ``BEEP`` or ``s=3``. Only ``[A-Za-z0-9_.:/@()=+*#-]`` is accepted, so a
    Word can never carry a space, quote, backslash, comma or control character."""

    __slots__ = ()

    def __new__(cls, value: str) -> Word:
        if not isinstance(value, str) or not _WORD.fullmatch(value):
            raise ValueError(f"not a bare AGI word: {value!r}")
        return super().__new__(cls, value)


def _split_command(words: tuple[Any, ...]) -> tuple[tuple[str, ...], list[Any]]:
    """The command's keywords (upper case) and its arguments."""
    if not words or not isinstance(words[0], str):
        raise ValueError("an AGI command needs a command name")
    key = _KEYWORDS_OF.get(words[0])  # the common case: "STREAM FILE", name, ""
    if key is not None:
        return key, list(words[1:])
    tokens: list[Any] = [*words[0].split(), *words[1:]]
    for n in (3, 2, 1):
        prefix = tokens[:n]
        if len(prefix) == n and all(isinstance(t, str) for t in prefix):
            key = tuple(t.upper() for t in prefix)
            if key in KNOWN_COMMANDS:
                return key, tokens[n:]
    first = tokens[0] if tokens else ""
    if not isinstance(first, str) or not _KEYWORD.fullmatch(first):
        raise ValueError(f"not an AGI command name: {first!r}")
    return (first.upper(),), tokens[1:]


_KEYWORDS_OF: dict[str, tuple[str, ...]] = {
    spelling: key for key in KNOWN_COMMANDS for spelling in (" ".join(key), " ".join(key).lower())
}


def _render_arg(arg: Any) -> str:
    if isinstance(arg, bool):
        raise TypeError("AGI arguments are str, int or Word, not bool")
    if isinstance(arg, Word):
        return str(arg)
    if isinstance(arg, int):
        return str(arg)
    if isinstance(arg, str):
        return quote(arg)
    raise TypeError(f"AGI arguments are str, int or Word, not {type(arg).__name__}")


def command(*words: Any) -> str:
    """Build one command line (without its newline).

    The command's keywords come first, as separate words or one string
    (``command("STREAM FILE", name, "")`` == ``command("STREAM", "FILE", name, "")``) and are
    sent bare. Every later ``str`` is quoted with :func:`quote`; ``int`` and :class:`Word`
    arguments are sent bare. Raises ``ValueError`` for a line Asterisk would cut.
    """
    key, args = _split_command(words)
    line = " ".join([*key, *(_render_arg(a) for a in args)])
    if len(line.encode("utf-8")) > MAX_COMMAND_BYTES:
        raise ValueError(f"AGI command longer than {MAX_COMMAND_BYTES} bytes: {line[:60]!r}…")
    return line


# -- replies --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reply:
    """One reply from Asterisk.

    ``result`` is the raw text after ``result=`` (``""`` for ``200 result=``), ``data`` the
    text in parentheses (a variable's value, ``timeout``, ``hangup``, ``speech``…),
    ``extras`` the ``key=value`` words after it (``endpos``, ``results``…), ``text`` all that
    follows the code (the message of ``510``/``511``/``503``), ``lines`` the raw line(s).
    """

    code: int
    result: str = ""
    data: str = ""
    extras: Mapping[str, str] = field(default_factory=dict, hash=False)
    lines: tuple[str, ...] = ()
    text: str = ""

    @property
    def ok(self) -> bool:
        return self.code == 200

    @property
    def timed_out(self) -> bool:
        return self.data == "timeout"

    @property
    def result_int(self) -> int | None:
        return int(self.result) if _INT.fullmatch(self.result) else None

    @property
    def endpos(self) -> int | None:
        value = self.extras.get("endpos", "")
        return int(value) if _INT.fullmatch(value) else None


_INT = re.compile(r"-?[0-9]{1,18}")
_REPLY = re.compile(r"([0-9]{3})(?:([ -])(.*))?", re.S)
_RESULT = re.compile(r"result=(\S*)(.*)", re.S)
_EXTRA = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=\S*")


def _decode(line: bytes | str) -> str:
    if isinstance(line, bytes | bytearray):
        return bytes(line).decode("utf-8", "replace")
    return str(line)


def _extras(tail: str) -> dict[str, str] | None:
    """``key=value`` words, or None when ``tail`` holds anything else."""
    words = tail.split()
    if not all(_EXTRA.fullmatch(w) for w in words):
        return None
    return dict(w.split("=", 1) for w in words)


def _data_and_extras(tail: str) -> tuple[str, dict[str, str]]:
    tail = tail.strip()
    if not tail:
        return "", {}
    if tail.startswith("("):
        # The value may itself hold parentheses: take the last ")" that is followed only by
        # key=value words (``(speech) endpos=1 results=1``, ``(a (b) c)``).
        end = len(tail)
        while (end := tail.rfind(")", 0, end)) > 0:
            extras = _extras(tail[end + 1 :])
            if extras is not None:
                return tail[1:end], extras
        return tail[1:], {}  # unterminated: everything is data
    extras = _extras(tail)
    return ("", extras) if extras is not None else ("", {})


def parse_reply(line: bytes | str) -> Reply:
    """Parse one reply line. Never raises except :class:`AgiProtocolError` for a line that is
    not an AGI reply at all (no 3-digit code; ``HANGUP`` is a notice, not a reply)."""
    text = _decode(line).rstrip("\r\n")
    match = _REPLY.fullmatch(text.strip())
    if match is None:
        raise AgiProtocolError(f"not an AGI reply: {text[:80]!r}")
    code = int(match[1])
    rest = (match[3] or "").strip()
    result, data, extras = "", "", {}
    found = _RESULT.match(rest)
    if found is not None:
        result = found[1]
        data, extras = _data_and_extras(found[2])
    return Reply(code, result, data, extras, (text,), rest)


def _block_reply(lines: list[str]) -> Reply:
    last = parse_reply(lines[-1])
    first = lines[0][4:].strip()
    return Reply(last.code, last.result, last.data, last.extras, tuple(lines), first)


# -- reading -------------------------------------------------------------------------------


async def read_line(reader: asyncio.StreamReader, max_line: int = MAX_LINE) -> tuple[bytes, bool]:
    """Read one line (with its newline). Returns ``(b"", False)`` at EOF — a half line
    before EOF is dropped — and ``(first bytes, True)`` for a line longer than ``max_line``,
    whose rest is discarded up to its newline (works whatever the reader's own limit)."""
    try:
        line = await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            log.debug("AGI peer closed after a half line %r", exc.partial[:80])
        return b"", False
    except asyncio.LimitOverrunError as exc:
        head = await reader.readexactly(exc.consumed)
        if not await _discard_line(reader):
            return b"", False
        return head[:max_line], True
    if len(line.rstrip(b"\r\n")) > max_line:
        return line[:max_line], True
    return line, False


async def _discard_line(reader: asyncio.StreamReader) -> bool:
    """Drop bytes up to and including the next newline; False at EOF."""
    while True:
        try:
            await reader.readuntil(b"\n")
            return True
        except asyncio.LimitOverrunError as exc:
            await reader.readexactly(exc.consumed)
        except asyncio.IncompleteReadError:
            return False


_ENV_KEY = re.compile(r"[^\s\x00-\x1f\x7f]+")


def parse_environment(block: bytes | str) -> dict[str, str]:
    """The ``agi_*: value`` lines of a header block, up to the first blank line.

    Tolerant: LF or CRLF; lines without ``": "`` ignored; the last of duplicate keys wins;
    non-UTF-8 bytes replaced; lines longer than :data:`MAX_LINE` bytes dropped."""
    if isinstance(block, str):
        block = block.encode("utf-8", "replace")
    env: dict[str, str] = {}
    for line in bytes(block).split(b"\n"):
        raw = line.removesuffix(b"\r")
        if not raw.strip():
            break
        if len(raw) > MAX_LINE:
            log.debug("AGI environment line of %d bytes dropped", len(raw))
            continue
        key, sep, value = raw.decode("utf-8", "replace").partition(": ")
        key = key.strip()
        if not sep or not _ENV_KEY.fullmatch(key):
            continue
        env[key] = value
    return env


async def read_environment(
    reader: asyncio.StreamReader, *, max_line: int = MAX_LINE, max_lines: int = MAX_ENV_LINES
) -> dict[str, str]:
    """Read the header block (up to a blank line, LF or CRLF) and parse it.

    Raises :class:`AgiProtocolError` when the peer closes before the blank line, sends more
    than ``max_lines`` lines, or sends no ``agi_*`` key (a port scan, an HTTP probe…).
    The caller bounds the wait with a timeout."""
    lines: list[bytes] = []
    while True:
        line, overlong = await read_line(reader, max_line)
        if not line:
            raise AgiProtocolError(f"connection closed after {len(lines)} header lines")
        if overlong:
            log.debug("AGI header line over %d bytes dropped", max_line)
            continue
        if not line.strip(b"\r\n \t"):
            break
        lines.append(line)
        if len(lines) > max_lines:
            raise AgiProtocolError(f"more than {max_lines} header lines")
    env = parse_environment(b"".join(lines))
    if not any(key.startswith("agi_") for key in env):
        raise AgiProtocolError("no agi_* header: not a FastAGI request")
    return env


# -- the connection ------------------------------------------------------------------------

_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\([A-Za-z0-9_,-]*\))?")


class _Expired(Exception):
    """A command's reply did not arrive in time."""


def _expire(future: asyncio.Future[Reply]) -> None:
    if not future.done():
        future.set_exception(_Expired())


class AgiConnection:
    """One FastAGI session: commands out, replies in, hang-up tracked.

    ``hung_up`` is set by a ``HANGUP`` notice, a ``511`` reply, :meth:`mark_hung_up`, EOF, a
    reset, a timeout or :meth:`close`; ``hangup_reason`` says which. After a hang-up only the
    commands Asterisk runs on a dead channel (:data:`DEAD_CHANNEL_COMMANDS`, e.g.
    ``GET VARIABLE``) are still sent, and only while the socket is up; every other command
    raises :class:`AgiHangup` without being written.
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        command_timeout_s: float = DEFAULT_COMMAND_TIMEOUT_S,
        max_line: int = MAX_LINE,
        read_environment: bool = False,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self.command_timeout_s = command_timeout_s
        self.max_line = max_line
        self.hung_up = asyncio.Event()
        self.hangup_reason = ""
        self.commands_sent = 0
        self._link_lost: str | None = None
        self._closed = False
        self._lock = asyncio.Lock()
        self._waiters: deque[asyncio.Future[Reply]] = deque()
        self._buffer = bytearray()
        self._discarding = False  # inside an over-long line, dropping up to its newline
        self._block: list[str] | None = None  # a multi-line (520-) reply being read
        self._garbage = 0
        self._stopped = False
        self.reader_errors = 0
        """Exceptions while handling incoming lines (logged; the link is then given up)."""
        self._env_lines: list[bytes] | None = [] if read_environment else None
        self._env: asyncio.Future[dict[str, str]] | None = (
            asyncio.get_running_loop().create_future() if read_environment else None
        )
        self._take_over(reader)

    async def environment(self) -> dict[str, str]:
        """With ``read_environment=True``: the header block Asterisk sends first (up to the
        blank line), parsed as the bytes arrive. Raises :class:`AgiProtocolError` when the
        peer closes before the blank line, sends more than :data:`MAX_ENV_LINES` lines or
        no ``agi_*`` key. The caller bounds the wait with a timeout."""
        if self._env is None:
            raise RuntimeError("this connection was made with read_environment=False")
        return await asyncio.shield(self._env)

    def _environment_line(self, raw: bytes, *, overlong: bool) -> None:
        assert self._env_lines is not None and self._env is not None
        if overlong:
            log.debug("AGI header line over %d bytes dropped", self.max_line)
            return
        if raw.strip(b"\r\n \t"):
            self._env_lines.append(raw)
            if len(self._env_lines) > MAX_ENV_LINES:
                self._env_failed(f"more than {MAX_ENV_LINES} header lines")
            return
        env = parse_environment(b"".join(self._env_lines))
        self._env_lines = None
        if not any(key.startswith("agi_") for key in env):
            self._env_failed("no agi_* header: not a FastAGI request")
        elif not self._env.done():
            self._env.set_result(env)

    def _env_failed(self, reason: str) -> None:
        if self._env is not None and not self._env.done():
            self._env.set_exception(AgiProtocolError(reason))
            self._env.exception()  # retrieved here: a caller that timed out never awaits it
        self._env_lines = None
        self._stop(f"protocol error: {reason}")

    def _take_over(self, reader: asyncio.StreamReader) -> None:
        """From now on, bytes from Asterisk are parsed as they arrive: the reader's
        ``feed_data`` / ``feed_eof`` / ``set_exception`` (called by the transport's protocol)
        come here. A reply resolves the waiting command directly — no reader task, one task
        wake-up per command — and a ``HANGUP`` notice or EOF is seen even while no command
        is pending. Bytes the reader already holds (after the environment) are taken first."""
        held = bytes(getattr(reader, "_buffer", b""))
        if held:
            reader._buffer.clear()  # type: ignore[attr-defined]
        reader.feed_data = self._feed_data  # type: ignore[method-assign]
        reader.feed_eof = self._feed_eof  # type: ignore[method-assign]
        reader.set_exception = self._feed_exception  # type: ignore[method-assign]
        if held:
            self._feed_data(held)
        if reader.at_eof():
            self._feed_eof()
        elif reader.exception() is not None:
            self._feed_exception(reader.exception())  # type: ignore[arg-type]

    async def __aenter__(self) -> AgiConnection:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def link_up(self) -> bool:
        """The socket is usable (it may be, on a dead channel)."""
        return self._link_lost is None

    # -- sending ---------------------------------------------------------------------------

    async def send(
        self, *words: Any, timeout_s: float | None = None, secret: bool = False
    ) -> Reply:
        """Send one command (see :func:`command`) and return its ``200`` reply.

        Raises :class:`AgiHangup` (``511``, hang-up, link gone), :class:`AgiUsageError`
        (``520``), :class:`AgiCommandError` (other codes), :class:`AgiTimeout` (no reply in
        ``timeout_s`` seconds, default ``command_timeout_s``; the link is then given up) or
        ``ValueError`` for a command that cannot be sent safely. ``secret`` keeps the reply
        out of the debug log."""
        line = command(*words)
        key, _ = _split_command(words)
        limit = self.command_timeout_s if timeout_s is None else timeout_s
        async with self._lock:
            self._check_can_send(key)
            future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
            self._waiters.append(future)
            try:
                self._writer.write(line.encode("utf-8") + b"\n")
            except (OSError, RuntimeError) as exc:
                self._waiters.remove(future)
                self._lose(f"write failed: {exc!r}")
                raise AgiHangup(self.hangup_reason) from exc
            self.commands_sent += 1
            # One timer per command rather than an asyncio.timeout() scope (measurably cheaper
            # on this path, which runs for every prompt and key): when it fires, the waiter
            # fails with _Expired.
            timer = asyncio.get_running_loop().call_later(limit, _expire, future)
            try:
                transport = getattr(self._writer, "transport", None)
                if transport is None or transport.get_write_buffer_size():
                    # only when the peer is not reading: bounded by the same limit
                    async with asyncio.timeout(limit):
                        await self._writer.drain()
                reply = await future
            except (_Expired, TimeoutError):
                self._lose(f"no reply to {' '.join(key)} within {limit:g} s")
                raise AgiTimeout(self.hangup_reason) from None
            except (OSError, RuntimeError) as exc:  # drain on a broken socket
                self._lose(f"write failed: {exc!r}")
                raise AgiHangup(self.hangup_reason) from exc
            finally:
                timer.cancel()
                # Cancelled (e.g. the caller hung up while a node waited) or failed: the
                # waiter stays queued, done, so the command's late reply is dropped.
                if not future.done():
                    future.cancel()
        log.debug("AGI %s -> %s", line, "…" if secret else reply.lines[0][:200])
        if reply.code == 200:
            return reply
        if reply.code == 511:
            raise AgiHangup(f"511 {reply.text}".strip(), code=511)
        if reply.code == 520:
            raise AgiUsageError(reply, line)
        raise AgiCommandError(reply, line)

    def _check_can_send(self, key: tuple[str, ...]) -> None:
        if self._link_lost is not None:
            raise AgiHangup(self._link_lost)
        if self.hung_up.is_set() and key not in DEAD_CHANNEL_COMMANDS:
            raise AgiHangup(self.hangup_reason or "caller hung up")

    async def get_variable(self, name: str, *, timeout_s: float | None = None) -> str | None:
        """A channel variable's value, or None when it is not set."""
        reply = await self.send("GET VARIABLE", _variable_word(name), timeout_s=timeout_s)
        return reply.data if reply.result == "1" else None

    async def set_variable(self, name: str, value: str | int) -> None:
        await self.send("SET VARIABLE", _variable_word(name), value)

    def mark_hung_up(self, reason: str) -> None:
        """Record that the caller is gone (the channel layer learnt it from a reply such as
        ``result=-1``); the link stays up for dead-channel commands."""
        if not self.hung_up.is_set():
            self.hangup_reason = reason
            log.debug("AGI caller gone: %s", reason)
            self.hung_up.set()

    # -- reading ---------------------------------------------------------------------------

    def _feed_data(self, data: bytes) -> None:
        if self._stopped or not data:
            return
        buffer = self._buffer
        buffer += data
        try:
            while not self._stopped:
                end = buffer.find(b"\n")
                if end < 0:
                    if len(buffer) > self.max_line:
                        if not self._discarding:
                            self._discarding = True
                            self._on_line(bytes(buffer[: self.max_line]), overlong=True)
                        buffer.clear()
                    return
                line = bytes(buffer[: end + 1])
                del buffer[: end + 1]
                if self._discarding:  # the rest of an over-long line
                    self._discarding = False
                    continue
                if len(line.rstrip(b"\r\n")) > self.max_line:
                    self._on_line(line[: self.max_line], overlong=True)
                else:
                    self._on_line(line, overlong=False)
        except Exception as exc:  # never let a parsing bug escape into the transport
            self.reader_errors += 1
            log.exception("AGI reader failed")
            self._stop(f"reader failed: {exc!r}")

    def _feed_eof(self) -> None:
        if self._buffer:
            log.debug("AGI peer closed after a half line %r", bytes(self._buffer[:80]))
            self._buffer.clear()
        self._stop("connection closed by Asterisk")

    def _feed_exception(self, exc: BaseException) -> None:
        self._stop(f"connection error: {exc!r}")

    def _stop(self, reason: str) -> None:
        self._stopped = True
        self._buffer.clear()
        if self._env_lines is not None:
            lines = len(self._env_lines)
            self._env_lines = None
            if self._env is not None and not self._env.done():
                self._env.set_exception(
                    AgiProtocolError(f"connection closed after {lines} header lines")
                )
                self._env.exception()
        self._lose(reason)

    def _on_line(self, raw: bytes, *, overlong: bool) -> None:
        if self._env_lines is not None:
            self._environment_line(raw, overlong=overlong)
            return
        text = raw.decode("utf-8", "replace").rstrip("\r\n")
        block = self._block
        if block is not None:  # a multi-line (520-) reply: any text until "520 …"
            block.append("<over-long line>" if overlong else text)
            code = block[0][:3]
            if text == code or text.startswith(code + " "):
                self._block = None
                self._deliver(_block_reply(block))
            elif len(block) > MAX_BLOCK_LINES:
                self._fail(f"{code} reply longer than {MAX_BLOCK_LINES} lines")
                self._stopped = True
            return
        stripped = text.strip()
        if not stripped and not overlong:
            return
        if stripped == "HANGUP":
            self.mark_hung_up("HANGUP from Asterisk")
            return
        match = None if overlong else _REPLY.fullmatch(stripped)
        if match is None:
            # Not a reply: it stands in the place of the pending command's reply (one line,
            # one reply keeps later replies matched); with no command pending it is
            # dropped. A stream of them ends the link.
            self._garbage += 1
            reason = (
                f"reply line longer than {self.max_line} bytes"
                if overlong
                else f"not an AGI reply: {text[:80]!r}"
            )
            log.warning("AGI: %s", reason)
            if self._garbage > MAX_GARBAGE_LINES:
                self._fail(f"{self._garbage} lines in a row that are not AGI replies")
                self._stopped = True
                return
            if self._waiters:
                self._deliver(AgiProtocolError(reason))
            return
        self._garbage = 0
        if match[2] == "-":
            self._block = [stripped]
            return
        reply = parse_reply(stripped)
        if reply.code == 511:
            self.mark_hung_up(f"511 {reply.text}".strip())
        self._deliver(reply)

    def _deliver(self, reply: Reply | Exception) -> None:
        if not self._waiters:
            log.warning("AGI: unsolicited reply dropped: %r", getattr(reply, "lines", reply))
            return
        future = self._waiters.popleft()
        if future.done():  # its command was cancelled or timed out: the reply is its own
            log.debug("AGI: reply to a cancelled command dropped")
        elif isinstance(reply, Exception):
            future.set_exception(reply)
        else:
            future.set_result(reply)

    def _fail(self, reason: str) -> None:
        """A protocol violation: the pending command gets the error, the link is given up."""
        error = AgiProtocolError(reason)
        while self._waiters:
            future = self._waiters.popleft()
            if not future.done():
                future.set_exception(error)
                break
        self._lose(f"protocol error: {reason}")

    def _lose(self, reason: str) -> None:
        """The socket can no longer carry commands."""
        if self._link_lost is None:
            self._link_lost = reason
            log.debug("AGI link lost: %s", reason)
        if not self.hung_up.is_set():
            self.hangup_reason = reason
            self.hung_up.set()
        while self._waiters:
            future = self._waiters.popleft()
            if not future.done():
                future.set_exception(AgiHangup(reason))

    # -- closing ---------------------------------------------------------------------------

    async def close(self) -> None:
        """Stop reading, close the socket. Idempotent; leaves no task or socket."""
        first = not self._closed
        self._closed = True
        if first:
            self._stopped = True
            self._lose("connection closed by the runtime")
            self._writer.close()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2.0):
                await self._writer.wait_closed()


def _variable_word(name: str) -> Word:
    if not _VARIABLE_NAME.fullmatch(name or ""):
        raise ValueError(f"not a channel variable name: {name!r}")
    return Word(name)
