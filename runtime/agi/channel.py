"""The Asterisk channel: :class:`~runtime.call.Channel` over one FastAGI connection.

Every media operation becomes AGI commands (``STREAM FILE``, ``WAIT FOR DIGIT``,
``EXEC Queue/Dial/VoiceMail``, ``RECORD FILE``…) and every reply is mapped to the same
results the simulator gives (``runtime.simulator.SimulatedChannel`` is the reference). Values
from callers, back ends and flows only ever travel as quoted arguments (``protocol.quote``);
those that go *inside* an application's argument string (queue, number, mailbox) are checked
against a strict pattern first, so they cannot add application options either.

Never set ``AGIEXECFULL`` on these channels: it makes Asterisk expand ``${…}`` inside EXEC
arguments.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from runtime.agi.protocol import (
    AgiCommandError,
    AgiConnection,
    AgiError,
    AgiHangup,
    AgiProtocolError,
    Reply,
    Word,
    command,
)
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

if TYPE_CHECKING:
    from runtime.queue_members import MemberView

__all__ = ["AgiChannel", "default_sound"]

log = logging.getLogger("ivrflow.agi.channel")

_NUMBER = re.compile(r"[0-9*#+]{1,32}")
_QUEUE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_MAILBOX = re.compile(r"[A-Za-z0-9_.+-]{1,64}(?:@[A-Za-z0-9_.-]{1,64})?")
_CONTEXT = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_MUSIC_CLASS = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_AGENT_INTERFACE = re.compile(
    r"(?:PJSIP|SIP|IAX2)/[A-Za-z0-9_.+-]{1,64}"
    r"|Local/[A-Za-z0-9_.+-]{1,64}@[A-Za-z0-9_.-]{1,64}(?:/n)?"
)
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}(?:\([A-Za-z0-9_,-]{0,32}\))?")
_NOT_VAR_CHARS = re.compile(r"[^A-Z0-9_]")
_SAFE_ID = re.compile(r"[^A-Za-z0-9_.-]")
_QUEUE_UNAVAILABLE = {"FULL", "JOINEMPTY", "LEAVEEMPTY", "JOINUNAVAIL", "LEAVEUNAVAIL"}
_DIAL_STATUS = {
    "ANSWER": DialStatus.COMPLETED,
    "BUSY": DialStatus.BUSY,
    "NOANSWER": DialStatus.NO_ANSWER,
    "CHANUNAVAIL": DialStatus.UNAVAILABLE,
    "CONGESTION": DialStatus.CONGESTION,
}
_KEYS = frozenset(DTMF_KEYS)
_GREETING_OPTION = {"unavailable": "u", "busy": "b"}
MAX_VALUE_BYTES = 1024
"""Longest channel-variable value sent (Asterisk's GET VARIABLE buffer is 1,024 bytes)."""


QUEUE_OPTIONS = "cb(ivrflow-agent-predial^s^1)"
"""Queue options: ``c`` continue in the dialplan when the agent hangs up (the flow goes on to
the satisfaction survey); ``b(…)`` runs ``[ivrflow-agent-predial]`` on each agent channel
before it rings (caller data on the agent's phone, see examples/asterisk/extensions.conf)."""
QUEUE_AGENT_GOSUB = "ivrflow-agent-connect"
"""Run on the agent channel once answered (the screen-pop user event)."""
STICKY_DIAL_OPTIONS = f"gb(ivrflow-agent-predial^s^1)U({QUEUE_AGENT_GOSUB})"
"""Dial options when ringing a caller's sticky agent directly: ``g`` continue in the dialplan
when the agent hangs up (as the queue's ``c``), and the same agent-side hooks as the queue:
``b(…)`` before the phone rings, ``U(…)`` once answered (screen pop)."""
MAX_STICKY_RING_S = 120


QueueObserver = Callable[[str, str | None, bool, str], Awaitable[None]]
"""``(uniqueid, QUEUESTATUS or None, caller_hung_up, queue)`` after each ``EXEC Queue``."""


def _shown(words: tuple[object, ...]) -> str:
    if words[:1] == ("SET VARIABLE",):  # values may be caller data: keep them out
        return f"SET VARIABLE {words[1]} ***"
    return command(*words)


Speech = Callable[[Prompt], Awaitable[str | None]]
"""Speaks a dynamic prompt (its text rendered for the call): the sound file name to play."""


def default_sound(prompt: Prompt) -> str:
    """The Asterisk sound file of a prompt: ``ivrflow/<language>/<id>``."""
    return f"ivrflow/{prompt.language}/{prompt.id}" if prompt.language else f"ivrflow/{prompt.id}"


def _fit(value: str, limit: int = MAX_VALUE_BYTES) -> str:
    data = value.encode("utf-8")
    if len(data) <= limit:
        return value
    return data[:limit].decode("utf-8", "ignore")


def _seconds(value: str | None) -> float | None:
    try:
        number = float(value) if value not in (None, "") else None
    except ValueError:
        return None
    return number if number is not None and number >= 0 else None


class AgiChannel:
    """A caller on Asterisk, reached over FastAGI.

    ``missing_prompts`` lists sound files Asterisk could not play (``STREAM FILE`` →
    ``result=-1 endpos=0``): the caller heard silence, the call goes on, the call record
    reports them. ``log`` keeps ``(command, reply code, milliseconds)`` of recent commands
    (values of ``SET VARIABLE`` masked; code 0 = no reply).
    """

    def __init__(
        self,
        conn: AgiConnection,
        env: Mapping[str, str],
        *,
        sound: Callable[[Prompt], str] = default_sound,
        dial_template: str = "PJSIP/{number}",
        record_dir: str = "ivrflow/recordings",
        voicemail_context: str = "default",
        media_timeout_s: float = 600.0,
        max_call_s: float = 4 * 3600.0,
        min_record_s: float = 0.5,
        log_size: int = 500,
        queue_observer: QueueObserver | None = None,
        speech: Speech | None = None,
        queue_members: MemberView | None = None,
    ) -> None:
        """``queue_members``: who is a member of which queue and who is paused, as AMI
        reports it (:class:`runtime.queue_members.QueueMemberView`); the sticky-agent dial
        skips an agent it knows to be paused or not a member of the target queue."""
        if "," in dial_template or "{number}" not in dial_template:
            raise ValueError("dial_template must contain {number} and no comma")
        dial_template.format(number="0")
        if not _CONTEXT.fullmatch(voicemail_context):
            raise ValueError(f"not a voicemail context: {voicemail_context!r}")
        self.conn = conn
        self.env = dict(env)
        self.call_id = self.env.get("agi_uniqueid", "")
        caller = self.env.get("agi_callerid", "").strip()
        self.caller = "" if caller.lower() in ("", "unknown") else caller
        called = self.env.get("agi_dnid", "").strip()
        if called.lower() in ("", "unknown"):
            called = self.env.get("agi_extension", "").strip()
        self.called = called
        self.sound = sound
        self.dial_template = dial_template
        self.record_dir = record_dir.rstrip("/")
        self.voicemail_context = voicemail_context
        self.media_timeout_s = media_timeout_s
        self.max_call_s = max_call_s
        self.min_record_s = min_record_s
        self.queue_observer = queue_observer
        self.speech = speech
        self.queue_members = queue_members
        self.missing_prompts: list[str] = []
        self._log: deque[tuple[tuple[object, ...], int, float]] = deque(maxlen=log_size)
        self.hung_up_by_flow = False
        self.connected_agent: QueueResult | None = None
        """The last agent the caller was connected to (queue or sticky agent), also when the
        caller hung up while talking (see :meth:`settle_agent`): the call record keeps it."""
        self._transfer: tuple[str, str, str] | None = None
        """("queue"|"dial", agent name, interface) while a transfer runs."""
        self._recordings = 0
        self._sticky_skipped = ""

    # -- plumbing --------------------------------------------------------------------------

    def _check(self) -> None:
        if self.hung_up_by_flow:
            raise AgiHangup("the flow hung up")
        if self.conn.hung_up.is_set():
            raise AgiHangup(self.conn.hangup_reason or "caller hung up")

    def _caller_gone(self, reason: str) -> AgiHangup:
        self.conn.mark_hung_up(reason)
        return AgiHangup(reason)

    async def _send(
        self, *words: object, timeout_s: float | None = None, secret: bool = False
    ) -> Reply:
        started = time.perf_counter()
        code = 0
        try:
            reply = await self.conn.send(*words, timeout_s=timeout_s, secret=secret)
            code = reply.code
            return reply
        except AgiCommandError as exc:
            code = exc.reply.code
            raise
        except AgiHangup as exc:
            code = exc.code or 0
            raise
        finally:
            self._log.append((words, code, round((time.perf_counter() - started) * 1000, 3)))

    @property
    def log(self) -> list[tuple[str, int, float]]:
        """The last commands as sent (SET VARIABLE values masked), reply code, milliseconds.
        Rendered when read, not on the call's hot path."""
        return [(_shown(words), code, ms) for words, code, ms in self._log]

    async def _get(self, name: str) -> str:
        """A channel variable ('' when unset); also works once the caller has gone."""
        reply = await self._send("GET VARIABLE", Word(name))
        return reply.data if reply.result == "1" else ""

    async def _alive(self) -> bool:
        """After an ambiguous ``result=-1``: is the caller still there? Asterisk announces a
        hang-up with ``HANGUP`` right after the reply; a probe settles it either way
        (``CHANNEL STATUS`` is refused with ``511`` on a dead channel)."""
        await asyncio.sleep(0)
        if self.conn.hung_up.is_set():
            return False
        try:
            reply = await self._send("CHANNEL STATUS")
        except AgiHangup:
            return False
        except AgiCommandError:
            return True
        status = reply.result_int
        return status is None or status >= 0

    # -- Channel ---------------------------------------------------------------------------

    async def answer(self) -> None:
        self._check()
        reply = await self._send("ANSWER")
        if (reply.result_int or 0) < 0:
            raise self._caller_gone("ANSWER failed: caller hung up")

    async def play(self, prompts: Sequence[Prompt], *, barge_in: bool = True) -> str | None:
        return await self._play(prompts, barge_in=barge_in, secret=False)

    async def _play(self, prompts: Sequence[Prompt], *, barge_in: bool, secret: bool) -> str | None:
        escape = DTMF_KEYS if barge_in else ""
        for prompt in prompts:
            self._check()
            name = None
            if prompt.dynamic and self.speech is not None:
                name = await self.speech(prompt)  # None: TTS failed; the file is then missing
                self._check()
            if name is None:
                name = self.sound(prompt)
            reply = await self._send(
                "STREAM FILE", name, escape, timeout_s=self.media_timeout_s, secret=secret
            )
            result = reply.result_int
            if result is None:
                log.warning("call %s: STREAM FILE %s: unexpected %r", self.call_id, name, reply)
            elif result > 0:
                key = chr(result) if result < 0x110000 else ""
                if barge_in and key in _KEYS:
                    return key
            elif result < 0:
                if not await self._alive():
                    raise self._caller_gone("caller hung up during STREAM FILE")
                if (reply.endpos or 0) == 0:
                    if name not in self.missing_prompts:
                        self.missing_prompts.append(name)
                    log.warning(
                        "call %s: prompt %r: sound file %r missing in Asterisk",
                        self.call_id,
                        prompt.id,
                        name,
                    )
                else:
                    log.warning("call %s: playback of %r failed: %r", self.call_id, name, reply)
        return None

    async def collect(self, prompts: Sequence[Prompt], spec: CollectSpec) -> CollectResult:
        self._check()
        key = None
        if prompts:  # a key pressed during the prompt is the first digit
            key = await self._play(prompts, barge_in=spec.barge_in, secret=spec.secret)
        terminator = spec.terminator or None
        max_digits = max(1, spec.max_digits)
        digits = ""
        while True:
            if key is None:
                wait_ms = spec.inter_digit_timeout_ms if digits else spec.first_timeout_ms
                wait_ms = max(0, int(wait_ms))
                reply = await self._send(
                    "WAIT FOR DIGIT",
                    wait_ms,
                    timeout_s=wait_ms / 1000 + self.conn.command_timeout_s,
                    secret=spec.secret,
                )
                result = reply.result_int
                if result is None:
                    raise AgiProtocolError(f"WAIT FOR DIGIT: unexpected reply {reply.lines!r}")
                if result < 0:
                    raise self._caller_gone("caller hung up during WAIT FOR DIGIT")
                if result == 0:
                    return CollectResult(digits, "timeout")
                key = chr(result) if result < 0x110000 else ""
            if key not in _KEYS:  # e.g. DTMF A-D: not ours
                key = None
                continue
            if terminator is not None and key == terminator:
                return CollectResult(digits, "terminator")
            digits += key
            key = None
            if len(digits) >= max_digits:
                return CollectResult(digits, "max")

    async def _observe_queue(self, queue: str, status: str | None, *, caller_hung_up: bool) -> None:
        """Tell the AMI queue tracker what the call saw (it decides abandon vs timeout)."""
        if self.queue_observer is None:
            return
        try:
            await self.queue_observer(self.call_id, status, caller_hung_up, queue)
        except Exception:
            log.exception("call %s: queue observer failed", self.call_id)

    async def transfer_queue(self, request: QueueRequest) -> QueueResult:
        self._sticky_skipped = ""
        result = await self._transfer_queue(request)
        if self._sticky_skipped and not result.sticky:
            result = dataclasses.replace(result, sticky_skipped=self._sticky_skipped)
        return result

    async def _transfer_queue(self, request: QueueRequest) -> QueueResult:
        self._check()
        if not _QUEUE.fullmatch(request.queue):
            log.warning("call %s: refused queue name %r", self.call_id, request.queue)
            return QueueResult(QueueStatus.ERROR)
        if request.announce:
            await self.play(request.announce, barge_in=False)
        for name, value in request.caller_data.items():
            suffix = _NOT_VAR_CHARS.sub("_", str(name).upper())[:48].strip("_")
            if not suffix:
                continue
            await self._send("SET VARIABLE", Word(f"__IVR_{suffix}"), _fit(str(value)))
        await self._send("SET VARIABLE", Word("QUEUE_PRIO"), int(request.priority))
        if request.music_class:
            if _MUSIC_CLASS.fullmatch(request.music_class):
                await self._send("SET VARIABLE", Word("CHANNEL(musicclass)"), request.music_class)
            else:
                log.warning("call %s: refused music class %r", self.call_id, request.music_class)
        if request.preferred_agent:
            answered = await self._ring_preferred(request)
            if answered is not None:
                return answered
        timeout_s = max(1, int(request.timeout_s))
        started = time.monotonic()
        self._transfer = ("queue", "", "")
        reply = await self._send(
            "EXEC",
            Word("Queue"),
            f"{request.queue},{QUEUE_OPTIONS},,,{timeout_s},,{QUEUE_AGENT_GOSUB}",
            timeout_s=self.max_call_s,
        )
        if reply.result_int != -1:
            self._transfer = None
        elapsed = time.monotonic() - started
        result = reply.result_int
        if result == -1:
            await self._observe_queue(request.queue, None, caller_hung_up=True)
            raise self._caller_gone("caller hung up in queue")
        if result is None or result < 0:
            log.warning("call %s: EXEC Queue failed: %r", self.call_id, reply.lines)
            return QueueResult(QueueStatus.ERROR, wait_s=elapsed)
        status = (await self._get("QUEUESTATUS")).upper()
        await self._observe_queue(request.queue, status, caller_hung_up=False)
        if status == "TIMEOUT":
            return QueueResult(QueueStatus.TIMEOUT, wait_s=elapsed)
        if status in _QUEUE_UNAVAILABLE:
            return QueueResult(QueueStatus.UNAVAILABLE, wait_s=elapsed)
        if status not in ("CONTINUE", ""):
            log.warning("call %s: QUEUESTATUS=%s", self.call_id, status)
            return QueueResult(QueueStatus.ERROR, wait_s=elapsed)
        # Connected to an agent (QUEUESTATUS=CONTINUE, or unset after a bridged call).
        # MEMBERNAME / MEMBERINTERFACE need setinterfacevar=yes in queues.conf.
        name = await self._get("MEMBERNAME")
        interface = await self._get("MEMBERINTERFACE")
        wait = _seconds(await self._get("QUEUEWAIT"))
        if wait is None:
            wait = _seconds(await self._get("QEHOLDTIME"))
        talk = _seconds(await self._get("ANSWEREDTIME"))
        if talk is None:
            talk = max(0.0, elapsed - (wait or 0.0))
        answered = QueueResult(
            QueueStatus.COMPLETED,
            agent=name or interface,
            wait_s=wait or 0.0,
            talk_s=talk,
            agent_interface=interface,
        )
        self.connected_agent = answered
        return answered

    async def settle_agent(self) -> QueueResult | None:
        """After the call: the last agent the caller was connected to (``connected_agent``).
        When the caller hung up inside ``Queue`` or the sticky agent's ``Dial`` (the node was
        cancelled at once), ask Asterisk — dead-channel reads — whether an agent had answered:
        ``MEMBERINTERFACE`` (``setinterfacevar=yes``) or ``DIALSTATUS=ANSWER``. A caller who
        hangs up while talking to the agent is the usual end of a call: the record keeps the
        agent for sticky routing. Any failure only loses that detail."""
        pending, self._transfer = self._transfer, None
        if pending is None:
            return self.connected_agent
        kind, name, interface = pending
        try:
            if kind == "dial":
                if (await self._get("DIALSTATUS")).upper() == "ANSWER":
                    self.connected_agent = QueueResult(
                        QueueStatus.COMPLETED,
                        agent=name or interface,
                        agent_interface=interface,
                        sticky=True,
                    )
            else:
                interface = await self._get("MEMBERINTERFACE")
                if interface:
                    name = await self._get("MEMBERNAME")
                    self.connected_agent = QueueResult(
                        QueueStatus.COMPLETED, agent=name or interface, agent_interface=interface
                    )
        except (CallerHangup, AgiError) as exc:
            log.debug("call %s: agent after hang-up: %s", self.call_id, exc)
        return self.connected_agent

    async def _ring_preferred(self, request: QueueRequest) -> QueueResult | None:
        """Sticky agent: ring the agent who served this caller before, directly, when they
        may take the call and their device is free. The completed result when they answered;
        None to queue as usual (``_sticky_skipped`` says why).

        1. The interface must look like a device (``PJSIP/…``, ``Local/…@…``): else ``refused``.
        2. When the AMI member view knows the target queue (AMI connected, ``QueueStatus``
           taken on this connection): an agent who is not a member of it (``not_member``) or
           is paused in it (``paused``) is not rung — and ``DEVICE_STATE`` is not even asked.
           When the view does not know (no AMI, AMI down, queue not listed), only the device
           state decides, as without AMI.
        3. ``DEVICE_STATE(interface)`` must be ``NOT_INUSE`` (else ``not_free``).
        4. ``Dial`` for ``ring_s``; anything but ``ANSWER`` → ``not_answered``."""
        self._check()
        interface = request.preferred_agent
        if not isinstance(interface, str) or not _AGENT_INTERFACE.fullmatch(interface):
            log.warning("call %s: refused sticky agent interface %r", self.call_id, interface)
            self._sticky_skipped = "refused"
            return None
        verdict = "unknown"
        if self.queue_members is not None:
            try:
                verdict = self.queue_members.check(request.queue, interface)
            except Exception:  # the view is an optimisation: never fail the call on it
                log.exception("call %s: queue member view failed", self.call_id)
        if verdict in ("not_member", "paused"):
            log.info(
                "call %s: sticky agent %s not rung: %s in queue %s",
                self.call_id,
                interface,
                verdict.replace("_", " "),
                request.queue,
            )
            self._sticky_skipped = verdict
            return None
        try:
            reply = await self._send("GET FULL VARIABLE", f"${{DEVICE_STATE({interface})}}")
        except AgiCommandError as exc:
            log.warning("call %s: DEVICE_STATE(%s): %s", self.call_id, interface, exc)
            self._sticky_skipped = "not_free"
            return None
        state = reply.data.strip().upper() if reply.result == "1" else ""
        if state != "NOT_INUSE":
            log.debug("call %s: sticky agent %s is %s", self.call_id, interface, state or "?")
            self._sticky_skipped = "not_free"
            return None
        ring_s = min(max(1, int(request.preferred_ring_s)), MAX_STICKY_RING_S)
        name = request.preferred_agent_name or interface
        started = time.monotonic()
        self._transfer = ("dial", name, interface)
        reply = await self._send(
            "EXEC",
            Word("Dial"),
            f"{interface},{ring_s},{STICKY_DIAL_OPTIONS}",
            timeout_s=self.max_call_s,
        )
        elapsed = time.monotonic() - started
        result = reply.result_int
        if result == -1:  # the caller hung up, ringing (CANCEL) or talking (ANSWER)
            raise self._caller_gone("caller hung up during the sticky agent's Dial")
        self._transfer = None
        if result is None or result < 0:
            log.warning("call %s: EXEC Dial (sticky) failed: %r", self.call_id, reply.lines)
            self._sticky_skipped = "not_answered"
            return None
        status = (await self._get("DIALSTATUS")).upper()
        if status == "CANCEL":
            raise self._caller_gone("caller hung up during Dial (DIALSTATUS=CANCEL)")
        if status != "ANSWER":
            log.debug("call %s: sticky agent %s: DIALSTATUS=%s", self.call_id, interface, status)
            self._sticky_skipped = "not_answered"
            return None
        talk = _seconds(await self._get("ANSWEREDTIME")) or 0.0
        dialled = _seconds(await self._get("DIALEDTIME"))  # ringing + talking
        wait = max(0.0, dialled - talk) if dialled is not None else max(0.0, elapsed - talk)
        answered = QueueResult(
            QueueStatus.COMPLETED,
            agent=name,
            wait_s=wait,
            talk_s=talk,
            agent_interface=interface,
            sticky=True,
        )
        self.connected_agent = answered
        return answered

    async def dial(self, number: str, *, timeout_s: int, caller_id: str = "") -> DialResult:
        self._check()
        if not isinstance(number, str) or not _NUMBER.fullmatch(number):
            log.warning("call %s: refused to dial %r", self.call_id, number)
            return DialResult(DialStatus.ERROR)
        if caller_id:
            await self._send("SET VARIABLE", Word("CALLERID(num)"), _fit(str(caller_id), 64))
        target = self.dial_template.format(number=number)
        reply = await self._send(
            "EXEC",
            Word("Dial"),
            f"{target},{max(1, int(timeout_s))},g",
            timeout_s=self.max_call_s,
        )
        result = reply.result_int
        if result == -1:
            raise self._caller_gone("caller hung up during Dial")
        if result is None or result < 0:
            log.warning("call %s: EXEC Dial failed: %r", self.call_id, reply.lines)
            return DialResult(DialStatus.ERROR)
        status = (await self._get("DIALSTATUS")).upper()
        if status == "CANCEL":
            raise self._caller_gone("caller hung up during Dial (DIALSTATUS=CANCEL)")
        mapped = _DIAL_STATUS.get(status, DialStatus.ERROR)
        if mapped is DialStatus.ERROR:
            log.warning("call %s: DIALSTATUS=%r", self.call_id, status)
        talk = 0.0
        if mapped is DialStatus.COMPLETED:
            talk = _seconds(await self._get("ANSWEREDTIME")) or 0.0
        return DialResult(mapped, talk_s=talk)

    async def voicemail(self, mailbox: str, *, greeting: str = "unavailable") -> VoicemailResult:
        self._check()
        if not isinstance(mailbox, str) or not _MAILBOX.fullmatch(mailbox):
            log.warning("call %s: refused mailbox %r", self.call_id, mailbox)
            return VoicemailResult(VoicemailStatus.ERROR)
        box = mailbox if "@" in mailbox else f"{mailbox}@{self.voicemail_context}"
        option = _GREETING_OPTION.get(greeting, "s")
        reply = await self._send(
            "EXEC", Word("VoiceMail"), f"{box},{option}", timeout_s=self.max_call_s
        )
        result = reply.result_int
        if result == -1:
            raise self._caller_gone("caller hung up in voicemail")
        if result is None or result < 0:
            log.warning("call %s: EXEC VoiceMail failed: %r", self.call_id, reply.lines)
            return VoicemailResult(VoicemailStatus.ERROR)
        status = (await self._get("VMSTATUS")).upper()
        if status in ("SUCCESS", "USEREXIT"):
            return VoicemailResult(VoicemailStatus.COMPLETED)
        log.warning("call %s: VMSTATUS=%r", self.call_id, status)
        return VoicemailResult(VoicemailStatus.ERROR)

    async def record(
        self, *, max_s: int, silence_s: int, beep: bool, prompts: Sequence[Prompt] = ()
    ) -> RecordResult:
        self._check()
        if prompts:
            await self.play(prompts)
        self._check()
        self._recordings += 1
        uid = _SAFE_ID.sub("_", self.call_id) or "call"
        path = f"{self.record_dir}/{uid}-{self._recordings}"
        max_s = int(max_s)
        words: list[object] = ["RECORD FILE", path, Word("wav"), "#"]
        words.append(max_s * 1000 if max_s > 0 else -1)
        if beep:
            words.append(Word("BEEP"))
        if int(silence_s) > 0:
            words.append(Word(f"s={int(silence_s)}"))
        limit = max_s + self.conn.command_timeout_s + 5 if max_s > 0 else self.max_call_s
        reply = await self._send(*words, timeout_s=limit)
        result = reply.result_int
        if reply.data == "hangup":
            raise self._caller_gone("caller hung up during RECORD FILE")
        if result is None or result < 0:
            if not await self._alive():
                raise self._caller_gone("caller hung up during RECORD FILE")
            log.warning("call %s: RECORD FILE failed: %r", self.call_id, reply.lines)
            return RecordResult(RecordStatus.ERROR)
        duration = (reply.endpos or 0) / 8000
        if duration < self.min_record_s:
            return RecordResult(RecordStatus.NO_AUDIO, duration_s=duration)
        return RecordResult(RecordStatus.RECORDED, f"{path}.wav", duration)

    async def set_channel_variable(self, name: str, value: str) -> None:
        self._check()
        if not isinstance(name, str) or not _VARIABLE.fullmatch(name):
            raise ValueError(f"not a channel variable name: {name!r}")
        await self._send("SET VARIABLE", Word(name), _fit(str(value)))

    async def hangup(self) -> None:
        """Hang the caller up; quiet when the channel or the link is already gone."""
        already = self.hung_up_by_flow
        self.hung_up_by_flow = True
        if already or self.conn.hung_up.is_set():
            return
        try:
            await self._send("HANGUP")
        except (CallerHangup, AgiError) as exc:
            log.debug("call %s: HANGUP: %s", self.call_id, exc)

    async def wait_hangup(self) -> None:
        await self.conn.hung_up.wait()
