"""Browser test calls: run a flow in the simulator with the designer user as the caller.

The browser designer runs a "test call" over a WebSocket: the user presses keys on an on-screen
keypad and sees (or hears) each prompt, the node being entered (highlighted on the canvas), the
variables and how the call ended. This module is the server side of that, apart from HTTP,
authentication and storage:

* :class:`SimulationSession` runs one validated :class:`~runtime.flow.Flow` in its own asyncio
  task on a :class:`KeypadChannel` — a simulated phone line whose caller input comes from
  :meth:`SimulationSession.press` and :meth:`SimulationSession.hangup` — and turns what happens
  into JSON-serialisable *events* (read them with :meth:`SimulationSession.events`, or give the
  session an async ``sink``).
* :func:`serve_simulation` speaks the WebSocket protocol on an accepted Starlette WebSocket.

Events (server → browser; every event is a JSON object with a ``type``)::

    {"type": "vars", "flow": "12329-main", "depth": 0, "vars": {...}, "changed": ["pin"]}
    {"type": "node", "node": "main_menu", "node_type": "core.menu", "label": "主菜单",
     "flow": "12329-main", "depth": 0, "step": 3}
    {"type": "answer", "node": "start"}
    {"type": "prompt", "node": "main_menu", "prompts": [{"id": "menu", "kind": "prompt",
     "text": "…", "language": "zh-CN", "text_zh": "…", "text_en": "…"}], "text": "…",
     "text_zh": "…", "text_en": "…", "language": "zh-CN", "barge_in": true, "duration_ms": 4200}
    {"type": "barge_in", "node": "main_menu"}
    {"type": "input", "node": "main_menu", "spec": {"min": 1, "max": 1, "terminator": null,
     "first_timeout_ms": 5000, "inter_digit_timeout_ms": 3000, "barge_in": true,
     "secret": false}, "typed": 0, "wait_ms": 5000}
    {"type": "collected", "node": "ask_pin", "digits": "******", "ended_by": "max"}
    {"type": "ignored", "node": "goodbye", "count": 2, "reason": "not_interruptible",
     "message_zh": "…", "message_en": "…"}
    {"type": "transfer", "node": "agent", "queue": "12329", "priority": 0, "timeout_s": 300,
     "caller_data": {...}, "status": "completed", "agent": "sim-agent"}
    {"type": "dial", "node": …, "number": "…", "timeout_s": 30, "caller_id": "", "status": …}
    {"type": "voicemail", "node": …, "mailbox": "…", "greeting": "unavailable", "status": …}
    {"type": "record", "node": …, "max_s": 60, "silence_s": 5, "beep": true,
     "status": "recorded", "file": "…", "duration_s": 3.0}
    {"type": "end", "outcome": "completed", "node": "goodbye", "detail": "", "reason": "flow",
     "message_zh": "…", "message_en": "…", "trace": {...}}

``vars`` comes before the ``node`` event of the step after the one that changed them (and once
at the start, with every variable listed in ``changed``); values of secret variables are
``******``, as in the trace. ``input`` is sent when the flow starts waiting for keys (the
keypad's "your turn", with the real wait in ``wait_ms``); keys pressed earlier are kept as
type-ahead — except while a prompt that may not be interrupted plays, when they are dropped
(``ignored``), as on a real line. ``end`` is always the last event; ``reason`` is ``flow`` (the
flow ended the call, or an error did), ``caller`` (the user hung up), ``idle``,
``max_duration``, ``closed`` (the server stopped the session), ``disconnected``,
``bad_messages``, ``overflow`` (events not read) or ``internal_error``; ``outcome`` is the
trace's outcome kind.

Time-outs run in real time, multiplied by ``timeout_scale``; a prompt "plays" for about as long
as it would take to say its text (multiplied by ``speech_scale``; 0 makes prompts
instantaneous).

Client messages (browser → server), each a JSON text frame of at most 4 KiB::

    {"type": "start", ...options}       first message; options are the caller's to interpret
                                        (see SimulationOptions.from_message)
    {"type": "keys", "digits": "12#"}   keys pressed (0-9 * #)
    {"type": "hangup"}                  the caller hangs up

A malformed message is answered with ``{"type": "error", "code": …, "message_zh": …,
"message_en": …}`` and the call goes on; after 20 of them the connection is closed (1008).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import secrets
import time
import unicodedata
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from starlette.websockets import WebSocket, WebSocketState

from nodes.registry import Registry
from prompts.catalogue import FlowPromptCatalogue
from runtime.call import (
    DTMF_KEYS,
    CallerHangup,
    CollectResult,
    CollectSpec,
    DialResult,
    DialStatus,
    Prompt,
    QueueRequest,
    QueueResult,
    QueueStatus,
    RecordResult,
    RecordStatus,
    VoicemailResult,
    VoicemailStatus,
)
from runtime.clock import parse_at
from runtime.flow import Flow, FlowLibrary
from runtime.interpreter import READ_ONLY, FlowCall, Interpreter
from runtime.problems import Problem, Severity
from runtime.render import describe_outcome
from runtime.trace import Outcome, Step, Trace
from runtime.validate import validate

__all__ = [
    "DEFAULT_IDLE_TIMEOUT_S",
    "DEFAULT_MAX_DURATION_S",
    "MAX_BAD_MESSAGES",
    "MAX_DIGITS_PER_PRESS",
    "MAX_MESSAGE_BYTES",
    "BadKeys",
    "EventSink",
    "KeypadChannel",
    "SimulationOptions",
    "SimulationRefused",
    "SimulationSession",
    "flow_for_test_call",
    "serve_simulation",
]

log = logging.getLogger("ivrflow.designer.simulation")

DEFAULT_MAX_DURATION_S = 15 * 60.0
DEFAULT_IDLE_TIMEOUT_S = 5 * 60.0
DEFAULT_STOP_GRACE_S = 2.0
MAX_MESSAGE_BYTES = 4096
MAX_BAD_MESSAGES = 20
MAX_DIGITS_PER_PRESS = 64
MAX_PENDING_EVENTS = 5000
MAX_VARIABLE_OVERRIDES = 100

CLOSE_NORMAL = 1000
CLOSE_POLICY = 1008
CLOSE_INTERNAL = 1011

Event = dict[str, Any]
EventSink = Callable[[Event], Awaitable[None]]

_NUMBER = re.compile(r"^(?:[0-9+*#]{0,32}|anonymous)$")
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


# -- errors ----------------------------------------------------------------------------------


class SimulationRefused(Exception):
    """The test call cannot start: the flow is invalid (``problems``) or the start options are
    not usable (a message). Raised by the ``start`` callback of :func:`serve_simulation`.

    ``SimulationRefused(problems)``, ``SimulationRefused("中文", "English")`` or both:
    ``SimulationRefused("中文", "English", problems=problems)``."""

    def __init__(
        self,
        message: str | Iterable[Problem] | None = None,
        message_en: str | None = None,
        *,
        problems: Iterable[Problem] = (),
        code: str = "refused",
    ) -> None:
        found = list(problems)
        if message is not None and not isinstance(message, str):
            found = [*list(message), *found]
            message = None
        self.problems: list[Problem] = found
        self.code = code
        if message is None:
            errors = sum(1 for p in found if p.severity is Severity.ERROR)
            message = f"流程有 {errors} 个错误，无法进行测试呼叫。请先修正。"
            message_en = message_en or (
                f"The flow has {errors} error{'s' if errors != 1 else ''}; "
                "fix them before a test call."
            )
        self.message_zh: str = message
        self.message_en: str = message_en or message
        super().__init__(self.message_en)

    def to_event(self) -> Event:
        return {
            "type": "error",
            "code": self.code,
            "message_zh": self.message_zh,
            "message_en": self.message_en,
            "problems": [p.to_json() for p in self.problems],
        }


class BadKeys(ValueError):
    """Keys that are not DTMF keys (0-9 * #), or too many at once."""

    code = "bad_digits"

    def __init__(self, digits: object) -> None:
        self.message_zh = f"按键无效：每次 1 到 {MAX_DIGITS_PER_PRESS} 个按键，只能是 0-9、* 和 #。"
        self.message_en = (
            f"Invalid keys: send 1 to {MAX_DIGITS_PER_PRESS} keys at a time, each one of "
            "0-9, * and #."
        )
        super().__init__(self.message_en)
        self.digits = digits

    def to_event(self) -> Event:
        return _error_event(self.code, self.message_zh, self.message_en)


def _error_event(code: str, zh: str, en: str) -> Event:
    return {"type": "error", "code": code, "message_zh": zh, "message_en": en}


def _check_keys(digits: object) -> str:
    if (
        not isinstance(digits, str)
        or not 0 < len(digits) <= MAX_DIGITS_PER_PRESS
        or any(c not in DTMF_KEYS for c in digits)
    ):
        raise BadKeys(digits)
    return digits


def flow_for_test_call(
    document: Any,
    *,
    registry: Registry | None = None,
    library: FlowLibrary | None = None,
) -> Flow:
    """Validate a flow document for a test call; raise :class:`SimulationRefused` with every
    problem when it has errors (warnings do not stop a test call)."""
    result = validate(document, registry=registry, library=library)
    if result.flow is None:
        raise SimulationRefused(result.problems)
    return result.flow


# -- options ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SimulationOptions:
    """Who calls, when, and what the simulated telephony answers (as ``ivrflow simulate``)."""

    caller: str = "13800138000"
    called: str = "12329"
    at: datetime | None = None
    """The call's date-time (aware); None: now. The clock runs on from it during the call."""
    variables: Mapping[str, Any] = field(default_factory=dict)
    """Values that override the flow's declared defaults."""
    queue_status: QueueStatus = QueueStatus.COMPLETED
    dial_status: DialStatus = DialStatus.COMPLETED
    record_status: RecordStatus = RecordStatus.RECORDED
    voicemail_status: VoicemailStatus = VoicemailStatus.COMPLETED

    @classmethod
    def from_message(
        cls, message: Mapping[str, Any], *, timezone: str = "Asia/Shanghai"
    ) -> SimulationOptions:
        """Read the options of a ``start`` message: ``caller``, ``called``, ``at``
        (``"2026-10-01 10:00"``, in ``timezone`` unless it has an offset), ``variables``
        (``{"name": value}``), ``queue``, ``dial``, ``record``, ``voicemail`` (outcomes, as
        the CLI's ``--queue`` …). Absent or null: the default. Raises
        :class:`SimulationRefused` (code ``bad_options``) on a bad value."""

        def refuse(zh: str, en: str) -> SimulationRefused:
            return SimulationRefused(zh, en, code="bad_options")

        values: dict[str, Any] = {}
        for name in ("caller", "called"):
            value = message.get(name)
            if value is None:
                continue
            if not isinstance(value, str) or not _NUMBER.match(value):
                which = "主叫" if name == "caller" else "被叫"
                raise refuse(
                    f"{which}号码无效：最多 32 位数字（可含 + * #）。",
                    f"Invalid {name} number: at most 32 digits (+ * # allowed).",
                )
            values[name] = value
        at = message.get("at")
        if at is not None:
            try:
                if not isinstance(at, str):
                    raise ValueError(at)
                values["at"] = parse_at(at, timezone)
            except ValueError:
                raise refuse(
                    "时间无效，应为 “2026-10-01 10:00” 这样的日期时间。",
                    "Invalid date-time; expected e.g. '2026-10-01 10:00'.",
                ) from None
        variables = message.get("variables")
        if variables is not None:
            if not isinstance(variables, dict) or len(variables) > MAX_VARIABLE_OVERRIDES:
                raise refuse(
                    f"变量应为 {{名称: 值}} 对象，最多 {MAX_VARIABLE_OVERRIDES} 个。",
                    f"Variables must be a {{name: value}} object of at most "
                    f"{MAX_VARIABLE_OVERRIDES} entries.",
                )
            for name in variables:
                if not _VARIABLE.match(name) or name in READ_ONLY:
                    raise refuse(
                        f"不能设置变量 “{name[:64]}”：名称无效，或由系统设置。",
                        f"Variable '{name[:64]}' cannot be set: invalid name, or set by the "
                        "runtime.",
                    )
            values["variables"] = dict(variables)
        for key, attr, enum in (
            ("queue", "queue_status", QueueStatus),
            ("dial", "dial_status", DialStatus),
            ("record", "record_status", RecordStatus),
            ("voicemail", "voicemail_status", VoicemailStatus),
        ):
            value = message.get(key)
            if value is None:
                continue
            allowed = [s.value for s in enum]
            if value not in allowed:
                raise refuse(
                    f"“{key}” 的取值无效，可选：{'、'.join(allowed)}。",
                    f"Invalid '{key}'; one of: {', '.join(allowed)}.",
                )
            values[attr] = enum(value)
        return cls(**values)


# -- the channel -----------------------------------------------------------------------------


def _speech_ms(text: str) -> float:
    """About how long saying ``text`` takes: ~4.5 CJK characters or ~15 letters a second."""
    if not text:
        return 1000.0  # a prompt without script text: a short placeholder
    ms = 0.0
    for ch in text:
        if ch.isspace():
            ms += 30
        elif unicodedata.east_asian_width(ch) in "WF":
            ms += 220
        else:
            ms += 65
    return min(max(ms, 200.0), 60_000.0)


class KeypadChannel:
    """A :class:`~runtime.call.Channel` whose caller is a person at a keypad in the browser.

    Keys arrive with :meth:`press` at any time and wait in a buffer (type-ahead) until a prompt
    that may be interrupted or an input request takes them; keys pressed while a prompt that
    may not be interrupted plays are dropped. Prompts take about as long as saying them would
    (× ``speech_scale``), input time-outs run in real time (× ``timeout_scale``).
    Transfers, dialling, voicemail and recording return the configured outcomes at once.
    """

    def __init__(
        self,
        emit: Callable[[Event], None],
        trace: Trace,
        *,
        caller: str = "13800138000",
        called: str = "12329",
        call_id: str | None = None,
        timeout_scale: float = 1.0,
        speech_scale: float = 1.0,
        queue_status: QueueStatus | str = QueueStatus.COMPLETED,
        dial_status: DialStatus | str = DialStatus.COMPLETED,
        record_status: RecordStatus | str = RecordStatus.RECORDED,
        voicemail_status: VoicemailStatus | str = VoicemailStatus.COMPLETED,
    ) -> None:
        if timeout_scale < 0 or speech_scale < 0:
            raise ValueError("time scales must be >= 0")
        self.caller = caller
        self.called = called
        self.call_id = call_id or f"web-{secrets.token_hex(6)}"
        self.timeout_scale = timeout_scale
        self.speech_scale = speech_scale
        self.queue_status = QueueStatus(queue_status)
        self.dial_status = DialStatus(dial_status)
        self.record_status = RecordStatus(record_status)
        self.voicemail_status = VoicemailStatus(voicemail_status)
        self.answered = False
        self.hung_up_by_flow = False
        self.channel_variables: dict[str, str] = {}
        self.specs: list[CollectSpec] = []
        self.frame: FlowCall | None = None
        """The flow frame of the running step (for prompt texts in other languages)."""
        self.node: str | None = None
        """The running step's node id (named in every event)."""
        self._emit = emit
        self._trace = trace
        self._keys: deque[str] = deque()
        self._arrived = asyncio.Event()
        self._gone = asyncio.Event()
        self._deaf = False

    # -- caller side -------------------------------------------------------------------------

    def press(self, digits: str) -> None:
        """Keys pressed by the caller (already checked to be DTMF keys)."""
        if self._gone.is_set() or self.hung_up_by_flow:
            return
        if self._deaf:
            self._ignored(len(digits))
            return
        self._keys.extend(digits)
        self._arrived.set()

    def caller_hangs_up(self) -> None:
        self._gone.set()
        self._arrived.set()

    @property
    def caller_gone(self) -> bool:
        return self._gone.is_set()

    @property
    def pending_keys(self) -> int:
        return len(self._keys)

    def _ignored(self, count: int) -> None:
        self._emit(
            {
                "type": "ignored",
                "node": self.node,
                "count": count,
                "reason": "not_interruptible",
                "message_zh": "这段提示不允许按键打断，按键被忽略。",
                "message_en": "This prompt cannot be interrupted; the keys were ignored.",
            }
        )

    # -- waiting -----------------------------------------------------------------------------

    def _check(self) -> None:
        if self._gone.is_set() or self.hung_up_by_flow:
            raise CallerHangup()

    async def _next_key(self, seconds: float) -> str | None:
        """The next key, waiting up to ``seconds``; None when none came in time."""
        deadline = asyncio.get_running_loop().time() + seconds
        while not self._keys:
            self._check()
            self._arrived.clear()
            try:
                async with asyncio.timeout_at(deadline):  # a past deadline still yields once
                    await self._arrived.wait()
            except TimeoutError:
                break
        self._check()
        return self._keys.popleft() if self._keys else None

    async def _sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (or until the caller hangs up: CallerHangup)."""
        self._check()
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    await self._gone.wait()
        else:
            await asyncio.sleep(0)
        self._check()

    # -- prompts -----------------------------------------------------------------------------

    def _prompt_event(self, prompts: Sequence[Prompt], barge_in: bool) -> float:
        """Emit the prompt event; return how long the prompts play, in seconds."""
        catalogue = FlowPromptCatalogue(self.frame.flow.prompts if self.frame else None)
        scrub = self._trace.scrub
        items: list[Event] = []
        texts: dict[str, list[str]] = {"text": [], "text_zh": [], "text_en": []}
        ms = 0.0
        language = prompts[0].language if prompts else ""
        for p in prompts:
            item: Event = {
                "id": p.id,
                "kind": "say" if p.id.startswith("say/") else "prompt",
                "text": scrub(p.text),
                "language": p.language,
            }
            texts["text"].append(item["text"] or f"[{p.id}]")
            for key, tag in (("text_zh", "zh-CN"), ("text_en", "en-US")):
                text = p.text if p.language.split("-")[0] == tag[:2] else None
                if not text and item["kind"] == "prompt":
                    text = catalogue.text(p.id, tag)
                if text:
                    item[key] = scrub(text)
                    texts[key].append(item[key])
            items.append(item)
            ms += _speech_ms(p.text)
        ms *= self.speech_scale
        event: Event = {"type": "prompt", "node": self.node, "prompts": items}
        for key, parts in texts.items():
            if parts:
                sep = "" if (key == "text_zh" or (key == "text" and language[:2] == "zh")) else " "
                event[key] = sep.join(parts)
        event.update(language=language, barge_in=barge_in, duration_ms=round(ms))
        self._emit(event)
        return ms / 1000

    # -- Channel -----------------------------------------------------------------------------

    async def answer(self) -> None:
        self._check()
        self.answered = True
        self._emit({"type": "answer", "node": self.node})

    async def play(self, prompts: Sequence[Prompt], *, barge_in: bool = True) -> str | None:
        self._check()
        if not prompts:
            await asyncio.sleep(0)
            self._check()
            return None
        seconds = self._prompt_event(prompts, barge_in)
        if barge_in:
            key = await self._next_key(seconds)
            if key is not None:
                self._emit({"type": "barge_in", "node": self.node})
            return key
        if self._keys:  # typed ahead, then a prompt that may not be interrupted: dropped
            self._ignored(len(self._keys))
            self._keys.clear()
        self._deaf = True
        try:
            await self._sleep(seconds)
        finally:
            self._deaf = False
        return None

    async def collect(self, prompts: Sequence[Prompt], spec: CollectSpec) -> CollectResult:
        self._check()
        self.specs.append(spec)
        pending = await self.play(prompts, barge_in=spec.barge_in) if prompts else None
        digits = ""
        timeout_ms = spec.first_timeout_ms
        announced = False
        while True:
            if pending is None and not self._keys and not announced:
                announced = True
                self._emit(
                    {
                        "type": "input",
                        "node": self.node,
                        "spec": {
                            "min": spec.min_digits,
                            "max": spec.max_digits,
                            "terminator": spec.terminator,
                            "first_timeout_ms": spec.first_timeout_ms,
                            "inter_digit_timeout_ms": spec.inter_digit_timeout_ms,
                            "barge_in": spec.barge_in,
                            "secret": spec.secret,
                        },
                        "typed": len(digits),
                        "wait_ms": round(timeout_ms * self.timeout_scale),
                    }
                )
            if pending is not None:
                key, pending = pending, None
            else:
                key = await self._next_key(timeout_ms * self.timeout_scale / 1000)
            if key is None:
                result = CollectResult(digits, "timeout")
                break
            if spec.terminator and key == spec.terminator:
                result = CollectResult(digits, "terminator")
                break
            digits += key
            if len(digits) >= spec.max_digits:
                result = CollectResult(digits, "max")
                break
            timeout_ms = spec.inter_digit_timeout_ms
        shown = "*" * len(result.digits) if spec.secret else self._trace.scrub(result.digits)
        self._emit(
            {
                "type": "collected",
                "node": self.node,
                "digits": shown,
                "ended_by": result.ended_by,
            }
        )
        return result

    async def transfer_queue(self, request: QueueRequest) -> QueueResult:
        self._check()
        if request.announce:
            await self.play(list(request.announce), barge_in=False)
        status = self.queue_status
        agent = "sim-agent" if status is QueueStatus.COMPLETED else ""
        event: dict[str, Any] = {
            "type": "transfer",
            "node": self.node,
            "queue": request.queue,
            "priority": request.priority,
            "timeout_s": request.timeout_s,
            "caller_data": self._trace.scrub(dict(request.caller_data)),
            "status": str(status),
            "agent": agent,
        }
        if request.preferred_agent:  # sticky agent: rung first on Asterisk
            event["preferred_agent"] = request.preferred_agent
        self._emit(event)
        return QueueResult(status, agent=agent)

    async def dial(self, number: str, *, timeout_s: int, caller_id: str = "") -> DialResult:
        self._check()
        self._emit(
            {
                "type": "dial",
                "node": self.node,
                "number": self._trace.scrub(number),
                "timeout_s": timeout_s,
                "caller_id": caller_id,
                "status": str(self.dial_status),
            }
        )
        return DialResult(self.dial_status)

    async def voicemail(self, mailbox: str, *, greeting: str = "unavailable") -> VoicemailResult:
        self._check()
        self._emit(
            {
                "type": "voicemail",
                "node": self.node,
                "mailbox": mailbox,
                "greeting": greeting,
                "status": str(self.voicemail_status),
            }
        )
        return VoicemailResult(self.voicemail_status)

    async def record(
        self, *, max_s: int, silence_s: int, beep: bool, prompts: Sequence[Prompt] = ()
    ) -> RecordResult:
        self._check()
        if prompts:
            await self.play(prompts, barge_in=False)
        if self.record_status is RecordStatus.RECORDED:
            result = RecordResult(RecordStatus.RECORDED, f"{self.call_id}-rec.wav", 3.0)
        else:
            result = RecordResult(self.record_status)
        self._emit(
            {
                "type": "record",
                "node": self.node,
                "max_s": max_s,
                "silence_s": silence_s,
                "beep": beep,
                "status": str(result.status),
                "file": result.file,
                "duration_s": result.duration_s,
            }
        )
        return result

    async def set_channel_variable(self, name: str, value: str) -> None:
        self._check()
        self.channel_variables[name] = value

    async def hangup(self) -> None:
        self.hung_up_by_flow = True
        self._arrived.set()

    async def wait_hangup(self) -> None:
        await self._gone.wait()


# -- the session -----------------------------------------------------------------------------


class _RunningClock:
    """Starts at ``at`` and runs on in real time (the test call's "pretend it is …")."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("the simulated time must be time-zone aware")
        self._at = at
        self._t0 = time.monotonic()

    def now(self) -> datetime:
        return self._at + timedelta(seconds=time.monotonic() - self._t0)


_REASONS: dict[str, tuple[str, str]] = {
    "idle": (
        "测试呼叫长时间没有操作，已自动结束。",
        "The test call was idle for too long and has been ended.",
    ),
    "max_duration": (
        "测试呼叫已达到最长时长，已自动结束。",
        "The test call reached its maximum duration and has been ended.",
    ),
    "closed": ("测试呼叫已被服务器停止。", "The test call was stopped by the server."),
    "disconnected": ("浏览器已断开连接。", "The browser disconnected."),
    "overflow": (
        "浏览器接收事件过慢，测试呼叫已结束。",
        "The browser did not keep up with the events; the test call has been ended.",
    ),
    "bad_messages": (
        "无效消息过多，测试呼叫已结束。",
        "Too many invalid messages; the test call has been ended.",
    ),
    "internal_error": (
        "服务器内部错误，测试呼叫已结束。",
        "Internal server error; the test call has been ended.",
    ),
}


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    return str(value)


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


class _EventStream:
    """Async iterator over a session's events; ends after the ``end`` event."""

    def __init__(self, queue: asyncio.Queue[Event | None]) -> None:
        self._queue = queue
        self._done = False

    def __aiter__(self) -> _EventStream:
        return self

    async def __anext__(self) -> Event:
        if self._done:
            raise StopAsyncIteration
        event = await self._queue.get()
        if event is None:
            self._done = True
            raise StopAsyncIteration
        return event


class SimulationSession:
    """One browser test call of a validated flow.

    ::

        session = SimulationSession(flow, library=library, options=SimulationOptions(...))
        session.start()
        async for event in session.events():   # or SimulationSession(..., sink=send)
            ...                                  # the last one is {"type": "end", ...}
        session.press("1")                       # from the browser, any time
        await session.close()                    # always: ends the call if still running

    ``max_duration_s`` limits the whole call and ``idle_timeout_s`` the time without the
    caller doing anything (keys, hang-up); either ends the call as a hang-up with the reason in
    the ``end`` event. ``close()`` hangs up a call still running, waits ``stop_grace_s`` for the
    flow to end, then cancels it; it leaves no task behind.
    """

    def __init__(
        self,
        flow: Flow,
        *,
        library: FlowLibrary | None = None,
        resources: Mapping[str, Any] | None = None,
        options: SimulationOptions | None = None,
        sink: EventSink | None = None,
        max_duration_s: float = DEFAULT_MAX_DURATION_S,
        idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S,
        timeout_scale: float = 1.0,
        speech_scale: float = 1.0,
        stop_grace_s: float = DEFAULT_STOP_GRACE_S,
        call_id: str | None = None,
    ) -> None:
        self.flow = flow
        self.options = options or SimulationOptions()
        self.max_duration_s = max_duration_s
        self.idle_timeout_s = idle_timeout_s
        self.stop_grace_s = stop_grace_s
        self.trace = Trace()
        self.end_event: Event | None = None
        self.reason: str | None = None
        """Why the call is ending, once decided (see the ``end`` event)."""
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._stream = _EventStream(self._queue)
        self._sink = sink
        opts = self.options
        self.channel = KeypadChannel(
            self._emit,
            self.trace,
            caller=opts.caller,
            called=opts.called,
            call_id=call_id,
            timeout_scale=timeout_scale,
            speech_scale=speech_scale,
            queue_status=opts.queue_status,
            dial_status=opts.dial_status,
            record_status=opts.record_status,
            voicemail_status=opts.voicemail_status,
        )
        self._interpreter = Interpreter(
            library=library,
            resources=resources,
            clock=_RunningClock(opts.at) if opts.at is not None else None,
        )
        self._frames: dict[int, tuple[FlowCall, Event]] = {}
        self._frame: FlowCall | None = None
        self._depth = 0
        self._task: asyncio.Task[None] | None = None
        self._pump: asyncio.Task[None] | None = None
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._forced = False
        self._overflowed = False

    # -- control -----------------------------------------------------------------------------

    def start(self) -> None:
        """Start the call (in its own task). Calling it again does nothing."""
        if self._task is not None:
            return
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(self._run(), name=f"test call {self.channel.call_id}")
        self._timers["max"] = loop.call_later(self.max_duration_s, self._expire, "max_duration")
        self._touch()
        if self._sink is not None:
            self._pump = loop.create_task(self._deliver(self._sink))

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def ended(self) -> bool:
        return self.end_event is not None

    def press(self, digits: str) -> None:
        """The caller presses ``digits`` (0-9 * #, 1 to 64 at once). Raises :class:`BadKeys`.
        Ignored once the call is over."""
        _check_keys(digits)
        if self.ended:
            return
        self._touch()
        self.channel.press(digits)

    def hangup(self) -> None:
        """The caller hangs up."""
        self._stop("caller")

    def events(self) -> _EventStream:
        """The events, in order, ending after ``end`` (one reader only)."""
        return self._stream

    async def wait(self) -> Event:
        """Wait until the call has ended; return the ``end`` event."""
        if self._task is None:
            raise RuntimeError("the session has not been started")
        await asyncio.wait({self._task})
        assert self.end_event is not None
        return self.end_event

    async def close(self, reason: str = "closed") -> None:
        """End the call if it is still running (``reason`` in the ``end`` event), let the
        sink take the last events, and wait for the session's tasks; a task that does not end
        within ``stop_grace_s`` is cancelled. Safe to call more than once, and before
        :meth:`start`."""
        task, pump = self._task, self._pump
        if task is None:
            if self.end_event is None:
                self.reason = reason
                self.trace.outcome = Outcome("hangup", None, "test call stopped before it began")
                self._finish()
            return
        try:
            if not task.done():
                self._stop(reason)
                await asyncio.wait({task}, timeout=self.stop_grace_s)
            if not task.done():
                self._forced = True
                task.cancel()
                await asyncio.wait({task}, timeout=self.stop_grace_s)
            if pump is not None and not pump.done():
                await asyncio.wait({pump}, timeout=self.stop_grace_s)
        finally:  # also when close() itself is cancelled
            self._cancel_timers()
            for t in (task, pump):
                if t is not None and not t.done():
                    self._forced = self._forced or t is task
                    t.cancel()
        leftover = [t for t in (task, pump) if t is not None and not t.done()]
        if leftover:
            await asyncio.wait(leftover, timeout=self.stop_grace_s)
            if not all(t.done() for t in leftover):
                log.error("test call %s: a task ignores cancellation", self.channel.call_id)

    async def __aenter__(self) -> SimulationSession:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- internals ---------------------------------------------------------------------------

    def _touch(self) -> None:
        timer = self._timers.pop("idle", None)
        if timer is not None:
            timer.cancel()
        if self._task is not None and not self._task.done():
            loop = asyncio.get_running_loop()
            self._timers["idle"] = loop.call_later(self.idle_timeout_s, self._expire, "idle")

    def _cancel_timers(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    def _expire(self, reason: str) -> None:
        self._stop(reason)

    def _stop(self, reason: str) -> None:
        """End the call as if the caller hung up; cancel it if it has not ended in time."""
        if self.ended or self.channel.caller_gone:
            return
        self.reason = self.reason or reason
        self.channel.caller_hangs_up()
        if self._task is not None and not self._task.done() and "force" not in self._timers:
            loop = asyncio.get_running_loop()
            self._timers["force"] = loop.call_later(self.stop_grace_s, self._force_stop)

    def _force_stop(self) -> None:
        if self._task is not None and not self._task.done():
            log.warning("test call %s did not end after a hang-up", self.channel.call_id)
            self._forced = True
            self._task.cancel()

    def _emit(self, event: Event) -> None:
        if self.end_event is not None:
            return
        self._queue.put_nowait(event)
        if self._queue.qsize() > MAX_PENDING_EVENTS and not self._overflowed:
            self._overflowed = True
            self._stop("overflow")

    def _on_step(self, call: FlowCall, step: Step) -> None:
        self._frame = self.channel.frame = call
        self._depth = step.depth
        self.channel.node = step.node
        self._emit_vars(call, step.depth)
        spec = call.flow.nodes.get(step.node)
        self._emit(
            {
                "type": "node",
                "node": step.node,
                "node_type": step.type,
                "label": spec.label if spec is not None else "",
                "flow": step.flow,
                "depth": step.depth,
                "step": step.index,
            }
        )

    def _emit_vars(self, call: FlowCall, depth: int) -> None:
        snapshot = _jsonable(self.trace.scrub(call.vars.snapshot(masked=True)))
        seen = self._frames.get(id(call))
        before = seen[1] if seen is not None and seen[0] is call else None
        if before is not None and _same(before, snapshot):
            return
        changed = sorted(
            name
            for name, value in snapshot.items()
            if before is None or name not in before or not _same(before[name], value)
        )
        self._frames[id(call)] = (call, snapshot)
        self._emit(
            {
                "type": "vars",
                "flow": call.flow.id,
                "depth": depth,
                "vars": snapshot,
                "changed": changed,
            }
        )

    async def _run(self) -> None:
        trace = self.trace
        try:
            await self._interpreter.run(
                self.flow,
                self.channel,
                variables=self.options.variables,
                trace=trace,
                on_step=self._on_step,
            )
        except asyncio.CancelledError:
            if trace.outcome is None:
                trace.outcome = Outcome("hangup", self.channel.node, "test call stopped")
            self.reason = self.reason or "closed"
            self._finish()
            if not self._forced:
                raise
        except Exception as exc:
            log.exception("test call %s failed", self.channel.call_id)
            trace.outcome = Outcome("error", self.channel.node, f"{type(exc).__name__}: {exc}")
            self.reason = "internal_error"
            self._finish()
        else:
            self._finish()
        finally:
            self._cancel_timers()

    def _finish(self) -> None:
        if self.end_event is not None:
            return
        if self._frame is not None:
            self._emit_vars(self._frame, self._depth)
        outcome = self.trace.outcome or Outcome("error", self.channel.node, "no outcome")
        reason = self.reason or ("caller" if outcome.kind == "hangup" else "flow")
        self.reason = reason
        if reason in _REASONS:
            message_zh, message_en = _REASONS[reason]
        else:
            shown = Outcome(outcome.kind, outcome.node) if reason == "caller" else outcome
            message_zh = describe_outcome(shown, "zh")
            message_en = describe_outcome(shown, "en")
        end: Event = {
            "type": "end",
            "outcome": outcome.kind,
            "node": outcome.node,
            "detail": outcome.detail,
            "reason": reason,
            "message_zh": message_zh,
            "message_en": message_en,
            "trace": _jsonable(self.trace.to_json()),
        }
        self._queue.put_nowait(end)
        self._queue.put_nowait(None)
        self.end_event = end

    async def _deliver(self, sink: EventSink) -> None:
        async for event in self.events():
            try:
                await sink(event)
            except Exception:
                log.warning("test call %s: event sink failed", self.channel.call_id, exc_info=True)
                self._stop("disconnected")
                break


# -- the WebSocket protocol ------------------------------------------------------------------

_MESSAGES: dict[str, tuple[str, str]] = {
    "too_large": (
        f"消息太大（上限 {MAX_MESSAGE_BYTES} 字节）。",
        f"The message is too large (at most {MAX_MESSAGE_BYTES} bytes).",
    ),
    "binary": ("只接受文本（JSON）消息。", "Only text (JSON) messages are accepted."),
    "bad_json": ("消息不是有效的 JSON。", "The message is not valid JSON."),
    "bad_message": (
        "消息应为带 “type” 字段的 JSON 对象。",
        'The message must be a JSON object with a "type" field.',
    ),
    "not_started": (
        "请先发送 start 消息开始测试呼叫。",
        "Send a start message to begin the test call.",
    ),
    "already_started": ("测试呼叫已经开始。", "The test call has already started."),
    "too_many_errors": (
        f"无效消息过多（{MAX_BAD_MESSAGES} 条），连接已关闭。",
        f"Too many invalid messages ({MAX_BAD_MESSAGES}); closing the connection.",
    ),
    "start_timeout": (
        "长时间没有收到 start 消息，连接已关闭。",
        "No start message came in time; closing the connection.",
    ),
    "internal": (
        "服务器内部错误，无法开始测试呼叫。",
        "Internal server error; the test call cannot start.",
    ),
}


def _message_error(code: str) -> Event:
    zh, en = _MESSAGES[code]
    return _error_event(code, zh, en)


def _parse_message(raw: Mapping[str, Any], max_bytes: int) -> tuple[Event | None, Event | None]:
    """``(message, None)`` or ``(None, error event)`` for one received ASGI message."""
    text = raw.get("text")
    if text is None:
        data = raw.get("bytes")
        if isinstance(data, bytes | bytearray) and len(data) > max_bytes:
            return None, _message_error("too_large")
        return None, _message_error("binary")
    if len(text) > max_bytes or (len(text) * 4 > max_bytes and len(text.encode()) > max_bytes):
        return None, _message_error("too_large")
    try:
        message = json.loads(text)
    except (ValueError, RecursionError):
        return None, _message_error("bad_json")
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return None, _message_error("bad_message")
    return message, None


def _unknown_type(kind: str) -> Event:
    shown = kind[:40]
    return _error_event(
        "unknown_type",
        f"未知的消息类型 “{shown}”；可用：start、keys、hangup。",
        f"Unknown message type '{shown}'; expected start, keys or hangup.",
    )


async def _close_socket(websocket: WebSocket, code: int) -> None:
    if websocket.application_state != WebSocketState.CONNECTED:
        return
    if websocket.client_state == WebSocketState.DISCONNECTED:
        return
    with contextlib.suppress(Exception):
        await websocket.close(code)


async def serve_simulation(
    websocket: WebSocket,
    start: Callable[[dict[str, Any]], Awaitable[SimulationSession]],
    *,
    max_message_bytes: int = MAX_MESSAGE_BYTES,
    max_bad_messages: int = MAX_BAD_MESSAGES,
    start_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S,
) -> None:
    """Run one test call over an accepted WebSocket, to the end; close the socket.

    The first valid message must be ``{"type": "start", …}``: ``start(message)`` builds the
    session, without a sink and not necessarily started (loads and validates the flow; raises
    :class:`SimulationRefused` to refuse, which is sent as an ``error`` event before closing
    with 1008; any other exception closes with 1011). Then keys and hang-ups are passed
    to the session and its events sent to the browser; after the ``end`` event the socket is
    closed (1000). Malformed messages get an ``error`` event; the ``max_bad_messages``-th
    closes the connection (1008). A disconnect hangs the call up. The session is always closed.
    """
    send_lock = asyncio.Lock()
    connected = True
    bad = 0

    async def send(event: Event) -> bool:
        nonlocal connected
        if not connected:
            return False
        try:
            async with send_lock:
                await websocket.send_json(event)
        except Exception:
            connected = False
        return connected

    async def complain(error: Event) -> bool:
        """Send an error; False when it was one too many (the socket is then closed)."""
        nonlocal bad
        bad += 1
        if bad >= max_bad_messages:
            await send(_message_error("too_many_errors"))
            return False
        await send(error)
        return True

    # -- waiting for start -------------------------------------------------------------------
    message: Event | None = None
    while message is None:
        try:
            async with asyncio.timeout(start_timeout_s):
                raw = await websocket.receive()
        except TimeoutError:
            await send(_message_error("start_timeout"))
            await _close_socket(websocket, CLOSE_POLICY)
            return
        if raw["type"] == "websocket.disconnect":
            return
        message, error = _parse_message(raw, max_message_bytes)
        if message is not None and message["type"] != "start":
            kind = message["type"]
            message = None
            if kind in ("keys", "hangup"):
                error = _message_error("not_started")
            else:
                error = _unknown_type(kind)
        if error is not None and not await complain(error):
            await _close_socket(websocket, CLOSE_POLICY)
            return
    try:
        session = await start(message)
    except SimulationRefused as exc:
        await send(exc.to_event())
        await _close_socket(websocket, CLOSE_POLICY)
        return
    except Exception:
        log.exception("test call could not start")
        await send(_message_error("internal"))
        await _close_socket(websocket, CLOSE_INTERNAL)
        return
    if session._sink is not None:  # its events go to the socket, not to a sink as well
        log.error("serve_simulation needs a session without a sink")
        await session.close()
        await send(_message_error("internal"))
        await _close_socket(websocket, CLOSE_INTERNAL)
        return

    # -- the call ----------------------------------------------------------------------------
    async def relay_events() -> None:
        async for event in session.events():
            if not await send(event):
                session._stop("disconnected")  # the browser is gone; drain to the end

    async def receive_messages() -> str:
        while True:
            raw = await websocket.receive()
            if raw["type"] == "websocket.disconnect":
                return "disconnected"
            message, error = _parse_message(raw, max_message_bytes)
            if message is not None:
                kind = message["type"]
                if kind == "keys":
                    try:
                        session.press(message.get("digits"))  # type: ignore[arg-type]
                    except BadKeys as exc:
                        error = exc.to_event()
                elif kind == "hangup":
                    session.hangup()
                elif kind == "start":
                    error = _message_error("already_started")
                else:
                    error = _unknown_type(kind)
            if error is not None and not await complain(error):
                return "too_many_errors"

    session.start()
    relay = asyncio.create_task(relay_events(), name="test call events")
    receiver = asyncio.create_task(receive_messages(), name="test call messages")
    code = CLOSE_NORMAL
    try:
        await asyncio.wait({relay, receiver}, return_when=asyncio.FIRST_COMPLETED)
        if receiver.done() and not receiver.cancelled() and receiver.exception() is None:
            why = receiver.result()
            if why == "disconnected":
                connected = False
                await session.close("disconnected")
            else:
                code = CLOSE_POLICY
                await session.close("bad_messages")
        elif receiver.done():  # receive() failed: treat as a disconnect
            connected = False
            await session.close("disconnected")
        await asyncio.wait({relay}, timeout=session.stop_grace_s)
    finally:
        for task in (receiver, relay):
            task.cancel()
        try:
            await session.close()
        finally:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(receiver, relay, return_exceptions=True)
    if connected:
        await _close_socket(websocket, code)
