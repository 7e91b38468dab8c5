"""``core.set_variable`` — set flow variables from expressions or text templates.

Each assignment sets one variable, either to the value of an expression in the flow expression
language (``runtime.expr``: ``number(amount) * 100``, ``concat("尾号", substr(id, -4))``) or to
a text template (``runtime.template``: ``"{{city}}-{{branch}}"``). Assignments run in order, so
a later one sees the values set by earlier ones.

Secrets are contagious: a variable computed from a secret variable (a PIN, an ID card number)
is marked secret before it is set, so it is masked in traces like its source.
"""

from __future__ import annotations

from typing import Any, ClassVar

from nodes.api import ConfigIssue, Node
from runtime.call import Call
from runtime.expr import ExpressionError, parse
from runtime.template import render, variables_in

VARIABLE_NAME = "^[A-Za-z_][A-Za-z0-9_]{0,63}$"


class SetVariable(Node):
    type = "core.set_variable"
    version = 1
    title: ClassVar[dict[str, str]] = {"zh": "设置变量", "en": "Set variables"}
    description: ClassVar[dict[str, str]] = {
        "zh": "按顺序给一个或多个变量赋值：可以写表达式（如 number(amount) * 100），"
        "也可以写带 {{变量}} 占位符的文字。由保密变量算出的值同样保密。",
        "en": "Sets one or more variables in order, each from an expression (e.g. "
        "number(amount) * 100) or from text with {{variable}} placeholders. A value computed "
        "from a secret variable is secret too.",
    }
    category = "logic"
    config_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["assignments"],
        "properties": {
            "assignments": {
                "type": "array",
                "title": "赋值 / Assignments",
                "minItems": 1,
                "maxItems": 20,
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["variable"],
                    "properties": {
                        "variable": {
                            "type": "string",
                            "title": "变量 / Variable",
                            "pattern": VARIABLE_NAME,
                            "x-ivrflow": "variable-out",
                        },
                        "expression": {
                            "type": "string",
                            "title": "表达式 / Expression",
                            "description": "例如 number(amount) * 100。 E.g. number(amount) * 100.",
                            "minLength": 1,
                            "maxLength": 1000,
                            "x-ivrflow": "expression",
                        },
                        "text": {
                            "type": "string",
                            "title": "文字 / Text",
                            "description": "可包含 {{变量}} 占位符。 May contain {{variable}} "
                            "placeholders.",
                            "maxLength": 2000,
                            "x-ivrflow": "template",
                        },
                    },
                },
            }
        },
    }
    exits = ("next", "error")

    @classmethod
    def check_config(cls, config: dict[str, Any]) -> list[ConfigIssue]:
        issues: list[ConfigIssue] = []
        for i, item in enumerate(config.get("assignments", [])):
            has_expr = "expression" in item
            has_text = "text" in item
            if has_expr == has_text:
                issues.append(
                    ConfigIssue(
                        f"/assignments/{i}",
                        "set_variable.expression_or_text",
                        f"第 {i + 1} 项赋值必须且只能填写“表达式”或“文字”其中之一。",
                        f"Assignment {i + 1} needs exactly one of 'expression' or 'text'.",
                    )
                )
        return issues

    async def run(self, call: Call, config: dict[str, Any]) -> str:
        for item in config["assignments"]:
            target = item["variable"]
            if "expression" in item:
                expression = parse(item["expression"])
                reads = expression.variables
                try:
                    value = expression.evaluate(call.vars, now=call.now())
                except ExpressionError as exc:
                    call.note(
                        "expression_error",
                        variable=target,
                        expression=item["expression"],
                        reason=str(exc),
                        reason_zh=exc.message_zh,
                    )
                    return "error"
            else:
                reads = frozenset(variables_in(item["text"]))
                value = render(item["text"], call.vars)
            if any(call.is_secret(name) for name in reads):
                call.mark_secret(target)  # before the value reaches the trace
            call.vars[target] = value
        return "next"
