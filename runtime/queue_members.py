"""Which agents are members of which queue, and which of them are paused — as AMI reports it.

The sticky-agent dial (``core.transfer_queue`` → :meth:`runtime.agi.channel.AgiChannel.
_ring_preferred`) rings a caller's last agent directly, outside the queue. Before it does, it
asks this view (synchronously: a call never waits for AMI) whether that agent is a member of
the target queue and not paused.

Facts used (Asterisk 22, ``apps/app_queue.c``):

* Member events, class ``agent`` (``read = agent`` in manager.conf): ``QueueMemberAdded``,
  ``QueueMemberRemoved``, ``QueueMemberPause``, ``QueueMemberStatus`` (device state change),
  ``QueueMemberPenalty``, ``QueueMemberRinginuse``. Each carries the whole member
  (``queue_member_blob_create``): ``Queue``, ``MemberName``, ``Interface``, ``StateInterface``,
  ``Membership``, ``Penalty``, ``CallsTaken``, ``LastCall``, ``LastPause``, ``LoginTime``,
  ``InCall``, ``Status`` (numeric device state, 1 = NOT_INUSE), ``Paused`` (0/1),
  ``PausedReason``, ``Ringinuse``, ``Wrapuptime``.
* The ``QueueStatus`` action (registered with no privilege class: any logged-in user may run
  it) answers ``Response: Success`` / ``EventList: start`` / ``Message: Queue status will
  follow``, then per queue one ``QueueParams`` followed by one ``QueueMember`` per member and
  one ``QueueEntry`` per waiting caller, then ``QueueStatusComplete`` (``EventList:
  Complete``, ``ListItems``). ``QueueMember`` names the fields differently from the events:
  ``Name`` (not ``MemberName``) and ``Location`` (not ``Interface``).
* Interfaces are compared case-insensitively inside app_queue (``member_cmp_fn`` uses
  ``strcasecmp``), and so are queue names; so here too.
* Members added or removed by reloading ``queues.conf`` (static members) or by realtime
  produce **no** member event; only the periodic ``QueueStatus`` refresh catches those.

The view is *available* only while the AMI client is connected and a ``QueueStatus`` snapshot
has been taken on the current connection (events missed while disconnected are not trusted).
A queue is *known* only when the last snapshot listed it. Otherwise :meth:`check` answers
``"unknown"`` and the caller of the view decides (the sticky dial then keeps its older
behaviour: device state only).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from runtime.ami import AmiError, AmiEvent

if TYPE_CHECKING:
    from runtime.ami import AmiClient

__all__ = ["MemberCheck", "MemberView", "QueueMember", "QueueMemberView"]

log = logging.getLogger("ivrflow.ami.members")

MemberCheck = Literal["unknown", "not_member", "paused", "member"]


class MemberView(Protocol):
    """What a channel needs: a synchronous verdict about one interface in one queue."""

    def check(self, queue: str, interface: str) -> MemberCheck: ...


@dataclass(frozen=True, slots=True)
class QueueMember:
    queue: str
    interface: str
    name: str
    state_interface: str
    paused: bool
    paused_reason: str
    status: int | None
    """Asterisk's numeric device state (0 unknown, 1 NOT_INUSE, 2 INUSE, 3 BUSY, 4 INVALID,
    5 UNAVAILABLE, 6 RINGING, 7 RINGINUSE, 8 ONHOLD)."""
    in_call: bool
    updated_at: float
    """Wall-clock time (epoch seconds) at which the fact was received."""


def _flag(event: AmiEvent, key: str) -> bool:
    return event.text(key) not in ("", "0", "false", "no")


def _int(event: AmiEvent, key: str) -> int | None:
    try:
        return int(event.text(key))
    except ValueError:
        return None


def _member(event: AmiEvent, *, listed: bool) -> QueueMember | None:
    """A member from an event (``listed``: a ``QueueMember`` item of ``QueueStatus``)."""
    queue = event.text("Queue")
    interface = event.text("Location" if listed else "Interface") or event.text("Interface")
    if not queue or not interface:
        return None
    return QueueMember(
        queue=queue,
        interface=interface,
        name=event.text("Name" if listed else "MemberName") or event.text("MemberName"),
        state_interface=event.text("StateInterface"),
        paused=_flag(event, "Paused"),
        paused_reason=event.text("PausedReason"),
        status=_int(event, "Status"),
        in_call=_flag(event, "InCall"),
        updated_at=event.received_at,
    )


class QueueMemberView:
    """In-memory (queue, interface) → :class:`QueueMember`, fed by AMI.

    ``attach(client)`` subscribes to the member events and asks for a ``QueueStatus`` after
    every login; ``start()`` runs the refresher, which also repeats ``QueueStatus`` every
    ``refresh_interval_s`` (static members changed by a ``queues.conf`` reload send no event)
    and after ``retry_s`` when one failed.
    """

    EVENTS = (
        "QueueMemberAdded",
        "QueueMemberRemoved",
        "QueueMemberPause",
        "QueueMemberStatus",
        "QueueMemberPenalty",
        "QueueMemberRinginuse",
    )

    def __init__(
        self,
        *,
        refresh_interval_s: float = 60.0,
        retry_s: float = 5.0,
        status_timeout_s: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.refresh_interval_s = refresh_interval_s
        self.retry_s = retry_s
        self.status_timeout_s = status_timeout_s
        self._clock = clock
        self._client: AmiClient | None = None
        self._queues: dict[str, dict[str, QueueMember]] = {}
        self._known: set[str] = set()
        self._touched: dict[tuple[str, str], float] = {}
        self._synced_conn: int | None = None
        self._kick: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self.refreshes = 0
        self.refresh_failures = 0
        self.events = 0

    # -- wiring -----------------------------------------------------------------------------

    def attach(self, client: AmiClient) -> None:
        self._client = client
        client.on(self.EVENTS, self.handle_event)
        client.on_login(self._request_refresh)

    async def start(self) -> None:
        if self._task is None:
            self._kick = asyncio.Event()
            self._kick.set()
            self._task = asyncio.create_task(self._refresh_forever(), name="ivrflow-queue-members")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._kick = None

    def _request_refresh(self) -> None:
        if self._kick is not None:
            self._kick.set()

    # -- reading (synchronous, never waits) -------------------------------------------------

    @property
    def available(self) -> bool:
        """AMI is connected and a snapshot was taken on this connection."""
        client = self._client
        return (
            client is not None
            and client.connected
            and self._synced_conn is not None
            and self._synced_conn == client.stats.connects
        )

    def knows(self, queue: str) -> bool:
        return self.available and queue.lower() in self._known

    def member(self, queue: str, interface: str) -> QueueMember | None:
        return self._queues.get(queue.lower(), {}).get(interface.lower())

    def members(self, queue: str) -> list[QueueMember]:
        return list(self._queues.get(queue.lower(), {}).values())

    def check(self, queue: str, interface: str) -> MemberCheck:
        """``unknown`` (AMI down, no snapshot on this connection, or the queue was not in it),
        ``not_member``, ``paused`` or ``member``."""
        if not self.knows(queue):
            return "unknown"
        found = self.member(queue, interface)
        if found is None:
            return "not_member"
        return "paused" if found.paused else "member"

    # -- events -----------------------------------------------------------------------------

    async def handle_event(self, event: AmiEvent) -> None:
        """One member event (the AmiClient handler; events come in Asterisk's order)."""
        member = _member(event, listed=False)
        if member is None:
            return
        self.events += 1
        key = (member.queue.lower(), member.interface.lower())
        self._touched[key] = event.received_at
        members = self._queues.setdefault(key[0], {})
        if event.name.lower() == "queuememberremoved":
            members.pop(key[1], None)
        else:
            members[key[1]] = member

    # -- snapshots --------------------------------------------------------------------------

    async def refresh(self) -> bool:
        """Take a ``QueueStatus`` snapshot now. False (and logged) if it could not be taken."""
        client = self._client
        if client is None or not client.connected:
            return False
        connection = client.stats.connects
        sent_at = self._clock()
        try:
            response = await client.action("QueueStatus", timeout_s=self.status_timeout_s)
        except (AmiError, TimeoutError) as exc:
            self.refresh_failures += 1
            log.warning("QueueStatus failed: %s", str(exc) or type(exc).__name__)
            return False
        events = response.events
        if not response.success or not events or events[-1].name != "QueueStatusComplete":
            self.refresh_failures += 1
            log.warning(
                "QueueStatus: unusable answer (%s, %d event(s))",
                response.message or ("success" if response.success else "error"),
                len(events),
            )
            return False
        self.apply_status(events, sent_at=sent_at)
        if client.connected and client.stats.connects == connection:
            self._synced_conn = connection
        self.refreshes += 1
        return True

    def apply_status(self, events: Iterable[AmiEvent], *, sent_at: float) -> None:
        """Replace the view with a ``QueueStatus`` answer (sent at ``sent_at``). A member event
        received after ``sent_at`` may describe a later state than the snapshot: it wins."""
        fresh: dict[str, dict[str, QueueMember]] = {}
        for event in events:
            name = event.name
            if name == "QueueParams":
                queue = event.text("Queue")
                if queue:
                    fresh.setdefault(queue.lower(), {})
            elif name == "QueueMember":
                member = _member(event, listed=True)
                if member is not None:
                    fresh.setdefault(member.queue.lower(), {})[member.interface.lower()] = member
        for (queue, interface), at in self._touched.items():
            if at < sent_at or queue not in fresh:
                continue
            newer = self._queues.get(queue, {}).get(interface)
            if newer is None:
                fresh[queue].pop(interface, None)
            else:
                fresh[queue][interface] = newer
        self._touched = {k: at for k, at in self._touched.items() if at >= sent_at}
        self._queues = fresh
        self._known = set(fresh)

    async def _refresh_forever(self) -> None:
        assert self._kick is not None
        kick = self._kick
        wait = self.refresh_interval_s
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await kick.wait()
            kick.clear()
            client = self._client
            if client is None or not client.connected:
                wait = self.refresh_interval_s
                continue
            try:
                ok = await self.refresh()
            except Exception:  # never let the refresher die
                log.exception("queue member refresh failed")
                ok = False
            wait = self.refresh_interval_s if ok else self.retry_s
