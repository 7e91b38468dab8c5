"""The plugin's storage: list entries in ivrflow's database (table ``lists_entry``).

The table is the plugin's own (its own :data:`metadata`), created by the plugin's alembic
revisions with the version table ``alembic_version_lists``. Calls read through a short cache
(``cache_s``, 2 s by default): a change reaches new calls within that time in every process
and at once in this one. Writes take an optional ``connection`` so the designer API can put
the change and its audit record in one transaction.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    delete,
    insert,
    select,
)

from ivrflow_lists.match import LISTS, Entry, Issue, best_match, check_value, normalise

__all__ = [
    "Decision",
    "DuplicateEntry",
    "EntryError",
    "ListsStore",
    "ListsUnavailable",
    "entries_table",
    "metadata",
]

metadata = MetaData()
TS = DateTime(timezone=True)

entries_table = Table(
    "lists_entry",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("list", String(8), nullable=False),
    Column("kind", String(8), nullable=False),
    Column("value", String(32), nullable=False),
    Column("reason", String(500), nullable=False),
    Column("expires_at", TS, nullable=True),
    Column("created_at", TS, nullable=False),
    Column("created_by", String(100), nullable=False),
    UniqueConstraint("list", "kind", "value", name="uq_lists_entry_value"),
)


class ListsUnavailable(RuntimeError):
    """No database in this process (``ivrflow simulate`` without ``--database``)."""


class EntryError(ValueError):
    def __init__(self, issues: list[Issue]) -> None:
        super().__init__("; ".join(i.message_en for i in issues))
        self.issues = issues


class DuplicateEntry(ValueError):
    def __init__(self, existing: Entry) -> None:
        super().__init__(f"{existing.list} already has {existing.kind} {existing.value}")
        self.existing = existing


def utc(value: datetime | None) -> datetime | None:
    """Stored times are UTC; SQLite hands them back naive."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _entry(row: object) -> Entry:
    return Entry(
        id=row.id,  # type: ignore[attr-defined]
        list=row.list,  # type: ignore[attr-defined]
        kind=row.kind,  # type: ignore[attr-defined]
        value=row.value,  # type: ignore[attr-defined]
        reason=row.reason,  # type: ignore[attr-defined]
        expires_at=utc(row.expires_at),  # type: ignore[attr-defined]
        created_at=utc(row.created_at),  # type: ignore[attr-defined]
        created_by=row.created_by,  # type: ignore[attr-defined]
    )


@dataclass(frozen=True)
class Decision:
    """What the lists say about a caller. ``result``: blocked, allowed, vip or anonymous
    (not a number); ``matched``: the winning entry of each list that matched."""

    number: str | None
    result: str
    matched: dict[str, Entry] = field(default_factory=dict)

    @property
    def entry(self) -> Entry | None:
        """The entry that decided (None: on no list)."""
        key = {"blocked": "block", "allowed": "allow"}.get(self.result, self.result)
        return self.matched.get(key)

    def to_json(self) -> dict[str, object]:
        return {
            "number": self.number,
            "result": self.result,
            "entry": self.entry.to_json() if self.entry else None,
            "matched": {name: e.to_json() for name, e in self.matched.items()},
        }


def decide(entries: list[Entry], caller: str | None, now: datetime) -> Decision:
    """Allow and VIP entries override block entries; VIP is also allowed. Within a list the
    most specific entry wins (see :mod:`ivrflow_lists.match`)."""
    number = normalise(caller)
    if number is None:
        return Decision(None, "anonymous")
    matched: dict[str, Entry] = {}
    for name in LISTS:
        found = best_match([e for e in entries if e.list == name], number, now)
        if found is not None:
            matched[name] = found
    if "vip" in matched:
        result = "vip"
    elif "allow" in matched:
        result = "allowed"
    elif "block" in matched:
        result = "blocked"
    else:
        result = "allowed"
    return Decision(number, result, matched)


class ListsStore:
    """The three lists. ``engine`` None: no database; checks raise :class:`ListsUnavailable`."""

    def __init__(self, engine: Engine | None, *, cache_s: float = 2.0) -> None:
        self.engine = engine
        self.cache_s = cache_s
        self._snapshot: tuple[float, list[Entry]] | None = None
        self._lock = threading.Lock()

    @property
    def available(self) -> bool:
        return self.engine is not None

    def _engine(self) -> Engine:
        if self.engine is None:
            raise ListsUnavailable("the caller lists need a database")
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

    def entries(self, list_name: str | None = None, *, now: datetime | None = None) -> list[Entry]:
        """Entries (of one list), oldest first; with ``now``, only those not expired then."""
        query = select(entries_table).order_by(entries_table.c.id)
        if list_name is not None:
            query = query.where(entries_table.c.list == list_name)
        with self._engine().connect() as conn:
            found = [_entry(r) for r in conn.execute(query).all()]
        return found if now is None else [e for e in found if not e.expired(utc(now))]  # type: ignore[arg-type]

    def get(self, entry_id: int) -> Entry | None:
        with self._engine().connect() as conn:
            row = conn.execute(select(entries_table).where(entries_table.c.id == entry_id)).first()
        return _entry(row) if row is not None else None

    def add(
        self,
        list_name: str,
        kind: str,
        value: str,
        *,
        reason: str = "",
        expires_at: datetime | None = None,
        actor: str = "",
        connection: Connection | None = None,
        at: datetime | None = None,
    ) -> Entry:
        """Add an entry; :class:`EntryError` when it is invalid, :class:`DuplicateEntry` when
        the list has it already."""
        issues: list[Issue] = []
        if list_name not in LISTS:
            issues.append(
                Issue(
                    "/list",
                    "lists.unknown",
                    f"没有名为 {list_name} 的名单：block、allow 或 vip。",
                    f"No list {list_name!r}: block, allow or vip.",
                )
            )
        stored, issue = check_value(kind, value)
        if issue is not None:
            issues.append(issue)
        now = utc(at) or datetime.now(UTC)
        if expires_at is not None:
            if expires_at.tzinfo is None:
                raise ValueError("expires_at must be an aware datetime")
            if expires_at <= now:
                issues.append(
                    Issue(
                        "/expires_at",
                        "lists.expired",
                        "到期时间已过，请填写将来的时间（或留空表示长期有效）。",
                        "The expiry is in the past: give a future time (or none: no expiry).",
                    )
                )
        if issues:
            raise EntryError(issues)
        values = {
            "list": list_name,
            "kind": kind,
            "value": stored,
            "reason": (reason or "")[:500],
            "expires_at": utc(expires_at),
            "created_at": now,
            "created_by": actor[:100],
        }
        with self._write(connection) as conn:
            c = entries_table.c
            existing = conn.execute(
                select(entries_table).where(
                    (c.list == list_name) & (c.kind == kind) & (c.value == stored)
                )
            ).first()
            if existing is not None:
                raise DuplicateEntry(_entry(existing))
            result = conn.execute(insert(entries_table).values(**values))
            new_id = result.inserted_primary_key[0]  # type: ignore[index]
        return Entry(
            id=new_id,
            list=list_name,
            kind=kind,
            value=stored,
            reason=values["reason"],  # type: ignore[arg-type]
            expires_at=utc(expires_at),
            created_at=now,
            created_by=actor[:100],
        )

    def delete(self, entry_id: int, *, connection: Connection | None = None) -> bool:
        with self._write(connection) as conn:
            done = conn.execute(delete(entries_table).where(entries_table.c.id == entry_id))
        return bool(done.rowcount)

    # -- calls --------------------------------------------------------------------------

    def snapshot(self) -> list[Entry]:
        with self._lock:
            entries = self.entries()
            self._snapshot = (time.monotonic(), entries)
        return entries

    async def current(self) -> list[Entry]:
        """Every entry, through the cache (database work in a worker thread)."""
        self._engine()
        snap = self._snapshot
        if snap is None or time.monotonic() - snap[0] >= self.cache_s:
            return await asyncio.to_thread(self.snapshot)
        return snap[1]

    async def check(self, caller: str | None, now: datetime) -> Decision:
        """The decision for a caller at ``now`` (aware)."""
        return decide(await self.current(), caller, utc(now))  # type: ignore[arg-type]
