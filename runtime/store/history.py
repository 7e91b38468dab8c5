"""The agent history read from call records (see :mod:`runtime.history`)."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from runtime.history import AgentRef
from runtime.store.models import CallRecord, db_time

__all__ = ["CallRecordHistory"]

log = logging.getLogger("ivrflow.history")


class CallRecordHistory:
    """:class:`runtime.history.AgentHistory` over ``call_record`` (indexed by caller).

    The query runs in a worker thread; a database error is logged and answers None, so a
    database problem never fails a call (the caller is simply queued as usual)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def last_agent(self, caller: str, *, since: datetime) -> AgentRef | None:
        if not caller:
            return None
        try:
            return await asyncio.to_thread(self._last_agent, caller, db_time(since))
        except Exception as exc:
            # not log.exception: SQLAlchemy's message lists the parameters (the caller's
            # number); the driver's own message does not
            detail = getattr(exc, "orig", None) or exc
            log.error(
                "looking up the last agent of a caller failed: %s: %s", type(exc).__name__, detail
            )
            return None

    def _last_agent(self, caller: str, since: datetime) -> AgentRef | None:
        query = (
            select(CallRecord.agent_name, CallRecord.agent_interface, CallRecord.started_at)
            .where(CallRecord.caller == caller)
            .where(col(CallRecord.started_at) >= since)
            .where(CallRecord.agent_interface != "")
            .order_by(col(CallRecord.started_at).desc(), col(CallRecord.id).desc())
            .limit(1)
        )
        with Session(self.engine) as session:
            row = session.exec(query).first()
        if row is None:
            return None
        name, interface, at = row
        return AgentRef(name=name or "", interface=interface, at=db_time(at))
