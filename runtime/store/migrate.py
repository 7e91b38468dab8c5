"""Schema migrations (alembic), run when a process opens the database.

The designer and the runtime may start at the same moment on one database: migrating is
serialised (a PostgreSQL advisory lock; a lock file beside a SQLite database), and the second
process finds the schema current. A database created before migrations existed (it has the
runtime's tables but no ``alembic_version``) is stamped at the first revision, then upgraded.

Plugins own their tables and migrate them the same way, each with its own alembic script
folder and version table (:func:`migrate_plugin`), under the same lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text

__all__ = [
    "BASELINE",
    "MIGRATIONS",
    "alembic_config",
    "current_revision",
    "head",
    "migrate",
    "migrate_plugin",
    "migration_lock",
    "plugin_revision",
    "plugin_version_table",
]

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


@contextlib.contextmanager
def migration_lock(engine: Engine) -> Iterator[Connection]:
    """A connection held under the process-wide migration lock of this database (a PostgreSQL
    advisory lock; a lock file beside a SQLite file): one process migrates at a time."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection.execute(text(f"SELECT pg_advisory_lock({_PG_MIGRATE_LOCK})"))
            connection.commit()
            try:
                yield connection
            finally:
                connection.rollback()
                connection.execute(text(f"SELECT pg_advisory_unlock({_PG_MIGRATE_LOCK})"))
                connection.commit()
    else:
        with _sqlite_lock(engine), engine.connect() as connection:
            yield connection


def migrate(engine: Engine, *, to: str = "head") -> str | None:
    """Bring the database to ``to`` (the newest revision by default); return the revision."""
    with migration_lock(engine) as connection:
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


# -- plugins' tables ------------------------------------------------------------------------

PLUGIN_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


def plugin_version_table(plugin: str) -> str:
    """The alembic version table of a plugin's own migrations: ``alembic_version_<plugin>``."""
    if not PLUGIN_NAME_RE.match(plugin):
        raise ValueError(f"plugin name {plugin!r} must match {PLUGIN_NAME_RE.pattern}")
    return f"alembic_version_{plugin}"


def _plugin_config(script_location: Path | str) -> tuple[Config, ScriptDirectory]:
    config = Config()
    config.set_main_option("script_location", str(script_location))
    return config, ScriptDirectory.from_config(config)


def plugin_revision(engine: Engine, plugin: str) -> str | None:
    """The revision a plugin's tables are at (None: never migrated)."""
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"version_table": plugin_version_table(plugin)}
        )
        return context.get_current_revision()


def migrate_plugin(
    engine: Engine, plugin: str, script_location: Path | str, *, to: str = "head"
) -> str | None:
    """Run a plugin's own alembic migrations on ``engine`` and return its revision.

    ``script_location`` is a folder with a ``versions/`` folder of ordinary alembic revision
    files (no ``env.py`` needed: this function is the environment). The plugin's revisions are
    recorded in their own version table, ``alembic_version_<plugin>``, so they never mix with
    ivrflow's or another plugin's; the run holds the same lock as ivrflow's migrations."""
    version_table = plugin_version_table(plugin)
    config, script = _plugin_config(script_location)

    def upgrade(revision: Any, _context: Any) -> Any:
        return script._upgrade_revs(to, revision)

    with migration_lock(engine) as connection:
        with EnvironmentContext(config, script, fn=upgrade, destination_rev=to) as environment:
            environment.configure(
                connection=connection,
                version_table=version_table,
                render_as_batch=connection.dialect.name == "sqlite",
            )
            with environment.begin_transaction():
                environment.run_migrations()
        connection.commit()
    return plugin_revision(engine, plugin)
