"""Tables (times in UTC): published flow versions, entries, call records and queue legs.

Published versions are immutable: a new publish adds a row, never changes one. An entry (the
AGI path a call arrives on, e.g. ``12329``) points at one version; publishing or rolling back
moves that pointer, and each move is kept in ``entry_change``. A call record keeps the flow
version it ran, the outcome, and the step trace with secrets already masked.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

__all__ = ["CallRecord", "Entry", "EntryChange", "FlowVersion", "QueueLeg", "db_time"]


def db_time(value: datetime | None = None) -> datetime:
    """Times are stored in UTC, time-zone aware (naive values are taken as UTC)."""
    if value is None:
        return datetime.now(UTC)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class FlowVersion(SQLModel, table=True):
    __tablename__ = "flow_version"
    __table_args__ = (UniqueConstraint("flow_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    flow_id: str = Field(index=True, max_length=64)
    version: int
    name: str = Field(max_length=200)
    document: str = Field(sa_column=Column(Text, nullable=False))
    """The flow document as published (JSON text)."""
    sha256: str = Field(max_length=64)
    prompts_sha: str = Field(default="", max_length=64)
    """Fingerprint of the prompt audio pinned with this version: new recordings of an
    unchanged flow make a new version when published."""
    dependencies: dict[str, int] = Field(default_factory=dict, sa_column=Column(JSON))
    """Sub-flows pinned at publish time: flow id → version."""
    message: str = Field(default="", max_length=2000)
    author: str = Field(default="", max_length=100)
    created_at: datetime


class Entry(SQLModel, table=True):
    __tablename__ = "entry"

    name: str = Field(primary_key=True, max_length=100)
    flow_id: str = Field(max_length=64)
    version: int
    updated_at: datetime
    updated_by: str = Field(default="", max_length=100)


class EntryChange(SQLModel, table=True):
    __tablename__ = "entry_change"

    id: int | None = Field(default=None, primary_key=True)
    entry: str = Field(index=True, max_length=100)
    flow_id: str = Field(max_length=64)
    from_version: int | None = None
    to_version: int
    action: str = Field(max_length=20)  # publish | rollback
    message: str = Field(default="", max_length=2000)
    author: str = Field(default="", max_length=100)
    at: datetime


class CallRecord(SQLModel, table=True):
    __tablename__ = "call_record"
    __table_args__ = (Index("ix_call_record_started", "started_at"),)

    id: int | None = Field(default=None, primary_key=True)
    call_id: str = Field(index=True, max_length=64)
    """Asterisk uniqueid (the simulator's call id for simulated calls)."""
    linkedid: str = Field(default="", max_length=64)
    channel: str = Field(default="", max_length=200)
    caller: str = Field(default="", index=True, max_length=64)
    called: str = Field(default="", max_length=64)
    entry: str = Field(default="", max_length=100)
    flow_id: str = Field(default="", max_length=64)
    flow_version: int | None = None
    started_at: datetime
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    outcome: str = Field(default="", max_length=20)
    """completed | hangup | error | step_cap | repeat_cap | no_entry | aborted"""
    outcome_node: str = Field(default="", max_length=64)
    outcome_detail: str = Field(default="", max_length=500)
    queue: str = Field(default="", max_length=64)
    """The last queue the call was transferred to, if any."""
    agent_name: str = Field(default="", max_length=100)
    """The agent who last answered the caller (queue member name), if any."""
    agent_interface: str = Field(default="", max_length=100)
    """That agent's device interface, e.g. ``PJSIP/8001`` (sticky-agent routing reads it)."""
    agent_sticky: bool = False
    """The agent answered as the caller's sticky agent (rung directly), not through the queue."""
    steps: int = 0
    trace: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    """The step trace, secrets masked."""
    missing_prompts: list[str] = Field(default_factory=list, sa_column=Column(JSON))


class QueueLeg(SQLModel, table=True):
    """One stay of a call in a queue, assembled from AMI queue events."""

    __tablename__ = "queue_leg"

    id: int | None = Field(default=None, primary_key=True)
    uniqueid: str = Field(index=True, max_length=64)
    linkedid: str = Field(default="", max_length=64)
    queue: str = Field(max_length=64)
    joined_at: datetime
    connected_at: datetime | None = None
    left_at: datetime | None = None
    agent: str = Field(default="", max_length=100)
    hold_s: float | None = None
    talk_s: float | None = None
    wrapup_s: float | None = None
    outcome: str = Field(default="", max_length=20)
    """answered | abandoned | timeout | left"""
