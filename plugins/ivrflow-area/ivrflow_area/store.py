"""The editable prefix table (``area_prefix``, the plugin's own :data:`metadata` and alembic
revisions, version table ``alembic_version_area``).

Calls read a cached copy (``cache_s``, 2 s by default; loaded in a worker thread when stale);
an admin's change reaches new calls within that time in every process, at once in this one.
A database that becomes unreachable keeps calls routing on the table last read. Writes take
an optional ``connection`` so the API can put the change and its audit record in one
transaction.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    MetaData,
    String,
    Table,
    delete,
    insert,
    select,
    update,
)

__all__ = ["AreaStore", "AreaUnavailable", "metadata", "prefixes_table"]

log = logging.getLogger("ivrflow.area")

metadata = MetaData()

prefixes_table = Table(
    "area_prefix",
    metadata,
    Column("prefix", String(8), primary_key=True),
    Column("region", String(32), nullable=False, index=True),
    Column("note", String(200), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(100), nullable=False),
)


class AreaUnavailable(RuntimeError):
    """There is no database in this process."""


def _row(row: Any) -> dict[str, Any]:
    stamp = row.updated_at
    if stamp.tzinfo is None:  # SQLite hands it back naive (stored in UTC)
        stamp = stamp.replace(tzinfo=UTC)
    return {
        "prefix": row.prefix,
        "region": row.region,
        "note": row.note,
        "updated_at": stamp.isoformat(),
        "updated_by": row.updated_by,
    }


class AreaStore:
    """The prefix table. ``engine`` None: no database (only a node's inline prefixes)."""

    def __init__(self, engine: Engine | None, *, cache_s: float = 2.0) -> None:
        self.engine = engine
        self.cache_s = cache_s
        self._table: dict[str, str] | None = None
        self._loaded = 0.0
        self._lock = threading.Lock()

    @property
    def available(self) -> bool:
        return self.engine is not None

    def _engine(self) -> Engine:
        if self.engine is None:
            raise AreaUnavailable("the area table needs a database")
        return self.engine

    def invalidate(self) -> None:
        self._table = None

    @contextmanager
    def _write(self, connection: Connection | None) -> Iterator[Connection]:
        if connection is not None:
            yield connection
        else:
            with self._engine().begin() as own:
                yield own
        self.invalidate()

    # -- admin ----------------------------------------------------------------------------

    def list(self, region: str | None = None) -> list[dict[str, Any]]:
        query = select(prefixes_table).order_by(prefixes_table.c.prefix)
        if region:
            query = query.where(prefixes_table.c.region == region)
        with self._engine().connect() as conn:
            return [_row(r) for r in conn.execute(query).all()]

    def get(self, prefix: str) -> dict[str, Any] | None:
        with self._engine().connect() as conn:
            row = conn.execute(
                select(prefixes_table).where(prefixes_table.c.prefix == prefix)
            ).first()
        return _row(row) if row is not None else None

    def put(
        self,
        prefix: str,
        region: str,
        note: str = "",
        *,
        actor: str = "",
        connection: Connection | None = None,
    ) -> bool:
        """Create or replace a prefix; True when it is new. The caller checks the formats."""
        values = {
            "region": region,
            "note": note[:200],
            "updated_at": datetime.now(UTC),
            "updated_by": actor[:100],
        }
        with self._write(connection) as conn:
            done = conn.execute(
                update(prefixes_table).where(prefixes_table.c.prefix == prefix).values(**values)
            )
            if done.rowcount:
                return False
            conn.execute(insert(prefixes_table).values(prefix=prefix, **values))
            return True

    def delete(self, prefix: str, *, connection: Connection | None = None) -> bool:
        with self._write(connection) as conn:
            done = conn.execute(delete(prefixes_table).where(prefixes_table.c.prefix == prefix))
        return bool(done.rowcount)

    # -- calls ----------------------------------------------------------------------------

    def table(self) -> dict[str, str]:
        """prefix → region (cached for ``cache_s``)."""
        table = self._table
        if table is None or time.monotonic() - self._loaded >= self.cache_s:
            with self._lock:
                table = self._table
                if table is None or time.monotonic() - self._loaded >= self.cache_s:
                    try:
                        with self._engine().connect() as conn:
                            rows = conn.execute(
                                select(prefixes_table.c.prefix, prefixes_table.c.region)
                            ).all()
                        table = {p: r for p, r in rows}
                    except Exception:
                        if table is None:
                            raise  # nothing to go on: the node's error exit
                        log.exception("reading the area table failed; using the last one read")
                    self._table, self._loaded = table, time.monotonic()
        return table

    async def resolve(self) -> Mapping[str, str]:
        """The table for a call; database work (rarely: on a stale cache) in a worker thread."""
        table = self._table
        if table is not None and time.monotonic() - self._loaded < self.cache_s:
            return table
        return await asyncio.to_thread(self.table)
