"""The plugin's storage: callback requests in ivrflow's database (table ``callback_request``).

The table is the plugin's own (its own :data:`metadata`), created by the plugin's alembic
revision ``callback_0001`` with the version table ``alembic_version_callback``.

**One pending request per number, race-free.** A partial unique index on ``phone`` where
``status = 'pending'`` (on SQLite and PostgreSQL alike) lets the database refuse a second
pending row. :meth:`CallbackStore.register_sync` simply inserts; when the index refuses, the
number already has a pending request, and that one is kept — its ``requested_at`` unchanged,
its ``attempts`` counter raised by one and ``last_requested_at`` set — in a second statement.
Two calls from the same number registering at the same moment (in one process or two) thus
give one ``registered`` and one ``already``, never two rows. If the pending request is
handled between the refused insert and the update, the insert is tried again.

Calls use the ``async`` methods, which run the database work in a worker thread
(:func:`asyncio.to_thread`); the designer API uses the plain ones. Writes by the API take an
optional ``connection`` so the change and its audit record share one transaction.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError

__all__ = [
    "REASON_RE",
    "STATUSES",
    "CallbackRequest",
    "CallbackStore",
    "CallbackUnavailable",
    "NotPending",
    "Registration",
    "metadata",
    "requests_table",
]

metadata = MetaData()
TS = DateTime(timezone=True)
STATUSES = ("pending", "done", "cancelled")
REASON_RE = r"^[a-z][a-z0-9_]{0,31}$"
NOTE_MAX = 500
PENDING = text("status = 'pending'")

requests_table = Table(
    "callback_request",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("phone", String(20), nullable=False),
    Column("call_id", String(64), nullable=False),
    Column("flow", String(100), nullable=False),
    Column("reason", String(32), nullable=False),
    Column("queue", String(64), nullable=True),
    Column("note", String(500), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("requested_at", TS, nullable=False),
    Column("last_requested_at", TS, nullable=False),
    Column("handled_at", TS, nullable=True),
    Column("handled_by", String(100), nullable=True),
    Column("result", String(500), nullable=True),
    Index(
        "uq_callback_request_pending_phone",
        "phone",
        unique=True,
        sqlite_where=PENDING,
        postgresql_where=PENDING,
    ),
    Index("ix_callback_request_status_requested", "status", "requested_at"),
    Index("ix_callback_request_requested_at", "requested_at"),
)


class CallbackUnavailable(RuntimeError):
    """No database in this process (``ivrflow simulate`` without ``--database``)."""


class NotPending(ValueError):
    """The request was already done or cancelled."""

    def __init__(self, request: CallbackRequest) -> None:
        super().__init__(f"callback request {request.id} is {request.status}, not pending")
        self.request = request


def utc(value: datetime | None) -> datetime | None:
    """Stored times are UTC; SQLite hands them back naive."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass(frozen=True)
class CallbackRequest:
    id: int
    phone: str
    call_id: str
    flow: str
    reason: str
    queue: str | None
    note: str
    status: str
    attempts: int
    requested_at: datetime
    last_requested_at: datetime
    handled_at: datetime | None
    handled_by: str | None
    result: str | None

    @classmethod
    def from_row(cls, row: Any) -> CallbackRequest:
        return cls(
            id=row.id,
            phone=row.phone,
            call_id=row.call_id,
            flow=row.flow,
            reason=row.reason,
            queue=row.queue,
            note=row.note,
            status=row.status,
            attempts=row.attempts,
            requested_at=utc(row.requested_at),  # type: ignore[arg-type]
            last_requested_at=utc(row.last_requested_at),  # type: ignore[arg-type]
            handled_at=utc(row.handled_at),
            handled_by=row.handled_by,
            result=row.result,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "phone": self.phone,
            "call_id": self.call_id,
            "flow": self.flow,
            "reason": self.reason,
            "queue": self.queue,
            "note": self.note,
            "status": self.status,
            "attempts": self.attempts,
            "requested_at": _iso(self.requested_at),
            "last_requested_at": _iso(self.last_requested_at),
            "handled_at": _iso(self.handled_at),
            "handled_by": self.handled_by,
            "result": self.result,
        }


@dataclass(frozen=True)
class Registration:
    """What :meth:`CallbackStore.register` did: ``created`` a new pending request, or found
    the number's pending one (``created`` False; its ``attempts`` already raised)."""

    created: bool
    request: CallbackRequest


class CallbackStore:
    """Callback requests. ``engine`` None: no database; everything raises
    :class:`CallbackUnavailable`."""

    def __init__(self, engine: Engine | None) -> None:
        self.engine = engine

    @property
    def available(self) -> bool:
        return self.engine is not None

    def _engine(self) -> Engine:
        if self.engine is None:
            raise CallbackUnavailable("callback requests need a database")
        return self.engine

    @contextmanager
    def _write(self, connection: Connection | None) -> Iterator[Connection]:
        if connection is not None:
            yield connection
        else:
            with self._engine().begin() as own:
                yield own

    # -- calls --------------------------------------------------------------------------

    def register_sync(
        self,
        phone: str,
        *,
        call_id: str = "",
        flow: str = "",
        reason: str = "caller_request",
        queue: str | None = None,
        note: str = "",
        at: datetime | None = None,
        timeout_ms: int | None = None,
    ) -> Registration:
        """Register ``phone`` (already normalised) for a callback; see the module docstring.
        ``timeout_ms`` bounds each statement's wait in the database — ``SET LOCAL
        statement_timeout`` on PostgreSQL, the connection's busy timeout on SQLite — so a
        worker thread whose caller stopped waiting does not linger (and rarely writes late)."""
        engine = self._engine()
        now = utc(at) or datetime.now(UTC)
        values = {
            "phone": phone,
            "call_id": (call_id or "")[:64],
            "flow": (flow or "")[:100],
            "reason": reason[:32],
            "queue": queue[:64] if queue else None,
            "note": (note or "")[:NOTE_MAX],
            "status": "pending",
            "attempts": 1,
            "requested_at": now,
            "last_requested_at": now,
        }
        t = requests_table
        with engine.connect() as conn:
            restore = _sqlite_busy_timeout(conn, timeout_ms)
            try:
                for _ in range(3):
                    try:
                        _statement_timeout(conn, timeout_ms)
                        row = conn.execute(insert(t).values(**values).returning(t)).one()
                        conn.commit()
                        return Registration(True, CallbackRequest.from_row(row))
                    except IntegrityError:
                        conn.rollback()  # the number has a pending request: keep it
                    _statement_timeout(conn, timeout_ms)
                    row = conn.execute(
                        update(t)
                        .where((t.c.phone == phone) & (t.c.status == "pending"))
                        .values(attempts=t.c.attempts + 1, last_requested_at=now)
                        .returning(t)
                    ).first()
                    conn.commit()
                    if row is not None:
                        return Registration(False, CallbackRequest.from_row(row))
                    # handled between the insert and the update: insert again
            finally:
                if restore is not None:
                    conn.rollback()
                    with suppress(DBAPIError):  # a broken connection is discarded anyway
                        conn.exec_driver_sql(f"PRAGMA busy_timeout = {restore}")
                        conn.commit()
        raise RuntimeError(f"could not register a callback for …{phone[-4:]} (contention)")

    async def register(self, phone: str, **kwargs: Any) -> Registration:
        """:meth:`register_sync` in a worker thread."""
        self._engine()
        return await asyncio.to_thread(self.register_sync, phone, **kwargs)

    # -- staff --------------------------------------------------------------------------

    def get(self, request_id: int) -> CallbackRequest | None:
        with self._engine().connect() as conn:
            row = conn.execute(select(requests_table).where(requests_table.c.id == request_id))
            found = row.first()
        return CallbackRequest.from_row(found) if found is not None else None

    def search(
        self,
        *,
        status: str | None = "pending",
        phone: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        reason: str | None = None,
        queue: str | None = None,
        handled_by: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[int, list[CallbackRequest]]:
        """``(total, page)``: requests matching every filter given, newest first.
        ``phone``: digits contained in the number (``5678`` finds ``13912345678``);
        ``since`` (included) and ``until`` (excluded) bound ``requested_at``."""
        t = requests_table
        conditions = []
        if status is not None:
            conditions.append(t.c.status == status)
        if phone:
            if not phone.isdigit():
                raise ValueError("phone must be digits")
            conditions.append(t.c.phone.contains(phone))
        if since is not None:
            conditions.append(t.c.requested_at >= utc(since))
        if until is not None:
            conditions.append(t.c.requested_at < utc(until))
        if reason:
            conditions.append(t.c.reason == reason)
        if queue:
            conditions.append(t.c.queue == queue)
        if handled_by:
            conditions.append(t.c.handled_by == handled_by)
        count = select(func.count()).select_from(t).where(*conditions)
        page = (
            select(t)
            .where(*conditions)
            .order_by(t.c.requested_at.desc(), t.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        with self._engine().connect() as conn:
            total = conn.execute(count).scalar_one()
            rows = conn.execute(page).all()
        return total, [CallbackRequest.from_row(r) for r in rows]

    def finish(
        self,
        request_id: int,
        status: str,
        *,
        actor: str = "",
        result: str = "",
        at: datetime | None = None,
        connection: Connection | None = None,
    ) -> CallbackRequest | None:
        """Mark a pending request ``done`` or ``cancelled``, recording who, when and the
        result note. None: no such request; :class:`NotPending`: it was handled already
        (the update only matches a pending row, so two staff cannot both finish it)."""
        if status not in ("done", "cancelled"):
            raise ValueError(f"status must be done or cancelled, not {status!r}")
        t = requests_table
        now = utc(at) or datetime.now(UTC)
        with self._write(connection) as conn:
            row = conn.execute(
                update(t)
                .where((t.c.id == request_id) & (t.c.status == "pending"))
                .values(
                    status=status,
                    handled_at=now,
                    handled_by=actor[:100],
                    result=(result or "")[:NOTE_MAX],
                )
                .returning(t)
            ).first()
            if row is None:
                existing = conn.execute(select(t).where(t.c.id == request_id)).first()
                if existing is None:
                    return None
                raise NotPending(CallbackRequest.from_row(existing))
        return CallbackRequest.from_row(row)


def _sqlite_busy_timeout(conn: Connection, timeout_ms: int | None) -> int | None:
    """On SQLite, wait at most ``timeout_ms`` for another writer; returns the previous busy
    timeout to restore (None: nothing changed)."""
    if not timeout_ms or conn.dialect.name != "sqlite":
        return None
    previous = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
    conn.exec_driver_sql(f"PRAGMA busy_timeout = {int(timeout_ms)}")
    conn.commit()
    return int(previous) if previous is not None else None


def _statement_timeout(conn: Connection, timeout_ms: int | None) -> None:
    if timeout_ms and conn.dialect.name == "postgresql":
        conn.execute(text(f"SET LOCAL statement_timeout = {int(timeout_ms)}"))


class DryRunCallbacks:
    """What test calls (the designer's test-call panel, ``ivrflow simulate``) get instead of
    the :class:`CallbackStore`: registrations are answered as the real store would — a new
    pending request, or ``already`` for a number registered earlier in this process — but
    kept in memory only, so staff are never asked to call a tester back."""

    available = True

    def __init__(self) -> None:
        self._pending: dict[str, CallbackRequest] = {}
        self._ids = iter(range(1, 1 << 62))

    async def register(
        self,
        phone: str,
        *,
        call_id: str = "",
        flow: str = "",
        reason: str = "caller_request",
        queue: str | None = None,
        note: str = "",
        at: datetime | None = None,
        timeout_ms: int | None = None,
    ) -> Registration:
        now = utc(at) or datetime.now(UTC)
        held = self._pending.get(phone)
        if held is not None:
            held = replace(held, attempts=held.attempts + 1, last_requested_at=now)
            self._pending[phone] = held
            return Registration(created=False, request=held)
        request = CallbackRequest(
            id=-next(self._ids),  # negative: never a stored request's id
            phone=phone,
            call_id=(call_id or "")[:64],
            flow=(flow or "")[:100],
            reason=reason[:32],
            queue=queue[:64] if queue else None,
            note=(note or "")[:NOTE_MAX],
            status="pending",
            attempts=1,
            requested_at=now,
            last_requested_at=now,
            handled_at=None,
            handled_by=None,
            result=None,
        )
        self._pending[phone] = request
        return Registration(created=True, request=request)
