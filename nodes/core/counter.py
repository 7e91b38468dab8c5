"""``core.counter`` — count passes through a loop and leave it after a limit.

The pattern "3 tries then agent" (三次输错转人工) — put the counter *before* the prompt::

    tries (core.counter: variable "pin_tries", max 3)
      │ next                              │ exceeded
      ▼                                   ▼
    ask_pin (core.collect) ──ok──▶ …    to_agent (core.transfer_queue)
      │ invalid / timeout
      └──────────▶ back to tries

Each pass adds one to the variable (unset or empty counts as 0; any other non-number restarts
the count) and stores it. While the count is at most ``max`` the call takes ``next``; the pass
after that takes ``exceeded``. Above, passes 1–3 reach ``ask_pin`` (exactly 3 tries) and the
4th goes to the agent. The counter does not reset itself: to reuse it later in the call, set
the variable to 0 with ``core.set_variable``.

Because it bounds the loop, the validator accepts a loop through a counter even when no node
in it waits for the caller.
"""

from __future__ import annotations

import math
import re
from typing import Any, ClassVar

from nodes.api import Node
from runtime.call import Call

_NUMBER_RE = re.compile(r"^[+-]?[0-9]+(\.[0-9]+)?$")


def _count(value: Any) -> int | None:
    """The count held in a variable; None when the value is not a number."""
    if value is None or value == "":
        return 0
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return max(value, 0)
    if isinstance(value, float):
        return max(int(value), 0) if math.isfinite(value) else None
    if isinstance(value, str) and _NUMBER_RE.match(value.strip()):
        return max(int(float(value.strip())), 0)
    return None


class Counter(Node):
    type = "core.counter"
    version = 1
    title: ClassVar[dict[str, str]] = {"zh": "计数器", "en": "Counter"}
    description: ClassVar[dict[str, str]] = {
        "zh": "每经过一次把变量加 1；超过最大次数后走“超过次数”出口。"
        "用于“输错三次转人工”等重试限制。",
        "en": "Adds 1 to a variable on each pass; once it goes over the maximum the call takes "
        "'Limit reached'. Use it to limit retries (e.g. three wrong PINs, then an agent).",
    }
    category = "logic"
    config_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["variable"],
        "properties": {
            "variable": {
                "type": "string",
                "title": "计数变量 / Counter variable",
                "pattern": "^[A-Za-z_][A-Za-z0-9_]{0,63}$",
                "x-ivrflow": "variable-out",
            },
            "max": {
                "type": "integer",
                "title": "最大次数 / Maximum passes",
                "minimum": 1,
                "maximum": 100,
                "default": 3,
            },
        },
    }
    exits = ("next", "exceeded")
    optional_exits = frozenset()
    bounds_loops = True

    async def run(self, call: Call, config: dict[str, Any]) -> str:
        name = config["variable"]
        current = call.vars.get(name)
        count = _count(current)
        if count is None:
            call.note("counter_reset", variable=name, reason="value is not a number")
            count = 0
        count += 1
        call.vars[name] = count
        exceeded = count > config["max"]
        call.note("counter", variable=name, count=count, max=config["max"], exceeded=exceeded)
        return "exceeded" if exceeded else "next"
