"""Database engines: SQLite (WAL) by default, PostgreSQL by URL.

The URL comes from ``--database``, else ``IVRFLOW_DATABASE_URL``, else a SQLite file in
``./var/ivrflow.sqlite3``. SQLite runs in WAL mode with a busy timeout, so the designer and
the runtime can share one file from separate processes.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlmodel import create_engine

__all__ = ["DEFAULT_SQLITE", "database_url", "make_engine", "write_lock"]

DEFAULT_SQLITE = "sqlite:///var/ivrflow.sqlite3"
SQLITE_BUSY_TIMEOUT_MS = 5000


def database_url(explicit: str | None = None) -> str:
    return explicit or os.environ.get("IVRFLOW_DATABASE_URL") or DEFAULT_SQLITE


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str | None = None, *, create: bool = True) -> Engine:
    """An engine for ``url`` (see :func:`database_url`), its schema migrated to the newest
    revision unless ``create`` is false."""
    url = database_url(url)
    parsed = make_url(url)
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 5}
        # web requests run in up to 40 worker threads: enough connections to go round
        kwargs.update(pool_size=20, max_overflow=20)
    elif parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            url = str(parsed.set(drivername="postgresql+psycopg"))
        kwargs.update(pool_pre_ping=True, pool_size=10, max_overflow=20)
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    if create:
        from runtime.store.migrate import migrate

        migrate(engine)
    return engine


_WRITE_LOCKS: dict[int, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


@contextlib.contextmanager
def write_lock(engine: Engine) -> Iterator[None]:
    """Serialise this process's write transactions on a SQLite database.

    SQLite has one writer at a time; writers that collide wait in its busy handler, which
    sleeps in growing steps and is not first-come-first-served, so under load some saves
    waited seconds. Queuing them on a lock in the process first keeps waits short and fair.
    PostgreSQL queues fairly by itself: no lock."""
    if engine.dialect.name != "sqlite":
        yield
        return
    with _LOCKS_GUARD:
        lock = _WRITE_LOCKS.setdefault(id(engine), threading.Lock())
    with lock:
        yield
