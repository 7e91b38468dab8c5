"""``lists.check`` — the caller against the block, allow and VIP lists.

Exits:

* ``blocked`` — on the block list (and on neither the allow nor the VIP list);
* ``allowed`` — on no list, or on the allow list (which overrides the block list);
* ``vip`` — on the VIP list (overrides the block list too); the node sets
  ``priority_variable`` (default ``vip_priority``) to ``vip_priority`` (default 5, 0–10), and
  to 0 for everyone else. Wire ``core.transfer_queue`` with
  ``"priority_variable": "vip_priority"`` and VIPs are served first;
* ``anonymous`` — only with ``on_anonymous: "anonymous"``: the number is withheld, empty or not
  a number (see :func:`ivrflow_lists.match.normalise`). Otherwise ``on_anonymous`` sends such
  callers to ``allowed`` (the default) or ``blocked``;
* ``error`` — only with ``on_unavailable: "error"``, when the lists cannot be read (no
  database, database down). The default ``"allowed"`` fails open — a hotline should rather
  take a call it would have blocked than drop a caller — and notes ``lists_unavailable`` in
  the trace.

Every decision is a ``lists`` event in the trace (result, the matching entry of each list).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, ClassVar

from nodes.api import Node
from runtime.call import Call

__all__ = ["RESOURCE", "ListsCheck"]

log = logging.getLogger("ivrflow.lists")

RESOURCE = "lists"
"""The key of the plugin's :class:`~ivrflow_lists.store.ListsStore` in ``call.resources``."""


class ListsCheck(Node):
    type = "lists.check"
    version = 1
    title: ClassVar[dict[str, str]] = {"zh": "黑白名单 / VIP", "en": "Block, allow and VIP lists"}
    description: ClassVar[dict[str, str]] = {
        "zh": "按管理员维护的黑名单、白名单和 VIP 名单分流来电；白名单优先于黑名单，"
        "VIP 来电设置排队优先级变量。",
        "en": "Routes callers by the block, allow and VIP lists admins manage; the allow list "
        "overrides the block list, and VIP callers get a queue priority variable.",
    }
    category = "logic"
    config_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "on_anonymous": {
                "type": "string",
                "title": "隐藏号码 / Withheld numbers",
                "description": "来电号码为空、被隐藏或不是号码时：按允许处理、按黑名单处理，"
                "或走单独的“隐藏号码”出口。 When the number is empty, withheld or not a "
                "number: allowed, blocked, or a separate anonymous exit.",
                "enum": ["allowed", "blocked", "anonymous"],
                "default": "allowed",
            },
            "on_unavailable": {
                "type": "string",
                "title": "名单无法读取时 / When the lists cannot be read",
                "description": "allowed：放行并在轨迹中记录（推荐）；error：走“错误”出口。 "
                "allowed: let the call through and note it in the trace (recommended); "
                "error: take the error exit.",
                "enum": ["allowed", "error"],
                "default": "allowed",
            },
            "priority_variable": {
                "type": "string",
                "title": "优先级存入变量 / Store the queue priority in",
                "description": "VIP 来电设为 VIP 优先级，其他来电设为 0；在“转人工”节点的"
                "“优先级变量”中使用。 VIPs get the VIP priority, others 0; use it as the "
                "transfer node's priority variable.",
                "pattern": "^[A-Za-z_][A-Za-z0-9_]{0,63}$",
                "x-ivrflow": "variable-out",
                "default": "vip_priority",
            },
            "vip_priority": {
                "type": "integer",
                "title": "VIP 优先级 / VIP priority",
                "description": "0–10，数值大的先接。 0–10; higher is served first.",
                "minimum": 0,
                "maximum": 10,
                "default": 5,
            },
        },
    }
    exits = ("blocked", "allowed", "vip", "anonymous", "error")
    exit_titles: ClassVar[dict[str, dict[str, str]]] = {
        "blocked": {"zh": "黑名单", "en": "Blocked"},
        "allowed": {"zh": "放行", "en": "Allowed"},
        "vip": {"zh": "VIP", "en": "VIP"},
        "anonymous": {"zh": "隐藏号码", "en": "Withheld number"},
    }

    @classmethod
    def exits_for(cls, config: Mapping[str, Any]) -> tuple[str, ...]:
        names = ["blocked", "allowed", "vip"]
        if config.get("on_anonymous") == "anonymous":
            names.append("anonymous")
        return (*names, "error")

    async def run(self, call: Call, config: dict[str, Any]) -> str:
        store = call.resources.get(RESOURCE)
        variable = config["priority_variable"]
        call.vars[variable] = 0
        try:
            if store is None:
                raise RuntimeError("the lists plugin is not set up (no lists resource)")
            decision = await store.check(call.caller, call.now())
        except Exception as exc:  # database down, no database: the configured policy
            log.warning("lists.check: the lists cannot be read: %s", exc)
            fallback = config["on_unavailable"]
            call.note(
                "lists_unavailable",
                reason=f"{type(exc).__name__}: {exc}",
                reason_zh="名单无法读取",
                exit=fallback,
            )
            return fallback
        result = decision.result
        if result == "anonymous":
            result = config["on_anonymous"]
        if result == "vip":
            call.vars[variable] = config["vip_priority"]
        entry = decision.entry
        call.note(
            "lists",
            result=decision.result,
            exit=result,
            number=decision.number,
            entry=entry.to_json() if entry else None,
            matched={name: e.id for name, e in decision.matched.items()},
        )
        return result
