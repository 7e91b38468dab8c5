"""The plugin's designer API: the callback list staff work through.

=========================================  ==============  =====================================
``GET  /api/callbacks``                    flows.read      requests, newest first, with the total
                                                           (?status=pending|done|cancelled|all
                                                           &phone=&from=&to=&reason=&queue=
                                                           &handled_by=&limit=&offset=)
``GET  /api/callbacks/{id}``               flows.read      one request
``POST /api/callbacks/{id}/done``          data.manage  called back: ``{"note": "…"}``
                                                           (optional); 409 if not pending
``POST /api/callbacks/{id}/cancel``        data.manage  no callback needed; 409 if not pending
=========================================  ==============  =====================================

Requests are written only by calls (``callback.register``); staff changes are written to
ivrflow's audit log in the same transaction (``callback.done``, ``callback.cancel``; target
``callback:{id}``, the number masked in the detail). ``from``/``to`` take a date (a Beijing
day, both days included) or a date and time (naive = Beijing time; ``to`` excluded).
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session
from starlette.routing import BaseRoute, Route

from designer import audit
from designer.problems import ApiError
from designer.web import Context, api
from ivrflow_callback.numbers import mask
from ivrflow_callback.store import (
    NOTE_MAX,
    REASON_RE,
    STATUSES,
    CallbackRequest,
    CallbackStore,
    NotPending,
)

__all__ = ["AUDIT_ACTIONS", "DEFAULT_LIMIT", "MAX_LIMIT", "make_routes"]

AUDIT_ACTIONS = {
    "callback.done": ("完成回拨", "completed a callback"),
    "callback.cancel": ("取消回拨", "cancelled a callback"),
}
CHINA = ZoneInfo("Asia/Shanghai")
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
STATUS_ZH = {"pending": "待回拨", "done": "已回拨", "cancelled": "已取消"}

_SEPARATORS = re.compile(r"[\s\-.()（）]+")
_PHONE_FILTER = re.compile(r"^[0-9]{1,20}$")
_REASON = re.compile(REASON_RE)
_QUEUE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class HandleBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(
        default="",
        max_length=NOTE_MAX,
        description="the result of the callback (or why it is cancelled), at most 500 chars",
    )


def _bad_query(name: str, zh: str, en: str) -> ApiError:
    return ApiError(
        400,
        "request.query",
        f"查询参数 {name} {zh}",
        f"query parameter {name} {en}",
        parameter=name,
    )


def _query_time(ctx: Context, name: str, *, end: bool) -> datetime | None:
    raw = (ctx.query(name) or "").strip()
    if not raw:
        return None
    try:
        if len(raw) == 10:
            start = datetime.combine(date.fromisoformat(raw), time(), CHINA)
            return start + timedelta(days=1) if end else start
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise _bad_query(
            name,
            "须为日期或时间，如 2026-07-01 或 2026-07-01T08:30",
            "must be a date or a date and time, e.g. 2026-07-01 or 2026-07-01T08:30",
        ) from None
    return value.replace(tzinfo=CHINA) if value.tzinfo is None else value


def _query_match(ctx: Context, name: str, pattern: re.Pattern[str], zh: str, en: str) -> str | None:
    raw = (ctx.query(name) or "").strip()
    if not raw:
        return None
    if not pattern.match(raw):
        raise _bad_query(name, zh, en)
    return raw


def _phone_filter(ctx: Context) -> str | None:
    raw = _SEPARATORS.sub("", ctx.query("phone") or "")
    if raw.startswith("+86"):
        raw = raw[3:]
    elif raw.startswith("0086") and len(raw) > 4:
        raw = raw[4:]
    if not raw:
        return None
    if not _PHONE_FILTER.match(raw):
        raise _bad_query(
            "phone", "须为 1–20 位数字（号码或其中一段）", "must be 1-20 digits (a number or part)"
        )
    return raw


def _unknown(request_id: int) -> ApiError:
    return ApiError(
        404,
        "callback.unknown",
        f"没有编号为 {request_id} 的回拨登记",
        f"no callback request {request_id}",
    )


def make_routes(store: CallbackStore) -> list[BaseRoute]:
    """The plugin's routes, bound to ``store``."""
    audit.register_actions(AUDIT_ACTIONS)

    @api("flows.read", tag="callbacks", responses={400: "bad query parameters"})
    def callback_list(ctx: Context) -> dict[str, Any]:
        """Callback requests, newest first, with the total matching the filters.

        status: pending (default), done, cancelled or all; phone: digits contained in the
        number; from/to: a date (Beijing day, included) or a time; reason, queue, handled_by:
        exact; limit 1-500 (50), offset."""
        status = (ctx.query("status") or "pending").strip()
        if status not in (*STATUSES, "all"):
            raise _bad_query(
                "status",
                "须为 pending、done、cancelled 或 all",
                "must be pending, done, cancelled or all",
            )
        since = _query_time(ctx, "from", end=False)
        until = _query_time(ctx, "to", end=True)
        if since is not None and until is not None and since >= until:
            raise _bad_query("from", "须早于 to", "must be before to")
        reason = _query_match(
            ctx, "reason", _REASON, "须为小写字母开头的代码", "must be a lower-case code"
        )
        queue = _query_match(ctx, "queue", _QUEUE, "须为队列名", "must be a queue name")
        handled_by = (ctx.query("handled_by") or "").strip()[:100] or None
        limit = ctx.query_int("limit", DEFAULT_LIMIT, lo=1, hi=MAX_LIMIT)
        offset = ctx.query_int("offset", 0, lo=0)
        total, page = store.search(
            status=None if status == "all" else status,
            phone=_phone_filter(ctx),
            since=since,
            until=until,
            reason=reason,
            queue=queue,
            handled_by=handled_by,
            limit=limit or DEFAULT_LIMIT,
            offset=offset or 0,
        )
        return {
            "total": total,
            "limit": limit,
            "offset": offset,
            "callbacks": [r.to_json() for r in page],
        }

    @api("flows.read", tag="callbacks", responses={404: "no such request"})
    def callback_get(ctx: Context) -> dict[str, Any]:
        """One callback request."""
        request_id = int(ctx.path("request_id"))
        found = store.get(request_id)
        if found is None:
            raise _unknown(request_id)
        return found.to_json()

    def finish(ctx: Context, status: str, action: str) -> dict[str, Any]:
        request_id = int(ctx.path("request_id"))
        body = ctx.body(HandleBody) if ctx.raw.strip() else HandleBody()
        with Session(ctx.services.engine) as session:
            try:
                done: CallbackRequest | None = store.finish(
                    request_id,
                    status,
                    actor=ctx.actor.username,
                    result=body.note,
                    connection=session.connection(),
                )
            except NotPending as exc:
                current = exc.request
                raise ApiError(
                    409,
                    "callback.not_pending",
                    f"回拨登记 {request_id} 已是“{STATUS_ZH[current.status]}”状态"
                    f"（{current.handled_by or '?'}）",
                    f"callback request {request_id} is already {current.status} "
                    f"(by {current.handled_by or '?'})",
                    callback=current.to_json(),
                ) from None
            if done is None:
                raise _unknown(request_id)
            audit.record(
                session,
                action,
                actor=ctx.actor.username,
                target=f"callback:{request_id}",
                ip=ctx.actor.ip,
                detail={
                    "phone": mask(done.phone),
                    "reason": done.reason,
                    "queue": done.queue,
                    "status": status,
                    "note": done.result,
                },
            )
            session.commit()
        return done.to_json()

    responses = {404: "no such request", 409: "not pending", 422: "note too long"}

    @api("data.manage", body=HandleBody, tag="callbacks", responses=responses)
    def callback_done(ctx: Context) -> dict[str, Any]:
        """Mark a pending request as called back, with an optional result note."""
        return finish(ctx, "done", "callback.done")

    @api("data.manage", body=HandleBody, tag="callbacks", responses=responses)
    def callback_cancel(ctx: Context) -> dict[str, Any]:
        """Cancel a pending request (no callback needed), with an optional note."""
        return finish(ctx, "cancelled", "callback.cancel")

    return [
        Route("/api/callbacks", callback_list, methods=["GET"]),
        Route("/api/callbacks/{request_id:int}", callback_get, methods=["GET"]),
        Route("/api/callbacks/{request_id:int}/done", callback_done, methods=["POST"]),
        Route("/api/callbacks/{request_id:int}/cancel", callback_cancel, methods=["POST"]),
    ]
