"""Schema migrations (alembic), run when a process opens the database.

The designer and the runtime may start at the same moment on one database: migrating is
serialised (a PostgreSQL advisory lock; a lock file beside a SQLite database), and the second
process finds the schema current. A database created before migrations existed (it has the
runtime's tables but no ``alembic_version``) is stamped at the first revision, then upgraded.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text

__all__ = ["BASELINE", "MIGRATIONS", "alembic_config", "current_revision", "head", "migrate"]

MIGRATIONS = Path(__file__).with_name("migrations")
BASELINE = "0001"
_PG_MIGRATE_LOCK = 123290002


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head() -> str:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"migrations have {len(heads)} heads: {heads}")
    return heads[0]


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


@contextlib.contextmanager
def _sqlite_lock(engine: Engine) -> Iterator[None]:
    database = engine.url.database or ""
    if not database or database == ":memory:":
        yield
        return
    lock_path = Path(database).with_name(Path(database).name + ".migrate-lock")
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def migrate(engine: Engine, *, to: str = "head") -> str | None:
    """Bring the database to ``to`` (the newest revision by default); return the revision."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection.execute(text(f"SELECT pg_advisory_lock({_PG_MIGRATE_LOCK})"))
            connection.commit()
            try:
                _upgrade(connection, to)
            finally:
                connection.execute(text(f"SELECT pg_advisory_unlock({_PG_MIGRATE_LOCK})"))
                connection.commit()
    else:
        with _sqlite_lock(engine), engine.connect() as connection:
            _upgrade(connection, to)
    return current_revision(engine)


def _upgrade(connection: Connection, to: str) -> None:
    config = alembic_config(connection)
    current = MigrationContext.configure(connection).get_current_revision()
    if current is None and inspect(connection).has_table("flow_version"):
        command.stamp(config, BASELINE)
        connection.commit()
    command.upgrade(config, to)
    connection.commit()
