"""The outbox: messages queued by calls, sent by a worker thread, retried, recorded.

The table is the plugin's own (``sms_message``, its own :data:`metadata`), created by the
plugin's alembic revisions with the version table ``alembic_version_sms``.

**Calls never wait.** :meth:`SmsOutbox.submit` only appends the message to an in-memory
queue (bounded by ``max_pending``, which counts everything not yet sent or failed; when full
the message is dropped, logged, and ``submit`` returns False) and wakes the worker. It never
touches the database or the gateway.

**The worker** is one thread with its own asyncio event loop (so the HTTP gateway can use
aiohttp). For each message it

1. writes the row (``queued``, attempts 0),
2. sends it through the gateway (at most ``concurrency`` at once, each bounded by
   ``send_timeout_s``),
3. records ``sent`` with the gateway's id, or — on a temporary error — schedules the next
   attempt after ``backoff_s`` (5 s, 30 s, 2 min, 10 min, then 10 min; a gateway's
   ``Retry-After`` wins), or — on a permanent error, or when ``max_attempts`` are used up —
   records ``failed`` with the last error.

**Nothing persisted is lost.** Each worker claims the queued rows it holds with a lease
(``owner``, ``lease_until``) that it renews every ``lease_s / 3`` seconds. On start, and
at every renewal, it takes over queued rows whose lease has run out (a process that crashed
or was killed) and rows released by a clean shutdown (:meth:`SmsOutbox.close` releases its
leases), so a restart — or another ivrflow process sharing the database — resumes them.
Before each attempt the worker checks that it still owns the row, so two processes never
send the same row at the same time; a send interrupted by a crash may be repeated after the
restart, with the same ``client_ref`` (gateways can deduplicate on it).

**The database is never on the critical path.** A failing write is logged and the message is
still sent; its row is written at its next change once the database answers again.

**Without a database** (``engine`` None: ``ivrflow simulate`` without ``--database``, unit
tests) messages are still sent, retried and counted, and kept in memory only: the live ones
and the last ``keep_recent`` finished ones, which :meth:`SmsOutbox.messages` lists. Nothing
survives a restart.

Time comes from ``clock`` (UTC-aware ``datetime``), so tests can move it instead of
sleeping; after moving it, :meth:`SmsOutbox.flush` makes the worker look again.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import socket
import threading
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Connection,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    insert,
    or_,
    select,
    update,
)

from ivrflow_sms.gateway import (
    OutgoingSms,
    SmsGateway,
    SmsPermanentError,
    SmsTemporaryError,
    mask_phone,
)

__all__ = [
    "DEFAULT_BACKOFF_S",
    "DEFAULT_MAX_ATTEMPTS",
    "STATUSES",
    "NotRetryable",
    "SmsOutbox",
    "messages_table",
    "metadata",
]

log = logging.getLogger("ivrflow.sms")

metadata = MetaData()

messages_table = Table(
    "sms_message",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("client_ref", String(32), nullable=False),
    Column("call_id", String(100), nullable=False, index=True),
    Column("flow", String(100), nullable=False),
    Column("node", String(100), nullable=False),
    Column("phone", String(20), nullable=False, index=True),
    Column("template", String(64), nullable=False),
    Column("text", Text, nullable=False),
    Column("params", JSON, nullable=False),
    Column("status", String(10), nullable=False, index=True),
    Column("attempts", Integer, nullable=False),
    Column("max_attempts", Integer, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=True),
    Column("last_error", String(300), nullable=True),
    Column("gateway", String(20), nullable=False),
    Column("gateway_id", String(100), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=True),
    Column("owner", String(100), nullable=True),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    UniqueConstraint("client_ref", name="uq_sms_message_client_ref"),
)

STATUSES = ("queued", "sent", "failed")
DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_BACKOFF_S: tuple[float, ...] = (5.0, 30.0, 120.0, 600.0)
PUBLIC_COLUMNS = tuple(c.name for c in messages_table.c if c.name not in ("owner", "lease_until"))


class NotRetryable(Exception):
    """Only a ``failed`` message can be sent again."""

    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


def _utc(value: datetime | None) -> datetime | None:
    """Aware UTC (SQLite hands timestamps back naive; they are stored in UTC)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(eq=False)
class _Job:
    """A message the worker holds: queued, waiting for its next attempt or being sent."""

    message: OutgoingSms
    max_attempts: int
    gateway: str
    created_at: datetime
    next_at: datetime
    id: int | None = None
    """The row's id; None while not written (database unavailable). Without a database: a
    number counted in memory."""
    attempts: int = 0
    status: str = "queued"
    last_error: str | None = None
    gateway_id: str | None = None
    sent_at: datetime | None = None

    @property
    def ref(self) -> str:
        return self.message.client_ref

    def record(self) -> dict[str, Any]:
        m = self.message
        return {
            "id": self.id,
            "client_ref": m.client_ref,
            "call_id": m.call_id,
            "flow": m.flow,
            "node": m.node,
            "phone": m.to,
            "template": m.template,
            "text": m.text,
            "params": dict(m.params),
            "status": self.status,
            "attempts": self.attempts,
            "max_attempts": self.max_attempts,
            "next_attempt_at": self.next_at if self.status == "queued" else None,
            "last_error": self.last_error,
            "gateway": self.gateway,
            "gateway_id": self.gateway_id,
            "created_at": self.created_at,
            "sent_at": self.sent_at,
        }


class SmsOutbox:
    """Queue, send, retry and record SMS messages (see the module docstring). ``engine``
    None: no database, records in memory only."""

    def __init__(
        self,
        engine: Engine | None,
        gateway: SmsGateway,
        *,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        backoff_s: Sequence[float] = DEFAULT_BACKOFF_S,
        max_pending: int = 10_000,
        concurrency: int = 8,
        send_timeout_s: float = 60.0,
        lease_s: float = 60.0,
        keep_recent: int = 1000,
        clock: Callable[[], datetime] = _system_clock,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not backoff_s:
            raise ValueError("backoff_s needs at least one delay")
        self.engine = engine
        self.gateway = gateway
        self.max_attempts = max_attempts
        self.backoff_s = tuple(float(s) for s in backoff_s)
        self.max_pending = max_pending
        self.concurrency = concurrency
        self.send_timeout_s = send_timeout_s
        self.lease_s = lease_s
        self.clock = clock
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"[-100:]
        self.submitted = 0
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self._inbox: deque[OutgoingSms | str] = deque()
        self._pending = 0
        self._jobs: dict[str, _Job] = {}
        self._recent: deque[_Job] = deque(maxlen=keep_recent)
        self._unwritten: dict[str, _Job] = {}
        """Finished jobs whose final state could not be written yet (never sent again)."""
        self._ids = itertools.count(1)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._semaphore = asyncio.Semaphore(concurrency)  # bound to the worker's loop on use
        self._flush_waiters: list[threading.Event] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._next_maintenance: datetime | None = None
        self._maintain_now = False
        self._closed = False
        self._stopping = False

    def __repr__(self) -> str:
        db = "database" if self.engine is not None else "memory"
        return f"SmsOutbox({self.gateway!r}, {db}, pending={self._pending})"

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def pending(self) -> int:
        """Messages accepted and not yet sent or failed (queued or waiting to retry)."""
        return self._pending

    def _now(self) -> datetime:
        return self.clock().astimezone(UTC)

    # -- calls ----------------------------------------------------------------------------

    def submit(self, message: OutgoingSms) -> bool:
        """Queue ``message`` for sending; never blocks, never raises, never waits for the
        database or the gateway. False: refused (closed, or ``max_pending`` reached: the
        message is dropped and logged)."""
        try:
            if self._closed:
                return False
            with self._lock:
                if self._pending >= self.max_pending:
                    self.dropped += 1
                    full = True
                else:
                    self._pending += 1
                    self.submitted += 1
                    full = False
            if full:
                log.error(
                    "SMS outbox full (%d pending): dropping the message to %s (call %s)",
                    self.max_pending,
                    mask_phone(message.to),
                    message.call_id or "-",
                )
                return False
            self._inbox.append(message)
            self._ensure_thread()
            self._wake_worker()
            return True
        except Exception:  # pragma: no cover - defensive: a call must never fail here
            log.exception("SMS outbox: submit failed")
            return False

    # -- life cycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker (and so resume queued rows); ``submit`` also starts it."""
        self._ensure_thread()

    def _ensure_thread(self) -> None:
        if self._thread is None and not self._closed:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._thread_main, name="ivrflow-sms-outbox", daemon=True
                    )
                    self._thread.start()

    def _wake_worker(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop has just closed
                loop.call_soon_threadsafe(wake.set)

    def nudge(self) -> None:
        """Make the worker look for rows it should take (e.g. one queued again by
        :meth:`retry`) now rather than at its next lease renewal."""
        self._inbox.append("maintain")
        self._ensure_thread()
        self._wake_worker()

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until everything submitted is written and every attempt that is due now is
        done (True), or ``timeout_s`` passes (False). Messages waiting for a later retry do
        not count."""
        thread = self._thread
        if thread is None or not thread.is_alive():
            return not self._inbox
        done = threading.Event()
        with self._lock:
            self._flush_waiters.append(done)
        self._wake_worker()
        if done.wait(timeout_s):
            return True
        with self._lock:
            if done in self._flush_waiters:
                self._flush_waiters.remove(done)
        return False

    def close(self, timeout_s: float = 10.0) -> None:
        """Send what is due (up to ``timeout_s``), then stop the worker. Queued rows are
        released for the next start (or another process); without a database, messages
        still waiting are lost (logged)."""
        if self._closed:
            return
        if not self.flush(timeout_s):
            log.warning("SMS outbox: sends still running at shutdown; they are interrupted")
        self._closed = True
        self._stopping = True
        thread = self._thread
        if thread is not None:
            self._wake_worker()
            thread.join(max(timeout_s, 1.0))
            if thread.is_alive():
                log.error("SMS outbox: the worker did not stop")
        if self.engine is None and self._pending:
            log.error("SMS outbox: %d messages not sent at shutdown (no database)", self._pending)

    # -- the worker -----------------------------------------------------------------------

    def _thread_main(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception:  # pragma: no cover - defensive
            log.exception("SMS outbox worker crashed")

    async def _main(self) -> None:
        self._wake = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        try:
            await self._serve()
        finally:
            tasks = list(self._tasks.values())
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._loop = None
            if self.engine is not None:
                for job in list(self._unwritten.values()):
                    self._db(f"recording a {job.status} message", self._write, job)
                self._db("releasing leases", self._release_leases)
            self._release_flush_waiters()

    async def _serve(self) -> None:
        wake = self._wake
        assert wake is not None
        while True:
            wake.clear()
            with self._lock:  # flushes asked for before this look (later ones: the next)
                waiting = list(self._flush_waiters)
            self._take_inbox()
            now = self._now()
            if self.engine is not None and (
                self._maintain_now
                or self._next_maintenance is None
                or now >= self._next_maintenance
            ):
                self._maintain(now)
            if self._stopping:
                return
            for job in list(self._jobs.values()):
                if job.next_at <= now and job.ref not in self._tasks:
                    task = asyncio.create_task(self._attempt(job), name=f"sms {job.ref}")
                    self._tasks[job.ref] = task
                    task.add_done_callback(lambda _t: wake.set())
            if not self._tasks and not self._inbox:
                self._release_flush_waiters(waiting)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), self._sleep_for(now))

    def _sleep_for(self, now: datetime) -> float:
        """Seconds until the next due attempt or lease renewal (at most a minute)."""
        wake_at = [j.next_at for j in self._jobs.values() if j.ref not in self._tasks]
        if self._next_maintenance is not None and self.engine is not None:
            wake_at.append(self._next_maintenance)
        if not wake_at:
            return 60.0
        return min(max((min(wake_at) - now).total_seconds(), 0.0), 60.0)

    def _release_flush_waiters(self, only: list[threading.Event] | None = None) -> None:
        with self._lock:
            if only is None:
                waiters, self._flush_waiters = self._flush_waiters, []
            else:
                waiters = [w for w in only if w in self._flush_waiters]
                self._flush_waiters = [w for w in self._flush_waiters if w not in waiters]
        for event in waiters:
            event.set()

    def _take_inbox(self) -> None:
        while True:
            try:
                item = self._inbox.popleft()
            except IndexError:
                return
            if isinstance(item, str):
                self._maintain_now = True
            else:
                self._accept(item)

    def _accept(self, message: OutgoingSms) -> None:
        now = self._now()
        job = _Job(
            message=message,
            max_attempts=message.max_attempts or self.max_attempts,
            gateway=self.gateway.name,
            created_at=now,
            next_at=now,
        )
        if self.engine is None:
            job.id = next(self._ids)
        else:
            self._db("recording a queued message", self._insert, job)
        with self._lock:
            self._jobs[job.ref] = job

    async def _attempt(self, job: _Job) -> None:
        try:
            async with self._semaphore:
                if self.engine is not None and job.id is not None:
                    owned = self._db("claiming an attempt", self._claim_attempt, job)
                    if owned == 0:
                        log.info("SMS %s: taken over by another process", job.id)
                        self._forget(job)
                        return
                job.attempts += 1
                try:
                    async with asyncio.timeout(self.send_timeout_s):
                        gateway_id = await self.gateway.send(job.message)
                except SmsPermanentError as exc:
                    log.warning(
                        "SMS %s to %s refused by the gateway (not retried): %s",
                        job.id,
                        mask_phone(job.message.to),
                        exc,
                    )
                    self._finish(job, "failed", error=str(exc))
                except SmsTemporaryError as exc:
                    self._retry_or_fail(job, str(exc), exc.retry_after)
                except TimeoutError:
                    self._retry_or_fail(job, f"timeout: no answer within {self.send_timeout_s:g} s")
                except Exception as exc:  # a gateway bug: treat as temporary, keep the worker
                    log.warning("SMS gateway %s raised", self.gateway.name, exc_info=True)
                    self._retry_or_fail(job, f"{type(exc).__name__}: {exc}"[:300])
                else:
                    self._finish(job, "sent", gateway_id=str(gateway_id)[:100])
        finally:
            self._tasks.pop(job.ref, None)

    def _retry_or_fail(self, job: _Job, error: str, retry_after: float | None = None) -> None:
        if job.attempts >= job.max_attempts:
            log.warning(
                "SMS %s to %s failed after %d attempts: %s",
                job.id,
                mask_phone(job.message.to),
                job.attempts,
                error,
            )
            self._finish(job, "failed", error=error)
            return
        delay = self.backoff_s[min(job.attempts, len(self.backoff_s)) - 1]
        if retry_after is not None:
            delay = retry_after
        job.last_error = error[:300]
        job.next_at = self._now() + timedelta(seconds=delay)
        log.warning(
            "SMS %s to %s: attempt %d of %d failed (%s); retrying in %g s",
            job.id,
            mask_phone(job.message.to),
            job.attempts,
            job.max_attempts,
            error,
            delay,
        )
        if self.engine is not None:
            self._db("recording a failed attempt", self._write, job)

    def _finish(
        self, job: _Job, status: str, *, error: str | None = None, gateway_id: str | None = None
    ) -> None:
        job.status = status
        if error is not None:
            job.last_error = error[:300]
        if status == "sent":
            job.gateway_id = gateway_id
            job.sent_at = self._now()
            self.sent += 1
        else:
            self.failed += 1
        if self.engine is not None and not self._db(
            f"recording a {status} message", self._write, job
        ):
            self._unwritten[job.ref] = job  # written at the next renewal, not sent again
        self._forget(job)
        with self._lock:
            self._recent.append(job)

    def _forget(self, job: _Job) -> None:
        with self._lock:
            if self._jobs.pop(job.ref, None) is not None:
                self._pending -= 1

    # -- the database (worker thread) -----------------------------------------------------

    def _db(self, what: str, fn: Callable[..., Any], *args: Any) -> Any:
        """Run a database step; a failure is logged, never raised (None)."""
        try:
            return fn(*args)
        except Exception as exc:
            log.warning("SMS outbox: %s failed (%s: %s)", what, type(exc).__name__, exc)
            return None

    def _row(self, job: _Job, now: datetime) -> dict[str, Any]:
        live = job.status == "queued"
        m = job.message
        return {
            "client_ref": m.client_ref,
            "call_id": m.call_id[:100],
            "flow": m.flow[:100],
            "node": m.node[:100],
            "phone": m.to[:20],
            "template": m.template[:64],
            "text": m.text,
            "params": dict(m.params),
            "status": job.status,
            "attempts": job.attempts,
            "max_attempts": job.max_attempts,
            "next_attempt_at": job.next_at if live else None,
            "last_error": job.last_error,
            "gateway": job.gateway[:20],
            "gateway_id": job.gateway_id,
            "created_at": job.created_at,
            "sent_at": job.sent_at,
            "owner": self.owner if live else None,
            "lease_until": now + timedelta(seconds=self.lease_s) if live else None,
        }

    def _insert(self, job: _Job) -> bool:
        assert self.engine is not None
        with self.engine.begin() as connection:
            result = connection.execute(insert(messages_table), self._row(job, self._now()))
            job.id = int(result.inserted_primary_key[0])
        return True

    def _write(self, job: _Job) -> bool:
        """The job's state to its row (inserting it if the first write failed)."""
        if job.id is None:
            return self._insert(job)
        assert self.engine is not None
        row = self._row(job, self._now())
        for constant in ("client_ref", "call_id", "flow", "node", "phone", "text", "params"):
            row.pop(constant)
        c = messages_table.c
        with self.engine.begin() as connection:
            result = connection.execute(
                update(messages_table).where(c.id == job.id, c.owner == self.owner).values(row)
            )
        if result.rowcount == 0:
            log.warning("SMS %s: not recorded as %s: another process owns it", job.id, job.status)
        return True

    def _claim_attempt(self, job: _Job) -> int:
        """Count the attempt on the row if this worker still owns it: 1, else 0."""
        assert self.engine is not None
        c = messages_table.c
        now = self._now()
        with self.engine.begin() as connection:
            result = connection.execute(
                update(messages_table)
                .where(c.id == job.id, c.owner == self.owner, c.status == "queued")
                .values(
                    attempts=job.attempts + 1,
                    lease_until=now + timedelta(seconds=self.lease_s),
                )
            )
        return int(result.rowcount)

    def _maintain(self, now: datetime) -> None:
        """Renew this worker's leases, take over abandoned queued rows and load the rows it
        owns but does not hold (resumed, or queued again by :meth:`retry`)."""
        self._maintain_now = False
        self._next_maintenance = now + timedelta(seconds=self.lease_s / 3)
        self._db("renewing leases", self._renew_and_claim, now)

    def _renew_and_claim(self, now: datetime) -> None:
        assert self.engine is not None
        for ref, job in list(self._unwritten.items()):
            self._write(job)  # raises while the database is still unavailable
            del self._unwritten[ref]
        c = messages_table.c
        lease = now + timedelta(seconds=self.lease_s)
        with self.engine.begin() as connection:
            connection.execute(
                update(messages_table)
                .where(c.owner == self.owner, c.status == "queued")
                .values(lease_until=lease)
            )
            taken = connection.execute(
                update(messages_table)
                .where(
                    c.status == "queued",
                    or_(c.lease_until.is_(None), c.lease_until < now),
                )
                .values(owner=self.owner, lease_until=lease)
            ).rowcount
            room = self.max_pending - self._pending
            if room <= 0:
                return
            rows = connection.execute(
                select(messages_table)
                .where(c.owner == self.owner, c.status == "queued")
                .order_by(c.next_attempt_at, c.id)
                .limit(room + len(self._jobs))
            ).all()
        loaded = 0
        for row in rows:
            if row.client_ref in self._jobs or row.client_ref in self._unwritten:
                continue
            if loaded >= room:
                continue
            job = self._job_from_row(row, now)
            with self._lock:
                self._jobs[job.ref] = job
                self._pending += 1
            loaded += 1
        if loaded:
            log.info("SMS outbox: resumed %d queued messages (%d taken over)", loaded, taken)

    def _job_from_row(self, row: Any, now: datetime) -> _Job:
        message = OutgoingSms(
            to=row.phone,
            text=row.text,
            template=row.template,
            params=dict(row.params or {}),
            call_id=row.call_id,
            flow=row.flow,
            node=row.node,
            max_attempts=row.max_attempts,
            client_ref=row.client_ref,
        )
        return _Job(
            message=message,
            max_attempts=row.max_attempts,
            gateway=self.gateway.name,
            created_at=_utc(row.created_at) or now,
            next_at=_utc(row.next_attempt_at) or now,
            id=row.id,
            attempts=row.attempts,
            last_error=row.last_error,
        )

    def _release_leases(self) -> None:
        assert self.engine is not None
        c = messages_table.c
        with self.engine.begin() as connection:
            connection.execute(
                update(messages_table)
                .where(c.owner == self.owner, c.status == "queued")
                .values(owner=None, lease_until=None)
            )

    # -- reading and retrying (designer) --------------------------------------------------

    def messages(
        self,
        *,
        status: str | None = None,
        phone: str | None = None,
        call_id: str | None = None,
        limit: int = 100,
        before: int | None = None,
    ) -> list[dict[str, Any]]:
        """Recorded messages, newest first, optionally filtered; ``before`` an id (paging).
        Timestamps are aware UTC datetimes."""
        if self.engine is None:
            with self._lock:
                jobs = [*self._jobs.values(), *self._recent]
            records = [j.record() for j in jobs]
            found = [
                r
                for r in records
                if (status is None or r["status"] == status)
                and (phone is None or r["phone"] == phone)
                and (call_id is None or r["call_id"] == call_id)
                and (before is None or (r["id"] or 0) < before)
            ]
            found.sort(key=lambda r: r["id"] or 0, reverse=True)
            return found[:limit]
        c = messages_table.c
        conditions = []
        if status is not None:
            conditions.append(c.status == status)
        if phone is not None:
            conditions.append(c.phone == phone)
        if call_id is not None:
            conditions.append(c.call_id == call_id)
        if before is not None:
            conditions.append(c.id < before)
        query = (
            select(*(c[name] for name in PUBLIC_COLUMNS))
            .where(*conditions)
            .order_by(c.id.desc())
            .limit(limit)
        )
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        return [self._public(row._mapping) for row in rows]

    @staticmethod
    def _public(mapping: Any) -> dict[str, Any]:
        record = dict(mapping)
        for key in ("next_attempt_at", "created_at", "sent_at"):
            record[key] = _utc(record[key])
        if record["status"] != "queued":
            record["next_attempt_at"] = None
        return record

    def get(self, message_id: int) -> dict[str, Any] | None:
        """One recorded message, or None."""
        if self.engine is None:
            found = [m for m in self.messages(limit=10**9) if m["id"] == message_id]
            return found[0] if found else None
        c = messages_table.c
        with self.engine.connect() as connection:
            row = connection.execute(
                select(*(c[name] for name in PUBLIC_COLUMNS)).where(c.id == message_id)
            ).first()
        return None if row is None else self._public(row._mapping)

    def retry(self, message_id: int, *, connection: Connection | None = None) -> dict[str, Any]:
        """Queue a ``failed`` message again (attempts from 0, due now), owned by this
        worker. Raises ``LookupError`` (no such message) or :class:`NotRetryable`. With
        ``connection`` the change joins the caller's transaction: call :meth:`nudge` after
        committing. Needs a database."""
        if self.engine is None:
            raise RuntimeError("retrying a message needs a database")
        if connection is None:
            with self.engine.begin() as own:
                record = self.retry(message_id, connection=own)
            self.nudge()
            return record
        c = messages_table.c
        status = connection.execute(select(c.status).where(c.id == message_id)).scalar()
        if status is None:
            raise LookupError(message_id)
        if status != "failed":
            raise NotRetryable(status)
        now = self._now()
        result = connection.execute(
            update(messages_table)
            .where(c.id == message_id, c.status == "failed")
            .values(
                status="queued",
                attempts=0,
                next_attempt_at=now,
                sent_at=None,
                owner=self.owner,
                lease_until=now + timedelta(seconds=self.lease_s),
            )
        )
        if result.rowcount != 1:  # changed since we looked
            raise NotRetryable("queued")
        row = connection.execute(
            select(*(c[name] for name in PUBLIC_COLUMNS)).where(c.id == message_id)
        ).one()
        return self._public(row._mapping)
