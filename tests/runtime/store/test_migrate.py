"""Schema migrations: the migrated schema equals the models, old databases are adopted,
concurrent starts are safe, and the audit log refuses changes."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import DatabaseError
from sqlmodel import Session, SQLModel

import designer.models  # noqa: F401 - the designer's tables are part of the metadata
import prompts.models  # noqa: F401
from designer.models import AuditEvent
from runtime.store import models as runtime_models
from runtime.store.db import make_engine
from runtime.store.migrate import BASELINE, current_revision, head, migrate


def _differences(engine: Engine) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, SQLModel.metadata)


def test_the_migrated_schema_is_exactly_the_models(engine):
    assert current_revision(engine) == head()
    assert _differences(engine) == []


def test_migrations_go_down_to_nothing_and_up_again(engine):
    from alembic import command

    from runtime.store.migrate import alembic_config

    with engine.connect() as connection:
        command.downgrade(alembic_config(connection), "base")
        connection.commit()
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    assert migrate(engine) == head()
    assert _differences(engine) == []


def test_a_database_made_before_migrations_is_adopted_with_its_data(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    old = make_engine(url, create=False)
    # what builds before migrations made: the runtime's tables as of revision 0001, no
    # alembic_version table
    migrate(old, to=BASELINE)
    with old.begin() as connection:
        connection.execute(text("DROP TABLE alembic_version"))
    now = datetime.now(UTC)
    with Session(old) as session:
        session.add(runtime_models.Entry(name="12329", flow_id="m", version=4, updated_at=now))
        session.commit()
    old.dispose()

    engine = make_engine(url)
    try:
        assert current_revision(engine) == head()
        assert _differences(engine) == []
        with Session(engine) as session:
            entry = session.get(runtime_models.Entry, "12329")
            assert entry is not None and entry.version == 4
    finally:
        engine.dispose()


def test_two_processes_starting_at_once_both_find_the_schema_current(engine, tmp_path):
    if engine.dialect.name == "postgresql":
        from conftest import reset_postgres

        reset_postgres(engine)
        url = engine.url.render_as_string(hide_password=False)
    else:
        url = f"sqlite:///{tmp_path / 'race.sqlite3'}"
    engines = [make_engine(url, create=False) for _ in range(4)]
    errors: list[BaseException] = []

    def start(engine: Engine) -> None:
        try:
            migrate(engine)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(e,)) for e in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        assert {current_revision(e) for e in engines} == {head()}
    finally:
        for e in engines:
            e.dispose()


def test_the_baseline_is_the_first_revision():
    assert BASELINE == "0001" and head() != BASELINE


def test_the_audit_log_is_append_only(engine):
    with Session(engine) as session:
        session.add(AuditEvent(at=datetime.now(UTC), actor="a", action="login", target="a"))
        session.commit()
    for statement in ("UPDATE audit_event SET actor = 'mallory'", "DELETE FROM audit_event"):
        with pytest.raises(DatabaseError, match="append-only"), engine.begin() as connection:
            connection.execute(text(statement))
    with engine.connect() as connection:
        assert connection.execute(text("SELECT actor FROM audit_event")).scalars().all() == ["a"]
