"""``core.start`` — where every flow begins; answers the call."""

from __future__ import annotations

from typing import Any

from nodes.api import Node
from runtime.call import Call


class Start(Node):
    type = "core.start"
    version = 1
    title = {"zh": "开始 / 接听", "en": "Start / answer"}
    description = {
        "zh": "流程的入口：接听来电后进入下一步。每个流程恰好有一个开始节点。",
        "en": "The flow's entry: answers the call, then goes on. Every flow has exactly one.",
    }
    category = "basic"
    config_schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "answer": {
                "type": "boolean",
                "default": True,
                "title": "接听来电 / Answer the call",
                "description": "关闭后不接听（例如只播放早期媒体）。 Off: do not answer.",
            }
        },
    }
    exits = ("next",)
    optional_exits = frozenset()

    async def run(self, call: Call, config: dict[str, Any]) -> str:
        if config["answer"]:
            await call.answer()
        return "next"
