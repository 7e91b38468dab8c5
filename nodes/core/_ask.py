"""Shared by the input nodes (``core.menu``, ``core.collect``, ``core.language_select``): ask
the caller up to N times, and the schema pieces those nodes have in common.

One loop, one set of rules (competitors got these wrong — timeouts sent down the success
branch, timeout and invalid swapped):

* silence (nothing pressed before the first-key timeout) is a **timeout**, never an empty
  success;
* anything pressed that the node does not accept is **invalid**;
* after a failure, if attempts remain, the node's timeout or invalid prompts are played
  (not interruptible, so a key meant for the menu is not swallowed by them) and the caller
  is asked again from the start;
* when attempts run out, the outcome is that of the **last** attempt;
* every attempt is noted in the trace (``attempt``, what was pressed, ``result``); a secret
  entry is noted as ``*`` per digit, never the digits.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nodes.api import ConfigIssue
from runtime.call import DTMF_KEYS, Call, CollectSpec

__all__ = [
    "DTMF_KEY_SCHEMA",
    "LANGUAGE_PATTERN",
    "Answer",
    "Verdict",
    "ask",
    "duplicate_keys",
    "input_spec",
    "max_attempts_schema",
    "option_keys",
    "prompt_list_schema",
    "retry_prompts_schemas",
    "timeout_ms_schema",
]

OK = "ok"
TIMEOUT = "timeout"
INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a node makes of one entry: accepted (with the value to use) or invalid (why)."""

    ok: bool
    value: Any = None
    reason: str | None = None

    @classmethod
    def accept(cls, value: Any) -> Verdict:
        return cls(True, value)

    @classmethod
    def reject(cls, reason: str | None = None) -> Verdict:
        return cls(False, None, reason)


@dataclass(frozen=True, slots=True)
class Answer:
    """How asking ended: ``outcome`` is ``"ok"``, ``"timeout"`` or ``"invalid"`` (the last
    attempt's failure); ``value`` is the accepted value; ``attempts`` how many were made."""

    outcome: str
    value: Any = None
    attempts: int = 0


def input_spec(
    call: Call,
    *,
    min_digits: int,
    max_digits: int,
    terminator: str | None,
    first_timeout_ms: int | None,
    inter_digit_timeout_ms: int | None = None,
    barge_in: bool,
    secret: bool = False,
) -> CollectSpec:
    """A :class:`CollectSpec`; a timeout left ``None`` comes from the flow's settings."""
    settings = call.settings
    return CollectSpec(
        min_digits=min_digits,
        max_digits=max_digits,
        terminator=terminator or None,
        first_timeout_ms=(
            settings.input_timeout_ms if first_timeout_ms is None else first_timeout_ms
        ),
        inter_digit_timeout_ms=(
            settings.inter_digit_timeout_ms
            if inter_digit_timeout_ms is None
            else inter_digit_timeout_ms
        ),
        barge_in=barge_in,
        secret=secret,
    )


async def ask(
    call: Call,
    *,
    event: str,
    prompts: Sequence[str],
    spec: CollectSpec,
    max_attempts: int,
    timeout_prompts: Sequence[str],
    invalid_prompts: Sequence[str],
    judge: Callable[[str], Verdict],
    field: str = "key",
) -> Answer:
    """Ask up to ``max_attempts`` times; ``judge`` decides on each non-empty entry.

    Each attempt is noted as ``call.note(event, attempt=n, <field>=…, result=…)`` (plus
    ``reason`` when invalid). :class:`~runtime.call.CallerHangup` propagates.
    """
    outcome = TIMEOUT
    for attempt in range(1, max_attempts + 1):
        result = await call.collect(list(prompts), spec)
        verdict = None if result.timed_out else judge(result.digits)
        if verdict is None:
            outcome, shown = TIMEOUT, None
        else:
            outcome = OK if verdict.ok else INVALID
            shown = "*" * len(result.digits) if spec.secret else result.digits
        data: dict[str, Any] = {"attempt": attempt, field: shown, "result": outcome}
        if verdict is not None and verdict.reason:
            data["reason"] = verdict.reason
        call.note(event, **data)
        if verdict is not None and verdict.ok:
            return Answer(OK, verdict.value, attempt)
        if attempt < max_attempts:
            retry = timeout_prompts if outcome == TIMEOUT else invalid_prompts
            if retry:
                await call.play(list(retry), barge_in=False)
    return Answer(outcome, None, max_attempts)


def duplicate_keys(options: Sequence[Any], code: str) -> list[ConfigIssue]:
    """An error for every option whose ``key`` an earlier option already uses."""
    issues: list[ConfigIssue] = []
    first: dict[str, int] = {}
    for i, option in enumerate(options):
        key = option.get("key") if isinstance(option, Mapping) else None
        if not isinstance(key, str):
            continue
        if key in first:
            issues.append(
                ConfigIssue(
                    f"/options/{i}/key",
                    code,
                    f"按键 “{key}” 重复：第 {first[key] + 1} 项已使用这个按键。",
                    f"Key '{key}' is used twice: option {first[key] + 1} already uses it.",
                )
            )
        else:
            first[key] = i
    return issues


def option_keys(options: Any) -> list[str]:
    """The distinct option keys, in order (tolerates a malformed config)."""
    keys: list[str] = []
    for option in options if isinstance(options, list) else ():
        key = option.get("key") if isinstance(option, Mapping) else None
        if isinstance(key, str) and key not in keys:
            keys.append(key)
    return keys


# -- schema pieces ---------------------------------------------------------------------------

LANGUAGE_PATTERN = r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$"
"""A language tag such as ``zh-CN`` or ``en-US`` (as in the flow document's schema)."""

DTMF_KEY_SCHEMA: dict[str, Any] = {
    "type": "string",
    "enum": list(DTMF_KEYS),
    "title": "按键 / Key",
}


def prompt_list_schema(
    title: str,
    description: str | None = None,
    *,
    min_items: int = 0,
    default: bool = True,
) -> dict[str, Any]:
    """An array of prompt ids (``x-ivrflow: prompt``), at most 20."""
    schema: dict[str, Any] = {"type": "array", "title": title}
    if description:
        schema["description"] = description
    if min_items:
        schema["minItems"] = min_items
    schema["maxItems"] = 20
    schema["items"] = {"type": "string", "x-ivrflow": "prompt"}
    if default:
        schema["default"] = []
    return schema


def max_attempts_schema() -> dict[str, Any]:
    return {
        "type": "integer",
        "minimum": 1,
        "maximum": 10,
        "default": 3,
        "title": "最多询问次数 / Attempts",
        "description": (
            "一共询问来电者几次（含第一次）；次数用完后按最后一次的情况走“超时”或“无效输入”出口。"
            " How many times the caller is asked in total; then the timeout or invalid exit "
            "is taken, by the last attempt."
        ),
    }


def timeout_ms_schema(title: str, description: str) -> dict[str, Any]:
    return {
        "type": ["integer", "null"],
        "minimum": 500,
        "maximum": 60000,
        "default": None,
        "title": title,
        "description": description,
    }


def retry_prompts_schemas() -> dict[str, dict[str, Any]]:
    """``timeout_prompts`` and ``invalid_prompts``."""
    return {
        "timeout_prompts": prompt_list_schema(
            "超时提示 / Timeout prompts",
            "来电者没有按键时播放，然后重新询问（最后一次不播放）。"
            " Played when the caller pressed nothing, before asking again (not after the "
            "last attempt).",
        ),
        "invalid_prompts": prompt_list_schema(
            "输入错误提示 / Invalid-input prompts",
            "来电者按错时播放，然后重新询问（最后一次不播放）。"
            " Played after a wrong entry, before asking again (not after the last attempt).",
        ),
    }
