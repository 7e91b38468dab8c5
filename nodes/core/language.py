"""``core.language_select`` — let the caller choose the call's language by key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nodes.api import ConfigIssue, Node
from nodes.core._ask import (
    DTMF_KEY_SCHEMA,
    LANGUAGE_PATTERN,
    Verdict,
    ask,
    duplicate_keys,
    input_spec,
    max_attempts_schema,
    prompt_list_schema,
    retry_prompts_schemas,
    timeout_ms_schema,
)
from runtime.call import Call


class LanguageSelect(Node):
    type = "core.language_select"
    version = 1
    title = {"zh": "选择语言", "en": "Choose language"}
    description = {
        "zh": "请来电者按键选择语言（例如“普通话请按 1，For English press 2”），"
        "之后的提示和播报都使用所选语言。",
        "en": "The caller picks a language by key (e.g. 'For Mandarin press 1, for English "
        "press 2'); later prompts and read-outs use it.",
    }
    category = "input"
    config_schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["prompts", "options"],
        "properties": {
            "prompts": prompt_list_schema(
                "提示 / Prompts",
                "例如“普通话请按 1，For English press 2”。"
                " E.g. 'For Mandarin press 1, for English press 2'.",
                min_items=1,
                default=False,
            ),
            "options": {
                "type": "array",
                "title": "语言选项 / Languages",
                "minItems": 1,
                "maxItems": 9,
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["key", "language"],
                    "properties": {
                        "key": DTMF_KEY_SCHEMA,
                        "language": {
                            "type": "string",
                            "pattern": LANGUAGE_PATTERN,
                            "x-ivrflow": "language",
                            "title": "语言 / Language",
                            "description": "例如 zh-CN、en-US。 E.g. zh-CN, en-US.",
                        },
                    },
                },
            },
            "max_attempts": max_attempts_schema(),
            "timeout_ms": timeout_ms_schema(
                "等待按键时间（毫秒） / Wait for a key (ms)",
                "提示播放完后等待按键的时间；留空则使用流程设置。"
                " How long to wait for a key after the prompts; empty: the flow's setting.",
            ),
            **retry_prompts_schemas(),
            "barge_in": {
                "type": "boolean",
                "default": True,
                "title": "允许按键打断 / Caller may interrupt with a key",
            },
        },
    }
    exits = ("next", "timeout", "invalid")
    optional_exits = frozenset()
    waits_for_input = True

    @classmethod
    def check_config(cls, config: Mapping[str, Any]) -> list[ConfigIssue]:
        return duplicate_keys(config.get("options", []), "language_select.duplicate_key")

    async def run(self, call: Call, config: dict[str, Any]) -> str:
        languages: dict[str, str] = {}
        for option in config["options"]:
            languages.setdefault(option["key"], option["language"])
        spec = input_spec(
            call,
            min_digits=1,
            max_digits=1,
            terminator=None,
            first_timeout_ms=config["timeout_ms"],
            barge_in=config["barge_in"],
        )

        def judge(digits: str) -> Verdict:
            language = languages.get(digits)
            return Verdict.accept(language) if language else Verdict.reject()

        answer = await ask(
            call,
            event="language_select",
            prompts=config["prompts"],
            spec=spec,
            max_attempts=config["max_attempts"],
            timeout_prompts=config["timeout_prompts"],
            invalid_prompts=config["invalid_prompts"],
            judge=judge,
        )
        if answer.outcome != "ok":
            return answer.outcome
        call.set_language(answer.value)
        return "next"
