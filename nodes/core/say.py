"""``core.say`` — say a number, money amount, date, time, weekday or digit string."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nodes.api import ConfigIssue, Node
from nodes.core._ask import LANGUAGE_PATTERN
from prompts.say import SAY_KINDS, SayError, normalize_language, spell
from runtime.call import Call
from runtime.template import render_value, variables_in


class Say(Node):
    type = "core.say"
    version = 1
    title = {"zh": "播报数值", "en": "Say a value"}
    description = {
        "zh": "用数字语音播报数字、金额（元角分）、日期、时间、星期或逐位读数字串，"
        "例如“您的余额为 {{balance}} 元”中的余额。值无法播报时走“出错”出口。",
        "en": "Says a number, money amount (yuan/jiao/fen), date, time, weekday or digit "
        "string through the number prompts, e.g. an account balance. A value that cannot be "
        "said takes the error exit.",
    }
    category = "basic"
    config_schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["kind", "value"],
        "properties": {
            "kind": {
                "type": "string",
                "enum": list(SAY_KINDS),
                "title": "播报方式 / Say as",
                "description": "number 数字 · money 金额（元角分）· digits 逐位读 · date 日期 · "
                "time 时间 · weekday 星期。",
            },
            "value": {
                "type": "string",
                "minLength": 1,
                "maxLength": 200,
                "x-ivrflow": "template",
                "title": "值 / Value",
                "description": "通常是一个变量，例如 {{balance}}；也可以是固定值。"
                " Usually a variable such as {{balance}}; a fixed value also works.",
            },
            "language": {
                "type": "string",
                "pattern": LANGUAGE_PATTERN,
                "x-ivrflow": "language",
                "title": "语言 / Language",
                "description": "留空则使用通话当前的语言。 Empty: the call's current language.",
            },
            "barge_in": {
                "type": "boolean",
                "default": False,
                "title": "允许按键打断 / Caller may interrupt with a key",
            },
        },
    }
    exits = ("next", "error")
    optional_exits = frozenset({"error"})

    @classmethod
    def check_config(cls, config: Mapping[str, Any]) -> list[ConfigIssue]:
        issues: list[ConfigIssue] = []
        language = config.get("language")
        if isinstance(language, str):
            try:
                normalize_language(language)
            except SayError as exc:
                issues.append(
                    ConfigIssue("/language", "say.language", exc.message_zh, exc.message_en)
                )
                return issues
        value = config.get("value")
        # a fixed value (no {{variable}}) can be checked now rather than on a live call
        if isinstance(value, str) and "{{" not in value:
            try:
                spell(str(config.get("kind")), value, language or "zh-CN")
            except SayError as exc:
                issues.append(ConfigIssue("/value", "say.value", exc.message_zh, exc.message_en))
        return issues

    async def run(self, call: Call, config: dict[str, Any]) -> str:
        kind, template = config["kind"], config["value"]
        value = render_value(template, call.vars)
        if value is None or (isinstance(value, str) and not value.strip()):
            call.note(
                "say_error",
                kind=kind,
                value=template,
                reason_zh="要播报的值为空",
                reason_en="the value to say is empty",
            )
            return "error"
        try:
            await call.say(
                kind, value, language=config.get("language"), barge_in=config["barge_in"]
            )
        except SayError as exc:
            if any(call.is_secret(name) for name in variables_in(template)):
                # the message quotes the value: keep a secret one out of the trace
                reason_zh = f"保密变量的值无法读作{kind}"
                reason_en = f"the secret value cannot be said as {kind}"
            else:
                reason_zh, reason_en = exc.message_zh, exc.message_en
            call.note(
                "say_error", kind=kind, value=template, reason_zh=reason_zh, reason_en=reason_en
            )
            return "error"
        return "next"
