"""The audit log: who did what, when, from where. Rows are only ever added (the database's
triggers refuse UPDATE and DELETE); admins read it through the API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from designer.models import AuditEvent
from runtime.store.models import db_time

__all__ = ["ACTIONS", "count_recent", "list_events", "record", "register_actions"]

ACTIONS = {
    "login": ("登录", "signed in"),
    "login.failed": ("登录失败", "sign-in failed"),
    "logout": ("退出登录", "signed out"),
    "flow.create": ("新建流程", "created a flow"),
    "flow.save": ("保存草稿", "saved a draft"),
    "flow.conflict": ("保存冲突（已另存副本）", "save refused as stale (copy kept)"),
    "flow.delete": ("删除流程", "deleted a flow"),
    "flow.import": ("导入流程", "imported flows"),
    "flow.publish": ("发布", "published"),
    "entry.rollback": ("回滚", "rolled back"),
    "entry.delete": ("删除入口", "deleted an entry"),
    "user.create": ("新建用户", "created a user"),
    "user.roles": ("修改角色", "changed roles"),
    "user.password": ("修改密码", "changed a password"),
    "user.active": ("启用/停用用户", "enabled or disabled a user"),
    "prompt.upload": ("上传录音", "uploaded a recording"),
    "prompt.approve": ("审核通过录音", "approved a recording"),
    "prompt.unapprove": ("撤销录音审核", "took back a recording's approval"),
    "entry.policy": ("修改入口发布规则", "changed an entry's publishing policy"),
}


def register_actions(actions: dict[str, tuple[str, str]]) -> None:
    """Add a plugin's audit actions (name → (Chinese, English) title), e.g.
    ``{"schedule.save": ("保存时间表", "saved a schedule")}``. Names are namespaced by the
    plugin (``plugin.verb``, at most 40 characters); registering a name again with the same
    titles does nothing, with other titles is an error."""
    for name, titles in actions.items():
        if not (0 < len(name) <= 40 and "." in name):
            raise ValueError(f"audit action {name!r} must be 'plugin.verb', at most 40 chars")
        known = ACTIONS.get(name)
        if known is not None and tuple(known) != tuple(titles):
            raise ValueError(f"audit action {name!r} is already registered as {known!r}")
        ACTIONS[name] = (titles[0], titles[1])


def record(
    session: Session,
    action: str,
    *,
    actor: str = "",
    target: str = "",
    ip: str = "",
    detail: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEvent:
    """Add an audit row to ``session`` (committed with the change it describes)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    event = AuditEvent(
        at=db_time(at),
        actor=actor[:100],
        action=action,
        target=target[:200],
        ip=ip[:64],
        detail=detail or {},
    )
    session.add(event)
    return event


def count_recent(
    session: Session, action: str, *, since: datetime, target: str = "", ip: str = ""
) -> int:
    query = (
        select(func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.action == action, col(AuditEvent.at) >= db_time(since))
    )
    if target:
        query = query.where(AuditEvent.target == target)
    if ip:
        query = query.where(AuditEvent.ip == ip)
    return session.exec(query).one()


def list_events(
    engine: Engine,
    *,
    action: str | None = None,
    actor: str | None = None,
    target: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Newest first; page with ``before_id``."""
    with Session(engine) as session:
        query = select(AuditEvent).order_by(col(AuditEvent.id).desc()).limit(limit)
        if action:
            query = query.where(AuditEvent.action == action)
        if actor:
            query = query.where(AuditEvent.actor == actor)
        if target:
            query = query.where(AuditEvent.target == target)
        if before_id:
            query = query.where(col(AuditEvent.id) < before_id)
        events = []
        for row in session.exec(query).all():
            zh, en = ACTIONS.get(row.action, (row.action, row.action))
            data = row.model_dump()
            data["at"] = db_time(row.at).isoformat()
            data["action_zh"], data["action_en"] = zh, en
            events.append(data)
        return events
