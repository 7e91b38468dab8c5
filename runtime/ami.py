"""AMI: the Asterisk Manager Interface client, and queue legs assembled from its events.

Nothing else in ivrflow imports panoramisk: it lives behind :class:`AmiClient`. panoramisk 1.4
parses the wire format and matches responses to actions; this adapter owns everything around
it, because panoramisk's own versions of those parts have the bugs listed in
``design/pitfalls.md``:

* **Connection and login** — built inside the running loop by :meth:`AmiClient.start`, which
  connects, logs in and raises :class:`AmiLoginError` on bad credentials. After a disconnect
  or an Asterisk restart the client reconnects by itself with exponential backoff
  (``reconnect_backoff=(first, max)`` seconds, with a little jitter), logs in again and keeps
  every handler. Actions sent while the connection is down fail fast with
  :class:`AmiNotConnected`; actions in flight when it drops fail with
  :class:`AmiConnectionLost` — they are never replayed silently (panoramisk would re-send an
  ``Originate`` after a reconnect and place the call twice).
* **Keep-alive** — a ``Ping`` every ``ping_interval_s`` once logged in (never before: Asterisk
  answers ``Permission denied`` to a Ping before Login). No answer within ``ping_timeout_s``
  → the connection is treated as dead and rebuilt.
* **Reading never stalls** — Asterisk drops an AMI client that stops reading for more than its
  ``writetimeout`` (100 ms by default). The reader only parses and hands each event to
  per-handler bounded queues; every handler has its own worker task, so a slow handler only
  delays itself. A handler sees its events in order. A handler's exception is logged with the
  event name and never reaches the connection. When a handler's queue is full its new events
  are dropped and counted (``AmiClient.stats``), not buffered without limit.
* **Wire robustness** — UTF-8 is decoded incrementally (a Chinese caller-ID name split across
  two TCP reads stays intact; panoramisk drops those bytes); garbage blocks, blocks without
  ``Event``/``Response`` and unparsable blocks are skipped with a log line; a stream with no
  block end for 1 MiB is discarded rather than buffered for ever.
* **panoramisk quirks** — ``PlayDTMF`` is sent with ``as_list=False`` (panoramisk raises
  ``KeyError: 'async'`` inside the reader and drops the connection otherwise; the action class
  used here also fixes that for any action); ``Originate`` with ``Async=true`` resolves to
  ``[Response, OriginateResponse]`` and :meth:`AmiClient.originate` turns either shape into
  an :class:`OriginateResult`.
* **No secrets in logs** — the AMI secret is never logged: the Login action is not logged,
  and a filter on the ``ivrflow.ami`` loggers (which panoramisk is given) masks ``Secret:``
  headers and the secret's text. Field values are checked for CR/LF so no value can inject an
  AMI header.

Least-privilege AMI user (see ``examples/asterisk/manager.conf``)::

    [ivrflow]
    secret = <long random>
    deny = 0.0.0.0/0.0.0.0
    permit = 127.0.0.1/255.255.255.255   ; the runtime host only
    read = call,agent                    ; Hangup*/OriginateResponse (call), queue events (agent)
    write = originate                    ; Originate; Ping/Login/Logoff/QueueStatus need no class

No ``dtmf`` read class (DTMF events would carry PINs), no ``system``/``command``/``config``.
:meth:`AmiClient.play_dtmf` needs ``write = call`` (Asterisk registers ``PlayDTMF`` under the
``call`` class): give that only to a lab user that drives test calls, never to production.

:class:`QueueTracker` subscribes to the queue events and assembles one :class:`QueueLeg` per
stay of a caller in a queue; see its docstring for how the outcome is decided (a
``QueueCallerAbandon`` event alone does not mean the caller hung up: Asterisk also sends it
when the queue simply times out).
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import inspect
import logging
import math
import random
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from panoramisk import actions as pk_actions
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.manager import Manager
from panoramisk.message import Message

__all__ = [
    "AmiActionError",
    "AmiClient",
    "AmiConnectionLost",
    "AmiError",
    "AmiEvent",
    "AmiLoginError",
    "AmiNotConnected",
    "AmiResponse",
    "AmiStats",
    "OriginateResult",
    "QueueLeg",
    "QueueTracker",
    "backoff_delays",
]

log = logging.getLogger("ivrflow.ami")
wire_log = logging.getLogger("ivrflow.ami.wire")  # panoramisk's messages go here

Handler = Callable[["AmiEvent"], Awaitable[Any]]

MAX_PENDING_TEXT = 1 << 20
"""Bytes of stream without a block end after which the buffer is discarded as garbage."""

_KEY_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
_VAR_RE = re.compile(r"^_{0,2}[A-Za-z][A-Za-z0-9_]*$")
_DTMF_RE = re.compile(r"^[0-9*#A-Da-d]$")
_SECRET_HEADER_RE = re.compile(r"(?im)^(\s*secret\s*:\s*)\S.*?(\r?)$")


# -- errors ------------------------------------------------------------------------------------


class AmiError(Exception):
    """Base class of the AMI client's errors."""


class AmiNotConnected(AmiError):
    """The client is not connected and logged in (an action cannot be sent now)."""


class AmiConnectionLost(AmiError):
    """The connection dropped before the action was answered."""


class AmiLoginError(AmiError):
    """Asterisk refused the login (wrong user name or secret, or a denied address)."""


class AmiActionError(AmiError):
    """Asterisk answered an action with ``Response: Error``."""

    def __init__(self, action: str, message: str) -> None:
        super().__init__(f"{action}: {message}")
        self.action = action
        self.message = message


# -- secrets in logs ----------------------------------------------------------------------------


class _RedactSecrets(logging.Filter):
    """Masks ``Secret:`` headers and the text of every registered secret in log records."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: dict[str, int] = {}

    def add(self, secret: str) -> None:
        if len(secret) >= 4:  # masking a 1–3 character string would mangle every message
            self._secrets[secret] = self._secrets.get(secret, 0) + 1

    def discard(self, secret: str) -> None:
        count = self._secrets.get(secret, 0) - 1
        if count > 0:
            self._secrets[secret] = count
        else:
            self._secrets.pop(secret, None)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # a broken record is the logging module's problem, not ours
            return True
        redacted = _SECRET_HEADER_RE.sub(r"\1********\2", text)
        for secret in self._secrets:
            redacted = redacted.replace(secret, "********")
        if redacted != text:
            record.msg, record.args = redacted, None
        return True


_REDACT = _RedactSecrets()
log.addFilter(_REDACT)
wire_log.addFilter(_REDACT)


# -- values -------------------------------------------------------------------------------------


class AmiEvent:
    """One AMI event: its name and headers (looked up case-insensitively).

    A header sent more than once (``ChanVariable``…) has a list of values. ``received_at`` is
    the wall-clock time (epoch seconds) at which the reader parsed it; ``timestamp`` prefers
    Asterisk's own ``Timestamp`` header (``timestampevents = yes`` in manager.conf).
    """

    __slots__ = ("_lower", "headers", "name", "received_at")

    def __init__(
        self,
        name: str,
        headers: Mapping[str, Any] | None = None,
        received_at: float | None = None,
    ) -> None:
        self.name = name
        self.headers: dict[str, Any] = dict(headers or {})
        self.headers.setdefault("Event", name)
        self._lower = {k.lower(): v for k, v in self.headers.items()}
        self.received_at = time.time() if received_at is None else received_at

    def get(self, key: str, default: Any = None) -> Any:
        return self._lower.get(key.lower(), default)

    def __getitem__(self, key: str) -> Any:
        return self._lower[key.lower()]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._lower

    def text(self, key: str) -> str:
        """The header as one string ('' if absent; the last value if sent several times)."""
        value = self._lower.get(key.lower(), "")
        if isinstance(value, list):
            value = value[-1] if value else ""
        return str(value).strip()

    @property
    def timestamp(self) -> float:
        stamp = _number(self.text("Timestamp"))
        return stamp if stamp is not None and stamp > 0 else self.received_at

    def __repr__(self) -> str:
        uid = self.text("Uniqueid")
        return f"<AmiEvent {self.name}{' ' + uid if uid else ''}>"


@dataclass(frozen=True, slots=True)
class AmiResponse:
    """The answer to an action: the response block, plus the events of a list action."""

    action: str
    success: bool
    message: str
    headers: Mapping[str, Any]
    events: tuple[AmiEvent, ...] = ()

    def get(self, key: str, default: Any = None) -> Any:
        lowered = key.lower()
        for k, v in self.headers.items():
            if k.lower() == lowered:
                return v
        return default


ORIGINATE_REASONS: dict[int, str] = {
    0: "failed",  # no such channel technology/extension, or the call could not be placed
    1: "hangup",  # the far end hung up before answering
    3: "no_answer",  # rang until the Originate timeout
    4: "answered",
    5: "busy",
    8: "congestion",
}


@dataclass(frozen=True, slots=True)
class OriginateResult:
    """What became of an ``Originate``.

    ``reason``: ``answered``, ``no_answer``, ``busy``, ``congestion``, ``hangup``, ``failed``
    (Asterisk's ``OriginateResponse`` reason codes), ``rejected`` (Asterisk refused the action,
    e.g. ``Permission denied``: see ``message``) or ``no_response`` (no ``OriginateResponse`` in
    time — the call may still have been placed), ``unknown`` for other codes.
    """

    success: bool
    reason: str
    reason_code: int | None = None
    uniqueid: str | None = None
    channel: str | None = None
    message: str = ""


@dataclass
class AmiStats:
    connects: int = 0
    disconnects: int = 0
    login_failures: int = 0
    events: int = 0
    handler_errors: int = 0
    dropped_events: int = 0
    skipped_blocks: int = 0


def backoff_delays(first: float, maximum: float, *, jitter: float = 0.2) -> Iterator[float]:
    """Reconnect delays: ``first``, doubling up to ``maximum``; each shortened by up to
    ``jitter`` (a fraction) so that many clients do not reconnect in step."""
    delay = max(first, 0.0)
    while True:
        yield delay * (1.0 - jitter * random.random())
        delay = min(maximum, delay * 2 if delay > 0 else maximum)


def _number(value: Any) -> float | None:
    if isinstance(value, list):
        value = value[-1] if value else ""
    try:
        number = float(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _check_field(key: str, value: Any) -> str | list[str]:
    """A header value as text; refuses anything that could inject another header."""
    if not _KEY_RE.match(key):
        raise ValueError(f"invalid AMI header name {key!r}")
    values = value if isinstance(value, list | tuple) else [value]
    out = []
    for item in values:
        text = str(item)
        if "\r" in text or "\n" in text:
            raise ValueError(f"AMI header {key} must not contain CR or LF")
        out.append(text)
    return out if isinstance(value, list | tuple) else out[0]


def _escape_variable_value(value: Any) -> str:
    # Asterisk splits an Originate ``Variable`` header at commas (standard application
    # arguments); a backslash escapes a comma, a quote or itself.
    text = str(value)
    return text.replace("\\", "\\\\").replace(",", "\\,").replace('"', '\\"')


# -- panoramisk behind the adapter --------------------------------------------------------------


class _Action(pk_actions.Action):
    """panoramisk's Action, with ``multi`` that does not raise ``KeyError: 'async'``.

    panoramisk reads ``self['async']`` when a response says "... successfully queued"; actions
    without an ``Async`` header (``PlayDTMF``) then raise inside the reader and the connection
    is dropped.
    """

    @property
    def multi(self) -> bool:
        if self.as_list is not None:
            return bool(self.as_list)
        first = self.responses[0]
        message = first.get("message", "")
        message = (message[-1] if isinstance(message, list) and message else str(message)).lower()
        if first.get("subevent", "") == "Start" or first.get("eventlist", "") == "start":
            return True
        if "will follow" in message:
            return True
        if message.startswith("added") and message.endswith("to queue"):
            return True
        if message.endswith("successfully queued"):
            return str(self.get("async", "false")).strip().lower() in ("true", "yes", "1")
        return False


class _Manager(Manager):
    """panoramisk's Manager as a sender only: the adapter owns connect, reconnect and ping."""

    def __init__(self, client: AmiClient, **config: Any) -> None:
        super().__init__(**config)
        self._client = client

    def dispatch(self, event: Message) -> list[str]:  # called by the reader for each event
        self._client._dispatch(event)
        return []

    def connection_lost(self, exc: Any) -> None:  # the adapter reconnects (with backoff)
        pass

    def ping(self) -> None:  # the adapter pings (only after login)
        pass

    def connect(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("AmiClient owns the connection: panoramisk must not connect itself")


class _Protocol(AMIProtocol):
    """panoramisk's AMIProtocol with a reader that cannot be broken by what it reads."""

    def __init__(self, client: AmiClient, manager: _Manager) -> None:
        super().__init__()
        self._client = client
        self._manager = manager

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        # The wiring panoramisk's Manager.connection_made would do, done before any byte
        # is read.
        self.log = wire_log
        self.factory = self._manager
        self.config = self._manager.config
        self.encoding = self._manager.encoding = "utf8"
        loop = asyncio.get_running_loop()
        self.gone: asyncio.Future[str] = loop.create_future()
        self.socket_closed: asyncio.Future[None] = loop.create_future()
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._pending = ""
        self._banner_done = False

    # reading ------------------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        text = self._pending + self._decoder.decode(data)
        if not self._banner_done:
            if "\r\n" not in text and len(text) < 200:
                self._pending = text
                return
            first, _, rest = text.partition("\r\n")
            if first.startswith("Asterisk Call Manager/"):
                self.version = first.partition("/")[2].strip()
                wire_log.info("AMI protocol version %s", self.version)
                text = rest
            self._banner_done = True
        blocks = text.split("\r\n\r\n")
        self._pending = blocks.pop()
        if len(self._pending) > MAX_PENDING_TEXT:
            wire_log.warning(
                "AMI stream: %d characters without a block end; discarded as garbage",
                len(self._pending),
            )
            self._client.stats.skipped_blocks += 1
            self._pending = ""
        for block in blocks:
            self._handle_block(block)

    def _handle_block(self, block: str) -> None:
        block = block.strip()
        if not block:
            return
        try:
            message = Message.from_line(block)
            if message is None:
                self._client.stats.skipped_blocks += 1
                wire_log.warning(
                    "AMI block without Event or Response skipped (%d chars)", len(block)
                )
                return
            self.handle_message(message)
        except Exception:
            self._client.stats.skipped_blocks += 1
            wire_log.exception("AMI block could not be handled; skipped (%d chars)", len(block))

    # closing ------------------------------------------------------------------------------------

    def _signal_gone(self, reason: str) -> None:
        if not self.gone.done():
            self.gone.set_result(reason)

    def _fail_pending(self) -> None:
        actions = {id(a): a for a in self.responses.values()}
        self.responses.clear()
        for action in actions.values():
            if not action.future.done():
                action.future.set_exception(
                    AmiConnectionLost(f"connection lost before {action.get('action')} was answered")
                )

    def connection_lost(self, exc: Any) -> None:
        if isinstance(exc, Message):  # panoramisk calls this on "Event: Shutdown"
            self._signal_gone("Asterisk is shutting down")
            self.close()
            return
        self.closed = True
        self._fail_pending()
        self._signal_gone(f"connection closed ({exc})" if exc else "connection closed by Asterisk")
        if not self.socket_closed.done():
            self.socket_closed.set_result(None)
        self._client._sockets.discard(self)

    def close(self) -> None:
        self._fail_pending()
        if not self.closed:
            self.closed = True
            with contextlib.suppress(Exception):
                self.transport.close()

    def abort(self) -> None:
        self._fail_pending()
        self.closed = True
        with contextlib.suppress(Exception):
            self.transport.abort()


# -- handlers -----------------------------------------------------------------------------------


class _Subscription:
    """One handler: its event names, a bounded queue and a worker task."""

    def __init__(
        self, client: AmiClient, names: frozenset[str] | None, handler: Handler, size: int
    ) -> None:
        self.client = client
        self.names = names  # lower-case names, or None for every event
        self.handler = handler
        self.size = size
        self.label = getattr(handler, "__qualname__", None) or repr(handler)
        self.queue: asyncio.Queue[AmiEvent] | None = None
        self.task: asyncio.Task[None] | None = None
        self.dropped = 0
        self.errors = 0

    def matches(self, lower_name: str) -> bool:
        return self.names is None or lower_name in self.names

    def start(self) -> None:
        if self.task is None:
            self.queue = asyncio.Queue(self.size)
            self.task = asyncio.create_task(self._run(), name=f"ivrflow-ami-handler:{self.label}")

    def offer(self, event: AmiEvent) -> None:
        if self.queue is None:
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1
            self.client.stats.dropped_events += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning(
                    "AMI handler %s is %d events behind: dropped %d event(s) so far (latest %s)",
                    self.label,
                    self.size,
                    self.dropped,
                    event.name,
                )

    async def _run(self) -> None:
        assert self.queue is not None
        queue = self.queue
        while True:
            event = await queue.get()
            try:
                await self.handler(event)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise
                self._failed(event)
            except Exception:
                self._failed(event)
            finally:
                queue.task_done()

    def _failed(self, event: AmiEvent) -> None:
        self.errors += 1
        self.client.stats.handler_errors += 1
        log.exception("AMI handler %s failed on event %s", self.label, event.name)

    async def stop(self, drain_s: float) -> None:
        if self.task is None:
            return
        if drain_s > 0 and self.queue is not None and not self.task.done():
            try:
                await asyncio.wait_for(self.queue.join(), drain_s)
            except TimeoutError:
                log.warning(
                    "AMI handler %s: %d event(s) not handled at close",
                    self.label,
                    self.queue.qsize(),
                )
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        self.task = None
        self.queue = None


def _is_async_callable(handler: Any) -> bool:
    if inspect.iscoroutinefunction(handler):
        return True
    call = getattr(handler, "__call__", None)  # noqa: B004 - async callable objects
    return inspect.iscoroutinefunction(call)


# -- the client ---------------------------------------------------------------------------------


class AmiClient:
    """An AMI connection that stays up: login, keep-alive, reconnect, non-blocking handlers.

    ::

        ami = AmiClient("127.0.0.1", 5038, "ivrflow", secret)
        ami.on("Hangup", on_hangup)                      # async handlers only
        await ami.start()                                # connect + login (raises on bad login)
        result = await ami.originate("Local/s@ivr-entry", application="Wait", data="60")
        await ami.close()

    ``start(require_connection=False)`` returns even when Asterisk is not reachable yet and
    keeps trying in the background (the runtime can serve FastAGI calls without AMI).
    """

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        secret: str,
        *,
        ping_interval_s: float = 20.0,
        reconnect_backoff: tuple[float, float] = (0.5, 30.0),
        ping_timeout_s: float | None = None,
        connect_timeout_s: float = 5.0,
        login_timeout_s: float = 10.0,
        action_timeout_s: float = 10.0,
        events: str = "call,agent",
        handler_queue_size: int = 10_000,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self.__secret = secret
        self.ping_interval_s = ping_interval_s
        self.ping_timeout_s = ping_timeout_s or min(10.0, max(ping_interval_s, 0.05))
        self.reconnect_backoff = reconnect_backoff
        self.connect_timeout_s = connect_timeout_s
        self.login_timeout_s = login_timeout_s
        self.action_timeout_s = action_timeout_s
        self.events = events
        self.handler_queue_size = handler_queue_size
        self.stats = AmiStats()
        self.asterisk_version: str | None = None
        self._subs: list[_Subscription] = []
        self._login_hooks: list[Callable[[], Any]] = []
        self._manager: _Manager | None = None
        self._protocol: _Protocol | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._up: asyncio.Event | None = None
        self._sockets: set[_Protocol] = set()  # connections whose socket is not closed yet
        self._logged_in = False
        self._closing = False
        _REDACT.add(secret)

    def __repr__(self) -> str:
        state = "connected" if self.connected else "disconnected"
        return f"<AmiClient {self.username}@{self.host}:{self.port} {state}>"

    # -- state ------------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Connected and logged in."""
        protocol = self._protocol
        return self._logged_in and protocol is not None and not protocol.closed

    async def wait_connected(self, timeout_s: float | None = None) -> None:
        """Wait until logged in (raises ``TimeoutError``)."""
        if self._up is None:
            raise AmiNotConnected("the client is not started")
        async with asyncio.timeout(timeout_s):
            await self._up.wait()

    # -- handlers ---------------------------------------------------------------------------------

    def on(
        self, event: str | Iterable[str], handler: Handler, *, queue_size: int | None = None
    ) -> Handler:
        """Run ``async handler(event)`` for each event named ``event`` (or any of several
        names, in arrival order; ``"*"`` = every event). Returns the handler."""
        if not _is_async_callable(handler):
            raise TypeError("AMI handlers must be async (async def handler(event): ...)")
        names = [event] if isinstance(event, str) else list(event)
        lowered = None if "*" in names else frozenset(n.lower() for n in names)
        sub = _Subscription(self, lowered, handler, queue_size or self.handler_queue_size)
        self._subs.append(sub)
        if self._supervisor is not None:
            sub.start()
        return handler

    def on_login(self, hook: Callable[[], Any]) -> Callable[[], Any]:
        """Call ``hook()`` (a plain function; it must be quick and must not block) after each
        successful login — the first and every reconnect — e.g. to fetch state whose events
        were missed while the connection was down. Its exception is logged, never raised."""
        if _is_async_callable(hook):
            raise TypeError("login hooks are plain functions (start a task from them if needed)")
        self._login_hooks.append(hook)
        return hook

    async def off(self, handler: Handler) -> None:
        """Stop delivering events to ``handler`` (events already queued for it are dropped)."""
        for sub in [s for s in self._subs if s.handler == handler]:
            self._subs.remove(sub)
            await sub.stop(0)

    def _dispatch(self, message: Message) -> None:
        # Runs inside the reader: must be quick and must never raise.
        try:
            headers = _plain(message)
            event = AmiEvent(_text(message.get("event", "")), headers)
            self.stats.events += 1
            lower = event.name.lower()
            for sub in self._subs:
                if sub.matches(lower):
                    sub.offer(event)
        except Exception:
            log.exception("AMI event could not be routed; skipped")

    # -- lifecycle --------------------------------------------------------------------------------

    async def start(self, *, require_connection: bool = True) -> None:
        """Connect and log in. Raises :class:`AmiLoginError` if the login is refused; if
        Asterisk cannot be reached, raises :class:`AmiNotConnected` — or, with
        ``require_connection=False``, returns and keeps trying in the background."""
        if self._supervisor is not None:
            raise RuntimeError("AmiClient already started")
        loop = asyncio.get_running_loop()
        self._closing = False
        self._up = asyncio.Event()
        self._manager = _Manager(
            self,
            loop=loop,
            host=self.host,
            port=self.port,
            log=wire_log,
            encoding="utf8",
            events=self.events,
        )
        for sub in self._subs:
            sub.start()
        first: asyncio.Future[None] = loop.create_future()
        self._supervisor = asyncio.create_task(self._supervise(first), name="ivrflow-ami")
        try:
            await first
        except AmiLoginError:
            await self.close(drain_s=0)
            raise
        except AmiError as exc:
            if require_connection:
                await self.close(drain_s=0)
                raise
            log.warning("AMI not reachable yet (%s); retrying in the background", exc)
        except BaseException:
            await self.close(drain_s=0)
            raise

    async def close(self, *, drain_s: float = 1.0) -> None:
        """Log off, close the connection, let handlers finish queued events (up to
        ``drain_s``), stop every task. The client can be started again."""
        self._closing = True
        if self.connected:
            with contextlib.suppress(AmiError, TimeoutError, OSError):
                await self._send({"Action": "Logoff"}, as_list=False, timeout_s=1.0)
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None:
            supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await supervisor
        await self._drop_connection()
        await self._close_sockets()
        for sub in self._subs:
            await sub.stop(drain_s)
        self._manager = None
        self._up = None

    async def __aenter__(self) -> AmiClient:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            _REDACT.discard(self.__secret)

    # -- connection supervision -------------------------------------------------------------------

    async def _supervise(self, first: asyncio.Future[None]) -> None:
        delays = backoff_delays(*self.reconnect_backoff)
        while not self._closing:
            try:
                await self._connect_and_login()
            except asyncio.CancelledError:
                raise
            except AmiLoginError as exc:
                self.stats.login_failures += 1
                log.error(
                    "AMI login to %s:%s as %r refused: %s", self.host, self.port, self.username, exc
                )
                if not first.done():
                    first.set_exception(exc)
                    return
            except (OSError, TimeoutError, AmiError) as exc:
                reason = str(exc) or type(exc).__name__
                log.warning("AMI connection to %s:%s failed: %s", self.host, self.port, reason)
                if not first.done():
                    first.set_exception(AmiNotConnected(f"{self.host}:{self.port}: {reason}"))
            else:
                delays = backoff_delays(*self.reconnect_backoff)
                if not first.done():
                    first.set_result(None)
                await self._serve()
                if self._closing:
                    return
            delay = next(delays)
            log.info("AMI: reconnecting in %.2f s", delay)
            await asyncio.sleep(delay)

    async def _connect_and_login(self) -> None:
        loop = asyncio.get_running_loop()
        manager = self._manager
        assert manager is not None
        async with asyncio.timeout(self.connect_timeout_s):
            _, protocol = await loop.create_connection(
                lambda: _Protocol(self, manager), self.host, self.port
            )
        self._sockets.add(protocol)
        manager.protocol = protocol
        manager.responses = protocol.responses
        manager._connected = True
        self._protocol = protocol
        try:
            response = await self._send(
                {
                    "Action": "Login",
                    "Username": self.username,
                    "Secret": self.__secret,
                    "Events": self.events,
                },
                as_list=False,
                timeout_s=self.login_timeout_s,
            )
        except BaseException:
            await self._drop_connection()
            raise
        if not response.success:
            await self._drop_connection()
            raise AmiLoginError(response.message or "login refused")
        self._logged_in = True
        self.asterisk_version = protocol.version
        self.stats.connects += 1
        assert self._up is not None
        self._up.set()
        log.info(
            "AMI logged in to %s:%s as %r (Asterisk Call Manager/%s)",
            self.host,
            self.port,
            self.username,
            protocol.version or "?",
        )
        for hook in list(self._login_hooks):
            try:
                hook()
            except Exception:
                log.exception("AMI login hook %r failed", hook)

    async def _serve(self) -> None:
        """Run the keep-alive until the connection is gone."""
        protocol = self._protocol
        assert protocol is not None
        pinger = asyncio.create_task(self._keepalive(protocol), name="ivrflow-ami-ping")
        reason = "closed"
        try:
            reason = await protocol.gone
        finally:
            pinger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pinger
            await self._drop_connection()
            if not self._closing:
                self.stats.disconnects += 1
                log.warning("AMI connection to %s:%s lost: %s", self.host, self.port, reason)

    async def _keepalive(self, protocol: _Protocol) -> None:
        while not protocol.closed:
            await asyncio.sleep(self.ping_interval_s)
            try:
                await self._send({"Action": "Ping"}, as_list=False, timeout_s=self.ping_timeout_s)
            except TimeoutError:
                log.warning(
                    "AMI: no answer to Ping within %.1f s; reconnecting", self.ping_timeout_s
                )
                protocol.abort()
                return
            except AmiError:
                return

    async def _drop_connection(self) -> None:
        protocol, self._protocol = self._protocol, None
        self._logged_in = False
        if self._up is not None:
            self._up.clear()
        if self._manager is not None:
            self._manager._connected = False
        if protocol is not None:
            await _close_socket(protocol)

    async def _close_sockets(self) -> None:
        for protocol in list(self._sockets):
            await _close_socket(protocol)
            self._sockets.discard(protocol)

    # -- actions ----------------------------------------------------------------------------------

    async def _send(
        self, fields: dict[str, Any], *, as_list: bool | None, timeout_s: float | None = None
    ) -> Any:
        """Send one action; returns panoramisk's Message (or list of Messages)."""
        protocol, manager = self._protocol, self._manager
        if protocol is None or protocol.closed or manager is None:
            raise AmiNotConnected(f"not connected to {self.host}:{self.port}")
        action = _Action(fields)
        future = manager.send_action(action, as_list=as_list)
        try:
            return await asyncio.wait_for(future, timeout_s or self.action_timeout_s)
        finally:
            if not future.done():
                future.cancel()
            protocol.responses.pop(action.id, None)

    async def action(
        self,
        name: str,
        *,
        as_list: bool | None = None,
        timeout_s: float | None = None,
        **fields: Any,
    ) -> AmiResponse:
        """Send any action (``await ami.action("QueueStatus", Queue="consult")``).

        A list action (``EventList: start``) returns its events in ``AmiResponse.events``.
        ``Response: Error`` is returned (``success=False``), not raised. Raises
        :class:`AmiNotConnected`, :class:`AmiConnectionLost`, ``TimeoutError``.
        """
        if not self.connected:
            raise AmiNotConnected(f"not connected to {self.host}:{self.port}")
        if name.lower() == "login":
            raise ValueError("Login is done by start()")
        payload: dict[str, Any] = {"Action": _check_field("Action", name)}
        for key, value in fields.items():
            if value is not None:
                payload[key] = _check_field(key, value)
        result = await self._send(payload, as_list=as_list, timeout_s=timeout_s)
        return _response(name, result)

    async def originate(
        self,
        channel: str,
        *,
        application: str | None = None,
        data: str | None = None,
        context: str | None = None,
        exten: str | None = None,
        priority: int = 1,
        caller_id: str | None = None,
        variables: Mapping[str, Any] | None = None,
        timeout_s: float = 30,
        channel_id: str | None = None,
        response_timeout_s: float | None = None,
    ) -> OriginateResult:
        """Place a call (``Async=true``) and wait for its ``OriginateResponse``.

        Either ``application`` (+ ``data``) or ``context`` + ``exten`` (+ ``priority``).
        ``timeout_s``: how long the channel may ring. ``channel_id`` pre-assigns the new
        channel's uniqueid (handy to match later events). Variables are escaped for
        Asterisk's comma splitting; prefix a name with ``__`` to have it inherited.
        """
        if (application is None) == (context is None and exten is None):
            raise ValueError("originate needs either application= or context= and exten=")
        if application is None and (context is None or exten is None):
            raise ValueError("originate to the dialplan needs both context= and exten=")
        fields: dict[str, Any] = {
            "Channel": channel,
            "Timeout": str(int(timeout_s * 1000)),
            "Async": "true",
        }
        if application is not None:
            fields["Application"] = application
            if data is not None:
                fields["Data"] = data
        else:
            fields.update(Context=context, Exten=exten, Priority=str(priority))
        if caller_id is not None:
            fields["CallerID"] = caller_id
        if channel_id is not None:
            fields["ChannelId"] = channel_id
        if variables:
            pairs = []
            for key, value in variables.items():
                if not _VAR_RE.match(key):
                    raise ValueError(f"invalid channel variable name {key!r}")
                pairs.append(f"{key}={_escape_variable_value(value)}")
            fields["Variable"] = pairs
        if not self.connected:
            raise AmiNotConnected(f"not connected to {self.host}:{self.port}")
        payload = {"Action": "Originate"} | {k: _check_field(k, v) for k, v in fields.items()}
        wait_s = response_timeout_s if response_timeout_s is not None else timeout_s + 15
        try:
            result = await self._send(payload, as_list=None, timeout_s=wait_s)
        except TimeoutError:
            log.warning("AMI Originate %s: no OriginateResponse within %.0f s", channel, wait_s)
            return OriginateResult(False, "no_response", message="no OriginateResponse in time")
        return _originate_result(result)

    async def play_dtmf(self, channel: str, digit: str, *, duration_ms: int | None = None) -> None:
        """Play one DTMF digit on ``channel`` (test calls: the ``;1`` half of a Local channel).
        Needs ``write = call`` (a lab AMI user, not the production one)."""
        if not isinstance(digit, str) or not _DTMF_RE.match(digit):
            raise ValueError(f"not a DTMF digit: {digit!r}")
        if not self.connected:
            raise AmiNotConnected(f"not connected to {self.host}:{self.port}")
        payload: dict[str, Any] = {
            "Action": "PlayDTMF",
            "Channel": _check_field("Channel", channel),
            "Digit": digit,
        }
        if duration_ms is not None:
            payload["Duration"] = str(int(duration_ms))
        # as_list=False: panoramisk raises KeyError('async') in the reader otherwise.
        response = await self._send(payload, as_list=False)
        if not response.success:
            raise AmiActionError("PlayDTMF", _text(response.get("message", "")))


async def _close_socket(protocol: _Protocol) -> None:
    """Close a connection and wait until its socket is really closed."""
    protocol.close()
    try:
        async with asyncio.timeout(1.0):
            await asyncio.shield(protocol.socket_closed)
    except TimeoutError:  # the peer does not take our last bytes: cut the connection
        protocol.abort()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.0):
                await asyncio.shield(protocol.socket_closed)


def _text(value: Any) -> str:
    if isinstance(value, list):
        value = value[-1] if value else ""
    return str(value or "").strip()


def _plain(message: Message) -> dict[str, Any]:
    return {k: v for k, v in message.items() if k.lower() != "content" or v}


def _response(name: str, result: Any) -> AmiResponse:
    messages = result if isinstance(result, list) else [result]
    first = messages[0]
    events = tuple(
        AmiEvent(_text(m.get("event", "")), _plain(m)) for m in messages[1:] if "event" in m
    )
    return AmiResponse(
        action=name,
        success=bool(first.success),
        message=_text(first.get("message", "")),
        headers=_plain(first),
        events=events,
    )


def _originate_result(result: Any) -> OriginateResult:
    messages = result if isinstance(result, list) else [result]
    first, last = messages[0], messages[-1]
    if not first.success and "event" not in first:
        return OriginateResult(False, "rejected", message=_text(first.get("message", "")))
    if "event" not in last:  # only the "successfully queued" response came back
        return OriginateResult(False, "no_response", message=_text(first.get("message", "")))
    code_number = _number(last.get("reason", ""))
    code = int(code_number) if code_number is not None else None
    success = _text(last.get("response", "")).lower() == "success"
    if success:
        reason = "answered"
    elif code is None:
        reason = "unknown"
    else:
        reason = ORIGINATE_REASONS.get(code, "unknown")
    uniqueid = _text(last.get("uniqueid", ""))
    channel = _text(last.get("channel", ""))
    return OriginateResult(
        success=success,
        reason=reason,
        reason_code=code,
        uniqueid=uniqueid if uniqueid and uniqueid != "<null>" else None,
        channel=channel if channel and channel != "<null>" else None,
        message=_text(first.get("message", "")),
    )


# -- queue legs ---------------------------------------------------------------------------------

Outcome = Literal["answered", "abandoned", "timeout", "left"]

_STATUS_OUTCOME: dict[str, Outcome] = {
    "TIMEOUT": "timeout",
    "LEAVEEMPTY": "left",
    "LEAVEUNAVAIL": "left",
    "WITHDRAW": "left",
    "CONTINUE": "left",  # (only reachable after an agent answered; then the leg is answered)
    "JOINEMPTY": "left",
    "JOINUNAVAIL": "left",
    "FULL": "left",
}


@dataclass(frozen=True, slots=True)
class QueueLeg:
    """One stay of one caller channel in one queue (times in UTC, durations in seconds).

    ``hold_s``: waiting time until an agent answered (answered legs) or until the caller left
    the queue. ``talk_s``: time connected to the agent. ``wrapup_s``: the queue's configured
    after-call work time (Asterisk has no AMI fact for the real one), for answered legs when
    the tracker was told it. ``decided_by`` says which fact decided ``outcome``.
    """

    uniqueid: str
    linkedid: str
    queue: str
    joined_at: datetime
    position: int | None
    connected_at: datetime | None
    agent: str | None
    hold_s: float | None
    talk_s: float | None
    left_at: datetime | None
    outcome: Outcome
    wrapup_s: float | None = None
    decided_by: str = ""
    ring_no_answer: int = 0

    def record_fields(self) -> dict[str, Any]:
        """The columns of ``runtime.store.models.QueueLeg``."""
        return {
            "uniqueid": self.uniqueid,
            "linkedid": self.linkedid,
            "queue": self.queue,
            "joined_at": self.joined_at,
            "connected_at": self.connected_at,
            "left_at": self.left_at,
            "agent": self.agent or "",
            "hold_s": self.hold_s,
            "talk_s": self.talk_s,
            "wrapup_s": self.wrapup_s,
            "outcome": self.outcome,
        }


@dataclass
class _Leg:
    uniqueid: str
    linkedid: str
    queue: str
    joined_at: float
    position: int | None
    created: float  # monotonic
    connected_at: float | None = None
    agent: str | None = None
    hold_s: float | None = None
    talk_s: float | None = None
    completed: bool = False  # AgentComplete seen
    left_at: float | None = None
    abandon_event: bool = False
    abandon_hold_s: float | None = None
    hangup_requested: bool = False  # HangupRequest: the far end hung up
    soft_hangup: bool = False  # SoftHangupRequest: Asterisk/the runtime ended the channel
    hungup_at: float | None = None
    status: tuple[str, bool] | None = None  # (QUEUESTATUS, caller hung up) from the runtime
    deadline: float | None = None  # monotonic time at which the outcome is forced
    ring_no_answer: int = 0
    events: list[str] = field(default_factory=list)


def _utc(stamp: float | None) -> datetime | None:
    return None if stamp is None else datetime.fromtimestamp(stamp, UTC)


class QueueTracker:
    """Builds :class:`QueueLeg` records from AMI queue events and hands each finished leg to
    ``async on_leg(leg)``.

    Events: QueueCallerJoin, AgentCalled, AgentRingNoAnswer, AgentConnect, AgentComplete,
    QueueCallerAbandon, QueueCallerLeave, HangupRequest, SoftHangupRequest, Hangup — matched
    to a leg by the caller channel's ``Uniqueid`` (a channel is in one queue at a time).
    Events for channels without a leg are ignored.

    **Outcome rule.** Asterisk sends ``QueueCallerAbandon`` whenever a caller leaves without an
    agent — also on a plain queue timeout and on ``leaveempty`` — so it never decides alone:

    1. ``answered`` — an ``AgentConnect`` was seen. The leg ends at ``AgentComplete`` (talk
       time from it); if the caller's ``Hangup`` comes first, ``abandon_grace_s`` later with
       the talk time measured.
    2. Otherwise, once ``QueueCallerLeave`` is seen, the first of:

       a. the runtime's report (:meth:`note_queue_result`, QUEUESTATUS as the AGI ``EXEC
          Queue`` saw it — authoritative, in either order with the AMI events): caller hung
          up → ``abandoned``; ``TIMEOUT`` → ``timeout``; any other status → ``left``;
       b. ``HangupRequest`` for the caller (the far end hung up; Asterisk sends it before
          ``QueueCallerLeave``), or its ``Hangup`` within ``abandon_grace_s`` after leaving
          without a ``SoftHangupRequest`` (which would mean Asterisk or the runtime ended the
          channel) → ``abandoned``;
       c. ``abandon_grace_s`` after leaving with no hangup: ``timeout`` if a
          ``QueueCallerAbandon`` was seen (timeout or leave-when-empty; only a runtime report
          tells those apart), else ``left`` (the caller pressed an exit key, was withdrawn…).

    3. A ``Hangup`` before any ``QueueCallerLeave`` (events lost during an AMI reconnect) ends
       the leg at once: ``abandoned`` (or ``left`` if ``SoftHangupRequest`` said the system
       ended the channel).
    4. A leg with nothing decisive for ``ttl_s`` is dropped (counted in ``expired``, logged);
       at most ``max_legs`` are held (the oldest is dropped first).

    ``wrapup_s`` maps queue name → its configured ``wrapuptime``, copied into answered legs.
    """

    EVENTS = (
        "QueueCallerJoin",
        "AgentCalled",
        "AgentRingNoAnswer",
        "AgentConnect",
        "AgentComplete",
        "QueueCallerAbandon",
        "QueueCallerLeave",
        "HangupRequest",
        "SoftHangupRequest",
        "Hangup",
    )

    def __init__(
        self,
        on_leg: Callable[[QueueLeg], Awaitable[Any]],
        *,
        abandon_grace_s: float = 2.0,
        ttl_s: float = 6 * 3600,
        max_legs: int = 100_000,
        wrapup_s: Mapping[str, float] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        sweep_interval_s: float | None = None,
    ) -> None:
        if not _is_async_callable(on_leg):
            raise TypeError("on_leg must be async")
        self.on_leg = on_leg
        self.abandon_grace_s = abandon_grace_s
        self.ttl_s = ttl_s
        self.max_legs = max_legs
        self.wrapup_s = dict(wrapup_s or {})
        self._monotonic = monotonic
        self.sweep_interval_s = sweep_interval_s or min(max(abandon_grace_s / 2, 0.01), 1.0)
        self._legs: OrderedDict[str, _Leg] = OrderedDict()
        self._notes: OrderedDict[str, tuple[str | None, str, bool, float]] = OrderedDict()
        self._sweeper: asyncio.Task[None] | None = None
        self.emitted = 0
        self.expired = 0
        self.ignored = 0
        self.sink_errors = 0

    # -- wiring -----------------------------------------------------------------------------------

    def attach(self, client: AmiClient) -> None:
        """Subscribe to ``client``'s queue and hangup events (one ordered stream)."""
        client.on(self.EVENTS, self.handle_event)

    async def start(self) -> None:
        if self._sweeper is None:
            self._sweeper = asyncio.create_task(self._sweep_forever(), name="ivrflow-queue-legs")

    async def close(self) -> None:
        """Stop; legs already out of their queue are decided and handed over now, legs of
        callers still waiting are dropped (their outcome is not known yet)."""
        sweeper, self._sweeper = self._sweeper, None
        if sweeper is not None:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
        for uid, leg in list(self._legs.items()):
            if leg.left_at is not None or leg.connected_at is not None:
                await self._finish(uid, force=True)
        if self._legs:
            log.info("queue tracker closed with %d caller(s) still queued", len(self._legs))
            self._legs.clear()

    async def __aenter__(self) -> QueueTracker:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def open_legs(self) -> int:
        return len(self._legs)

    # -- input --------------------------------------------------------------------------------

    async def note_queue_result(
        self,
        uniqueid: str,
        queuestatus: str | None,
        *,
        caller_hung_up: bool = False,
        queue: str | None = None,
    ) -> None:
        """What the runtime saw when ``EXEC Queue`` returned: ``QUEUESTATUS`` (``TIMEOUT``,
        ``LEAVEEMPTY``…) and whether the caller hung up (``result=-1`` with no agent)."""
        status = (queuestatus or "").strip().upper()
        leg = self._legs.get(uniqueid)
        if leg is not None and (queue is None or queue == leg.queue):
            leg.status = (status, caller_hung_up)
            await self._finish(uniqueid)
            return
        # The AMI events may still be on their way (or queued behind a slow sink).
        self._notes[uniqueid] = (queue, status, caller_hung_up, self._monotonic())
        self._notes.move_to_end(uniqueid)
        while len(self._notes) > 10_000:
            self._notes.popitem(last=False)

    async def handle_event(self, event: AmiEvent) -> None:
        """Feed one AMI event (the AmiClient handler)."""
        uid = event.text("Uniqueid")
        if not uid:
            self.ignored += 1
            return
        name = event.name
        if name == "QueueCallerJoin":
            await self._join(uid, event)
            return
        leg = self._legs.get(uid)
        queue = event.text("Queue")
        if leg is None or (queue and queue != leg.queue):
            self.ignored += 1
            return
        leg.events.append(name)
        now = event.timestamp
        if name == "AgentCalled":
            pass
        elif name == "AgentRingNoAnswer":
            leg.ring_no_answer += 1
        elif name == "AgentConnect":
            leg.connected_at = now
            leg.agent = event.text("MemberName") or event.text("Interface") or None
            hold = _number(event.text("HoldTime"))
            leg.hold_s = hold if hold is not None else max(0.0, now - leg.joined_at)
        elif name == "AgentComplete":
            if leg.connected_at is None:  # AgentConnect lost: rebuild from AgentComplete
                talk = _number(event.text("TalkTime")) or 0.0
                leg.connected_at = now - talk
                leg.hold_s = _number(event.text("HoldTime"))
            leg.agent = leg.agent or event.text("MemberName") or event.text("Interface") or None
            leg.talk_s = _number(event.text("TalkTime"))
            leg.completed = True
        elif name == "QueueCallerAbandon":
            leg.abandon_event = True
            leg.abandon_hold_s = _number(event.text("HoldTime"))
        elif name == "QueueCallerLeave":
            leg.left_at = now
            leg.deadline = self._monotonic() + self.abandon_grace_s
        elif name == "HangupRequest":
            leg.hangup_requested = True
        elif name == "SoftHangupRequest":
            leg.soft_hangup = True
        elif name == "Hangup":
            leg.hungup_at = now
            if leg.deadline is None:
                leg.deadline = self._monotonic() + self.abandon_grace_s
        await self._finish(uid)

    async def _join(self, uid: str, event: AmiEvent) -> None:
        if uid in self._legs:  # a new queue before the last leg was decided
            await self._finish(uid, force=True, why="joined another queue")
            self._legs.pop(uid, None)
        while len(self._legs) >= self.max_legs:
            old_uid, old = self._legs.popitem(last=False)
            self.expired += 1
            log.warning("queue tracker full: dropped leg %s in %s", old_uid, old.queue)
        position = _number(event.text("Position"))
        leg = _Leg(
            uniqueid=uid,
            linkedid=event.text("Linkedid") or uid,
            queue=event.text("Queue"),
            joined_at=event.timestamp,
            position=int(position) if position is not None else None,
            created=self._monotonic(),
            events=["QueueCallerJoin"],
        )
        self._legs[uid] = leg
        note = self._notes.pop(uid, None)
        if note is not None and (note[0] is None or note[0] == leg.queue):
            leg.status = (note[1], note[2])

    # -- deciding -----------------------------------------------------------------------------

    def _decide(self, leg: _Leg, now: float, force: bool) -> tuple[Outcome, str] | None:
        due = force or (leg.deadline is not None and now >= leg.deadline)
        if leg.connected_at is not None:
            if leg.completed:
                return "answered", "AgentComplete"
            if leg.hungup_at is not None and due:
                return "answered", "Hangup after AgentConnect"
            if force:
                return "answered", "AgentConnect"
            return None
        if leg.left_at is None:
            if leg.hungup_at is not None:  # QueueCallerLeave never came
                if leg.soft_hangup and not leg.hangup_requested:
                    return "left", "Hangup (SoftHangupRequest) without QueueCallerLeave"
                return "abandoned", "Hangup without QueueCallerLeave"
            return None
        if leg.status is not None:
            status, hung_up = leg.status
            if hung_up:
                return "abandoned", "runtime: caller hung up in the queue"
            return _STATUS_OUTCOME.get(status, "left"), f"QUEUESTATUS={status or '?'}"
        if leg.hangup_requested:
            return "abandoned", "HangupRequest"
        if leg.hungup_at is not None and not leg.soft_hangup:
            return "abandoned", "Hangup within the grace period"
        if due:
            if leg.abandon_event:
                return "timeout", "QueueCallerAbandon without a hangup"
            return "left", "QueueCallerLeave without QueueCallerAbandon or a hangup"
        return None

    async def _finish(self, uid: str, *, force: bool = False, why: str = "") -> None:
        leg = self._legs.get(uid)
        if leg is None:
            return
        decision = self._decide(leg, self._monotonic(), force)
        if decision is None and force:
            decision = ("timeout" if leg.abandon_event else "left", why or "forced")
        if decision is None:
            return
        del self._legs[uid]
        outcome, decided_by = decision
        await self._emit(self._build(leg, outcome, decided_by))

    def _build(self, leg: _Leg, outcome: Outcome, decided_by: str) -> QueueLeg:
        talk = leg.talk_s
        hold = leg.hold_s
        if outcome == "answered":
            if talk is None and leg.connected_at is not None:
                end = leg.hungup_at or time.time()
                talk = max(0.0, end - leg.connected_at)
            wrapup = self.wrapup_s.get(leg.queue)
        else:
            wrapup = None
            if leg.abandon_hold_s is not None:
                hold = leg.abandon_hold_s
            else:
                end = leg.left_at or leg.hungup_at
                hold = max(0.0, end - leg.joined_at) if end is not None else None
        return QueueLeg(
            uniqueid=leg.uniqueid,
            linkedid=leg.linkedid,
            queue=leg.queue,
            joined_at=_utc(leg.joined_at),  # type: ignore[arg-type]
            position=leg.position,
            connected_at=_utc(leg.connected_at) if outcome == "answered" else None,
            agent=leg.agent if outcome == "answered" else None,
            hold_s=hold,
            talk_s=talk if outcome == "answered" else None,
            left_at=_utc(leg.left_at or leg.hungup_at),
            outcome=outcome,
            wrapup_s=wrapup,
            decided_by=decided_by,
            ring_no_answer=leg.ring_no_answer,
        )

    async def _emit(self, leg: QueueLeg) -> None:
        self.emitted += 1
        try:
            await self.on_leg(leg)
        except Exception:
            self.sink_errors += 1
            log.exception("queue leg sink failed for %s in %s", leg.uniqueid, leg.queue)

    # -- time ---------------------------------------------------------------------------------

    async def sweep(self) -> None:
        """Decide legs whose grace period is over; expire stale legs and notes."""
        now = self._monotonic()
        for uid, leg in list(self._legs.items()):
            if leg.deadline is not None and now >= leg.deadline:
                await self._finish(uid)
            if now - leg.created > self.ttl_s and uid in self._legs:
                del self._legs[uid]
                self.expired += 1
                log.warning(
                    "queue leg %s in %s expired after %.0f s without an outcome (events: %s)",
                    uid,
                    leg.queue,
                    self.ttl_s,
                    ",".join(leg.events[-6:]),
                )
        for uid, note in list(self._notes.items()):
            if now - note[3] > 120:
                del self._notes[uid]

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_interval_s)
            try:
                await self.sweep()
            except Exception:  # never let the sweeper die
                log.exception("queue tracker sweep failed")
