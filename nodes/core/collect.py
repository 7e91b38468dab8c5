"""``core.collect`` — collect a number (account, ID, PIN, date…) into a variable."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from nodes.api import ConfigIssue, Node
from nodes.core._ask import (
    Verdict,
    ask,
    input_spec,
    max_attempts_schema,
    prompt_list_schema,
    retry_prompts_schemas,
    timeout_ms_schema,
)
from runtime.call import Call

VARIABLE_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"


class Collect(Node):
    type = "core.collect"
    version = 1
    title = {"zh": "按键输入", "en": "Collect digits"}
    description = {
        "zh": "播放提示，收取来电者输入的一串数字（账号、证件号、密码、日期……）存入变量。"
        "位数不够或格式不符为“无效输入”；没有按键为“超时”。可设为保密（如密码），"
        "轨迹中不显示所按的数字。",
        "en": "Plays the prompts and collects a string of digits (account, ID number, PIN, "
        "date…) into a variable. Too few digits or a pattern mismatch is invalid; no key at "
        "all is a timeout. Secret entries (PINs) never appear in traces.",
    }
    category = "input"
    config_schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["variable"],
        "properties": {
            "prompts": prompt_list_schema(
                "提示 / Prompts",
                "例如“请输入您的公积金账号，以井号键结束”。"
                " E.g. 'Enter your account number, then the hash key'.",
            ),
            "variable": {
                "type": "string",
                "pattern": VARIABLE_PATTERN,
                "x-ivrflow": "variable-out",
                "title": "存入变量 / Store in variable",
                "description": "输入的数字以文本保存（保留开头的 0）。"
                " The digits are stored as text (leading zeros kept).",
            },
            "min_digits": {
                "type": "integer",
                "minimum": 1,
                "maximum": 32,
                "default": 1,
                "title": "最少位数 / Minimum digits",
            },
            "max_digits": {
                "type": "integer",
                "minimum": 1,
                "maximum": 32,
                "default": 6,
                "title": "最多位数 / Maximum digits",
                "description": "输满即结束，不必按结束键。"
                " Entry ends by itself at this many digits.",
            },
            "terminator": {
                "type": "string",
                "enum": ["#", "*", ""],
                "default": "#",
                "title": "结束键 / End key",
                "description": "按此键结束输入（不计入数字）；空表示没有结束键。"
                " Ends the entry (not part of it); empty: no end key.",
            },
            "first_timeout_ms": timeout_ms_schema(
                "等待第一个按键（毫秒） / Wait for the first key (ms)",
                "留空则使用流程设置。 Empty: the flow's setting.",
            ),
            "inter_digit_timeout_ms": timeout_ms_schema(
                "按键间隔（毫秒） / Time between keys (ms)",
                "超过此时间不再按键即视为输入结束；留空则使用流程设置。"
                " A pause this long ends the entry; empty: the flow's setting.",
            ),
            "pattern": {
                "type": "string",
                "maxLength": 200,
                "title": "格式（正则表达式） / Pattern (regular expression)",
                "description": "整串输入须完全匹配，例如 ^\\d{6}$。"
                " The whole entry must match, e.g. ^\\d{6}$.",
            },
            "secret": {
                "type": "boolean",
                "default": False,
                "title": "保密（密码、证件号） / Secret (PIN, ID number)",
                "description": "轨迹和日志中以 * 显示。 Masked in traces and logs.",
            },
            "max_attempts": max_attempts_schema(),
            **retry_prompts_schemas(),
            "barge_in": {
                "type": "boolean",
                "default": True,
                "title": "允许按键打断 / Caller may interrupt with a key",
            },
        },
    }
    exits = ("ok", "timeout", "invalid")
    optional_exits = frozenset()
    waits_for_input = True

    @classmethod
    def check_config(cls, config: Mapping[str, Any]) -> list[ConfigIssue]:
        issues: list[ConfigIssue] = []
        low, high = config.get("min_digits", 1), config.get("max_digits", 6)
        if isinstance(low, int) and isinstance(high, int) and low > high:
            issues.append(
                ConfigIssue(
                    "/min_digits",
                    "collect.min_above_max",
                    f"最少位数（{low}）大于最多位数（{high}），来电者永远无法输入成功。",
                    f"Minimum digits ({low}) is more than maximum digits ({high}): no entry "
                    "could ever be accepted.",
                )
            )
        pattern = config.get("pattern")
        if isinstance(pattern, str):
            try:
                re.compile(pattern)
            except re.error as exc:
                issues.append(
                    ConfigIssue(
                        "/pattern",
                        "collect.bad_pattern",
                        f"格式不是有效的正则表达式：{exc}",
                        f"The pattern is not a valid regular expression: {exc}",
                    )
                )
        return issues

    async def run(self, call: Call, config: dict[str, Any]) -> str:
        variable = config["variable"]
        secret = config["secret"] or call.is_secret(variable)
        min_digits, max_digits = config["min_digits"], config["max_digits"]
        pattern = re.compile(config["pattern"]) if config.get("pattern") else None
        spec = input_spec(
            call,
            min_digits=min_digits,
            max_digits=max_digits,
            terminator=config["terminator"],
            first_timeout_ms=config["first_timeout_ms"],
            inter_digit_timeout_ms=config["inter_digit_timeout_ms"],
            barge_in=config["barge_in"],
            secret=secret,
        )

        def judge(digits: str) -> Verdict:
            if len(digits) < min_digits:
                return Verdict.reject("too_short")
            if pattern is not None and not pattern.fullmatch(digits):
                return Verdict.reject("pattern")
            return Verdict.accept(digits)

        answer = await ask(
            call,
            event="collect_attempt",
            prompts=config["prompts"],
            spec=spec,
            max_attempts=config["max_attempts"],
            timeout_prompts=config["timeout_prompts"],
            invalid_prompts=config["invalid_prompts"],
            judge=judge,
            field="digits",
        )
        if answer.outcome != "ok":
            return answer.outcome
        if secret:
            call.mark_secret(variable)
        call.vars[variable] = answer.value
        return "ok"
