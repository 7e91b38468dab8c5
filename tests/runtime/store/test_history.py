"""The agent history over call records (sticky agent) — SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine

from runtime.history import AgentHistory, AgentRef
from runtime.store.history import CallRecordHistory
from runtime.store.models import CallRecord
from runtime.store.records import RecordWriter

T0 = datetime(2026, 10, 1, 2, 0, tzinfo=UTC)
CALLER = "13900001111"


def record(n: int, *, caller: str = CALLER, minutes: int = 0, **agent: object) -> CallRecord:
    return CallRecord(
        call_id=f"u{n}",
        caller=caller,
        started_at=T0 + timedelta(minutes=minutes),
        outcome="completed",
        **agent,
    )


async def write(engine, *rows: CallRecord) -> None:
    writer = RecordWriter(engine)
    writer.start()
    for row in rows:
        writer.submit(row)
    await writer.close()


async def test_the_newest_answered_call_of_this_caller_since_the_limit(engine):
    await write(
        engine,
        record(1, minutes=0, agent_name="Agent 8001", agent_interface="PJSIP/8001"),
        record(2, minutes=10, agent_name="Agent 8002", agent_interface="PJSIP/8002"),
        # later, but not answered by an agent (timeout, voicemail…): ignored
        record(3, minutes=20),
        record(4, minutes=25, agent_name="sim", agent_interface=""),
        # another caller's newer call: ignored
        record(5, caller="13700002222", minutes=30, agent_interface="PJSIP/8009"),
        record(
            6,
            minutes=5,
            agent_name="Agent 8003",
            agent_interface="PJSIP/8003",
            agent_sticky=True,
        ),
    )
    history = CallRecordHistory(engine)
    assert isinstance(history, AgentHistory)
    found = await history.last_agent(CALLER, since=T0 - timedelta(days=30))
    assert found == AgentRef("Agent 8002", "PJSIP/8002", T0 + timedelta(minutes=10))
    assert found.at.tzinfo is not None  # aware UTC on both databases
    # `since` is respected: only the calls that started at or after it count
    later = await history.last_agent(CALLER, since=T0 + timedelta(minutes=11))
    assert later is None
    at_five = await history.last_agent(CALLER, since=T0 + timedelta(minutes=5))
    assert at_five is not None and at_five.interface == "PJSIP/8002"
    # a naive `since` is taken as UTC
    naive = await history.last_agent(
        CALLER, since=(T0 + timedelta(minutes=11)).replace(tzinfo=None)
    )
    assert naive is None
    other = await history.last_agent("13700002222", since=T0)
    assert other is not None and other.interface == "PJSIP/8009"
    assert await history.last_agent("13600003333", since=T0) is None
    assert await history.last_agent("", since=T0) is None


async def test_the_sticky_flag_is_stored(engine):
    await write(engine, record(1, agent_name="A", agent_interface="PJSIP/1", agent_sticky=True))

    def sticky() -> list[bool]:
        from sqlmodel import Session, select

        with Session(engine) as session:
            return list(session.exec(select(CallRecord.agent_sticky)).all())

    assert await asyncio.to_thread(sticky) == [True]


async def test_a_database_error_answers_none_and_is_logged(tmp_path, caplog):
    broken = create_engine(f"sqlite:///{tmp_path / 'no-tables.sqlite3'}")  # never migrated
    try:
        with caplog.at_level(logging.ERROR, logger="ivrflow.history"):
            found = await CallRecordHistory(broken).last_agent(CALLER, since=T0)
        assert found is None
        assert "last agent" in caplog.text
        assert CALLER not in caplog.text  # the caller's number stays out of the log
    finally:
        broken.dispose()
