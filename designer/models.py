"""The designer's tables: working copies of flows, kept conflict copies, users, sessions and
the audit log. Published versions and entries are the runtime's tables
(:mod:`runtime.store.models`); both live in one database and one migration history
(:mod:`runtime.store.migrate`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Text
from sqlmodel import Field, SQLModel

__all__ = ["AuditEvent", "DraftConflict", "FlowDraft", "User", "WebSession"]


class FlowDraft(SQLModel, table=True):
    """The editable copy of a flow. ``revision`` grows by one on every save; a save names
    the revision it started from, and a stale one is refused (never silently overwritten)."""

    __tablename__ = "flow_draft"

    flow_id: str = Field(primary_key=True, max_length=64)
    name: str = Field(default="", max_length=200)
    document: str = Field(sa_column=Column(Text, nullable=False))
    revision: int = 1
    created_at: datetime
    created_by: str = Field(default="", max_length=100)
    updated_at: datetime
    updated_by: str = Field(default="", max_length=100)


class DraftConflict(SQLModel, table=True):
    """A save refused because the draft had moved on: the refused document is kept here."""

    __tablename__ = "draft_conflict"

    id: int | None = Field(default=None, primary_key=True)
    flow_id: str = Field(index=True, max_length=64)
    base_revision: int
    current_revision: int
    document: str = Field(sa_column=Column(Text, nullable=False))
    author: str = Field(default="", max_length=100)
    created_at: datetime


class User(SQLModel, table=True):
    __tablename__ = "app_user"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True, index=True)
    display_name: str = Field(default="", max_length=100)
    password_hash: str = Field(max_length=200)
    roles: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    active: bool = True
    created_at: datetime
    updated_at: datetime
    last_login_at: datetime | None = None
    password_changed_at: datetime | None = None


class WebSession(SQLModel, table=True):
    """A signed-in browser. Only the SHA-256 of the cookie token is stored."""

    __tablename__ = "web_session"

    token_hash: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(index=True, foreign_key="app_user.id", ondelete="CASCADE")
    csrf_token: str = Field(max_length=64)
    created_at: datetime
    expires_at: datetime
    last_seen_at: datetime
    ip: str = Field(default="", max_length=64)
    user_agent: str = Field(default="", max_length=300)


class AuditEvent(SQLModel, table=True):
    """Append-only (the database refuses UPDATE and DELETE on this table)."""

    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_action_target_at", "action", "target", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(index=True)
    actor: str = Field(default="", max_length=100)
    action: str = Field(max_length=40)
    target: str = Field(default="", max_length=200)
    ip: str = Field(default="", max_length=64)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
