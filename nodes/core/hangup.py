"""``core.hangup`` — end the call, optionally after a goodbye prompt."""

from __future__ import annotations

from typing import Any

from nodes.api import Node
from runtime.call import Call


class Hangup(Node):
    type = "core.hangup"
    version = 1
    title = {"zh": "挂机", "en": "Hang up"}
    description = {
        "zh": "（可先播放结束语）结束通话。",
        "en": "Ends the call, optionally after a goodbye prompt.",
    }
    category = "basic"
    config_schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "prompts": {
                "type": "array",
                "title": "结束语 / Goodbye prompts",
                "maxItems": 20,
                "items": {"type": "string", "x-ivrflow": "prompt"},
                "default": [],
            },
        },
    }
    terminal = True
    optional_exits = frozenset()

    async def run(self, call: Call, config: dict[str, Any]) -> None:
        if config["prompts"]:
            await call.play(config["prompts"], barge_in=False)
        await call.hangup()
