"""Human-readable rendering of traces and node catalogues (the CLI's output)."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable
from typing import Any

from runtime.trace import Outcome, Step, Trace

__all__ = ["describe_outcome", "format_trace", "pad"]


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def pad(text: str, width: int) -> str:
    """Left-justify counting CJK characters as two columns."""
    return text + " " * max(0, width - _width(text))


_OUTCOMES = {
    "completed": ("通话正常结束", "call completed"),
    "hangup": ("来电者挂机", "caller hung up"),
    "error": ("出错结束", "ended by an error"),
    "step_cap": ("超过步数上限，已结束", "stopped: step cap reached"),
    "repeat_cap": ("同一节点重复次数过多，已结束", "stopped: node repeat cap reached"),
}


def describe_outcome(outcome: Outcome | None, language: str = "zh") -> str:
    if outcome is None:
        return "?"
    zh, en = _OUTCOMES.get(outcome.kind, (outcome.kind, outcome.kind))
    text = en if language.startswith("en") else zh
    where = ""
    if outcome.node:
        where = (
            f" (node {outcome.node})" if language.startswith("en") else f"（节点 {outcome.node}）"
        )
    detail = f": {outcome.detail}" if outcome.detail and outcome.kind != "completed" else ""
    return f"{text}{where}{detail}"


def _event_text(event: dict[str, Any], language: str) -> str | None:
    kind = event.get("event")
    en = language.startswith("en")
    if kind == "play":
        return f"▶ {event.get('text', '')}"
    if kind == "say":
        return f"🔊 {event.get('text', '')}"
    if kind == "collect":
        digits = event.get("digits") or ("(none)" if en else "（未按键）")
        return f"⌨ {digits} [{event.get('ended_by')}]"
    if kind == "barge_in":
        return f"⌨ {event.get('key')} (barge-in)"
    if kind == "http":
        head = f"⇄ {event.get('method', '')} {event.get('url') or ''}"
        if event.get("error"):
            return f"{head} ✗ {event['error']}"
        return f"{head} → {event.get('status')} ({event.get('ms', 0)} ms)"
    if kind == "branch":
        if event.get("rule") is None:
            return "· " + ("no rule matched → default" if en else "没有规则成立 → default")
        return f"· {event.get('when')} → {event.get('exit')}"
    if kind == "queue":
        return f"☎ queue {event.get('queue')} priority={event.get('priority')}"
    if kind in ("queue_result", "dial_result", "voicemail_result"):
        return f"  → {event.get('status')}"
    if kind == "dial":
        return f"☎ dial {event.get('number')}"
    if kind == "voicemail":
        return f"✉ voicemail {event.get('mailbox')}"
    if kind == "record":
        return f"● record {event.get('status')}"
    if kind == "fallback":
        return f"↪ fallback → {event.get('to')} ({event.get('reason')})"
    if kind == "hangup":
        return "✆ hang up" if en else "✆ 挂机"
    if kind in ("answer", "menu"):
        return None
    rest = {k: v for k, v in event.items() if k != "event"}
    return f"· {kind} {json.dumps(rest, ensure_ascii=False)}" if rest else f"· {kind}"


def _step_lines(step: Step, language: str) -> Iterable[str]:
    indent = "  " * step.depth
    exit_text = f"→ {step.exit}" if step.exit else ("■" if not step.error else "✗")
    head = (
        f"{step.index:>4}  {indent}{pad(step.node, 22 - len(indent))} "
        f"{pad(step.type, 22)} {exit_text}"
    )
    yield head
    detail_indent = " " * 8 + indent
    for event in step.events:
        text = _event_text(event, language)
        if text:
            yield detail_indent + text
    for name, value in step.vars_changed.items():
        shown = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
        yield f"{detail_indent}$ {name} = {shown}"
    if step.error:
        label = "error" if language.startswith("en") else "错误"
        yield f"{detail_indent}! {label}: {step.error}"


def format_trace(trace: Trace, *, language: str = "zh", header: str = "") -> str:
    lines = [header] if header else []
    for step in trace.steps:
        lines.extend(_step_lines(step, language))
    label = "Outcome" if language.startswith("en") else "结果"
    lines.append(f"{label}: {describe_outcome(trace.outcome, language)}")
    return "\n".join(lines)
