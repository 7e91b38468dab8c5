"""The outbox on SQLite and PostgreSQL: the plugin's own table and version table, messages
recorded as they are sent, retries with back-off (on a test clock, no sleeping), permanent
refusals and used-up attempts recorded as failed, queued messages resumed after a restart
(clean or not) but never taken from a live process, a failing database that never stops
sending, and the in-memory mode without a database."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from ivrflow_sms.gateway import LogSmsGateway
from ivrflow_sms.plugin import MIGRATIONS, setup
from ivrflow_sms.store import NotRetryable, messages_table, metadata
from sqlalchemy import insert, inspect, select

from nodes.plugins import PluginHost
from runtime.store.migrate import plugin_revision


def _plugin_objects(obj, name, type_, reflected, compare_to) -> bool:
    table = obj if type_ == "table" else getattr(obj, "table", None)
    return table is not None and table.name.startswith("sms_")


def _rows(engine):
    with engine.connect() as connection:
        return [
            r._mapping
            for r in connection.execute(select(messages_table).order_by(messages_table.c.id))
        ]


def test_the_plugin_owns_its_table_and_version_table(engine, plugins):
    tables = set(inspect(engine).get_table_names())
    assert {"sms_message", "alembic_version_sms"} <= tables
    assert plugin_revision(engine, "sms") == "sms_0001"
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_object": _plugin_objects}
        )
        assert compare_metadata(context, metadata) == []
    assert PluginHost(engine=engine).migrate("sms", MIGRATIONS) == "sms_0001"


def test_a_message_is_recorded_and_sent(migrated, make_outbox, gateway, message, clock):
    outbox = make_outbox(migrated, gateway)
    assert outbox.submit(message(call_id="c-1"))
    assert outbox.flush(5)
    [row] = _rows(migrated)
    assert (row["status"], row["attempts"], row["gateway_id"], row["gateway"]) == (
        "sent",
        1,
        "gw-1",
        "fake",
    )
    assert (row["phone"], row["template"], row["call_id"], row["flow"]) == (
        "13800138000",
        "balance",
        "c-1",
        "hotline",
    )
    assert row["params"] == {"balance": "12345.67"} and row["text"].startswith("您的公积金")
    assert row["owner"] is None and row["lease_until"] is None
    assert row["next_attempt_at"] is None and row["last_error"] is None
    [record] = outbox.messages()
    assert record["sent_at"] == clock.now and record["created_at"] == clock.now
    assert "owner" not in record
    assert outbox.get(record["id"]) == record and outbox.get(record["id"] + 1) is None
    assert (outbox.sent, outbox.failed, outbox.pending) == (1, 0, 0)


def test_temporary_errors_are_retried_with_back_off(migrated, make_outbox, gateway, message, clock):
    gateway.script = [gateway.errors["5xx"], gateway.errors["timeout"]]
    outbox = make_outbox(migrated, gateway)
    start = clock.now
    outbox.submit(message())
    assert outbox.flush(5)
    [row] = _rows(migrated)
    assert (row["status"], row["attempts"]) == ("queued", 1)
    assert "http_503" in row["last_error"]
    assert outbox.messages()[0]["next_attempt_at"] == start + timedelta(seconds=5)

    clock.advance(4)  # not due yet
    assert outbox.flush(5)
    assert len(gateway.sent) == 1

    clock.advance(1)
    assert outbox.flush(5)
    [row] = _rows(migrated)
    assert (row["status"], row["attempts"]) == ("queued", 2)
    assert "timeout" in row["last_error"]
    assert outbox.messages()[0]["next_attempt_at"] == clock.now + timedelta(seconds=30)

    clock.advance(30)
    assert outbox.flush(5)
    [row] = _rows(migrated)
    assert (row["status"], row["attempts"], row["gateway_id"]) == ("sent", 3, "gw-3")
    assert len({m.client_ref for m in gateway.sent}) == 1  # the same reference every time


def test_the_gateways_retry_after_wins(migrated, make_outbox, gateway, message, clock):
    gateway.script = [gateway.errors["429"]]
    outbox = make_outbox(migrated, gateway)
    outbox.submit(message())
    assert outbox.flush(5)
    assert outbox.messages()[0]["next_attempt_at"] == clock.now + timedelta(seconds=7)


def test_a_permanent_refusal_is_not_retried(migrated, make_outbox, gateway, message, caplog):
    gateway.script = [gateway.errors["4xx"]]
    outbox = make_outbox(migrated, gateway)
    outbox.submit(message())
    assert outbox.flush(5)
    outbox.clock.advance(3600)
    assert outbox.flush(5)
    [row] = _rows(migrated)
    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert row["last_error"] == "http_400: invalid number"
    assert len(gateway.sent) == 1 and outbox.failed == 1
    assert "not retried" in caplog.text and "13800138000" not in caplog.text


def test_used_up_attempts_fail(migrated, make_outbox, gateway, message, clock):
    gateway.script = [gateway.errors["5xx"], gateway.errors["5xx"], gateway.errors["5xx"]]
    outbox = make_outbox(migrated, gateway, backoff_s=(1,))
    outbox.submit(message(max_attempts=2))
    assert outbox.flush(5)
    clock.advance(1)
    assert outbox.flush(5)
    [row] = _rows(migrated)
    assert (row["status"], row["attempts"], row["max_attempts"]) == ("failed", 2, 2)
    assert "http_503" in row["last_error"]
    clock.advance(3600)
    assert outbox.flush(5)
    assert len(gateway.sent) == 2


def test_the_default_number_of_attempts(migrated, make_outbox, gateway, message, clock):
    gateway.script = [gateway.errors["5xx"]] * 3
    outbox = make_outbox(migrated, gateway, max_attempts=3, backoff_s=(1, 2))
    outbox.submit(message())
    for step in (0, 1, 2):
        clock.advance(step)
        assert outbox.flush(5)
    assert [r["status"] for r in _rows(migrated)] == ["failed"]
    assert len(gateway.sent) == 3


def test_queued_messages_survive_a_restart(migrated, make_outbox, gateway, message, clock):
    gateway.script = [gateway.errors["5xx"]]
    first = make_outbox(migrated, gateway)
    first.submit(message(to="13900139000"))
    assert first.flush(5)
    first.close()  # a clean stop releases the queued row
    [row] = _rows(migrated)
    assert (row["status"], row["owner"]) == ("queued", None)

    second = make_outbox(migrated, gateway)
    second.start()
    clock.advance(5)
    assert second.flush(5)
    [row] = _rows(migrated)
    assert (row["status"], row["attempts"]) == ("sent", 2)
    assert [m.to for m in gateway.sent] == ["13900139000", "13900139000"]


def test_rows_of_a_crashed_process_are_taken_over_but_not_live_ones(
    migrated, make_outbox, gateway, message, clock
):
    def row(ref: str, owner: str | None, lease_s: float | None) -> dict:
        return {
            "client_ref": ref,
            "call_id": f"call-{ref}",
            "flow": "hotline",
            "node": "",
            "phone": "13800138000",
            "template": "balance",
            "text": f"text {ref}",
            "params": {},
            "status": "queued",
            "attempts": 1,
            "max_attempts": 5,
            "next_attempt_at": clock.now - timedelta(seconds=30),
            "gateway": "fake",
            "created_at": clock.now - timedelta(minutes=5),
            "owner": owner,
            "lease_until": None if lease_s is None else clock.now + timedelta(seconds=lease_s),
        }

    with migrated.begin() as connection:
        connection.execute(
            insert(messages_table),
            [
                row("crashed", "host:1:dead", -10),  # its lease ran out
                row("released", None, None),
                row("alive", "host:2:live", 50),  # another process still holds it
            ],
        )
    outbox = make_outbox(migrated, gateway)
    outbox.start()
    assert outbox.flush(5)
    assert sorted(m.client_ref for m in gateway.sent) == ["crashed", "released"]
    statuses = {r["client_ref"]: (r["status"], r["attempts"]) for r in _rows(migrated)}
    assert statuses == {
        "crashed": ("sent", 2),
        "released": ("sent", 2),
        "alive": ("queued", 1),
    }
    clock.advance(60)  # the other process is gone: its lease runs out
    assert outbox.flush(5)
    assert {r["client_ref"]: r["status"] for r in _rows(migrated)}["alive"] == "sent"


def test_a_failing_database_never_stops_sending(migrated, make_outbox, gateway, message, caplog):
    outbox = make_outbox(migrated, gateway)
    real = outbox._insert
    calls = []

    def flaky(job):
        calls.append(job.ref)
        if len(calls) == 1:
            raise RuntimeError("database unavailable")
        real(job)

    outbox._insert = flaky
    caplog.set_level(logging.WARNING, "ivrflow.sms")
    outbox.submit(message())
    assert outbox.flush(5)
    assert len(gateway.sent) == 1  # sent although the row could not be written
    [row] = _rows(migrated)  # written once the database answered again
    assert (row["status"], row["gateway_id"]) == ("sent", "gw-1")
    assert "database unavailable" in caplog.text


def test_a_sent_message_whose_record_failed_is_not_sent_again(
    migrated, make_outbox, gateway, message
):
    outbox = make_outbox(migrated, gateway)
    real = outbox._write
    failures = []

    def flaky(job):
        if job.status == "sent" and not failures:
            failures.append(job.ref)
            raise RuntimeError("database unavailable")
        return real(job)

    outbox._write = flaky
    outbox.submit(message())
    assert outbox.flush(5)
    assert [r["status"] for r in _rows(migrated)] == ["queued"]  # the row is behind…
    outbox.clock.advance(25)  # …until the next lease renewal writes it
    assert outbox.flush(5)
    assert [(r["status"], r["owner"]) for r in _rows(migrated)] == [("sent", None)]
    assert len(gateway.sent) == 1 and failures  # and it was never sent twice


def test_retry_queues_a_failed_message_again(migrated, make_outbox, gateway, message):
    gateway.script = [gateway.errors["4xx"]]
    outbox = make_outbox(migrated, gateway)
    outbox.submit(message())
    assert outbox.flush(5)
    [failed] = outbox.messages(status="failed")
    record = outbox.retry(failed["id"])
    assert (record["status"], record["attempts"]) == ("queued", 0)
    assert outbox.flush(5)
    assert outbox.get(failed["id"])["status"] == "sent"
    with pytest.raises(NotRetryable):
        outbox.retry(failed["id"])
    with pytest.raises(LookupError):
        outbox.retry(failed["id"] + 100)


def test_listing_filters(migrated, make_outbox, gateway, message):
    gateway.script = ["ok", gateway.errors["4xx"], "ok"]
    outbox = make_outbox(migrated, gateway, concurrency=1)
    for to, call in (("13800138000", "a"), ("13900139000", "b"), ("13800138000", "c")):
        outbox.submit(message(to=to, call_id=call))
        assert outbox.flush(5)
    assert [m["call_id"] for m in outbox.messages()] == ["c", "b", "a"]
    assert [m["call_id"] for m in outbox.messages(status="failed")] == ["b"]
    assert [m["call_id"] for m in outbox.messages(phone="13800138000")] == ["c", "a"]
    assert [m["call_id"] for m in outbox.messages(call_id="a")] == ["a"]
    newest = outbox.messages(limit=1)
    assert [m["call_id"] for m in outbox.messages(before=newest[0]["id"])] == ["b", "a"]


def test_without_a_database_messages_are_kept_in_memory(message, caplog):
    caplog.set_level(logging.INFO, "ivrflow.sms")
    parts = setup(PluginHost(engine=None, environ={}))
    outbox = parts.resources["sms"]
    try:
        assert not parts.routes
        assert isinstance(outbox.gateway, LogSmsGateway) and not outbox.gateway.delivers
        assert "NOT sent" in caplog.text  # the start-up warning
        assert outbox.submit(message())
        assert outbox.flush(5)
        [record] = outbox.messages()
        assert (record["status"], record["gateway"], record["id"]) == ("sent", "log", 1)
        assert record["gateway_id"].startswith("log-")
        assert "SMS NOT SENT" in caplog.text and "*******8000" in caplog.text
        with pytest.raises(RuntimeError):
            outbox.retry(1)
    finally:
        outbox.close()
    assert not outbox.submit(message())  # closed
    outbox.close()  # twice: nothing happens


def test_flush_and_close_without_a_worker(make_outbox, gateway):
    outbox = make_outbox(None, gateway)
    assert outbox.flush(0.1)
    outbox.close()
    assert outbox.closed and "memory" in repr(outbox)
