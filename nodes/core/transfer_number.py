"""``core.transfer_number`` — connect the caller to an outside number.

``number`` is a template (a fixed number, or ``{{branch_phone}}`` looked up earlier). After
rendering it must be 1–32 characters of ``0-9 * # +`` — anything else takes ``error`` without
dialling, so a variable can never smuggle extra dial-string parts (``123&SIP/evil``) or AGI
syntax into Asterisk. ``caller_id``, when set, obeys the same rule (empty: the default
caller id).

Exits follow the dial result: ``completed`` (answered; the far end hung up and the caller is
still here), ``busy``, ``no_answer``, ``unavailable``, ``congestion``, ``error``.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from nodes.api import ConfigIssue, Node
from runtime.call import Call, DialStatus
from runtime.template import PLACEHOLDER_RE, render

NUMBER_RE = re.compile(r"^[0-9*#+]{1,32}$")


def _literal_issue(config: dict[str, Any], key: str, what_zh: str, what_en: str) -> list:
    value = config.get(key)
    if not isinstance(value, str) or PLACEHOLDER_RE.search(value):
        return []
    if key == "caller_id" and value.strip() == "":
        return []
    if NUMBER_RE.match(value.strip()):
        return []
    return [
        ConfigIssue(
            f"/{key}",
            f"transfer_number.invalid_{key}",
            f"{what_zh}“{value}”无效：只能包含数字、*、# 和 +（最多 32 位）。",
            f"{what_en} '{value}' is invalid: only digits, *, # and + (at most 32).",
        )
    ]


class TransferNumber(Node):
    type = "core.transfer_number"
    version = 1
    title: ClassVar[dict[str, str]] = {"zh": "转接外线号码", "en": "Transfer to number"}
    description: ClassVar[dict[str, str]] = {
        "zh": "把来电转接到一个电话号码（如网点电话），可以是固定号码或变量。",
        "en": "Connects the caller to a phone number (e.g. a branch office), fixed or from a "
        "variable.",
    }
    category = "transfer"
    config_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["number"],
        "properties": {
            "number": {
                "type": "string",
                "title": "号码 / Number",
                "description": "数字、*、#、+，可用 {{变量}}。 Digits, *, #, +; may use "
                "{{variable}}.",
                "minLength": 1,
                "maxLength": 200,
                "x-ivrflow": "template",
            },
            "timeout_s": {
                "type": "integer",
                "title": "振铃超时（秒） / Ring timeout (s)",
                "minimum": 5,
                "maximum": 120,
                "default": 30,
            },
            "caller_id": {
                "type": "string",
                "title": "主叫号码 / Caller id",
                "description": "留空使用默认。 Empty: the default.",
                "maxLength": 200,
                "x-ivrflow": "template",
            },
        },
    }
    exits = ("completed", "busy", "no_answer", "unavailable", "congestion", "error")

    @classmethod
    def check_config(cls, config: dict[str, Any]) -> list[ConfigIssue]:
        return _literal_issue(config, "number", "号码", "Number") + _literal_issue(
            config, "caller_id", "主叫号码", "Caller id"
        )

    async def run(self, call: Call, config: dict[str, Any]) -> str:
        number = render(config["number"], call.vars).strip()
        if not NUMBER_RE.match(number):
            call.note("dial_refused", reason="invalid number", number=number)
            return "error"
        caller_id = render(config.get("caller_id") or "", call.vars).strip()
        if caller_id and not NUMBER_RE.match(caller_id):
            call.note("dial_refused", reason="invalid caller id", caller_id=caller_id)
            return "error"
        result = await call.dial(number, timeout_s=config["timeout_s"], caller_id=caller_id)
        try:
            return str(DialStatus(result.status))
        except ValueError:
            call.note("dial_unknown_status", status=str(result.status))
            return "error"
