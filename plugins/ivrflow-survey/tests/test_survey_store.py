"""The plugin's table (its own alembic revision and version table) and the background
writer, on SQLite and PostgreSQL: answers reach the table, a failing database is retried and
never reaches the call, and the summary groups by day, agent and queue."""

from __future__ import annotations

import logging
import time
from datetime import date

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from ivrflow_survey.node import SurveyAsk
from ivrflow_survey.plugin import MIGRATIONS, setup
from ivrflow_survey.store import SurveyStore, metadata
from sqlalchemy import inspect

from nodes.plugins import PluginHost
from runtime.store.migrate import plugin_revision
from runtime.testing import run_node


def _plugin_objects(obj, name, type_, reflected, compare_to) -> bool:
    table = obj if type_ == "table" else getattr(obj, "table", None)
    return table is not None and table.name.startswith("survey_")


def test_the_plugin_owns_its_table_and_version_table(engine, plugins):
    tables = set(inspect(engine).get_table_names())
    assert {"survey_answer", "alembic_version_survey"} <= tables
    assert plugin_revision(engine, "survey") == "survey_0001"
    with engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() != "survey_0001"
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_object": _plugin_objects}
        )
        assert compare_metadata(context, metadata) == []
    assert PluginHost(engine=engine).migrate("survey", MIGRATIONS) == "survey_0001"


def test_answers_are_written_in_the_background(store, answer):
    assert store.submit([answer(5), answer(4, question="overall")])
    assert store.flush()
    rows = store.answers("c1")
    assert [(r["question"], r["score"], r["agent"], r["queue"]) for r in rows] == [
        ("agent", 5, "8001", "loans"),
        ("overall", 4, "8001", "loans"),
    ]
    assert rows[0]["day"] == date(2026, 3, 2) and rows[0]["caller"] == "13800138000"
    assert store.written == 2


async def test_the_node_stores_through_the_plugin(store, questions):
    run = await run_node(
        SurveyAsk,
        {"questions": questions},
        keys="2 3",
        vars={"agent": "8002", "queue": "withdrawals"},
        resources={"survey": store},
        call_id="sim-42",
    )
    assert run.exit == "done"
    assert store.flush()
    assert [(r["score"], r["agent"], r["queue"]) for r in store.answers("sim-42")] == [
        (2, "8002", "withdrawals"),
        (3, "8002", "withdrawals"),
    ]


def test_a_failing_database_is_retried_without_blocking(engine, plugins, answer, caplog):
    store = SurveyStore(engine, retry_s=(0.01, 0.02))
    real = store._write
    failures = []

    def flaky(rows):
        if len(failures) < 2:
            failures.append(1)
            raise RuntimeError("database unavailable")
        real(rows)

    store._write = flaky
    caplog.set_level(logging.WARNING, "ivrflow.survey")
    started = time.monotonic()
    assert store.submit([answer(3, call_id="flaky")])
    assert time.monotonic() - started < 0.05  # submit only queues
    assert store.flush(5)
    assert [r["score"] for r in store.answers("flaky")] == [3]
    assert "retrying" in caplog.text
    store.close()


def test_a_full_queue_drops_and_logs(engine, plugins, answer, caplog):
    store = SurveyStore(engine, max_pending=1)
    store._ensure_thread = lambda: None  # nothing drains the queue
    assert store.submit([answer(1)])
    assert not store.submit([answer(2)])
    assert store.dropped == 1 and "queue full" in caplog.text


def test_without_a_database_nothing_is_stored(answer):
    parts = setup(PluginHost(engine=None, environ={}))
    store = parts.resources["survey"]
    assert not store.available and not parts.routes
    assert not store.submit([answer(5)])
    with pytest.raises(RuntimeError):
        store.summary()


def test_summary_by_day_agent_and_queue(store, answer):
    store.submit(
        [
            answer(5, day="2026-03-02", agent="8001", queue="loans", call_id="a"),
            answer(3, day="2026-03-02", agent="8002", queue="loans", call_id="b"),
            answer(4, day="2026-03-03", agent="8001", queue="withdrawals", call_id="c"),
            answer(
                1,
                day="2026-03-03",
                agent="8001",
                queue="withdrawals",
                call_id="c",
                question="overall",
            ),
            answer(2, day="2026-04-01", agent="8003", queue="loans", call_id="d"),
        ]
    )
    assert store.flush()
    march = {"since": date(2026, 3, 1), "until": date(2026, 3, 31)}
    by_day = store.summary(by="day", **march)
    assert by_day["rows"] == [
        {"day": "2026-03-02", "count": 2, "calls": 2, "average": 4.0},
        {"day": "2026-03-03", "count": 2, "calls": 1, "average": 2.5},
    ]
    assert by_day["total"] == {"count": 4, "calls": 3, "average": 3.25}
    assert store.summary(by="agent", **march)["rows"] == [
        {"agent": "8001", "count": 3, "calls": 2, "average": 3.33},
        {"agent": "8002", "count": 1, "calls": 1, "average": 3.0},
    ]
    assert store.summary(by="queue", question="agent", **march)["rows"] == [
        {"queue": "loans", "count": 2, "calls": 2, "average": 4.0},
        {"queue": "withdrawals", "count": 1, "calls": 1, "average": 4.0},
    ]
    empty = store.summary(since=date(2025, 1, 1), until=date(2025, 1, 31))
    assert empty["rows"] == [] and empty["total"] == {"count": 0, "calls": 0, "average": None}
    with pytest.raises(ValueError):
        store.summary(by="caller")
