"""The simulator: run a flow with a scripted caller, no phone needed.

:class:`SimulatedChannel` is a :class:`~runtime.call.Channel` whose caller follows a script of
key presses. It is the channel for ``ivrflow simulate``, for the designer's test calls and for
unit tests of nodes (plugin authors use it too).

Script syntax — tokens separated by spaces, one token per time the flow asks for input:

* ``1``, ``123456#``, ``*`` — what the caller types at that prompt (a terminator key ends the
  entry; fewer digits than wanted and no terminator ends it by inter-digit timeout);
* ``-`` — the caller says nothing (the input times out);
* ``h`` — the caller hangs up.

When the script runs out the caller hangs up at the next prompt (``when_done="silence"`` keeps
them silent instead, so the flow's own timeout handling runs).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

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
from runtime.clock import FrozenClock
from runtime.flow import Flow, FlowLibrary
from runtime.interpreter import Interpreter
from runtime.trace import Trace

__all__ = [
    "HANGUP",
    "SILENCE",
    "InteractiveChannel",
    "ScriptError",
    "SimulatedChannel",
    "parse_script",
    "simulate",
]

SILENCE = "-"
HANGUP = "h"
_ids = itertools.count(1)


class ScriptError(ValueError):
    def __init__(self, token: str, position: int) -> None:
        super().__init__(
            f"keys: token {position} {token!r} is not digits (0-9 * #), '-' (silence) or 'h' "
            "(hang up)"
        )
        self.message_zh = (
            f"按键脚本第 {position} 项 “{token}” 无效：只能是按键（0-9 * #）、“-”（不按键）或"
            "“h”（挂机）。"
        )
        self.message_en = str(self)


def parse_script(keys: str | Iterable[str]) -> list[str]:
    tokens = keys.split() if isinstance(keys, str) else [str(k) for k in keys]
    out = []
    for i, token in enumerate(tokens, 1):
        low = token.lower()
        if low in ("h", "hangup"):
            out.append(HANGUP)
        elif token in ("-", ".", "_", "silence"):
            out.append(SILENCE)
        elif token and all(c in DTMF_KEYS for c in token):
            out.append(token)
        else:
            raise ScriptError(token, i)
    return out


@dataclass
class Heard:
    """Something the simulated caller heard or did (for tests and the designer)."""

    kind: str
    prompts: list[str] = field(default_factory=list)
    text: str = ""
    data: dict[str, Any] = field(default_factory=dict)


class SimulatedChannel:
    """A scripted caller. Outcomes of queue/dial/voicemail/record are configurable."""

    def __init__(
        self,
        keys: str | Iterable[str] = "",
        *,
        caller: str = "13800138000",
        called: str = "12329",
        call_id: str | None = None,
        when_done: str = "hangup",
        queue_status: QueueStatus | str = QueueStatus.COMPLETED,
        dial_status: DialStatus | str = DialStatus.COMPLETED,
        record_status: RecordStatus | str = RecordStatus.RECORDED,
        voicemail_status: VoicemailStatus | str = VoicemailStatus.COMPLETED,
        preferred_agent_answers: bool = False,
    ) -> None:
        """``preferred_agent_answers``: a sticky agent (``QueueRequest.preferred_agent``)
        answers when rung first; by default they do not and the queue answers as usual."""
        self.preferred_agent_answers = preferred_agent_answers
        self.script = parse_script(keys)
        self.position = 0
        self.caller = caller
        self.called = called
        self.call_id = call_id or f"sim-{next(_ids)}"
        self.when_done = when_done
        self.queue_status = QueueStatus(queue_status)
        self.dial_status = DialStatus(dial_status)
        self.record_status = RecordStatus(record_status)
        self.voicemail_status = VoicemailStatus(voicemail_status)
        self.heard: list[Heard] = []
        self.answered = False
        self.hung_up_by_flow = False
        self.channel_variables: dict[str, str] = {}
        self.specs: list[CollectSpec] = []
        """Every input request's :class:`CollectSpec`, in order (for tests)."""
        self._caller_gone = asyncio.Event()

    # -- caller side ---------------------------------------------------------------------

    def caller_hangs_up(self) -> None:
        """The caller hangs up now (tests use this to hang up in the middle of a node)."""
        self._caller_gone.set()

    @property
    def caller_gone(self) -> bool:
        return self._caller_gone.is_set()

    def _check(self) -> None:
        if self._caller_gone.is_set() or self.hung_up_by_flow:
            raise CallerHangup()

    def _next_turn(self) -> str:
        if self.position < len(self.script):
            token = self.script[self.position]
            self.position += 1
        else:
            token = HANGUP if self.when_done == "hangup" else SILENCE
        if token == HANGUP:
            self._caller_gone.set()
            raise CallerHangup()
        return token

    @property
    def unused_keys(self) -> list[str]:
        return self.script[self.position :]

    # -- Channel -------------------------------------------------------------------------

    async def answer(self) -> None:
        self._check()
        self.answered = True

    async def play(self, prompts: Sequence[Prompt], *, barge_in: bool = True) -> str | None:
        self._check()
        self.heard.append(
            Heard("play", [p.id for p in prompts], " ".join(p.text or p.id for p in prompts))
        )
        await asyncio.sleep(0)
        self._check()
        return None

    async def collect(self, prompts: Sequence[Prompt], spec: CollectSpec) -> CollectResult:
        if prompts:
            await self.play(prompts, barge_in=spec.barge_in)
        self._check()
        self.specs.append(spec)
        token = self._next_turn()
        if token == SILENCE:
            return CollectResult("", "timeout")
        digits = ""
        for ch in token:
            if spec.terminator and ch == spec.terminator:
                return CollectResult(digits, "terminator")
            digits += ch
            if len(digits) >= spec.max_digits:
                return CollectResult(digits, "max")
        return CollectResult(digits, "timeout")

    async def transfer_queue(self, request: QueueRequest) -> QueueResult:
        self._check()
        data: dict[str, Any] = {
            "priority": request.priority,
            "caller_data": dict(request.caller_data),
        }
        if request.preferred_agent:
            data["preferred_agent"] = request.preferred_agent
            data["preferred_agent_answered"] = self.preferred_agent_answers
        self.heard.append(Heard("queue", [p.id for p in request.announce], request.queue, data))
        if request.preferred_agent and self.preferred_agent_answers:
            return QueueResult(
                QueueStatus.COMPLETED,
                agent=request.preferred_agent_name or request.preferred_agent,
                agent_interface=request.preferred_agent,
                sticky=True,
            )
        agent = "sim-agent" if self.queue_status is QueueStatus.COMPLETED else ""
        return QueueResult(self.queue_status, agent=agent)

    async def dial(self, number: str, *, timeout_s: int, caller_id: str = "") -> DialResult:
        self._check()
        self.heard.append(Heard("dial", text=number))
        return DialResult(self.dial_status)

    async def voicemail(self, mailbox: str, *, greeting: str = "unavailable") -> VoicemailResult:
        self._check()
        self.heard.append(Heard("voicemail", text=mailbox))
        return VoicemailResult(self.voicemail_status)

    async def record(
        self, *, max_s: int, silence_s: int, beep: bool, prompts: Sequence[Prompt] = ()
    ) -> RecordResult:
        if prompts:
            await self.play(prompts)
        self._check()
        self.heard.append(Heard("record"))
        if self.record_status is RecordStatus.RECORDED:
            return RecordResult(RecordStatus.RECORDED, f"{self.call_id}-rec.wav", 3.0)
        return RecordResult(self.record_status)

    async def set_channel_variable(self, name: str, value: str) -> None:
        self._check()
        self.channel_variables[name] = value

    async def hangup(self) -> None:
        self.hung_up_by_flow = True
        self.heard.append(Heard("hangup"))

    async def wait_hangup(self) -> None:
        await self._caller_gone.wait()


async def simulate(
    flow: Flow,
    keys: str | Iterable[str] = "",
    *,
    caller: str = "13800138000",
    called: str = "12329",
    at: datetime | None = None,
    library: FlowLibrary | None = None,
    variables: Mapping[str, Any] | None = None,
    resources: Mapping[str, Any] | None = None,
    channel: SimulatedChannel | None = None,
    **channel_options: Any,
) -> tuple[Trace, SimulatedChannel]:
    """Run ``flow`` with a scripted caller at a frozen time; return the trace and channel."""
    channel = channel or SimulatedChannel(keys, caller=caller, called=called, **channel_options)
    clock = FrozenClock(at) if at is not None else None
    interpreter = Interpreter(library=library, resources=resources, clock=clock)
    trace = await interpreter.run(flow, channel, variables=variables)
    return trace, channel


class InteractiveChannel(SimulatedChannel):
    """A person at the keyboard is the caller: prompts are printed as they play and each input
    request reads one line (digits, ``-`` for silence, ``h`` to hang up)."""

    def __init__(
        self,
        ask: Callable[[str], Awaitable[str]],
        show: Callable[[str], None],
        **options: Any,
    ) -> None:
        super().__init__("", **options)
        self._ask = ask
        self._show = show

    async def play(self, prompts: Sequence[Prompt], *, barge_in: bool = True) -> str | None:
        self._check()
        text = " ".join(p.text or f"[{p.id}]" for p in prompts)
        self.heard.append(Heard("play", [p.id for p in prompts], text))
        self._show(f"  ▶ {text}")
        return None

    async def collect(self, prompts: Sequence[Prompt], spec: CollectSpec) -> CollectResult:
        if prompts:
            await self.play(prompts, barge_in=spec.barge_in)
        self._check()
        while True:
            line = (await self._ask("  ⌨ ")).strip()
            try:
                tokens = parse_script(line) if line else [SILENCE]
            except ScriptError as exc:
                self._show(f"    {exc.message_zh} / {exc}")
                continue
            break
        self.script.extend(tokens)
        self.position = len(self.script) - len(tokens)
        return await super().collect([], spec)

    async def transfer_queue(self, request: QueueRequest) -> QueueResult:
        result = await super().transfer_queue(request)
        self._show(
            f"  ☎ 转人工队列 queue {request.queue}（优先级 {request.priority}）→ {result.status}"
        )
        return result

    async def dial(self, number: str, *, timeout_s: int, caller_id: str = "") -> DialResult:
        result = await super().dial(number, timeout_s=timeout_s, caller_id=caller_id)
        self._show(f"  ☎ 外呼 dial {number} → {result.status}")
        return result

    async def voicemail(self, mailbox: str, *, greeting: str = "unavailable") -> VoicemailResult:
        result = await super().voicemail(mailbox, greeting=greeting)
        self._show(f"  ✉ 留言 voicemail {mailbox}")
        return result

    async def hangup(self) -> None:
        await super().hangup()
        self._show("  ✆ 挂机 hang up")
