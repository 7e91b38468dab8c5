"""``core.menu`` — a DTMF menu: one key per option, each option its own exit."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nodes.api import ConfigIssue, Node
from nodes.core._ask import (
    DTMF_KEY_SCHEMA,
    Verdict,
    ask,
    duplicate_keys,
    input_spec,
    max_attempts_schema,
    option_keys,
    prompt_list_schema,
    retry_prompts_schemas,
    timeout_ms_schema,
)
from runtime.call import Call


class Menu(Node):
    type = "core.menu"
    version = 1
    title = {"zh": "按键菜单", "en": "Menu"}
    description = {
        "zh": "播放菜单提示，等待来电者按一个键，按所按的键走对应出口。没有按键或按错时可重复"
        "询问；次数用完后走“超时”或“无效输入”出口。",
        "en": "Plays the menu prompts and waits for one key; each option key is its own exit. "
        "Asks again after silence or a wrong key; when attempts run out, takes the timeout or "
        "invalid exit.",
    }
    category = "input"
    config_schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["prompts", "options"],
        "properties": {
            "prompts": prompt_list_schema(
                "菜单提示 / Menu prompts",
                "例如“个人账户查询请按 1……”。 E.g. 'For your account, press 1…'.",
                min_items=1,
                default=False,
            ),
            "options": {
                "type": "array",
                "title": "选项 / Options",
                "description": "每个按键一个出口。 Each key is an exit of the node.",
                "minItems": 1,
                "maxItems": 12,
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["key"],
                    "properties": {
                        "key": DTMF_KEY_SCHEMA,
                        "label": {
                            "type": "string",
                            "maxLength": 100,
                            "title": "说明 / Label",
                            "description": "例如“个人账户查询”。 E.g. 'Personal account'.",
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
    exits = ("timeout", "invalid")
    optional_exits = frozenset()
    waits_for_input = True

    @classmethod
    def exits_for(cls, config: Mapping[str, Any]) -> tuple[str, ...]:
        keys = option_keys(config.get("options"))
        return (*keys, *(e for e in cls.exits if e not in keys))

    @classmethod
    def exit_title(cls, exit_name: str, config: Mapping[str, Any] | None = None) -> dict[str, str]:
        options = (config or {}).get("options")
        for option in options if isinstance(options, list) else ():
            if not isinstance(option, Mapping) or option.get("key") != exit_name:
                continue
            label = option.get("label")
            if isinstance(label, str) and label.strip():
                label = label.strip()
                return {"zh": f"按 {exit_name}：{label}", "en": f"Key {exit_name}: {label}"}
            break
        return super().exit_title(exit_name, config)

    @classmethod
    def check_config(cls, config: Mapping[str, Any]) -> list[ConfigIssue]:
        return duplicate_keys(config.get("options", []), "menu.duplicate_key")

    async def run(self, call: Call, config: dict[str, Any]) -> str:
        keys = option_keys(config["options"])
        spec = input_spec(
            call,
            min_digits=1,
            max_digits=1,
            terminator=None,
            first_timeout_ms=config["timeout_ms"],
            barge_in=config["barge_in"],
        )

        def judge(digits: str) -> Verdict:
            return Verdict.accept(digits) if digits in keys else Verdict.reject()

        answer = await ask(
            call,
            event="menu",
            prompts=config["prompts"],
            spec=spec,
            max_attempts=config["max_attempts"],
            timeout_prompts=config["timeout_prompts"],
            invalid_prompts=config["invalid_prompts"],
            judge=judge,
        )
        return answer.value if answer.outcome == "ok" else answer.outcome
