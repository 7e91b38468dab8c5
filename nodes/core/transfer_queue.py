"""``core.transfer_queue`` — put the caller in an agent queue (skill group).

The caller waits in the Asterisk queue (with announcements and music on hold) until an agent
answers or ``timeout_s`` passes. ``caller_data`` is the screen pop for the agent (caller
number, member id, service category…): each value is a template over the flow's variables.

Secrets never reach the agent's screen: a ``caller_data`` entry whose template reads a secret
variable, or whose text contains the value of one, is dropped (and the drop is traced). VIP
routing: ``priority_variable`` names a variable holding the priority (0–10; higher is served
first) that overrides ``priority`` — e.g. set by a whitelist lookup.

Sticky agent (``sticky_agent.enabled``): a caller whom an agent served within the last
``within_days`` days is offered to that agent first — rung directly for ``ring_s`` seconds when
the agent is free, else (busy, no answer, offline) queued as usual. The agent comes from the
``ivrflow.agent_history`` resource (the runtime's call records); without it, or for a caller
without a usable number, the node queues as usual. The caller's number never enters the trace.
With AMI, the runtime also skips an agent who is paused in the queue or not a member of it
(``sticky_skipped`` in the ``queue_result`` trace event); without AMI, or while AMI is down,
only the device state decides (see examples/asterisk/README.md, "Sticky agent").

Exits: ``completed`` (an agent took the call and has finished; the caller is still on the line,
e.g. for a satisfaction survey), ``timeout`` (waited too long: offer voicemail or a callback),
``unavailable`` (no agent logged in, queue full), ``error``.
"""

from __future__ import annotations

import asyncio
import math
import re
from datetime import datetime, timedelta
from typing import Any, ClassVar

from nodes.api import Node
from runtime.call import Call, QueueRequest, QueueStatus
from runtime.history import AGENT_HISTORY, AgentRef
from runtime.template import render, stringify, variables_in

_NUMBER_RE = re.compile(r"^[+-]?[0-9]+(\.[0-9]+)?$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]+")
MAX_CALLER_DATA_LENGTH = 256
MIN_PRIORITY, MAX_PRIORITY = 0, 10
_CALLER_RE = re.compile(r"^\+?[0-9]{3,32}$")
HISTORY_TIMEOUT_S = 2.0
"""Longest wait for the agent history: a slow database must not keep the caller waiting."""


def _priority(value: Any) -> int | None:
    """An integer priority from a variable's value (number or numeric text), else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        number: float = value
    elif isinstance(value, float) and math.isfinite(value):
        number = value
    elif isinstance(value, str) and _NUMBER_RE.match(value.strip()):
        number = float(value.strip())
    else:
        return None
    return min(max(round(number), MIN_PRIORITY), MAX_PRIORITY)


def secret_values(call: Call) -> list[str]:
    """Text of every secret variable's current value (non-empty)."""
    out = []
    for name in list(call.vars):
        if call.is_secret(name):
            text = stringify(call.vars.get(name))
            if text:
                out.append(text)
    return out


def _leaks(text: str, secrets: list[str]) -> bool:
    # Short secrets (1–2 characters) would match almost anything as a substring; for them only
    # the whole value counts (the same threshold as the trace's masking).
    return any(s in text if len(s) >= 3 else s == text for s in secrets)


class TransferQueue(Node):
    type = "core.transfer_queue"
    version = 1
    title: ClassVar[dict[str, str]] = {"zh": "转人工（排队）", "en": "Transfer to queue"}
    description: ClassVar[dict[str, str]] = {
        "zh": "把来电转入坐席队列（技能组）排队等待，可设置优先级、排队超时、等待音乐和"
        "随路数据（弹屏给坐席的信息，保密变量不会发送）。",
        "en": "Puts the caller in an agent queue (skill group) with a priority, a wait limit, "
        "music on hold and screen-pop data for the agent (secret variables are never sent).",
    }
    category = "transfer"
    config_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["queue"],
        "properties": {
            "queue": {
                "type": "string",
                "title": "队列 / Queue",
                "pattern": "^[A-Za-z0-9_-]{1,64}$",
                "x-ivrflow": "queue",
            },
            "priority": {
                "type": "integer",
                "title": "优先级 / Priority",
                "description": "0–10，数值大的先接。 0–10; higher is served first.",
                "minimum": MIN_PRIORITY,
                "maximum": MAX_PRIORITY,
                "default": 0,
            },
            "priority_variable": {
                "type": "string",
                "title": "优先级变量 / Priority variable",
                "description": "若设置，用该变量的值（0–10）作为优先级，例如 VIP。 "
                "If set, its value (0–10) overrides the priority, e.g. for VIPs.",
                "pattern": "^[A-Za-z_][A-Za-z0-9_]{0,63}$",
                "x-ivrflow": "variable-in",
            },
            "timeout_s": {
                "type": "integer",
                "title": "最长排队时间（秒） / Longest wait (s)",
                "minimum": 10,
                "maximum": 3600,
                "default": 300,
            },
            "caller_data": {
                "type": "object",
                "title": "随路数据 / Caller data for the agent",
                "description": "名称（大写字母）→ 值（可用 {{变量}}）。 "
                "NAME (upper case) → value (may use {{variable}}).",
                "maxProperties": 20,
                "propertyNames": {"pattern": "^[A-Z][A-Z0-9_]{0,31}$"},
                "additionalProperties": {
                    "type": "string",
                    "maxLength": 500,
                    "x-ivrflow": "template",
                },
                "default": {},
            },
            "announce": {
                "type": "array",
                "title": "排队前提示 / Announcements",
                "maxItems": 20,
                "items": {"type": "string", "x-ivrflow": "prompt"},
                "default": [],
            },
            "agent_variable": {
                "type": "string",
                "title": "坐席变量 / Agent variable",
                "description": "若设置，接听坐席（Asterisk 报告的成员）写入该变量，"
                "例如供满意度调查。 If set, the agent who answered (as Asterisk reports the "
                "member) is stored in it, e.g. for a satisfaction survey.",
                "pattern": "^[A-Za-z_][A-Za-z0-9_]{0,63}$",
                "x-ivrflow": "variable-out",
            },
            "queue_variable": {
                "type": "string",
                "title": "队列变量 / Queue variable",
                "description": "若设置，队列名写入该变量。 "
                "If set, the queue's name is stored in it.",
                "pattern": "^[A-Za-z_][A-Za-z0-9_]{0,63}$",
                "x-ivrflow": "variable-out",
            },
            "music_class": {
                "type": "string",
                "title": "等待音乐 / Music on hold class",
                "description": "留空使用队列默认。 Empty: the queue's default.",
                "pattern": "^[A-Za-z0-9_-]{0,64}$",
                "default": "",
            },
            "sticky_agent": {
                "type": "object",
                "title": "熟客坐席优先 / Sticky agent",
                "description": "来电者近期由某坐席服务过时，先直接振铃该坐席（空闲时），"
                "未接再正常排队。连接 AMI 时，跳过已暂停或不属于该队列的坐席。 "
                "If an agent served this caller recently, ring that agent first (when free), "
                "then queue as usual. With AMI, an agent who is paused or not a member of "
                "this queue is skipped.",
                "additionalProperties": False,
                "properties": {
                    "enabled": {
                        "type": "boolean",
                        "title": "启用 / Enabled",
                        "default": False,
                    },
                    "within_days": {
                        "type": "integer",
                        "title": "回溯天数 / Look back (days)",
                        "description": "只看最近这些天内的来电。 "
                        "Only calls within these days count.",
                        "minimum": 1,
                        "maximum": 365,
                        "default": 30,
                    },
                    "ring_s": {
                        "type": "integer",
                        "title": "振铃该坐席（秒） / Ring that agent (s)",
                        "description": "先振铃该坐席的时长，之后转入队列。 "
                        "How long that agent rings before the caller is queued.",
                        "minimum": 5,
                        "maximum": 60,
                        "default": 15,
                    },
                },
            },
        },
    }
    exits = ("completed", "timeout", "unavailable", "error")

    async def run(self, call: Call, config: dict[str, Any]) -> str:
        priority = config["priority"]
        variable = config.get("priority_variable")
        if variable:
            value = call.vars.get(variable)
            from_variable = _priority(value)
            if from_variable is not None:
                priority = from_variable
            elif value not in (None, ""):
                call.note("priority_variable_ignored", variable=variable, reason="not a number")

        secrets = secret_values(call)
        caller_data: dict[str, str] = {}
        for name, template in config["caller_data"].items():
            reads_secret = any(call.is_secret(v) for v in variables_in(template))
            text = render(template, call.vars)
            if reads_secret or _leaks(text, secrets):
                call.note("caller_data_dropped", name=name, reason="secret")
                continue
            caller_data[name] = _CONTROL_RE.sub(" ", text)[:MAX_CALLER_DATA_LENGTH]

        sticky = config.get("sticky_agent") or {}
        preferred = None
        if sticky.get("enabled"):
            preferred = await _sticky_agent(call, within_days=int(sticky.get("within_days", 30)))
        request = QueueRequest(
            queue=config["queue"],
            priority=priority,
            timeout_s=config["timeout_s"],
            caller_data=caller_data,
            announce=tuple(call.prompt(p) for p in config["announce"]),
            music_class=config["music_class"],
            preferred_agent=preferred.interface if preferred else "",
            preferred_agent_name=preferred.name if preferred else "",
            preferred_ring_s=int(sticky.get("ring_s", 15)),
        )
        result = await call.transfer_queue(request)
        if config.get("queue_variable"):
            call.vars[config["queue_variable"]] = config["queue"]
        if config.get("agent_variable"):
            call.vars[config["agent_variable"]] = result.agent or ""
        try:
            return str(QueueStatus(result.status))
        except ValueError:
            call.note("queue_unknown_status", status=str(result.status))
            return "error"


async def _sticky_agent(call: Call, *, within_days: int) -> AgentRef | None:
    """The agent who served this caller within ``within_days`` days, or None (traced as
    ``sticky_agent`` either way; never with the caller's number)."""
    history = call.resources.get(AGENT_HISTORY)
    if history is None:
        call.note("sticky_agent", skipped="no agent history")
        return None
    caller = (call.caller or "").strip()
    if not _CALLER_RE.match(caller):
        call.note("sticky_agent", skipped="caller number unusable")
        return None
    since = call.now() - timedelta(days=within_days)
    try:
        async with asyncio.timeout(HISTORY_TIMEOUT_S):
            found = await history.last_agent(caller, since=since)
    except Exception as exc:  # a lookup problem never fails the call: queue as usual
        call.note("sticky_agent", skipped="history failed", error=type(exc).__name__)
        return None
    interface = getattr(found, "interface", None)
    if not isinstance(interface, str) or not interface:
        call.note("sticky_agent", skipped="no previous agent", within_days=within_days)
        return None
    name = getattr(found, "name", "")
    name = name if isinstance(name, str) else ""
    at = getattr(found, "at", None)
    at = at if isinstance(at, datetime) else call.now()
    call.note("sticky_agent", agent=name, interface=interface, last_call=at.date().isoformat())
    return AgentRef(name, interface, at)
