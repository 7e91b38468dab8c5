"""``core.play`` — play one or more prompts."""

from __future__ import annotations

from typing import Any

from nodes.api import Node
from runtime.call import Call


class Play(Node):
    type = "core.play"
    version = 1
    title = {"zh": "播放语音", "en": "Play prompt"}
    description = {
        "zh": "按顺序播放一段或多段语音提示。",
        "en": "Plays one or more prompts in order.",
    }
    category = "basic"
    config_schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["prompts"],
        "properties": {
            "prompts": {
                "type": "array",
                "title": "语音提示 / Prompts",
                "minItems": 1,
                "maxItems": 20,
                "items": {"type": "string", "x-ivrflow": "prompt"},
            },
            "barge_in": {
                "type": "boolean",
                "default": False,
                "title": "允许按键打断 / Caller may interrupt with a key",
            },
        },
    }
    exits = ("next",)
    optional_exits = frozenset()

    async def run(self, call: Call, config: dict[str, Any]) -> str:
        await call.play(config["prompts"], barge_in=config["barge_in"])
        return "next"
