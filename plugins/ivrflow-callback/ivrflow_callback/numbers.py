"""Which numbers can be called back, and how they are stored and shown.

:func:`callback_number` turns what the network delivered (or what a template rendered) into
the digits staff will dial, or says why it cannot:

* spaces, dashes, dots and brackets are removed, then a leading ``+86`` or ``0086`` (China's
  country code) is stripped — a landline in international form gets its trunk ``0`` back
  (``+86 10 8888 1234`` → ``01088881234``); a bare ``86…`` is kept (it could be a real
  number);
* a mobile number dialled in from another province often arrives with a trunk ``0``
  (``013912345678``): that ``0`` is stripped;
* what is left must be a PRC mobile number (``1[3-9]`` + 9 digits), a landline with its
  area code (``010``/``02x`` + 8 digits, ``0xxx`` + 7 or 8 digits; the local part does not
  start with 0 or 1), or a local landline number without area code (7 or 8 digits, not
  starting with 0 or 1).

Anything else — empty, ``anonymous``/``unknown``/``private``, letters, 95xxx service
numbers, a wrong length — is refused with a reason code (``empty``, ``withheld``,
``not_digits``, ``length``).

:func:`mask` hides all but the last four digits (``*******5678``): what traces and the audit
log show. The designer's list shows the whole number — staff must be able to dial it.
"""

from __future__ import annotations

import re

__all__ = ["WITHHELD", "callback_number", "mask", "mask_digits"]

WITHHELD = frozenset(
    {"anonymous", "unknown", "private", "restricted", "unavailable", "withheld", "asterisk"}
)

_SEPARATORS = re.compile(r"[\s\-.()（）]+")
_MOBILE = re.compile(r"^1[3-9][0-9]{9}$")
_LANDLINE = re.compile(r"^0(?:10|2[0-9])[2-9][0-9]{7}$|^0[3-9][0-9]{2}[2-9][0-9]{6,7}$")
_LOCAL = re.compile(r"^[2-9][0-9]{6,7}$")
_TRUNK_MOBILE = re.compile(r"^01[3-9][0-9]{9}$")
_LONG_DIGITS = re.compile(r"[0-9]{5,}")


def callback_number(raw: str | None) -> tuple[str | None, str]:
    """``(digits, "")`` for a number that can be called back, else ``(None, why)`` with
    ``why`` one of ``empty``, ``withheld``, ``not_digits``, ``length``."""
    text = _SEPARATORS.sub("", str(raw or ""))
    if not text:
        return None, "empty"
    if text.lower() in WITHHELD:
        return None, "withheld"
    international = text.startswith(("+86", "0086"))
    if international:
        text = text[3:] if text.startswith("+") else text[4:]
    if not text.isascii() or not text.isdigit():
        return None, "not_digits"
    if international and _LANDLINE.match("0" + text):
        return "0" + text, ""  # +86 10 8888 1234: the area code without its trunk 0
    if _TRUNK_MOBILE.match(text):
        text = text[1:]
    if _MOBILE.match(text) or _LANDLINE.match(text) or _LOCAL.match(text):
        return text, ""
    return None, "length"


def mask(number: str | None) -> str:
    """All but the last four characters as ``*`` (numbers of four or fewer: all masked)."""
    text = str(number or "")
    if len(text) <= 4:
        return "*" * len(text)
    return "*" * (len(text) - 4) + text[-4:]


def mask_digits(text: str) -> str:
    """``text`` with every run of five or more digits masked (for error messages that may
    quote a number)."""
    return _LONG_DIGITS.sub(lambda m: mask(m.group(0)), text)
