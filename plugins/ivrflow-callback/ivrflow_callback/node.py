"""``callback.register`` — register the caller's number for a callback (回拨登记).

Used where the hotline cannot serve a caller now: the queue is too long (after
``core.transfer_queue``'s ``timeout``), after hours (after ``schedule.route``), or when the
caller asks for a callback in a menu. Staff see the pending requests in the designer.

Exits:

* ``registered`` — a new pending request was stored;
* ``already`` — this number already has a pending request. Nothing is duplicated: the
  existing request is kept with its ``requested_at`` (its place in the list), its
  ``attempts`` counter is raised by one and ``last_requested_at`` set, so staff see how often
  the caller tried;
* ``invalid_number`` — the rendered ``phone`` is empty, withheld (``anonymous``…), not digits
  or not a plausible PRC number (see :mod:`ivrflow_callback.numbers`);
* ``error`` — no database (``ivrflow simulate`` without ``--database``), the plugin not set
  up, a database error, or no answer within ``timeout_ms``: the flow plays its apology
  (unwired: the flow's fallback). The caller never waits longer than ``timeout_ms``.

Every outcome is noted in the trace (``callback``, ``callback_invalid_number`` or
``callback_error``) with the number masked but for its last four digits.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, ClassVar

from sqlalchemy.exc import DBAPIError

from ivrflow_callback.numbers import callback_number, mask, mask_digits
from ivrflow_callback.store import REASON_RE
from nodes.api import Node
from runtime.call import Call
from runtime.template import render

__all__ = ["RESOURCE", "CallbackRegister"]

log = logging.getLogger("ivrflow.callback")

RESOURCE = "callback"
"""The key of the plugin's :class:`~ivrflow_callback.store.CallbackStore` in
``call.resources``."""

INVALID_ZH = {
    "empty": "号码为空",
    "withheld": "号码被隐藏",
    "not_digits": "号码含非数字字符",
    "length": "不是有效的手机或固定电话号码",
}


def _describe(exc: BaseException) -> str:
    """A short, number-free description of a failure for the trace and the log."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        first = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else ""
        return mask_digits(f"{type(exc.orig).__name__}: {first}"[:200])
    return mask_digits(f"{type(exc).__name__}: {exc}"[:200])


class CallbackRegister(Node):
    type = "callback.register"
    version = 1
    title: ClassVar[dict[str, str]] = {"zh": "登记回拨", "en": "Register a callback"}
    description: ClassVar[dict[str, str]] = {
        "zh": "暂时无法接听时（排队过长、非工作时间、来电人要求），登记来电号码，"
        "由坐席稍后回拨；同一号码已有待回拨登记时不重复登记。",
        "en": "When the caller cannot be served now (queue too long, after hours, on "
        "request) registers the number for a callback by staff; a number with a pending "
        "request is not registered twice.",
    }
    category = "logic"
    timeout_s = 10.0  # the node bounds itself by timeout_ms (at most 5 s); this is a backstop
    config_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "phone": {
                "type": "string",
                "title": "回拨号码 / Number to call back",
                "description": "默认为来电号码；可用 {{变量}}，如来电人输入的号码。 The caller's "
                "number by default; may use {{variable}}, e.g. a number the caller keyed in.",
                "minLength": 1,
                "maxLength": 200,
                "x-ivrflow": "template",
                "default": "{{caller}}",
            },
            "reason": {
                "type": "string",
                "title": "原因 / Reason",
                "description": "简短代码，如 queue_timeout（排队超时）、after_hours（非工作时间）、"
                "caller_request（来电人要求）。 A short code, e.g. queue_timeout, after_hours, "
                "caller_request.",
                "pattern": REASON_RE,
                "default": "caller_request",
            },
            "queue": {
                "type": "string",
                "title": "技能组 / 队列 / Skill or queue",
                "description": "回拨由哪个队列的坐席处理（可选）。 Which queue's agents should "
                "call back (optional).",
                "pattern": "^[A-Za-z0-9_-]{1,64}$",
                "x-ivrflow": "queue",
            },
            "note": {
                "type": "string",
                "title": "备注 / Note",
                "description": "给坐席的备注（可选），可用 {{变量}}，如所选业务。 A note for "
                "the agent (optional); may use {{variable}}, e.g. the chosen service.",
                "maxLength": 200,
                "x-ivrflow": "template",
                "default": "",
            },
            "timeout_ms": {
                "type": "integer",
                "title": "最长等待（毫秒） / Longest wait (ms)",
                "description": "数据库在此时间内未完成登记则走“出错”出口。 If the database "
                "has not stored the request by then, take the error exit.",
                "minimum": 100,
                "maximum": 5000,
                "default": 2000,
            },
        },
    }
    exits = ("registered", "already", "invalid_number", "error")
    exit_titles: ClassVar[dict[str, dict[str, str]]] = {
        "registered": {"zh": "已登记", "en": "Registered"},
        "already": {"zh": "已有待回拨登记", "en": "Already registered"},
        "invalid_number": {"zh": "号码无效", "en": "Invalid number"},
    }

    async def run(self, call: Call, config: dict[str, Any]) -> str:
        raw = render(config["phone"], call.vars).strip()
        phone, why = callback_number(raw)
        if phone is None:
            call.note(
                "callback_invalid_number",
                phone=mask(raw),
                why=why,
                why_zh=INVALID_ZH[why],
            )
            return "invalid_number"
        timeout_ms = config["timeout_ms"]
        store = call.resources.get(RESOURCE)
        flow = getattr(call, "flow", None)
        try:
            if store is None:
                raise RuntimeError("the callback plugin is not set up (no callback resource)")
            registration = await asyncio.wait_for(
                store.register(
                    phone,
                    call_id=call.call_id,
                    flow=getattr(flow, "id", "") or "",
                    reason=config["reason"],
                    queue=config.get("queue"),
                    note=render(config["note"], call.vars).strip(),
                    at=call.now(),
                    timeout_ms=timeout_ms,
                ),
                timeout=timeout_ms / 1000,
            )
        except TimeoutError:
            log.warning("callback.register: no answer from the database in %d ms", timeout_ms)
            call.note(
                "callback_error",
                phone=mask(phone),
                reason=f"timeout after {timeout_ms} ms",
                reason_zh=f"数据库 {timeout_ms} 毫秒内未响应",
            )
            return "error"
        except Exception as exc:  # no database, database down: the flow's apology
            described = _describe(exc)
            log.warning("callback.register: the request cannot be stored: %s", described)
            call.note(
                "callback_error",
                phone=mask(phone),
                reason=described,
                reason_zh="回拨登记无法保存",
            )
            return "error"
        request = registration.request
        result = "registered" if registration.created else "already"
        call.note(
            "callback",
            result=result,
            phone=mask(phone),
            id=request.id,
            reason=request.reason,
            queue=request.queue,
            attempts=request.attempts,
        )
        return result
