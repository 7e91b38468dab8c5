"""``core.return`` — end this flow with a named outcome.

In a sub-flow, the calling ``core.subflow`` node takes the exit with the same name (an outcome
it does not list takes its ``error`` exit); the sub-flow's variables go back through its
``outputs``. In a top-level flow, returning ends the call (the runtime hangs up politely).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from nodes.api import Node
from runtime.call import Call


class Return(Node):
    type = "core.return"
    version = 1
    title: ClassVar[dict[str, str]] = {"zh": "返回", "en": "Return"}
    description: ClassVar[dict[str, str]] = {
        "zh": "结束本流程并给出结果（如 ok、failed）；调用它的“子流程”节点按这个结果选择出口。"
        "在主流程中使用则结束通话。",
        "en": "Ends this flow with an outcome (e.g. ok, failed); the calling sub-flow node "
        "takes the exit of that name. In a top-level flow it ends the call.",
    }
    category = "flow"
    config_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "outcome": {
                "type": "string",
                "title": "结果 / Outcome",
                "description": "调用方“子流程”节点的出口名。 "
                "The exit the calling sub-flow node takes.",
                "pattern": "^[A-Za-z0-9_-]{1,32}$",
                "default": "done",
            }
        },
    }
    terminal = True
    optional_exits = frozenset()

    @classmethod
    def outcome(cls, config: Mapping[str, Any]) -> str | None:
        return config.get("outcome", "done")

    async def run(self, call: Call, config: dict[str, Any]) -> None:
        call.end_flow(config["outcome"])
        call.note("return", outcome=config["outcome"])
