"""Caller numbers as the network delivers them, and the longest-prefix lookup.

A number is reduced to its national form: spaces, dashes and brackets go, a country code
``+86`` / ``0086`` / ``86`` before a mobile number goes. Then it is

(From abroad, ``+86 755 8321 0000``, a landline loses its 0; it is put back.)

* ``mobile`` — 11 digits starting with 1 (the table holds 号段 prefixes, 3–7 digits, e.g.
  ``1380013``);
* ``landline`` — starting with 0 and at least 10 digits with the area code (the table holds
  area codes, ``010``, ``020``…``029`` and four-digit ones like ``0755``);
* ``local`` — 7 or 8 digits without an area code (a local call: the node's ``local_region``);
* ``None`` — empty, ``anonymous``, letters, anything else: the node's ``unknown`` exit.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["PREFIX_RE", "REGION_RE", "Match", "longest_prefix", "normalise"]

PREFIX_RE = re.compile(r"^(1[0-9]{2,6}|0[1-9][0-9]{1,2})$")
"""A table key: a mobile prefix (1 and 2–6 more digits) or an area code (0 and 2–3 digits)."""
REGION_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")

_SEPARATORS = re.compile(r"[\s\-()]")


def normalise(number: str | None) -> tuple[str, str] | None:
    """``(kind, digits)`` — kind ``mobile``, ``landline`` or ``local`` — or None."""
    text = _SEPARATORS.sub("", number or "")
    international = False
    if text.startswith("+"):
        if not text.startswith("+86"):
            return None  # a foreign number
        text, international = text[3:], True
    elif text.startswith("0086"):
        text, international = text[4:], True
    elif text.startswith("86") and len(text) == 13 and text[2] == "1":
        text = text[2:]
    if not text.isdigit():
        return None
    if international and text[0] not in "01":
        text = "0" + text  # +86 755 …: the area code without its trunk prefix 0
    if len(text) == 11 and text[0] == "1":
        return "mobile", text
    if text[0] == "0" and 10 <= len(text) <= 12:
        return "landline", text
    if 7 <= len(text) <= 8 and text[0] not in "01":
        return "local", text
    return None


@dataclass(frozen=True)
class Match:
    kind: str | None
    """``mobile`` / ``landline`` / ``local`` / None (unusable number)"""
    prefix: str = ""
    region: str = ""


def longest_prefix(number: str | None, table: Mapping[str, str], local_region: str = "") -> Match:
    """The region of the longest table prefix of ``number`` (empty region: none matched)."""
    found = normalise(number)
    if found is None:
        return Match(None)
    kind, digits = found
    if kind == "local":
        return Match(kind, "", local_region)
    for size in range(min(len(digits), 7), 2, -1):
        region = table.get(digits[:size])
        if region:
            return Match(kind, digits[:size], region)
    return Match(kind)
