"""Alembic environment: run by :func:`runtime.store.migrate.migrate` with a connection, or by
the ``alembic`` command (``alembic -c runtime/store/alembic.ini …``) for developers."""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool
from sqlmodel import SQLModel

import designer.models  # noqa: F401 - registers the tables for autogenerate/compare
import prompts.models  # noqa: F401
import runtime.store.models  # noqa: F401
from runtime.store.db import database_url

target_metadata = SQLModel.metadata


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    section = context.config.get_section(context.config.config_ini_section) or {}
    section["sqlalchemy.url"] = database_url(section.get("sqlalchemy.url") or None)
    engine = engine_from_config(section, prefix="sqlalchemy.", poolclass=pool.NullPool)
    with engine.connect() as conn:
        _run(conn)
