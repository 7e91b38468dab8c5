"""Call records: built from traces, written in the background, listed — SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from support.nodes import flow, make_registry, node

from runtime.simulator import simulate
from runtime.store.models import QueueLeg
from runtime.store.records import RecordWriter, list_calls, record_from_trace
from runtime.validate import validate


async def a_trace(keys=""):
    doc = flow(
        {
            "start": node("core.start", {"next": "pin"}),
            "pin": node("test.set", {"next": "bye"}, variable="pin", value="864209"),
            "bye": node("core.hangup"),
        },
        variables={"pin": {"secret": True}},
    )
    trace, _ = await simulate(validate(doc, registry=make_registry()).flow, keys)
    return trace


async def test_records_are_written_in_the_background_and_listed(engine):
    writer = RecordWriter(engine)
    writer.start()
    started = datetime(2026, 10, 9, 2, 0, tzinfo=UTC)
    trace = await a_trace()
    for i in range(5):
        record = record_from_trace(
            trace,
            started_at=started + timedelta(minutes=i),
            env={"agi_uniqueid": f"u{i}", "agi_channel": "PJSIP/trunk-0001"},
            entry="12329",
            flow_id="t",
            flow_version=3,
        )
        record.call_id = f"u{i}"
        writer.submit(record)
    writer.submit(QueueLeg(uniqueid="u1", queue="consult", joined_at=started, outcome="answered"))
    await writer.close()
    assert writer.written == 6
    rows = await asyncio.to_thread(list_calls, engine, since=started + timedelta(minutes=2))
    assert [r["call_id"] for r in rows] == ["u4", "u3", "u2"]
    row = rows[0]
    assert row["outcome"] == "completed" and row["flow_version"] == 3
    assert row["answered_at"] is not None and row["steps"] == 3
    assert row["started_at"] == started + timedelta(minutes=4)  # aware UTC, both databases


async def test_records_never_contain_secrets(engine):
    writer = RecordWriter(engine)
    writer.start()
    writer.submit(record_from_trace(await a_trace(), started_at=datetime.now(UTC)))
    await writer.close()

    def dump() -> str:
        from sqlalchemy import text

        with engine.connect() as conn:
            return str(conn.execute(text("SELECT * FROM call_record")).fetchall())

    assert "864209" not in await asyncio.to_thread(dump)


async def test_writer_retries_when_the_database_is_briefly_unavailable(engine, monkeypatch):
    writer = RecordWriter(engine, retry_s=(0.01, 0.02))
    calls = {"n": 0}
    real = writer._write

    def flaky(rows):
        calls["n"] += 1
        if calls["n"] < 3:
            raise OSError("database is restarting")
        real(rows)

    monkeypatch.setattr(writer, "_write", flaky)
    writer.start()
    writer.submit(record_from_trace(await a_trace(), started_at=datetime.now(UTC)))
    await writer.close()
    assert calls["n"] == 3 and writer.written == 1
