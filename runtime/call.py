"""The `Call`: everything a node may do to a caller, and nothing else.

Nodes (built-in ``core.*`` nodes and plugin nodes alike) receive a :class:`Call` and talk only
to it. They never import panoramisk, open sockets or know whether the caller is on Asterisk, in
the simulator or in a unit test.

Two layers live here:

* :class:`Call` — what a node sees: media operations (play, collect, say, transfers, recording,
  hang-up), the flow's variables, the call's language, ``now()`` and injected resources
  (backend clients). The interpreter builds one per running (sub-)flow.
* :class:`Channel` — what a telephony back end implements: the same media operations on plain
  prompt lists, without variables, tracing or sub-flows. ``runtime.simulator`` provides one for
  the simulator and tests; the Asterisk (FastAGI) channel is another.

Every media method raises :class:`CallerHangup` when the caller has hung up; the interpreter
then cancels the running node and ends the call.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from runtime.flow import Settings

__all__ = [
    "DTMF_KEYS",
    "Call",
    "CallerHangup",
    "Channel",
    "CollectResult",
    "CollectSpec",
    "DialResult",
    "DialStatus",
    "Prompt",
    "QueueRequest",
    "QueueResult",
    "QueueStatus",
    "RecordResult",
    "RecordStatus",
    "SubflowResult",
    "VoicemailResult",
    "VoicemailStatus",
]

DTMF_KEYS = "0123456789*#"


class CallerHangup(Exception):
    """The caller hung up. Raised by any media operation; ends the call."""


@dataclass(frozen=True, slots=True)
class Prompt:
    """One prompt to play: a prompt id from the library plus the script text in the call's
    language (what the simulator shows and what a TTS placeholder would say).

    ``dynamic``: the script has ``{{variables}}``; ``text`` is rendered for this call, and on
    Asterisk it is spoken by TTS at run time (cached) instead of a recorded file."""

    id: str
    text: str = ""
    language: str = ""
    dynamic: bool = False


@dataclass(frozen=True, slots=True)
class CollectSpec:
    """How to collect DTMF digits.

    ``first_timeout_ms`` runs from the end of the prompt until the first key;
    ``inter_digit_timeout_ms`` between keys. Collection ends at ``max_digits``, at the
    ``terminator`` key (not included in the result) or on a timeout. ``secret`` masks the
    digits in every trace and log.
    """

    min_digits: int = 1
    max_digits: int = 1
    terminator: str | None = "#"
    first_timeout_ms: int = 5000
    inter_digit_timeout_ms: int = 3000
    barge_in: bool = True
    secret: bool = False


@dataclass(frozen=True, slots=True)
class CollectResult:
    """Digits the caller entered. ``ended_by`` is ``"max"``, ``"terminator"`` or ``"timeout"``;
    ``digits`` is empty when the caller pressed nothing."""

    digits: str
    ended_by: str

    @property
    def timed_out(self) -> bool:
        return self.digits == "" and self.ended_by == "timeout"


class QueueStatus(enum.StrEnum):
    COMPLETED = "completed"  # connected to an agent; the agent side ended, caller still here
    TIMEOUT = "timeout"  # waited longer than the queue's timeout
    UNAVAILABLE = "unavailable"  # no agents logged in / queue full / join refused
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class QueueRequest:
    queue: str
    priority: int = 0
    timeout_s: int = 300
    caller_data: Mapping[str, str] = field(default_factory=dict)
    announce: Sequence[Prompt] = ()
    music_class: str = ""
    preferred_agent: str = ""
    """Sticky agent: the device interface (e.g. ``PJSIP/8001``) of the agent who served this
    caller before. When set and the agent is free, the channel rings that agent directly for
    ``preferred_ring_s`` seconds before queueing; otherwise the queue runs as usual."""
    preferred_agent_name: str = ""
    """The preferred agent's name as last recorded (reported when they answer directly)."""
    preferred_ring_s: int = 15


@dataclass(frozen=True, slots=True)
class QueueResult:
    status: QueueStatus
    agent: str = ""
    """The agent who answered (the queue member's name, as Asterisk reports it)."""
    wait_s: float = 0.0
    talk_s: float = 0.0
    agent_interface: str = ""
    """The answering agent's device interface, e.g. ``PJSIP/8001`` (for sticky routing)."""
    sticky: bool = False
    """Answered by the preferred agent, rung directly before the queue (not by the queue)."""
    sticky_skipped: str = ""
    """Why a preferred agent was not connected directly (empty if none was asked for or they
    answered): ``refused`` (not a device interface), ``not_member`` / ``paused`` (the queue's
    member state, from AMI), ``not_free`` (device state not ``NOT_INUSE``), ``not_answered``."""


class DialStatus(enum.StrEnum):
    COMPLETED = "completed"  # answered; the far end has hung up, caller still here
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    UNAVAILABLE = "unavailable"
    CONGESTION = "congestion"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class DialResult:
    status: DialStatus
    talk_s: float = 0.0


class VoicemailStatus(enum.StrEnum):
    COMPLETED = "completed"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class VoicemailResult:
    status: VoicemailStatus


class RecordStatus(enum.StrEnum):
    RECORDED = "recorded"
    NO_AUDIO = "no_audio"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class RecordResult:
    status: RecordStatus
    file: str = ""
    duration_s: float = 0.0


@dataclass(frozen=True, slots=True)
class SubflowResult:
    """How a sub-flow returned: the outcome named by its ``core.return`` node and the
    variables it hands back."""

    outcome: str
    outputs: Mapping[str, Any] = field(default_factory=dict)
    secret: frozenset[str] = frozenset()
    """Names in ``outputs`` that are secret in the sub-flow."""


@runtime_checkable
class Channel(Protocol):
    """A telephony back end: Asterisk over FastAGI, the simulator, or a test fake.

    All methods raise :class:`CallerHangup` once the caller is gone.
    """

    call_id: str
    caller: str
    called: str

    async def answer(self) -> None: ...

    async def play(self, prompts: Sequence[Prompt], *, barge_in: bool = True) -> str | None:
        """Play prompts in order. With ``barge_in`` a key stops playback and is returned."""

    async def collect(self, prompts: Sequence[Prompt], spec: CollectSpec) -> CollectResult:
        """Play prompts (interruptible when ``spec.barge_in``), then collect digits."""

    async def transfer_queue(self, request: QueueRequest) -> QueueResult: ...

    async def dial(self, number: str, *, timeout_s: int, caller_id: str = "") -> DialResult: ...

    async def voicemail(
        self, mailbox: str, *, greeting: str = "unavailable"
    ) -> VoicemailResult: ...

    async def record(
        self, *, max_s: int, silence_s: int, beep: bool, prompts: Sequence[Prompt] = ()
    ) -> RecordResult: ...

    async def set_channel_variable(self, name: str, value: str) -> None: ...

    async def hangup(self) -> None: ...

    async def wait_hangup(self) -> None:
        """Return when the caller hangs up (used to cancel nodes busy with back-end I/O)."""


@runtime_checkable
class Call(Protocol):
    """What a node sees. Built by the interpreter around a :class:`Channel`."""

    call_id: str
    caller: str
    """The caller's number (ANI) as delivered by the network; may be empty or ``anonymous``."""
    called: str
    """The dialled number / entry."""

    @property
    def language(self) -> str:
        """The call's current language tag, e.g. ``zh-CN``."""

    def set_language(self, language: str) -> None: ...

    @property
    def vars(self) -> MutableMapping[str, Any]:
        """The flow's variables (declared ones always present). Writes are traced; secret
        variables are masked in traces."""

    @property
    def resources(self) -> Mapping[str, Any]:
        """Injected back-end clients, e.g. ``resources["http"]`` (an aiohttp session)."""

    @property
    def settings(self) -> Settings:
        """The flow's settings (default input timeouts, caps…)."""

    def is_secret(self, name: str) -> bool:
        """Whether variable ``name`` is secret (declared so, or marked during the call)."""

    @property
    def node_id(self) -> str:
        """The id of the node now running (for records a node writes, e.g. an SMS's origin)."""

    def now(self) -> datetime:
        """The current time, time-zone aware, in the flow's time zone (frozen in simulations)."""

    def prompt(self, prompt_id: str) -> Prompt:
        """Resolve a prompt id to a :class:`Prompt` in the call's language."""

    def note(self, event: str, **data: Any) -> None:
        """Add an event to the trace of the running step (values are masked if secret)."""

    def mark_secret(self, name: str) -> None:
        """Treat variable ``name`` as secret for the rest of the call."""

    async def answer(self) -> None: ...

    async def play(self, prompt_ids: Sequence[str], *, barge_in: bool = True) -> str | None: ...

    async def collect(self, prompt_ids: Sequence[str], spec: CollectSpec) -> CollectResult: ...

    async def say(
        self, kind: str, value: Any, *, language: str | None = None, barge_in: bool = True
    ) -> str | None:
        """Say a number, money amount (元角分), date, time, weekday or digit string through
        the number prompt set. Raises ``prompts.say.SayError`` on a value it cannot say."""

    async def transfer_queue(self, request: QueueRequest) -> QueueResult: ...

    async def dial(self, number: str, *, timeout_s: int, caller_id: str = "") -> DialResult: ...

    async def voicemail(
        self, mailbox: str, *, greeting: str = "unavailable"
    ) -> VoicemailResult: ...

    async def record(
        self, *, max_s: int, silence_s: int, beep: bool, prompt_ids: Sequence[str] = ()
    ) -> RecordResult: ...

    async def hangup(self) -> None: ...

    async def subflow(self, flow_id: str, inputs: Mapping[str, Any]) -> SubflowResult:
        """Run another flow on this call and return how it ended."""

    def end_flow(self, outcome: str, outputs: Mapping[str, Any] | None = None) -> None:
        """Say how this (sub-)flow ends; used by ``core.return``."""
