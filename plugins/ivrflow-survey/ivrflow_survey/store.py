"""The answers: their table, a background writer and the summary.

The table is the plugin's own (``survey_answer``, its own :data:`metadata`), created by the
plugin's alembic revisions with the version table ``alembic_version_survey``.

Calls never wait for the database and never fail because of it: :meth:`SurveyStore.submit`
only puts the rows in an in-memory queue (bounded; when full, rows are dropped and logged). A
worker thread writes them in batches, one transaction per batch, retrying with back-off while
the database is unavailable (errors are logged). :meth:`SurveyStore.flush` waits until what is
queued is written; :meth:`SurveyStore.close` flushes and stops the thread.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    Column,
    Date,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    func,
    insert,
    select,
)

__all__ = ["GROUPS", "Answer", "SurveyStore", "answers_table", "metadata"]

log = logging.getLogger("ivrflow.survey")

metadata = MetaData()

answers_table = Table(
    "survey_answer",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("call_id", String(100), nullable=False, index=True),
    Column("caller", String(40), nullable=False),
    Column("survey", String(64), nullable=False),
    Column("question", String(64), nullable=False),
    Column("score", Integer, nullable=False),
    Column("scale_min", Integer, nullable=False),
    Column("scale_max", Integer, nullable=False),
    Column("agent", String(100), nullable=False),
    Column("queue", String(100), nullable=False),
    Column("day", Date, nullable=False, index=True),
    Column("answered_at", DateTime(timezone=True), nullable=False),
)

GROUPS = ("day", "agent", "queue", "question", "survey")
"""What the summary can group by."""


@dataclass(frozen=True)
class Answer:
    """One answered question. ``day`` is the call's local date (the flow's time zone)."""

    call_id: str
    caller: str
    survey: str
    question: str
    score: int
    scale_min: int
    scale_max: int
    agent: str
    queue: str
    day: date
    answered_at: datetime

    def values(self) -> dict[str, Any]:
        row = asdict(self)
        for name, size in (("call_id", 100), ("caller", 40), ("agent", 100), ("queue", 100)):
            row[name] = row[name][:size]
        row["answered_at"] = self.answered_at.astimezone(UTC)
        return row


_STOP = object()


class SurveyStore:
    """Answers in ivrflow's database. ``engine`` None: no database (``ivrflow simulate``
    without ``--database``): answers are only traced."""

    def __init__(
        self,
        engine: Engine | None,
        *,
        batch_size: int = 200,
        max_pending: int = 50_000,
        retry_s: tuple[float, float] = (0.2, 5.0),
    ) -> None:
        self.engine = engine
        self.batch_size = batch_size
        self.max_pending = max_pending
        self.retry_s = retry_s
        self.written = 0
        self.dropped = 0
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False

    @property
    def available(self) -> bool:
        return self.engine is not None

    # -- writing (calls) ------------------------------------------------------------------

    def submit(self, answers: Sequence[Answer]) -> bool:
        """Queue answers for writing; never blocks, never raises. False: not stored (no
        database, closed, or the queue is full)."""
        if not answers:
            return True
        if self.engine is None or self._closed:
            return False
        if self._queue.qsize() + len(answers) > self.max_pending:
            self.dropped += len(answers)
            log.error("survey queue full (%d): dropping %d answers", self.max_pending, len(answers))
            return False
        self._ensure_thread()
        for answer in answers:
            self._queue.put_nowait(answer)
        return True

    def _ensure_thread(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._run, name="ivrflow-survey-writer", daemon=True
                    )
                    self._thread.start()

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until everything queued is written (True) or ``timeout_s`` passes (False)."""
        deadline = time.monotonic() + timeout_s
        while self._queue.unfinished_tasks:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)
        return True

    def close(self, timeout_s: float = 10.0) -> None:
        """Write what is queued (up to ``timeout_s``), then stop the writer."""
        if not self.flush(timeout_s):
            log.error("survey writer: %d answers not written at shutdown", self._queue.qsize())
        self._closed = True
        thread = self._thread
        if thread is not None:
            self._queue.put(_STOP)
            thread.join(timeout_s)
            self._thread = None

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                self._queue.task_done()
                return
            batch = [first]
            stop = False
            while len(batch) < self.batch_size:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    self._queue.task_done()
                    stop = True
                    break
                batch.append(item)
            delay = self.retry_s[0]
            while True:
                try:
                    self._write(batch)
                    self.written += len(batch)
                    break
                except Exception as exc:
                    if self._closed:
                        log.error("survey writer: %d answers lost (%s)", len(batch), exc)
                        break
                    log.warning("writing %d survey answers failed (%s); retrying", len(batch), exc)
                    time.sleep(delay)
                    delay = min(delay * 2, self.retry_s[1])
            for _ in batch:
                self._queue.task_done()
            if stop:
                return

    def _write(self, answers: list[Answer]) -> None:
        assert self.engine is not None
        with self.engine.begin() as connection:
            connection.execute(insert(answers_table), [a.values() for a in answers])

    # -- reading (designer) ---------------------------------------------------------------

    def summary(
        self,
        *,
        by: str = "day",
        since: date | None = None,
        until: date | None = None,
        survey: str | None = None,
        question: str | None = None,
    ) -> dict[str, Any]:
        """Average score and count per ``by`` (day, agent, queue, question, survey) for the
        days ``since`` … ``until`` (both included), and the total."""
        if by not in GROUPS:
            raise ValueError(f"cannot group by {by!r}")
        if self.engine is None:
            raise RuntimeError("survey answers need a database")
        c = answers_table.c
        conditions = []
        if since is not None:
            conditions.append(c.day >= since)
        if until is not None:
            conditions.append(c.day <= until)
        if survey:
            conditions.append(c.survey == survey)
        if question:
            conditions.append(c.question == question)
        key = c[by]
        grouped = (
            select(key, func.count(), func.avg(c.score), func.count(func.distinct(c.call_id)))
            .where(*conditions)
            .group_by(key)
            .order_by(key)
        )
        total = select(func.count(), func.avg(c.score), func.count(func.distinct(c.call_id))).where(
            *conditions
        )
        with self.engine.connect() as connection:
            rows = connection.execute(grouped).all()
            count, average, calls = connection.execute(total).one()

        def entry(n: int, avg: Any, n_calls: int) -> dict[str, Any]:
            return {
                "count": int(n),
                "calls": int(n_calls),
                "average": round(float(avg), 2) if avg is not None else None,
            }

        return {
            "by": by,
            "since": since.isoformat() if since else None,
            "until": until.isoformat() if until else None,
            "rows": [
                {by: k.isoformat() if isinstance(k, date) else k, **entry(n, avg, n_calls)}
                for k, n, avg, n_calls in rows
            ],
            "total": entry(count, average, calls),
        }

    def answers(self, call_id: str) -> list[dict[str, Any]]:
        """The stored answers of one call, in order."""
        if self.engine is None:
            return []
        c = answers_table.c
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(answers_table).where(c.call_id == call_id).order_by(c.id)
            ).all()
        return [dict(row._mapping) for row in rows]
