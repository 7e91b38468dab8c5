"""The plugin's storage: named schedules and admin overrides, in ivrflow's database.

The tables are the plugin's own (``schedule_*``, their own :data:`metadata`), created and
upgraded by the plugin's alembic revisions (``migrations/versions``) with the version table
``alembic_version_schedule``.

Calls read through a short cache (``cache_s``, 2 s by default): an admin's change reaches new
calls within that time in every process; writes through this store take effect at once in
this one. Writes take an optional ``connection`` so the designer API can put the change and
its audit record in one transaction.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Connection,
    Date,
    DateTime,
    Engine,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    delete,
    insert,
    or_,
    select,
    update,
)

from ivrflow_schedule.evaluate import OVERRIDE_KINDS, Override
from ivrflow_schedule.model import (
    NAME_RE,
    Issue,
    Schedule,
    ScheduleError,
    load_schedule,
    parse_ranges,
    parse_schedule,
)

__all__ = [
    "ScheduleStore",
    "ScheduleUnavailable",
    "StoredSchedule",
    "UnknownSchedule",
    "metadata",
    "overrides_table",
    "schedules_table",
]

log = logging.getLogger("ivrflow.schedule")

metadata = MetaData()

TS = DateTime(timezone=True)

schedules_table = Table(
    "schedule_schedule",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("title", String(200), nullable=False),
    Column("definition", JSON, nullable=False),
    Column("revision", Integer, nullable=False),
    Column("updated_at", TS, nullable=False),
    Column("updated_by", String(100), nullable=False),
)

overrides_table = Table(
    "schedule_override",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "schedule",
        String(64),
        ForeignKey("schedule_schedule.name", ondelete="CASCADE"),
        nullable=True,
        index=True,
    ),
    Column("kind", String(12), nullable=False),
    Column("day", Date, nullable=True, index=True),
    Column("starts_at", TS, nullable=True),
    Column("ends_at", TS, nullable=True),
    Column("hours", JSON, nullable=False),
    Column("note", String(500), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("created_by", String(100), nullable=False),
)


class ScheduleUnavailable(RuntimeError):
    """There is no database in this process (``ivrflow simulate`` without ``--database``)."""


class UnknownSchedule(LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(f"no schedule named {name!r}")
        self.name = name


def utc(value: datetime | None) -> datetime | None:
    """Stored times are UTC; SQLite hands them back naive."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True)
class StoredSchedule:
    schedule: Schedule
    revision: int
    updated_at: datetime
    updated_by: str
    warnings: tuple[Issue, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.schedule.name,
            "title": self.schedule.title,
            "revision": self.revision,
            "updated_at": self.updated_at.isoformat(),
            "updated_by": self.updated_by,
            "schedule": self.schedule.to_json(),
            "warnings": [w.to_json() for w in self.warnings],
        }


def _override(row: Any) -> Override:
    issues: list[Issue] = []
    return Override(
        kind=row.kind,
        schedule=row.schedule,
        day=row.day,
        hours=parse_ranges(row.hours or [], "/hours", issues),
        starts_at=utc(row.starts_at),
        ends_at=utc(row.ends_at),
        note=row.note,
        id=row.id,
        created_by=row.created_by,
        created_at=utc(row.created_at),
    )


@dataclass
class _Snapshot:
    loaded: float
    schedules: dict[str, Schedule]
    overrides: list[Override]


class ScheduleStore:
    """Named schedules and overrides. ``engine`` None: no database (named schedules are then
    unavailable; inline ones still work)."""

    def __init__(self, engine: Engine | None, *, cache_s: float = 2.0) -> None:
        self.engine = engine
        self.cache_s = cache_s
        self._snapshot: _Snapshot | None = None
        self._lock = threading.Lock()

    @property
    def available(self) -> bool:
        return self.engine is not None

    def _engine(self) -> Engine:
        if self.engine is None:
            raise ScheduleUnavailable("named schedules need a database")
        return self.engine

    @contextmanager
    def _write(self, connection: Connection | None) -> Iterator[Connection]:
        if connection is not None:
            yield connection
        else:
            with self._engine().begin() as own:
                yield own
        self.invalidate()

    def invalidate(self) -> None:
        self._snapshot = None

    # -- schedules ------------------------------------------------------------------------

    def list(self) -> list[dict[str, Any]]:
        with self._engine().connect() as conn:
            rows = conn.execute(select(schedules_table).order_by(schedules_table.c.name)).all()
        return [
            {
                "name": r.name,
                "title": r.title,
                "timezone": (r.definition or {}).get("timezone", ""),
                "revision": r.revision,
                "updated_at": utc(r.updated_at).isoformat(),  # type: ignore[union-attr]
                "updated_by": r.updated_by,
            }
            for r in rows
        ]

    def get(self, name: str) -> StoredSchedule | None:
        with self._engine().connect() as conn:
            row = conn.execute(
                select(schedules_table).where(schedules_table.c.name == name)
            ).first()
        if row is None:
            return None
        return StoredSchedule(
            load_schedule(row.definition, name=name),
            row.revision,
            utc(row.updated_at),  # type: ignore[arg-type]
            row.updated_by,
        )

    def put(
        self,
        name: str,
        definition: Mapping[str, Any],
        *,
        actor: str = "",
        connection: Connection | None = None,
        at: datetime | None = None,
    ) -> tuple[StoredSchedule, bool]:
        """Create or replace a schedule; returns it (with warnings) and whether it is new.
        Raises :class:`ScheduleError` when the definition has errors or the name is bad."""
        if not NAME_RE.match(name):
            raise ScheduleError(
                [
                    Issue(
                        "/name",
                        "schedule.name",
                        f"时间表名 “{name}” 无效：小写字母、数字、-、_，最多 64 个字符。",
                        f"Schedule name {name!r} is invalid: lower-case letters, digits, - and "
                        "_, at most 64 characters.",
                    )
                ]
            )
        schedule, issues = parse_schedule(definition, name=name)
        if schedule is None:
            raise ScheduleError(issues)
        stored = schedule.to_json()  # normalised: overlapping ranges merged
        now = utc(at) or datetime.now(UTC)
        with self._write(connection) as conn:
            current = conn.execute(
                select(schedules_table.c.revision).where(schedules_table.c.name == name)
            ).scalar()
            values = {
                "title": schedule.title[:200],
                "definition": stored,
                "updated_at": now,
                "updated_by": actor[:100],
            }
            if current is None:
                conn.execute(insert(schedules_table).values(name=name, revision=1, **values))
                revision = 1
            else:
                revision = current + 1
                conn.execute(
                    update(schedules_table)
                    .where(schedules_table.c.name == name)
                    .values(revision=revision, **values)
                )
        warnings = tuple(i for i in issues if i.severity != "error")
        return StoredSchedule(schedule, revision, now, actor, warnings), current is None

    def delete(self, name: str, *, connection: Connection | None = None) -> bool:
        """Delete a schedule and its overrides."""
        with self._write(connection) as conn:
            conn.execute(delete(overrides_table).where(overrides_table.c.schedule == name))
            done = conn.execute(delete(schedules_table).where(schedules_table.c.name == name))
        return bool(done.rowcount)

    # -- overrides ------------------------------------------------------------------------

    def add_override(
        self,
        override: Override,
        *,
        actor: str = "",
        connection: Connection | None = None,
        at: datetime | None = None,
    ) -> Override:
        if override.kind not in OVERRIDE_KINDS:
            raise ValueError(f"unknown override kind {override.kind!r}")
        for edge in (override.starts_at, override.ends_at):
            if edge is not None and edge.tzinfo is None:
                raise ValueError("closure times must be aware datetimes")
        # stored in UTC: SQLite keeps no offset
        starts, ends = utc(override.starts_at), utc(override.ends_at)
        now = utc(at) or datetime.now(UTC)
        with self._write(connection) as conn:
            if override.schedule is not None:
                exists = conn.execute(
                    select(schedules_table.c.name).where(
                        schedules_table.c.name == override.schedule
                    )
                ).first()
                if exists is None:
                    raise UnknownSchedule(override.schedule)
            result = conn.execute(
                insert(overrides_table).values(
                    schedule=override.schedule,
                    kind=override.kind,
                    day=override.day,
                    starts_at=starts,
                    ends_at=ends,
                    hours=[str(r) for r in override.hours],
                    note=override.note[:500],
                    created_at=now,
                    created_by=actor[:100],
                )
            )
            new_id = result.inserted_primary_key[0]  # type: ignore[index]
        return Override(
            kind=override.kind,
            schedule=override.schedule,
            day=override.day,
            hours=override.hours,
            starts_at=starts,
            ends_at=ends,
            note=override.note[:500],
            id=new_id,
            created_by=actor[:100],
            created_at=now,
        )

    def get_override(self, override_id: int) -> Override | None:
        with self._engine().connect() as conn:
            row = conn.execute(
                select(overrides_table).where(overrides_table.c.id == override_id)
            ).first()
        return _override(row) if row is not None else None

    def delete_override(self, override_id: int, *, connection: Connection | None = None) -> bool:
        with self._write(connection) as conn:
            done = conn.execute(delete(overrides_table).where(overrides_table.c.id == override_id))
        return bool(done.rowcount)

    def overrides(
        self,
        *,
        schedule: str | None = None,
        since: date | None = None,
        until: date | None = None,
        include_general: bool = True,
    ) -> list[Override]:
        """Overrides touching ``since`` … ``until`` (local dates; closures by their UTC times,
        a day of margin either side), for ``schedule`` (and every schedule's, unless
        ``include_general`` is false). Oldest first."""
        query = select(overrides_table).order_by(overrides_table.c.id)
        c = overrides_table.c
        if schedule is not None:
            query = query.where(
                or_(c.schedule == schedule, c.schedule.is_(None))
                if include_general
                else c.schedule == schedule
            )
        if since is not None:
            margin = datetime.combine(since - timedelta(days=1), datetime.min.time(), UTC)
            query = query.where(
                or_(c.day >= since, c.ends_at.is_(None) & c.day.is_(None), c.ends_at >= margin)
            )
        if until is not None:
            edge = datetime.combine(until + timedelta(days=2), datetime.min.time(), UTC)
            query = query.where(or_(c.day <= until, c.day.is_(None) & (c.starts_at < edge)))
        with self._engine().connect() as conn:
            return [_override(row) for row in conn.execute(query).all()]

    # -- what calls use -------------------------------------------------------------------

    def _load(self) -> _Snapshot:
        today = datetime.now(UTC).date()
        with self._engine().connect() as conn:
            rows = conn.execute(select(schedules_table)).all()
        schedules = {}
        for row in rows:
            try:
                schedules[row.name] = load_schedule(row.definition, name=row.name)
            except ScheduleError:  # stored before a stricter check; calls take "error"
                continue
        current = self.overrides(since=today - timedelta(days=1))
        return _Snapshot(time.monotonic(), schedules, current)

    def snapshot(self) -> tuple[dict[str, Schedule], list[Override]]:
        """Every valid schedule and the current overrides (cached for ``cache_s``)."""
        snap = self._snapshot
        if snap is None or time.monotonic() - snap.loaded >= self.cache_s:
            with self._lock:
                snap = self._snapshot
                if snap is None or time.monotonic() - snap.loaded >= self.cache_s:
                    try:
                        snap = self._load()
                    except Exception:
                        if snap is None:
                            raise  # nothing to go on: the node's error exit
                        # the database is unreachable: keep routing on what was last read
                        log.exception("reading schedules failed; using the last ones read")
                        snap = _Snapshot(time.monotonic(), snap.schedules, snap.overrides)
                    self._snapshot = snap
        return snap.schedules, snap.overrides

    async def resolve(self, name: str | None) -> tuple[Schedule | None, Sequence[Override]]:
        """For a call: the named schedule (``UnknownSchedule`` if there is none; ``name``
        None for an inline schedule) and the overrides that apply. Database work runs in a
        worker thread; usually it is a cache hit."""
        snap = self._snapshot
        if snap is None or time.monotonic() - snap.loaded >= self.cache_s:
            schedules, overrides = await asyncio.to_thread(self.snapshot)
        else:
            schedules, overrides = snap.schedules, snap.overrides
        if name is None:
            return None, [o for o in overrides if o.schedule is None]
        schedule = schedules.get(name)
        if schedule is None:
            raise UnknownSchedule(name)
        return schedule, [o for o in overrides if o.applies_to(name)]
