"""``core.voicemail`` — let the caller leave a message in a mailbox.

``mailbox`` is a template (``complaints@fund``, or ``{{area_mailbox}}``); after rendering it
must be 1–64 characters of letters, digits and ``_ . @ -``, else the node takes ``error``
without touching Asterisk (no AGI/dial-string injection through a variable). ``greeting``
chooses the mailbox greeting: ``unavailable``, ``busy`` or ``none``.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from nodes.api import ConfigIssue, Node
from runtime.call import Call, VoicemailStatus
from runtime.template import PLACEHOLDER_RE, render

MAILBOX_RE = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")


class Voicemail(Node):
    type = "core.voicemail"
    version = 1
    title: ClassVar[dict[str, str]] = {"zh": "留言信箱", "en": "Voicemail"}
    description: ClassVar[dict[str, str]] = {
        "zh": "请来电者在语音信箱留言（如下班时间或排队过久时）。",
        "en": "Lets the caller leave a message in a voice mailbox (e.g. out of hours or after "
        "a long wait).",
    }
    category = "transfer"
    config_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["mailbox"],
        "properties": {
            "mailbox": {
                "type": "string",
                "title": "信箱 / Mailbox",
                "description": "字母、数字和 _ . @ -，可用 {{变量}}。 Letters, digits and "
                "_ . @ -; may use {{variable}}.",
                "minLength": 1,
                "maxLength": 200,
                "x-ivrflow": "template",
            },
            "greeting": {
                "type": "string",
                "title": "问候语 / Greeting",
                "enum": ["unavailable", "busy", "none"],
                "default": "unavailable",
            },
        },
    }
    exits = ("completed", "error")

    @classmethod
    def check_config(cls, config: dict[str, Any]) -> list[ConfigIssue]:
        mailbox = config.get("mailbox", "")
        if PLACEHOLDER_RE.search(mailbox) or MAILBOX_RE.match(mailbox.strip()):
            return []
        return [
            ConfigIssue(
                "/mailbox",
                "voicemail.invalid_mailbox",
                f"信箱“{mailbox}”无效：只能包含字母、数字和 _ . @ -（最多 64 个字符）。",
                f"Mailbox '{mailbox}' is invalid: only letters, digits and _ . @ - (at most 64).",
            )
        ]

    async def run(self, call: Call, config: dict[str, Any]) -> str:
        mailbox = render(config["mailbox"], call.vars).strip()
        if not MAILBOX_RE.match(mailbox):
            call.note("voicemail_refused", reason="invalid mailbox", mailbox=mailbox)
            return "error"
        result = await call.voicemail(mailbox, greeting=config["greeting"])
        return "completed" if result.status == VoicemailStatus.COMPLETED else "error"
