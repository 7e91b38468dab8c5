"""Call records: built from a finished call's trace, written in the background.

Calls never wait for the database: records go into a queue that a background task writes in
batches (in a worker thread, so the event loop never blocks on SQLite or PostgreSQL). A
database that is briefly unavailable is retried with back-off; records are kept in memory up
to a bound meanwhile. ``close()`` flushes everything that is queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert
from sqlmodel import Session, SQLModel, col, select

from runtime.store.models import CallRecord, QueueLeg, db_time
from runtime.trace import Trace

__all__ = ["RecordWriter", "list_calls", "record_from_trace", "record_values"]

Row = CallRecord | QueueLeg | tuple[type[SQLModel], dict[str, Any]]
"""A model instance, or (model class, column values) — the cheap form the runtime uses."""

log = logging.getLogger("ivrflow.records")


def record_values(
    trace: Trace,
    *,
    started_at: datetime,
    env: Mapping[str, str] | None = None,
    entry: str = "",
    flow_id: str = "",
    flow_version: int | None = None,
    outcome: str | None = None,
    detail: str = "",
    missing_prompts: Sequence[str] = (),
    ended_at: datetime | None = None,
) -> dict[str, Any]:
    """The column values of a finished (or aborted) call's record, as a plain dict: what the
    runtime queues for the writer (building a model instance on the event loop costs ~8×
    more). The trace is already masked. The answering agent comes from the last completed
    queue transfer (``queue_result`` events)."""
    env = env or {}
    answered_at = None
    queue = ""
    agent_name = agent_interface = ""
    agent_sticky = False
    for step in trace.steps:
        for event in step.events:
            kind = event.get("event")
            if kind == "answer" and answered_at is None:
                answered_at = started_at + timedelta(milliseconds=step.at_ms)
            elif kind == "queue":
                queue = str(event.get("queue", ""))
            elif kind == "queue_result" and event.get("status") == "completed":
                agent_name = str(event.get("agent") or "")[:100]
                agent_interface = str(event.get("agent_interface") or "")[:100]
                agent_sticky = event.get("sticky") is True
    kind = outcome or (trace.outcome.kind if trace.outcome else "aborted")
    return dict(
        call_id=trace.call_id or env.get("agi_uniqueid", ""),
        linkedid=env.get("agi_linkedid", ""),
        channel=env.get("agi_channel", ""),
        caller=trace.caller,
        called=trace.called,
        entry=entry,
        flow_id=flow_id or trace.flow,
        flow_version=flow_version,
        started_at=db_time(started_at),
        answered_at=db_time(answered_at) if answered_at else None,
        ended_at=db_time(ended_at),
        outcome=kind,
        outcome_node=(trace.outcome.node or "") if trace.outcome else "",
        outcome_detail=(detail or (trace.outcome.detail if trace.outcome else ""))[:500],
        queue=queue,
        agent_name=agent_name,
        agent_interface=agent_interface,
        agent_sticky=agent_sticky,
        steps=len(trace.steps),
        trace=trace.to_json(),
        missing_prompts=list(missing_prompts),
    )


def record_from_trace(
    trace: Trace,
    *,
    started_at: datetime,
    env: Mapping[str, str] | None = None,
    entry: str = "",
    flow_id: str = "",
    flow_version: int | None = None,
    outcome: str | None = None,
    detail: str = "",
    missing_prompts: Sequence[str] = (),
    ended_at: datetime | None = None,
) -> CallRecord:
    """A :class:`CallRecord` for a finished (or aborted) call (see :func:`record_values`)."""
    return CallRecord(
        **record_values(
            trace,
            started_at=started_at,
            env=env,
            entry=entry,
            flow_id=flow_id,
            flow_version=flow_version,
            outcome=outcome,
            detail=detail,
            missing_prompts=missing_prompts,
            ended_at=ended_at,
        )
    )


class RecordWriter:
    """Writes call records and queue legs in batches from a background task."""

    def __init__(
        self,
        engine: Engine,
        *,
        batch_size: int = 200,
        max_pending: int = 50_000,
        retry_s: tuple[float, float] = (0.2, 5.0),
    ) -> None:
        self.engine = engine
        self.batch_size = batch_size
        self.max_pending = max_pending
        self.retry_s = retry_s
        self._queue: asyncio.Queue[Row] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.written = 0
        self.dropped = 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="ivrflow-record-writer")

    def submit(self, row: Row) -> None:
        if self._queue.qsize() >= self.max_pending:
            self.dropped += 1
            log.error("record queue full (%d): dropping a record", self.max_pending)
            return
        self._queue.put_nowait(row)

    async def flush(self) -> None:
        await self._queue.join()

    async def close(self, timeout_s: float = 10.0) -> None:
        """Write what is queued (up to ``timeout_s``), then stop."""
        if self._task is None:
            return
        try:
            await asyncio.wait_for(self._queue.join(), timeout_s)
        except TimeoutError:
            log.error("record writer: %d records not written at shutdown", self._queue.qsize())
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.batch_size and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            delay = self.retry_s[0]
            while True:
                try:
                    await asyncio.to_thread(self._write, batch)
                    self.written += len(batch)
                    break
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("writing %d records failed (%s); retrying", len(batch), exc)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self.retry_s[1])
            for _ in batch:
                self._queue.task_done()

    def _write(self, rows: list[Row]) -> None:
        """One transaction, one multi-row INSERT per table (no ORM unit of work)."""
        by_table: dict[type[SQLModel], list[dict[str, Any]]] = {}
        for row in rows:
            if isinstance(row, tuple):
                model, values = row
                by_table.setdefault(model, []).append(values)
            else:
                by_table.setdefault(type(row), []).append(row.model_dump(exclude={"id"}))
        with self.engine.begin() as connection:
            for model, values in by_table.items():
                connection.execute(insert(model), values)


def list_calls(
    engine: Engine, *, since: datetime | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Recent call records, newest first, as plain dicts (without the trace)."""
    with Session(engine) as session:
        query = select(CallRecord).order_by(col(CallRecord.started_at).desc()).limit(limit)
        if since is not None:
            query = query.where(CallRecord.started_at >= db_time(since))
        rows = session.exec(query).all()
        return [row.model_dump(exclude={"trace"}) for row in rows]
