"""Numbers and entries: normalisation, the three match kinds, and which entry wins.

Normalisation (callers and entries alike): spaces, dashes, dots and brackets are removed, then
a leading ``+86`` or ``0086`` (China's country code) is stripped. What is left must be 1–20
digits; anything else — empty, ``anonymous``, ``unknown``, letters — is *not a number*
(:func:`normalise` returns ``None``) and the node's anonymous policy applies.

Entry kinds:

* ``exact`` — the whole number (3–20 digits);
* ``prefix`` — the number starts with these digits (1–20), e.g. ``170`` for a virtual carrier;
* ``pattern`` — a *safe* wildcard, never a regular expression: digits, ``?`` for exactly one
  digit, and at most one ``*`` at the end for any (possibly empty) tail; at most 20 characters
  and at least one digit. Matching is a linear walk, so no pattern can be slow.

Most specific wins within a list: an exact entry, then the longest prefix, then the pattern
with the most literal digits (then the longest, then the oldest). Expired entries never match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = [
    "KINDS",
    "LISTS",
    "Entry",
    "Issue",
    "best_match",
    "check_value",
    "matches",
    "normalise",
]

LISTS = ("block", "allow", "vip")
KINDS = ("exact", "prefix", "pattern")
MAX_DIGITS = 20

_SEPARATORS = re.compile(r"[\s\-.()（）]+")
_DIGITS = re.compile(r"^[0-9]{1,20}$")


def normalise(number: str | None) -> str | None:
    """The caller's digits (``+86 139-1234-5678`` → ``13912345678``), or None when it is not
    a number (empty, withheld, letters)."""
    if not number:
        return None
    text = _SEPARATORS.sub("", str(number))
    if text.startswith("+86"):
        text = text[3:]
    elif text.startswith("0086"):
        text = text[4:]
    return text if _DIGITS.match(text) else None


@dataclass(frozen=True)
class Issue:
    pointer: str
    code: str
    message_zh: str
    message_en: str
    severity: str = "error"

    def to_json(self) -> dict[str, str]:
        return {
            "pointer": self.pointer,
            "code": self.code,
            "message_zh": self.message_zh,
            "message_en": self.message_en,
            "severity": self.severity,
        }


def _pattern_issue(value: str) -> Issue | None:
    if not value:
        return Issue("/value", "lists.value_empty", "号码规则不能为空。", "The pattern is empty.")
    if len(value) > MAX_DIGITS:
        return Issue(
            "/value",
            "lists.value_length",
            f"号码规则最多 {MAX_DIGITS} 个字符（现有 {len(value)} 个）。",
            f"A pattern has at most {MAX_DIGITS} characters (this one has {len(value)}).",
        )
    for position, char in enumerate(value, 1):
        if (char.isascii() and char.isdigit()) or char == "?":
            continue
        if char == "*":
            if position == len(value):
                continue
            return Issue(
                "/value",
                "lists.pattern_star",
                f"号码规则第 {position} 个字符：“*” 只能出现在末尾（表示任意后续号码）。",
                f"Pattern character {position}: '*' may only come last (any tail).",
            )
        return Issue(
            "/value",
            "lists.pattern_char",
            f"号码规则第 {position} 个字符 “{char}” 无效：只能用数字、?（一位数字）和末尾的 *"
            "（不支持正则表达式）。",
            f"Pattern character {position} {char!r} is not allowed: only digits, ? (one digit) "
            "and a final * (regular expressions are not supported).",
        )
    if not any(c.isdigit() for c in value):
        return Issue(
            "/value",
            "lists.pattern_broad",
            "号码规则至少要有一位数字（否则会匹配所有来电）。",
            "A pattern needs at least one digit (otherwise it matches every caller).",
        )
    return None


def check_value(kind: str, value: str) -> tuple[str, Issue | None]:
    """An entry's value in stored form (numbers normalised) and what is wrong with it."""
    if kind not in KINDS:
        return value, Issue(
            "/kind",
            "lists.kind",
            f"匹配方式 “{kind}” 无效：exact（完整号码）、prefix（号码前缀）或 pattern（规则）。",
            f"Match kind {kind!r} is invalid: exact, prefix or pattern.",
        )
    raw = (value or "").strip()
    if kind == "pattern":
        text = _SEPARATORS.sub("", raw)
        for country in ("+86", "0086"):
            if text.startswith(country) and len(text) > len(country):
                text = text[len(country) :]
        return text, _pattern_issue(text)
    number = normalise(raw)
    lowest = 3 if kind == "exact" else 1
    if number is None or len(number) < lowest:
        where = next(
            (
                i
                for i, c in enumerate(_SEPARATORS.sub("", raw), 1)
                if not (c.isascii() and c.isdigit()) and not (i == 1 and c == "+")
            ),
            None,
        )
        what_zh = "完整号码" if kind == "exact" else "号码前缀"
        what_en = "an exact number" if kind == "exact" else "a prefix"
        detail_zh = f"第 {where} 个字符不是数字；" if where else ""
        detail_en = f"character {where} is not a digit; " if where else ""
        return raw, Issue(
            "/value",
            "lists.value_number",
            f"“{raw}” 不是有效的{what_zh}：{detail_zh}须为 {lowest}–{MAX_DIGITS} 位数字"
            "（可带 +86、空格或横线）。",
            f"{raw!r} is not {what_en}: {detail_en}it must be {lowest}–{MAX_DIGITS} digits "
            "(+86, spaces and dashes allowed).",
        )
    return number, None


def matches(kind: str, value: str, number: str) -> bool:
    """Whether an entry matches a normalised number."""
    if kind == "exact":
        return number == value
    if kind == "prefix":
        return number.startswith(value)
    tail = value.endswith("*")
    body = value[:-1] if tail else value
    if len(number) < len(body) or (not tail and len(number) != len(body)):
        return False
    return all(p in ("?", d) for p, d in zip(body, number, strict=False))


@dataclass(frozen=True)
class Entry:
    id: int
    list: str
    kind: str
    value: str
    reason: str = ""
    expires_at: datetime | None = None
    created_at: datetime | None = None
    created_by: str = ""

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def specificity(self) -> tuple[int, int, int, int]:
        """Higher wins: kind rank, literal digits, length, then the older entry."""
        rank = {"exact": 2, "prefix": 1, "pattern": 0}[self.kind]
        literal = sum(c.isdigit() for c in self.value)
        return (rank, literal, len(self.value), -self.id)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "list": self.list,
            "kind": self.kind,
            "value": self.value,
            "reason": self.reason,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "created_by": self.created_by,
        }


def best_match(entries: list[Entry], number: str, now: datetime) -> Entry | None:
    """The most specific unexpired entry matching ``number``, or None."""
    found = [e for e in entries if not e.expired(now) and matches(e.kind, e.value, number)]
    return max(found, key=Entry.specificity, default=None)
