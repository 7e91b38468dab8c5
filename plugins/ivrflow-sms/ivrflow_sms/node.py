"""``sms.send`` — send an SMS (a text with ``{{variable}}`` placeholders) without delaying
the call.

``to`` is a template too (default ``{{caller}}``, the caller's number). After rendering,
spaces, hyphens and brackets are removed and a leading ``+86``, ``0086`` or ``86`` is
stripped; what remains must be a PRC mobile number (11 digits, ``1[3-9]…``), else the node
takes ``invalid_number`` (a landline caller, an anonymous one, a mistyped number).

The text is rendered with the flow's variables (:func:`runtime.template.render`, as
``core.http`` and ``core.set_variable`` do). It is refused — ``error`` exit, nothing sent —
when it uses a **secret** variable (a PIN must never leave in an SMS) or a variable that has
no value (unset, null or empty: “您的余额为元” helps nobody); the trace note names the
variables.

Exits: ``queued`` (the message is handed to the outbox; the call moves on at once — sending,
retrying and recording happen in the background), ``invalid_number``, ``error`` (no outbox,
the outbox is full or closed, a secret or empty variable, a text over
:data:`MAX_TEXT_CHARS` characters).

Trace events: ``sms_queued`` (``to`` masked but for the last 4 digits, ``template``,
``text``, ``chars``, ``ref`` — the ``client_ref`` of the record), ``sms_invalid_number``,
``sms_error`` (``reason``, zh/en text, ``variables`` when one is to blame).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

from ivrflow_sms.gateway import OutgoingSms, mask_phone
from nodes.api import ConfigIssue, Node
from runtime.call import Call
from runtime.template import PLACEHOLDER_RE, lookup, render, stringify, variables_in

__all__ = ["MAX_TEXT_CHARS", "RESOURCE", "SmsSend", "normalize_mobile"]

RESOURCE = "sms"
NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
MAX_TEXT_CHARS = 1000
"""Longest rendered text accepted (the template itself is at most 500 characters)."""
MOBILE_RE = re.compile(r"^1[3-9][0-9]{9}$")
_SEPARATORS = re.compile(r"[\s\-()（）]")


def normalize_mobile(raw: str) -> str | None:
    """The 11-digit PRC mobile number in ``raw`` (``+86 138-0013-8000`` →
    ``13800138000``), or None if it is not one."""
    number = _SEPARATORS.sub("", raw)
    for prefix in ("+86", "0086"):
        if number.startswith(prefix):
            number = number[len(prefix) :]
            break
    else:
        if len(number) == 13 and number.startswith("86"):
            number = number[2:]
    return number if MOBILE_RE.match(number) else None


class SmsSend(Node):
    type = "sms.send"
    version = 1
    title: ClassVar[dict[str, str]] = {"zh": "发送短信", "en": "Send SMS"}
    description: ClassVar[dict[str, str]] = {
        "zh": "向来电者（或变量中的手机号）发送一条短信，内容可用 {{变量}}，例如余额或预约"
        "结果。短信在后台排队发送、失败自动重试并留有记录，通话不会等待。号码不是手机号时走"
        "“号码无效”出口。",
        "en": "Sends an SMS to the caller (or a mobile number from a variable); the text may "
        "use {{variables}}, e.g. a balance or an appointment. The message is queued, sent, "
        "retried and recorded in the background: the call never waits. A number that is not "
        "a mobile number takes the invalid-number exit.",
    }
    category = "integration"
    config_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["text"],
        "properties": {
            "to": {
                "type": "string",
                "minLength": 1,
                "maxLength": 200,
                "default": "{{caller}}",
                "x-ivrflow": "template",
                "title": "手机号 / Mobile number",
                "description": "默认为来电号码 {{caller}}；也可以是保存手机号的变量。"
                "可带 +86。 Default: the caller's number; or a variable holding a mobile "
                "number (+86 is accepted).",
            },
            "template": {
                "type": "string",
                "pattern": NAME_PATTERN,
                "default": "notice",
                "title": "短信模板名 / Template name",
                "description": "记录和统计用的名字，也会传给短信网关（可对应网关备案的模板编号）。"
                " Recorded with the message and passed to the gateway (e.g. its approved "
                "template code).",
            },
            "text": {
                "type": "string",
                "minLength": 1,
                "maxLength": 500,
                "x-ivrflow": "template",
                "title": "短信内容 / Text",
                "description": "可用 {{变量}}，如“您的公积金余额为{{balance}}元。”；签名由网关"
                "添加。不能使用保密变量。 May use {{variables}}; the gateway adds the "
                "signature. Secret variables are refused.",
            },
            "max_attempts": {
                "type": ["integer", "null"],
                "minimum": 1,
                "maximum": 10,
                "default": None,
                "title": "最多发送次数 / Attempts",
                "description": "网关暂时不可用时重试，间隔逐渐加长；留空则用系统设置（默认 5 次）。"
                " Retries while the gateway is unavailable, waiting longer each time; empty: "
                "the system setting (5 by default).",
            },
        },
    }
    exits = ("queued", "invalid_number", "error")
    optional_exits = frozenset({"error"})
    exit_titles: ClassVar[dict[str, dict[str, str]]] = {
        "queued": {"zh": "已提交发送", "en": "Queued"},
        "invalid_number": {"zh": "号码无效", "en": "Not a mobile number"},
    }

    @classmethod
    def check_config(cls, config: Mapping[str, Any]) -> list[ConfigIssue]:
        issues: list[ConfigIssue] = []
        to = config.get("to")
        if isinstance(to, str) and not PLACEHOLDER_RE.search(to) and not normalize_mobile(to):
            issues.append(
                ConfigIssue(
                    "/to",
                    "sms.invalid_number",
                    f"“{to}”不是手机号（11 位，以 13–19 开头）。",
                    f"'{to}' is not a mobile number (11 digits starting with 13–19).",
                )
            )
        return issues

    async def run(self, call: Call, config: dict[str, Any]) -> str:
        text_template: str = config["text"]
        outbox = call.resources.get(RESOURCE)
        if outbox is None:
            return _error(
                call,
                "unavailable",
                "短信插件未启用（没有 sms 资源）",
                "the SMS plugin is not set up (no 'sms' resource)",
            )
        secret = sorted(v for v in variables_in(text_template) if call.is_secret(v))
        if secret:
            return _error(
                call,
                "secret_variable",
                f"短信内容不能包含保密变量：{'、'.join(secret)}",
                f"the text uses secret variables: {', '.join(secret)}",
                variables=secret,
            )
        raw_to = render(config["to"], call.vars).strip()
        phone = normalize_mobile(raw_to)
        if phone is None:
            call.note("sms_invalid_number", to=mask_phone(raw_to), template=config["template"])
            return "invalid_number"
        paths = list(dict.fromkeys(m.group(1) for m in PLACEHOLDER_RE.finditer(text_template)))
        params = {path: stringify(lookup(call.vars, path)) for path in paths}
        empty = [path for path, value in params.items() if not value.strip()]
        if empty:
            return _error(
                call,
                "missing_variable",
                f"短信内容中的变量没有值：{'、'.join(empty)}",
                f"variables in the text have no value: {', '.join(empty)}",
                variables=empty,
            )
        text = render(text_template, call.vars).strip()
        if len(text) > MAX_TEXT_CHARS:
            return _error(
                call,
                "too_long",
                f"短信内容过长（{len(text)} 字，最多 {MAX_TEXT_CHARS} 字）",
                f"the text is too long ({len(text)} characters, at most {MAX_TEXT_CHARS})",
            )
        flow = getattr(call, "flow", None)
        message = OutgoingSms(
            to=phone,
            text=text,
            template=config["template"],
            params=params,
            call_id=call.call_id or "",
            flow=str(getattr(flow, "id", "") or ""),
            node=call.node_id,
            max_attempts=config["max_attempts"],
        )
        try:
            accepted = bool(outbox.submit(message))
        except Exception as exc:  # the outbox must never fail the call
            return _error(
                call,
                "unavailable",
                f"短信发件箱出错：{type(exc).__name__}",
                f"the SMS outbox failed: {type(exc).__name__}",
            )
        if not accepted:
            closed = bool(getattr(outbox, "closed", False))
            return _error(
                call,
                "closed" if closed else "full",
                "短信发件箱已关闭" if closed else "短信发件箱已满，本条短信未发送",
                "the SMS outbox is closed" if closed else "the SMS outbox is full; not sent",
            )
        call.note(
            "sms_queued",
            to=mask_phone(phone),
            template=config["template"],
            text=text,
            chars=len(text),
            ref=message.client_ref,
        )
        return "queued"


def _error(call: Call, reason: str, zh: str, en: str, **data: Any) -> str:
    call.note("sms_error", reason=reason, reason_zh=zh, reason_en=en, **data)
    return "error"
