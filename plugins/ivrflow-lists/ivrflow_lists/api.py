"""The plugin's designer API: the three caller lists.

=====================================  ==============  ========================================
``GET    /api/lists``                  flows.read      the lists and how many live entries each
``GET    /api/lists/{list}``           flows.read      its entries (?expired=0 hides expired)
``POST   /api/lists/{list}``           data.manage  add an entry (201; 409 if already there)
``DELETE /api/lists/{list}/{id}``      data.manage  remove an entry
``GET    /api/lists-check?number=…``   flows.read      what ``lists.check`` decides for a number
=====================================  ==============  ========================================

``{list}`` is ``block``, ``allow`` or ``vip``. Every change is written to ivrflow's audit log
in the same transaction (``lists.add``, ``lists.delete``). Invalid entries are refused with
422 ``lists.invalid`` and one problem per mistake, located by ``pointer`` (``/value``,
``/kind``, ``/expires_at``) with zh/en messages naming the offending character.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field
from sqlmodel import Session
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from designer import audit
from designer.problems import ApiError
from designer.web import Context, api
from ivrflow_lists.match import LISTS, Issue
from ivrflow_lists.store import DuplicateEntry, EntryError, ListsStore, decide
from runtime.problems import Problem, Severity

__all__ = ["AUDIT_ACTIONS", "make_routes"]

AUDIT_ACTIONS = {
    "lists.add": ("添加名单号码", "added a list entry"),
    "lists.delete": ("删除名单号码", "removed a list entry"),
}
CHINA = ZoneInfo("Asia/Shanghai")
LIST_TITLES = {
    "block": {"zh": "黑名单", "en": "Block list"},
    "allow": {"zh": "白名单", "en": "Allow list"},
    "vip": {"zh": "VIP 名单", "en": "VIP list"},
}


class EntryBody(BaseModel):
    kind: Literal["exact", "prefix", "pattern"] = Field(
        default="exact",
        description="exact: the whole number; prefix: numbers starting with it; pattern: "
        "digits, ? for one digit, a final * for any tail (no regular expressions)",
    )
    value: str = Field(max_length=64, description="number, prefix or pattern (+86, spaces ok)")
    reason: str = Field(default="", max_length=500)
    expires_at: datetime | None = Field(
        default=None, description="when the entry stops applying; naive = Beijing time"
    )


def _invalid(issues: list[Issue]) -> ApiError:
    first = issues[0]
    return ApiError(
        422,
        "lists.invalid",
        f"名单号码有误：{first.message_zh}",
        f"The entry is invalid: {first.message_en}",
        problems=[
            Problem(
                severity=Severity.ERROR,
                code=i.code,
                message_zh=i.message_zh,
                message_en=i.message_en,
                pointer=i.pointer,
            )
            for i in issues
        ],
    )


def _list_name(ctx: Context) -> str:
    name = ctx.path("list")
    if name not in LISTS:
        raise ApiError(
            404,
            "lists.unknown",
            f"没有名为 {name} 的名单（block、allow、vip）",
            f"no list {name!r} (block, allow, vip)",
        )
    return name


def make_routes(store: ListsStore) -> list[BaseRoute]:
    """The plugin's routes, bound to ``store``."""
    audit.register_actions(AUDIT_ACTIONS)

    @api("flows.read", tag="lists")
    def lists_index(ctx: Context) -> dict[str, Any]:
        """The three lists with their titles and how many unexpired entries each has."""
        live = store.entries(now=datetime.now(UTC))
        return {
            "lists": [
                {"name": name, **LIST_TITLES[name], "entries": sum(e.list == name for e in live)}
                for name in LISTS
            ]
        }

    @api("flows.read", tag="lists", responses={404: "no such list"})
    def lists_entries(ctx: Context) -> dict[str, Any]:
        """A list's entries, oldest first (?expired=0: without expired ones)."""
        name = _list_name(ctx)
        hide = ctx.query("expired") in ("0", "false", "no")
        now = datetime.now(UTC)
        found = store.entries(name, now=now if hide else None)
        return {
            "list": name,
            "entries": [{**e.to_json(), "expired": e.expired(now)} for e in found],
        }

    @api(
        "data.manage",
        body=EntryBody,
        tag="lists",
        responses={404: "no such list", 409: "already on the list", 422: "invalid entry"},
    )
    def lists_add(ctx: Context) -> JSONResponse:
        """Add an exact number, a prefix or a pattern, with a reason and an optional expiry."""
        name = _list_name(ctx)
        body = ctx.body(EntryBody)
        expires = body.expires_at
        if expires is not None and expires.tzinfo is None:
            expires = expires.replace(tzinfo=CHINA)
        with Session(ctx.services.engine) as session:
            try:
                entry = store.add(
                    name,
                    body.kind,
                    body.value,
                    reason=body.reason,
                    expires_at=expires,
                    actor=ctx.actor.username,
                    connection=session.connection(),
                )
            except EntryError as exc:
                raise _invalid(exc.issues) from None
            except DuplicateEntry as exc:
                raise ApiError(
                    409,
                    "lists.duplicate",
                    f"{LIST_TITLES[name]['zh']}中已有 {exc.existing.value}"
                    f"（编号 {exc.existing.id}）",
                    f"the {name} list already has {exc.existing.kind} {exc.existing.value} "
                    f"(id {exc.existing.id})",
                    entry=exc.existing.to_json(),
                ) from None
            audit.record(
                session,
                "lists.add",
                actor=ctx.actor.username,
                target=f"{name}:{entry.value}",
                ip=ctx.actor.ip,
                detail=entry.to_json(),
            )
            session.commit()
        store.invalidate()
        return JSONResponse(entry.to_json(), status_code=201)

    @api("data.manage", tag="lists", responses={404: "no such entry"})
    def lists_delete(ctx: Context) -> dict[str, Any]:
        """Remove an entry."""
        name = _list_name(ctx)
        entry_id = int(ctx.path("entry_id"))
        existing = store.get(entry_id)
        if existing is None or existing.list != name:
            raise ApiError(
                404,
                "lists.entry_unknown",
                f"{LIST_TITLES[name]['zh']}中没有编号为 {entry_id} 的号码",
                f"the {name} list has no entry {entry_id}",
            )
        with Session(ctx.services.engine) as session:
            store.delete(entry_id, connection=session.connection())
            audit.record(
                session,
                "lists.delete",
                actor=ctx.actor.username,
                target=f"{name}:{existing.value}",
                ip=ctx.actor.ip,
                detail=existing.to_json(),
            )
            session.commit()
        store.invalidate()
        return {"ok": True}

    @api("flows.read", tag="lists")
    def lists_check(ctx: Context) -> dict[str, Any]:
        """What lists.check decides for ?number=… now (result: blocked, allowed, vip or
        anonymous — not a number), with the deciding entry."""
        now = datetime.now(UTC)
        return decide(store.entries(), ctx.query("number") or "", now).to_json()

    return [
        Route("/api/lists", lists_index, methods=["GET"]),
        Route("/api/lists-check", lists_check, methods=["GET"]),
        Route("/api/lists/{list}", lists_entries, methods=["GET"]),
        Route("/api/lists/{list}", lists_add, methods=["POST"]),
        Route("/api/lists/{list}/{entry_id:int}", lists_delete, methods=["DELETE"]),
    ]
