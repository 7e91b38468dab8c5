"""``core.branch`` — choose an exit by testing conditions in order.

Each rule has a condition in the flow expression language (``runtime.expr``) and the exit to
take when it holds::

    vip == true                      → vip
    hour() >= 9 and hour() < 17      → open
    startswith(caller, "0571")       → hangzhou

The first rule whose condition is true wins; when none is, the call takes ``default``. A
condition that cannot be evaluated (e.g. ``"abc" < 5``) takes ``error``. Several rules may
share an exit. Truth follows the expression language: ``null``, ``false``, ``0``, ``""``,
``[]`` and ``{}`` are false, everything else (including the text ``"0"``) is true.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from nodes.api import Node
from runtime.call import Call
from runtime.expr import ExpressionError, parse

RESERVED_EXITS = ("default", "error")


class Branch(Node):
    type = "core.branch"
    version = 1
    title: ClassVar[dict[str, str]] = {"zh": "条件分支", "en": "Branch"}
    description: ClassVar[dict[str, str]] = {
        "zh": "按顺序检查条件（如 hour() >= 9 and hour() < 17），走第一个成立的条件对应的出口；"
        "都不成立时走“其他情况”。",
        "en": "Tests conditions in order (e.g. hour() >= 9 and hour() < 17) and takes the exit "
        "of the first one that holds; 'Otherwise' when none does.",
    }
    category = "logic"
    config_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["rules"],
        "properties": {
            "rules": {
                "type": "array",
                "title": "条件 / Rules",
                "minItems": 1,
                "maxItems": 32,
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["exit", "when"],
                    "properties": {
                        "exit": {
                            "type": "string",
                            "title": "出口名 / Exit name",
                            "pattern": "^[A-Za-z0-9_-]{1,32}$",
                            "not": {"enum": list(RESERVED_EXITS)},
                        },
                        "when": {
                            "type": "string",
                            "title": "条件 / Condition",
                            "description": '例如 digits == "1" and vip == true。 '
                            'E.g. digits == "1" and vip == true.',
                            "minLength": 1,
                            "maxLength": 1000,
                            "x-ivrflow": "expression",
                        },
                        "label": {
                            "type": "string",
                            "title": "说明 / Label",
                            "description": "出口在画布上显示的名称。 Shown on the exit.",
                            "maxLength": 100,
                        },
                    },
                },
            }
        },
    }
    exits = ("default", "error")

    @classmethod
    def exits_for(cls, config: Mapping[str, Any]) -> tuple[str, ...]:
        names: list[str] = []
        for rule in config.get("rules", ()):
            if rule["exit"] not in names:
                names.append(rule["exit"])
        return (*names, *RESERVED_EXITS)

    @classmethod
    def exit_title(cls, exit_name: str, config: Mapping[str, Any] | None = None) -> dict[str, str]:
        for rule in (config or {}).get("rules", ()):
            label = rule.get("label", "").strip()
            if rule.get("exit") == exit_name and label:
                return {"zh": label, "en": label}
        return super().exit_title(exit_name, config)

    async def run(self, call: Call, config: dict[str, Any]) -> str:
        now = call.now()
        for index, rule in enumerate(config["rules"]):
            try:
                value = parse(rule["when"]).evaluate(call.vars, now=now)
            except ExpressionError as exc:
                call.note(
                    "branch_error",
                    rule=index,
                    when=rule["when"],
                    reason=str(exc),
                    reason_zh=exc.message_zh,
                )
                return "error"
            if value:
                call.note("branch", rule=index, when=rule["when"], exit=rule["exit"])
                return rule["exit"]
        call.note("branch", rule=None, exit="default")
        return "default"
