"""The plugin's designer API: the sent, queued and failed messages, and sending a failed one
again.

==========================================  =============  ===================================
``GET  /api/sms/messages``                  flows.read     newest first; ``?status=queued|sent|
                                                           failed&phone=…&call_id=…&limit=…``
                                                           (1–500, default 100) ``&before=ID``
                                                           (the next page)
``GET  /api/sms/messages/{id}``             flows.read     one message
``POST /api/sms/messages/{id}/retry``       data.manage  queue a ``failed`` message again
                                                           (attempts from 0, sent at once);
                                                           409 if it is not failed
==========================================  =============  ===================================

A retry sends a real SMS to a citizen, so it needs the publisher's permission (publishers and
administrators) and is written to ivrflow's audit log (``sms.retry``) in the same transaction.
Phone numbers and texts are returned in full to every signed-in user who can read flows (like
call traces and the survey API).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session
from starlette.routing import BaseRoute, Route

from designer import audit
from designer.problems import ApiError
from designer.web import Context, api
from ivrflow_sms.gateway import mask_phone
from ivrflow_sms.node import normalize_mobile
from ivrflow_sms.store import STATUSES, NotRetryable, SmsOutbox

__all__ = ["AUDIT_ACTIONS", "DEFAULT_LIMIT", "MAX_LIMIT", "make_routes"]

AUDIT_ACTIONS = {"sms.retry": ("重发短信", "sent an SMS again")}
DEFAULT_LIMIT = 100
MAX_LIMIT = 500


def _json(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in record.items()}


def _unknown(message_id: int) -> ApiError:
    return ApiError(
        404, "sms.unknown", f"没有编号为 {message_id} 的短信", f"no SMS message {message_id}"
    )


def make_routes(outbox: SmsOutbox) -> list[BaseRoute]:
    """The plugin's routes, bound to ``outbox`` (which has a database)."""
    audit.register_actions(AUDIT_ACTIONS)

    @api("flows.read", tag="sms", responses={400: "bad query parameters"})
    def sms_messages(ctx: Context) -> dict[str, Any]:
        """Recorded messages, newest first, filtered by status, phone number or call."""
        status = ctx.query("status") or None
        if status is not None and status not in STATUSES:
            raise ApiError(
                400,
                "request.query",
                f"查询参数 status 须为 {'、'.join(STATUSES)} 之一",
                f"query parameter status must be one of {', '.join(STATUSES)}",
            )
        phone = (ctx.query("phone") or "").strip() or None
        if phone is not None:
            phone = normalize_mobile(phone) or phone
        limit = ctx.query_int("limit", DEFAULT_LIMIT, lo=1, hi=MAX_LIMIT)
        before = ctx.query_int("before", None, lo=1)
        found = outbox.messages(
            status=status,
            phone=phone,
            call_id=(ctx.query("call_id") or "").strip() or None,
            limit=limit or DEFAULT_LIMIT,
            before=before,
        )
        return {
            "gateway": {"name": outbox.gateway.name, "delivers": outbox.gateway.delivers},
            "messages": [_json(m) for m in found],
            "next_before": found[-1]["id"] if len(found) == limit else None,
        }

    @api("flows.read", tag="sms", responses={404: "no such message"})
    def sms_message(ctx: Context) -> dict[str, Any]:
        """One recorded message."""
        message_id = int(ctx.path("message_id"))
        found = outbox.get(message_id)
        if found is None:
            raise _unknown(message_id)
        return _json(found)

    @api(
        "data.manage",
        tag="sms",
        responses={404: "no such message", 409: "the message has not failed"},
    )
    def sms_retry(ctx: Context) -> dict[str, Any]:
        """Send a failed message again: queued with its attempts counted from 0."""
        message_id = int(ctx.path("message_id"))
        with Session(ctx.services.engine) as session:
            try:
                record = outbox.retry(message_id, connection=session.connection())
            except LookupError:
                raise _unknown(message_id) from None
            except NotRetryable as exc:
                raise ApiError(
                    409,
                    "sms.not_failed",
                    f"只有发送失败的短信可以重发（该短信状态：{exc.status}）",
                    f"only a failed message can be sent again (this one is {exc.status})",
                    message_status=exc.status,
                ) from None
            audit.record(
                session,
                "sms.retry",
                actor=ctx.actor.username,
                target=f"sms:{message_id}",
                ip=ctx.actor.ip,
                detail={
                    "phone": mask_phone(record["phone"]),
                    "template": record["template"],
                    "call_id": record["call_id"],
                },
            )
            session.commit()
        outbox.nudge()
        return _json(record)

    return [
        Route("/api/sms/messages", sms_messages, methods=["GET"]),
        Route("/api/sms/messages/{message_id:int}", sms_message, methods=["GET"]),
        Route("/api/sms/messages/{message_id:int}/retry", sms_retry, methods=["POST"]),
    ]
