r"""The flow expression language (流程表达式语言).

Branch nodes test conditions and "set variable" nodes compute values with small expressions::

    digits == "1" and account.balance >= 1000
    startswith(caller_id, "0")
    not (menu_choice in ["1", "2", "3"])
    concat("尾号", substr(id_card, -4), "的用户")
    hour() >= 9 and hour() < 17 and weekday() <= 5

The language is parsed by a hand-written tokenizer and recursive-descent parser into a tree of
frozen dataclasses, which is then turned into nested Python closures. Python's ``eval``,
``exec``, ``compile`` and ``ast`` are never used, and a dotted name only ever looks up keys in
JSON objects (dicts) -- never attributes of Python objects -- so an expression cannot reach
anything but the flow's variables and the functions listed below.

Use :func:`parse` (cached) and then :meth:`Expression.evaluate`::

    expr = parse('digits == "1"')
    expr.variables                     # frozenset({'digits'})
    expr.evaluate({"digits": "1"})     # True
    expr.evaluate(call.vars, now=call.now())

Syntax
======

* Literals: ``12``, ``3.5`` (no exponent, no leading ``.``), ``"text"`` or ``'text'`` with the
  escapes ``\\ \' \" \n \t``, ``true``, ``false``, ``null``, lists ``[1, "a", x]``.
* Names: ASCII ``[A-Za-z_][A-Za-z0-9_]*``, optionally dotted: ``account.balance`` reads key
  ``"balance"`` of the JSON object held by variable ``account``. The keywords
  ``and or not in true false null`` are reserved (and lower case: ``AND`` is not a keyword).
* Operators, lowest precedence first:

  ============================================  =============================================
  ``or``                                        either side true
  ``and``                                       both sides true
  ``not``                                       unary
  ``== != < <= > >= in``, ``not in``            comparisons; they do **not** chain:
                                                ``a < b < c`` is a syntax error
  ``+ -``                                       addition, subtraction
  ``* / %``                                     multiplication, division, remainder
  ``-``                                         unary minus
  ``f(a, b)``                                   call of a function from the list below
  ``( )``                                       grouping
  ============================================  =============================================

* Limits (syntax errors): at most 1,000 characters; nesting (parentheses, lists, calls, chains
  of unary ``-``/``not``) at most 32 deep; number literals at most 10^18.
* Calling an unknown function, or a function with the wrong number of arguments, is a syntax
  error reported when the flow is validated, not when a caller reaches the node.

Values and the "string vs number" rule
======================================

Values are ``null`` (None), booleans, integers, decimals (float), text (str), lists and JSON
objects (dict). **Digits a caller keys in arrive as text.** A *numeric string* is text that,
after stripping surrounding whitespace, matches ``^[+-]?[0-9]+(\.[0-9]+)?$`` (ASCII digits);
it converts to an integer (no dot) or a decimal.

Equality ``==`` / ``!=`` (never an error):

* number vs numeric string: compared as numbers -- ``"05" == 5`` is **true**;
* text vs text: compared as text -- ``"05" == "5"`` is **false** (account and ID numbers keep
  their leading zeros; compare with a number literal if you mean the number);
* ``null`` equals only ``null``; ``true``/``false`` equal only booleans (``true == 1`` is false);
* otherwise values of the same kind compare as usual and different kinds are simply unequal.

Ordering ``< <= > >=``:

* numbers, or a number and a numeric string: numeric;
* two strings: numeric if **both** are numeric strings (``"10" > "9"`` is true), otherwise
  dictionary order (``"b" > "a"``);
* anything else (``null``, booleans, lists, objects, a number vs non-numeric text such as
  ``"abc" < 5``) is an evaluation error.

Membership ``x in list`` uses the equality rules above (``5 in ["05"]`` is true);
``x in "text"`` is a substring test (``x`` must be text or a number, a number is written out
in its canonical form, e.g. ``3 in "1234"`` is true). Any other right-hand side is an error.

Arithmetic ``+ - * / %`` and unary ``-`` need numbers or numeric strings (``"5" + 1`` is 6);
anything else is an error -- in particular ``+`` does **not** join text, use ``concat()``.
Booleans are not numbers. Division or remainder by zero is an error. A result that is a whole
number is an integer (``7 / 2`` is 3.5, ``6 / 2`` is 3, ``0.5 + 0.5`` is 1), otherwise a
decimal. ``%`` follows Python: the result has the sign of the divisor (``-7 % 3`` is 2).

``and``, ``or`` and ``not`` always give ``true``/``false`` and short-circuit. Falsy values are
``null``, ``false``, ``0``, ``0.0``, ``""``, ``[]`` and ``{}``; everything else is true --
including the text ``"0"`` (compare explicitly: ``digits == 0``).

Names: reading a variable that does not exist is an error (declared variables that have not
been set yet exist with value ``null``). In ``a.b.c``, a missing key gives ``null``, and a
``null`` part gives ``null`` for the rest of the path; looking up a key in anything that is
not an object (text, number, list...) is an error.

Guards against runaway values (errors): text results longer than 10,000 characters, lists
longer than 1,000 items, numeric results beyond +/-10^18 (or not finite).

Turning values into text (``concat``, ``string``, ``in`` on text): ``null`` -> ``""``,
booleans -> ``"true"``/``"false"``, integers as usual, decimals without a trailing ``.0`` when
whole and never in exponent form (``2.50`` -> ``"2.5"``, ``3.0`` -> ``"3"``), lists and
objects as JSON.

Functions
=========

Text arguments accept text or numbers (numbers are written out as above); ``null``, booleans,
lists and objects there are errors -- use ``default(x, "")`` for possibly-unset variables.

==============================  ===============================================================
``len(x)``                      length of text, list or object
``lower(s)`` ``upper(s)``       change case
``trim(s)``                     strip surrounding whitespace
``startswith(s, prefix)``       ``s`` starts with ``prefix``
``endswith(s, suffix)``         ``s`` ends with ``suffix``
``contains(s, part)``           ``part`` occurs in ``s``
``matches(s, pattern)``         the **whole** of ``s`` matches the Python regular expression
                                ``pattern`` (``re.fullmatch``); pattern at most 200
                                characters, ``s`` at most 1,000. The pattern must be a text
                                literal and is checked when the flow is validated: an
                                invalid pattern, or a nested repeat such as ``(a+)+``
                                (catastrophic backtracking), is a syntax error
``concat(a, b, ...)``           1-16 values joined as text
``number(x)``                   number or numeric string -> number; anything else is an error
``string(x)``                   ``x`` as text
``round(x[, ndigits])``         round half away from zero (四舍五入, ``round(2.5)`` is 3);
                                ``ndigits`` from -10 to 10, default 0
``abs(x)``                      absolute value
``min(a, b, ...)``              smallest / largest of 1-16 values using the ordering rules;
``max(a, b, ...)``              a single list argument means its items. Gives the original
                                value (``max("10", 9)`` is ``"10"``)
``substr(s, start[, length])``  part of ``s`` from index ``start`` (0-based; negative counts
                                from the end) of at most ``length`` characters
``default(x, fallback)``        ``x`` unless it is ``null``, then ``fallback`` (only evaluated
                                when needed)
``hour()`` ``minute()``         current time of day (0-23, 0-59)
``weekday()``                   ISO day of week: 1 = Monday ... 7 = Sunday
``day()`` ``month()``           current day of the month (1-31), month (1-12)
``year()``                      current year
``date()`` ``time()``           ``"2026-10-01"``, ``"09:05"``
==============================  ===============================================================

The clock functions use the ``now`` passed to :meth:`Expression.evaluate` as-is (the runtime
passes ``call.now()``, already in the flow's time zone, Asia/Shanghai by default); evaluating
them without ``now`` is an error.

要点（中文）
============

* 来电按键得到的是文本。数字与“数字文本”比较时按数值：``"05" == 5`` 为真；两个文本比较时按文本：
  ``"05" == "5"`` 为假（账号、证件号保留前导零）。
* 大小比较：两个都是数字文本时按数值（``"10" > "9"``），否则按字典序；``null``、布尔值、列表，
  或数字与非数字文本（``"abc" < 5``）比较大小会报错。
* ``+`` 只做加法，拼接文本请用 ``concat()``；除以零、结果超过 ±10^18 会报错。
* ``null``、``false``、``0``、``""``、``[]``、``{}`` 为假，文本 ``"0"`` 为真。
* 读取不存在的变量会报错；``a.b`` 只读取对象（JSON 对象）的字段，缺少的字段为 ``null``。

Errors
======

:func:`parse` raises :class:`ExpressionSyntaxError` (with the 1-based ``column``);
:meth:`Expression.evaluate` raises :class:`ExpressionError`. Both carry ``message_en`` and
``message_zh`` (简体中文) and are :class:`ValueError` subclasses.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Final, cast

__all__ = [
    "FUNCTIONS",
    "KEYWORDS",
    "MAX_DEPTH",
    "MAX_SOURCE_LENGTH",
    "Arithmetic",
    "Call",
    "Compare",
    "Const",
    "Expression",
    "ExpressionError",
    "ExpressionSyntaxError",
    "FunctionSpec",
    "ListLiteral",
    "Logical",
    "Node",
    "Unary",
    "Var",
    "parse",
]

MAX_SOURCE_LENGTH: Final = 1_000
MAX_DEPTH: Final = 32
MAX_STRING_LENGTH: Final = 10_000
MAX_LIST_LENGTH: Final = 1_000
MAX_NUMBER: Final = 10**18
MAX_PATTERN_LENGTH: Final = 200
MAX_MATCH_SUBJECT_LENGTH: Final = 1_000
MAX_VARIADIC_ARGS: Final = 16

KEYWORDS: Final = frozenset({"and", "or", "not", "in", "true", "false", "null"})


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


class ExpressionSyntaxError(ValueError):
    """The expression text is not valid. ``column`` is 1-based (in characters)."""

    def __init__(self, column: int, message_en: str, message_zh: str) -> None:
        super().__init__(f"{message_en} (column {column})")
        self.column = column
        self.message_en = message_en
        self.message_zh = message_zh

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.column, self.message_en, self.message_zh))


class ExpressionError(ValueError):
    """Evaluating a (syntactically valid) expression failed.

    ``column`` is the 1-based position of the operator, name or function call that failed, when
    known (``None`` otherwise)."""

    def __init__(self, message_en: str, message_zh: str, column: int | None = None) -> None:
        super().__init__(message_en)
        self.message_en = message_en
        self.message_zh = message_zh
        self.column = column

    def __str__(self) -> str:
        if self.column is None:
            return self.message_en
        return f"{self.message_en} (column {self.column})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.message_en, self.message_zh, self.column))


def _locate(exc: ExpressionError, column: int) -> None:
    if exc.column is None:
        exc.column = column


# ---------------------------------------------------------------------------------------------
# Showing values in messages
# ---------------------------------------------------------------------------------------------


def _kind(value: object) -> tuple[str, str]:
    """(English, Chinese) name of a value's kind."""
    if value is None:
        return "null", "空值 null"
    if isinstance(value, bool):
        return "a boolean", "布尔值"
    if isinstance(value, int | float):
        return "a number", "数字"
    if isinstance(value, str):
        return "text", "文本"
    if isinstance(value, list | tuple):
        return "a list", "列表"
    if isinstance(value, Mapping):
        return "an object", "对象"
    return type(value).__name__, type(value).__name__


def _show(value: object) -> tuple[str, str]:
    """(English, Chinese) short rendering of a value for an error message."""
    if value is None:
        return "null", "null"
    if isinstance(value, bool):
        return ("true", "true") if value else ("false", "false")
    if isinstance(value, int | float):
        try:
            text = _number_text(value)
        except ExpressionError:
            text = "a very large number"
        if len(text) > 30:
            text = text[:30] + "…"
        return text, text
    if isinstance(value, str):
        text = value if len(value) <= 30 else value[:30] + "…"
        return repr(text), repr(text)
    return _kind(value)


# ---------------------------------------------------------------------------------------------
# Value rules shared by operators and functions
# ---------------------------------------------------------------------------------------------

_NUMERIC_RE: Final = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _numeric_string(text: str) -> int | float | None:
    """The number a numeric string stands for, or None if it is not one."""
    text = text.strip()
    if not _NUMERIC_RE.fullmatch(text):
        return None
    if "." in text:
        return float(text)
    try:
        return int(text)
    except ValueError:  # more digits than Python converts; astronomically large anyway
        return float(text)


def _as_number(value: object) -> int | float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        return _numeric_string(value)
    return None


def _number_text(value: int | float) -> str:
    """Canonical text of a number: no exponent, no trailing ``.0``."""
    if isinstance(value, int):
        try:
            return str(value)
        except ValueError:  # beyond sys.get_int_max_str_digits()
            raise ExpressionError(
                "number too large to write out as text", "数字太大，无法转换为文本"
            ) from None
    if not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if value.is_integer():
        return str(int(value))
    text = repr(value)
    if "e" in text or "E" in text:
        text = format(Decimal(text), "f")
    return text


def _to_text(value: object) -> str:
    """Any value as text (``concat``, ``string``)."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _number_text(value)
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        raise ExpressionError(
            f"cannot convert {_kind(value)[0]} to text", f"无法把{_kind(value)[1]}转换为文本"
        ) from None


def _equals(a: object, b: object) -> bool:
    if a is None or b is None:
        return a is None and b is None
    a_bool = isinstance(a, bool)
    if a_bool or isinstance(b, bool):
        return a_bool and isinstance(b, bool) and a == b
    if isinstance(a, int | float):
        if isinstance(b, int | float):
            return a == b
        if isinstance(b, str):
            number = _numeric_string(b)
            return number is not None and a == number
        return False
    if isinstance(a, str):
        if isinstance(b, str):
            return a == b
        if isinstance(b, int | float):
            number = _numeric_string(a)
            return number is not None and number == b
        return False
    if isinstance(a, list | tuple):
        return isinstance(b, list | tuple) and list(a) == list(b)
    if isinstance(a, Mapping):
        return isinstance(b, Mapping) and a == b
    return type(a) is type(b) and a == b


def _not_equals(a: object, b: object) -> bool:
    return not _equals(a, b)


def _compare_error(a: object, b: object) -> ExpressionError:
    (a_en, a_zh), (b_en, b_zh) = _show(a), _show(b)
    return ExpressionError(
        f"cannot compare {a_en} with {b_en} (only numbers, numeric text and text can be ordered)",
        f"无法比较 {a_zh} 和 {b_zh}（只有数字、数字文本和文本可以比较大小）",
    )


def _ordered(a: object, b: object) -> tuple[Any, Any]:
    """The pair to order ``a`` and ``b`` by, or an error."""
    if _is_number(a):
        if _is_number(b):
            return a, b
        if isinstance(b, str):
            number = _numeric_string(b)
            if number is not None:
                return a, number
    elif isinstance(a, str):
        if isinstance(b, str):
            left = _numeric_string(a)
            if left is not None:
                right = _numeric_string(b)
                if right is not None:
                    return left, right
            return a, b
        if _is_number(b):
            number = _numeric_string(a)
            if number is not None:
                return number, b
    raise _compare_error(a, b)


def _less(a: object, b: object) -> bool:
    x, y = _ordered(a, b)
    return bool(x < y)


def _less_equal(a: object, b: object) -> bool:
    x, y = _ordered(a, b)
    return bool(x <= y)


def _greater(a: object, b: object) -> bool:
    x, y = _ordered(a, b)
    return bool(x > y)


def _greater_equal(a: object, b: object) -> bool:
    x, y = _ordered(a, b)
    return bool(x >= y)


def _contained(item: object, container: object) -> bool:
    if isinstance(container, list | tuple):
        return any(_equals(item, element) for element in container)
    if isinstance(container, str):
        if isinstance(item, str):
            return item in container
        if isinstance(item, int | float) and not isinstance(item, bool):
            return _number_text(item) in container
        kind_en, kind_zh = _kind(item)
        raise ExpressionError(
            f"'in' with text on the right needs text or a number on the left, got {kind_en}",
            f"'in' 右边是文本时，左边必须是文本或数字，实际是{kind_zh}",
        )
    kind_en, kind_zh = _kind(container)
    raise ExpressionError(
        f"the right side of 'in' must be a list or text, got {kind_en}",
        f"'in' 的右边必须是列表或文本，实际是{kind_zh}",
    )


def _not_contained(item: object, container: object) -> bool:
    return not _contained(item, container)


def _range_error() -> ExpressionError:
    return ExpressionError(
        "number out of range (the limit is ±10^18)", "数字超出范围（上限为 ±10^18）"
    )


def _number_result(value: int | float) -> int | float:
    """Normalise and guard an arithmetic result: whole floats become ints; limit ±10^18."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _range_error()
        if not value.is_integer():
            return value  # |value| < 2**52 here: every larger float is whole
        value = int(value)
    if value > MAX_NUMBER or value < -MAX_NUMBER:
        raise _range_error()
    return value


def _text_result(text: str) -> str:
    if len(text) > MAX_STRING_LENGTH:
        raise ExpressionError(
            f"text result too long ({len(text):,} characters; the limit is 10,000)",
            f"文本结果过长（{len(text):,} 个字符，上限为 10,000）",
        )
    return text


def _list_result(items: list[object]) -> list[object]:
    if len(items) > MAX_LIST_LENGTH:
        raise ExpressionError(
            f"list too long ({len(items):,} items; the limit is 1,000)",
            f"列表过长（{len(items):,} 项，上限为 1,000）",
        )
    return items


def _operand(value: object, operator: str) -> int | float:
    number = _as_number(value)
    if number is None:
        shown_en, shown_zh = _show(value)
        hint_en = hint_zh = ""
        if operator == "+" and isinstance(value, str):
            hint_en, hint_zh = " (use concat() to join text)", "（拼接文本请用 concat()）"
        raise ExpressionError(
            f"operator '{operator}' needs numbers, got {shown_en}{hint_en}",
            f"运算符 '{operator}' 需要数字，实际是 {shown_zh}{hint_zh}",
        )
    return number


def _division_by_zero(operator: str) -> ExpressionError:
    return ExpressionError(
        f"division by zero (operator '{operator}')", f"除数为零（运算符 '{operator}'）"
    )


def _add(a: object, b: object) -> int | float:
    return _number_result(_operand(a, "+") + _operand(b, "+"))


def _subtract(a: object, b: object) -> int | float:
    return _number_result(_operand(a, "-") - _operand(b, "-"))


def _multiply(a: object, b: object) -> int | float:
    return _number_result(_operand(a, "*") * _operand(b, "*"))


def _divide(a: object, b: object) -> int | float:
    x, y = _operand(a, "/"), _operand(b, "/")
    if y == 0:
        raise _division_by_zero("/")
    if isinstance(x, int) and isinstance(y, int):
        quotient, remainder = divmod(x, y)
        if remainder == 0:
            return _number_result(quotient)
    return _number_result(x / y)


def _remainder(a: object, b: object) -> int | float:
    x, y = _operand(a, "%"), _operand(b, "%")
    if y == 0:
        raise _division_by_zero("%")
    return _number_result(x % y)


def _negate(value: object) -> int | float:
    return _number_result(-_operand(value, "-"))


_COMPARATORS: Final[Mapping[str, Callable[[object, object], bool]]] = MappingProxyType(
    {
        "==": _equals,
        "!=": _not_equals,
        "<": _less,
        "<=": _less_equal,
        ">": _greater,
        ">=": _greater_equal,
        "in": _contained,
        "not in": _not_contained,
    }
)

_ARITHMETIC: Final[Mapping[str, Callable[[object, object], int | float]]] = MappingProxyType(
    {"+": _add, "-": _subtract, "*": _multiply, "/": _divide, "%": _remainder}
)


# ---------------------------------------------------------------------------------------------
# Functions
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    """A whitelisted function, for documentation and validation."""

    name: str
    min_args: int
    max_args: int
    signature: str
    summary_en: str
    summary_zh: str
    uses_clock: bool = False


def _text_arg(function: str, position: int, value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _number_text(value)
    kind_en, kind_zh = _kind(value)
    raise ExpressionError(
        f"{function}() argument {position} must be text or a number, got {kind_en}",
        f"{function}() 的第 {position} 个参数必须是文本或数字，实际是{kind_zh}",
    )


def _number_arg(function: str, position: int, value: object) -> int | float:
    number = _as_number(value)
    if number is None:
        shown_en, shown_zh = _show(value)
        raise ExpressionError(
            f"{function}() argument {position} must be a number, got {shown_en}",
            f"{function}() 的第 {position} 个参数必须是数字，实际是 {shown_zh}",
        )
    return number


def _whole_arg(function: str, position: int, value: object) -> int:
    number = _as_number(value)
    if isinstance(number, float) and number.is_integer():
        number = int(number)
    if not isinstance(number, int):
        shown_en, shown_zh = _show(value)
        raise ExpressionError(
            f"{function}() argument {position} must be a whole number, got {shown_en}",
            f"{function}() 的第 {position} 个参数必须是整数，实际是 {shown_zh}",
        )
    return number


def _fn_len(value: object) -> int:
    if isinstance(value, str | list | tuple | Mapping):
        return len(value)
    kind_en, kind_zh = _kind(value)
    raise ExpressionError(
        f"len() needs text, a list or an object, got {kind_en}",
        f"len() 需要文本、列表或对象，实际是{kind_zh}",
    )


def _fn_lower(value: object) -> str:
    return _text_result(_text_arg("lower", 1, value).lower())


def _fn_upper(value: object) -> str:
    return _text_result(_text_arg("upper", 1, value).upper())


def _fn_trim(value: object) -> str:
    return _text_arg("trim", 1, value).strip()


def _fn_startswith(text: object, prefix: object) -> bool:
    return _text_arg("startswith", 1, text).startswith(_text_arg("startswith", 2, prefix))


def _fn_endswith(text: object, suffix: object) -> bool:
    return _text_arg("endswith", 1, text).endswith(_text_arg("endswith", 2, suffix))


def _fn_contains(text: object, part: object) -> bool:
    return _text_arg("contains", 2, part) in _text_arg("contains", 1, text)


@lru_cache(maxsize=256)
def _compile_pattern(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except (re.error, OverflowError, RecursionError, ValueError) as exc:
        raise ExpressionError(
            f"invalid regular expression {pattern!r}: {exc}",
            f"正则表达式 {pattern!r} 无效：{exc}",
        ) from None


def _fn_matches(text: object, pattern: object) -> bool:
    subject = _text_arg("matches", 1, text)
    regex = _text_arg("matches", 2, pattern)
    if len(regex) > MAX_PATTERN_LENGTH:
        raise ExpressionError(
            f"matches() pattern too long ({len(regex)} characters; the limit is 200)",
            f"matches() 的正则表达式过长（{len(regex)} 个字符，上限为 200）",
        )
    if len(subject) > MAX_MATCH_SUBJECT_LENGTH:
        raise ExpressionError(
            f"matches() text too long ({len(subject):,} characters; the limit is 1,000)",
            f"matches() 的文本过长（{len(subject):,} 个字符，上限为 1,000）",
        )
    return _compile_pattern(regex).fullmatch(subject) is not None


def _fn_concat(*values: object) -> str:
    return _text_result("".join(_to_text(value) for value in values))


def _fn_number(value: object) -> int | float:
    number = _as_number(value)
    if number is None:
        shown_en, shown_zh = _show(value)
        raise ExpressionError(
            f"cannot convert {shown_en} to a number", f"无法把 {shown_zh} 转换为数字"
        )
    if isinstance(number, float) and not math.isfinite(number):
        raise _range_error()
    if number > MAX_NUMBER or number < -MAX_NUMBER:
        raise _range_error()
    return number


def _fn_string(value: object) -> str:
    return _text_result(_to_text(value))


_ROUNDING: Final = Context(prec=80, rounding=ROUND_HALF_UP)


def _fn_round(value: object, ndigits: object = 0) -> int | float:
    number = _number_arg("round", 1, value)
    places = _whole_arg("round", 2, ndigits)
    if not -10 <= places <= 10:
        raise ExpressionError(
            f"round() ndigits must be between -10 and 10, got {_show(places)[0]}",
            f"round() 的小数位数必须在 -10 到 10 之间，实际是 {_show(places)[1]}",
        )
    if isinstance(number, float) and not math.isfinite(number):
        raise _range_error()
    if isinstance(number, int) and places >= 0:
        return _number_result(number)
    exact = Decimal(repr(number)) if isinstance(number, float) else Decimal(number)
    try:
        rounded = _ROUNDING.quantize(exact, Decimal(1).scaleb(-places))
    except InvalidOperation:
        raise _range_error() from None
    if rounded == rounded.to_integral_value():
        return _number_result(int(rounded))
    return _number_result(float(rounded))


def _fn_abs(value: object) -> int | float:
    return _number_result(abs(_number_arg("abs", 1, value)))


def _extreme(function: str, values: tuple[object, ...], want_greater: bool) -> object:
    items: Sequence[object] = values
    if len(values) == 1:
        (only,) = values
        if not isinstance(only, list | tuple):
            kind_en, kind_zh = _kind(only)
            raise ExpressionError(
                f"{function}() with one argument needs a list, got {kind_en}",
                f"{function}() 只有一个参数时，参数必须是列表，实际是{kind_zh}",
            )
        items = only
        if not items:
            raise ExpressionError(f"{function}() of an empty list", f"{function}() 的参数是空列表")
    best = items[0]
    for item in items[1:]:
        if (_greater if want_greater else _less)(item, best):
            best = item
    return best


def _fn_min(*values: object) -> object:
    return _extreme("min", values, want_greater=False)


def _fn_max(*values: object) -> object:
    return _extreme("max", values, want_greater=True)


_OMITTED: Final = object()


def _fn_substr(text: object, start: object, length: object = _OMITTED) -> str:
    subject = _text_arg("substr", 1, text)
    begin = _whole_arg("substr", 2, start)
    result = subject[begin:]
    if length is not _OMITTED:
        count = _whole_arg("substr", 3, length)
        if count < 0:
            raise ExpressionError(
                f"substr() length must not be negative, got {_show(count)[0]}",
                f"substr() 的长度不能为负数，实际是 {_show(count)[1]}",
            )
        result = result[:count]
    return result


def _clock_hour(now: datetime) -> int:
    return now.hour


def _clock_minute(now: datetime) -> int:
    return now.minute


def _clock_weekday(now: datetime) -> int:
    return now.isoweekday()


def _clock_day(now: datetime) -> int:
    return now.day


def _clock_month(now: datetime) -> int:
    return now.month


def _clock_year(now: datetime) -> int:
    return now.year


def _clock_date(now: datetime) -> str:
    return f"{now.year:04d}-{now.month:02d}-{now.day:02d}"


def _clock_time(now: datetime) -> str:
    return f"{now.hour:02d}:{now.minute:02d}"


_CLOCK_NAMES: Final = frozenset(
    {"hour", "minute", "weekday", "day", "month", "year", "date", "time"}
)
_V: Final = MAX_VARIADIC_ARGS

# fmt: off
_FUNCTION_TABLE: Final[tuple[tuple[str, int, int, str, str, str], ...]] = (
    # name        min max  signature                    English                 Chinese
    ("abs",         1, 1,  "abs(x)",                    "absolute value",       "绝对值"),
    ("concat",      1, _V, "concat(a, b, ...)",         "join values as text",  "拼接成文本"),
    ("contains",    2, 2,  "contains(s, part)",         "part occurs in s",     "包含 part"),
    ("date",        0, 0,  "date()",                    "today, YYYY-MM-DD",    "今天的日期"),
    ("day",         0, 0,  "day()",                     "day of the month",     "今天是几号"),
    ("default",     2, 2,  "default(x, fallback)",      "x unless it is null",  "空值时取备用值"),
    ("endswith",    2, 2,  "endswith(s, suffix)",       "s ends with suffix",   "以 suffix 结尾"),
    ("hour",        0, 0,  "hour()",                    "hour, 0-23",           "当前小时"),
    ("len",         1, 1,  "len(x)",                    "length",               "长度"),
    ("lower",       1, 1,  "lower(s)",                  "lower case",           "转为小写"),
    ("matches",     2, 2,  "matches(s, pattern)",       "s fully matches regex", "整体匹配正则"),
    ("max",         1, _V, "max(a, b, ...)",            "largest value",        "最大值"),
    ("min",         1, _V, "min(a, b, ...)",            "smallest value",       "最小值"),
    ("minute",      0, 0,  "minute()",                  "minute, 0-59",         "当前分钟"),
    ("month",       0, 0,  "month()",                   "month, 1-12",          "当前月份"),
    ("number",      1, 1,  "number(x)",                 "convert to a number",  "转换为数字"),
    ("round",       1, 2,  "round(x[, ndigits])",       "round half away from 0", "四舍五入"),
    ("startswith",  2, 2,  "startswith(s, prefix)",     "s starts with prefix", "以 prefix 开头"),
    ("string",      1, 1,  "string(x)",                 "convert to text",      "转换为文本"),
    ("substr",      2, 3,  "substr(s, start[, length])", "part of text",        "截取文本"),
    ("time",        0, 0,  "time()",                    "time of day, HH:MM",   "当前时间"),
    ("trim",        1, 1,  "trim(s)",                   "strip whitespace",     "去掉首尾空白"),
    ("upper",       1, 1,  "upper(s)",                  "upper case",           "转为大写"),
    ("weekday",     0, 0,  "weekday()",                 "1 = Monday..7 = Sunday", "星期几（1-7）"),
    ("year",        0, 0,  "year()",                    "year",                 "当前年份"),
)
# fmt: on

FUNCTIONS: Final[Mapping[str, FunctionSpec]] = MappingProxyType(
    {
        name: FunctionSpec(name, low, high, signature, en, zh, name in _CLOCK_NAMES)
        for name, low, high, signature, en, zh in _FUNCTION_TABLE
    }
)

CLOCK_FUNCTIONS: Final = frozenset(name for name, spec in FUNCTIONS.items() if spec.uses_clock)

_IMPLEMENTATIONS: Final[Mapping[str, Callable[..., object]]] = MappingProxyType(
    {
        "len": _fn_len,
        "lower": _fn_lower,
        "upper": _fn_upper,
        "trim": _fn_trim,
        "startswith": _fn_startswith,
        "endswith": _fn_endswith,
        "contains": _fn_contains,
        "matches": _fn_matches,
        "concat": _fn_concat,
        "number": _fn_number,
        "string": _fn_string,
        "round": _fn_round,
        "abs": _fn_abs,
        "min": _fn_min,
        "max": _fn_max,
        "substr": _fn_substr,
        "hour": _clock_hour,
        "minute": _clock_minute,
        "weekday": _clock_weekday,
        "day": _clock_day,
        "month": _clock_month,
        "year": _clock_year,
        "date": _clock_date,
        "time": _clock_time,
        # "default" is compiled specially (its fallback is evaluated only when needed)
    }
)


# ---------------------------------------------------------------------------------------------
# Syntax tree
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Const:
    """A literal: None, bool, int, float or str."""

    value: bool | int | float | str | None
    column: int


@dataclass(frozen=True, slots=True)
class ListLiteral:
    items: tuple[Node, ...]
    column: int


@dataclass(frozen=True, slots=True)
class Var:
    """A variable read; ``path`` holds the keys of a dotted name (``a.b.c`` -> ``("b", "c")``)."""

    name: str
    path: tuple[str, ...]
    column: int


@dataclass(frozen=True, slots=True)
class Unary:
    operator: str  # "-" or "not"
    operand: Node
    column: int


@dataclass(frozen=True, slots=True)
class Logical:
    """``a or b or c`` / ``a and b``: two or more operands, evaluated left to right."""

    operator: str  # "and" or "or"
    operands: tuple[Node, ...]
    column: int


@dataclass(frozen=True, slots=True)
class Arithmetic:
    """A left-associative chain of one precedence level: ``first (op operand)+``."""

    first: Node
    rest: tuple[tuple[str, Node, int], ...]  # (operator, operand, column of the operator)


@dataclass(frozen=True, slots=True)
class Compare:
    operator: str  # == != < <= > >= in "not in"
    left: Node
    right: Node
    column: int


@dataclass(frozen=True, slots=True)
class Call:
    function: str
    args: tuple[Node, ...]
    column: int


Node = Const | ListLiteral | Var | Unary | Logical | Arithmetic | Compare | Call


# ---------------------------------------------------------------------------------------------
# Tokenizer
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "number" "string" "name" "keyword" "op" "eof"
    value: object  # number, str, tuple of name parts, keyword/operator text
    column: int
    text: str


_NUMBER_RE: Final = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_NAME_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_WORD_TAIL_RE: Final = re.compile(r"[^\s()\[\],+\-*/%<>=!'\"]*")
_ESCAPES: Final = MappingProxyType({"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t"})
_TWO_CHAR_OPS: Final = frozenset({"==", "!=", "<=", ">="})
_ONE_CHAR_OPS: Final = frozenset("<>+-*/%()[],")
_CHAR_HINTS: Final = MappingProxyType(
    {
        "=": ("use '==' to compare", "比较是否相等请用 '=='"),
        "&": ("use 'and'", "请用 'and'"),
        "|": ("use 'or'", "请用 'or'"),
        "!": ("use 'not' or '!='", "请用 'not' 或 '!='"),
        ".": (
            "a '.' may only join field names, as in account.balance",
            "'.' 只能用于读取字段，例如 account.balance",
        ),
        "{": ("object literals are not supported", "不支持对象字面量"),
        "}": ("object literals are not supported", "不支持对象字面量"),
    }
)
_WIDE_EQUIVALENTS: Final = MappingProxyType(
    {"“": '"', "”": '"', "‘": "'", "’": "'", "、": ",", "。": ".", "【": "[", "】": "]"}
)


def _clip(text: str, limit: int = 24) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _token_text(token: _Token) -> tuple[str, str]:
    if token.kind == "eof":
        return "the end of the expression", "表达式结尾"
    text = _clip(token.text)
    return f"'{text}'", f"'{text}'"


def _bad_character(source: str, index: int) -> ExpressionSyntaxError:
    char = source[index]
    column = index + 1
    shown = repr(char) if not char.isprintable() else f"'{char}'"
    en, zh = f"unexpected character {shown}", f"不认识的字符 {shown}"
    half = _WIDE_EQUIVALENTS.get(char)
    if half is None and 0xFF01 <= ord(char) <= 0xFF5E:
        half = chr(ord(char) - 0xFEE0)
    if half is not None:
        en += f": full-width punctuation, type '{half}' with a half-width (English) input method"
        zh += f"：这是全角标点，请切换到半角（英文）输入法，输入 '{half}'"
    elif char == "." and source[index + 1 : index + 2].isdigit():
        en += " (write decimals as 0.5)"
        zh += "（小数请写成 0.5 的形式）"
    elif char in _CHAR_HINTS:
        hint_en, hint_zh = _CHAR_HINTS[char]
        en += f" ({hint_en})"
        zh += f"（{hint_zh}）"
    elif char.isalpha():
        en += " (names may only use the letters A-Z, a-z, digits and _)"
        zh += "（变量名只能使用英文字母、数字和下划线）"
    return ExpressionSyntaxError(column, en, zh)


def _read_string(source: str, start: int) -> tuple[str, int]:
    """Read the string literal whose quote is at ``start``; return (value, index after it)."""
    quote = source[start]
    parts: list[str] = []
    index = start + 1
    length = len(source)
    while index < length:
        char = source[index]
        if char == quote:
            return "".join(parts), index + 1
        if char == "\\":
            if index + 1 >= length:
                break
            escaped = _ESCAPES.get(source[index + 1])
            if escaped is None:
                sequence = source[index : index + 2]
                raise ExpressionSyntaxError(
                    index + 1,
                    f"unknown escape sequence '{sequence}' in text "
                    "(allowed: \\\\ \\' \\\" \\n \\t)",
                    f"文本中有未知的转义序列 '{sequence}'（可用：\\\\ \\' \\\" \\n \\t）",
                )
            parts.append(escaped)
            index += 2
            continue
        parts.append(char)
        index += 1
    raise ExpressionSyntaxError(
        start + 1,
        f"unterminated text: the {quote} at column {start + 1} is never closed",
        f"文本缺少结束引号：第 {start + 1} 列的 {quote} 没有对应的结束引号",
    )


def _tokenize(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    index = 0
    length = len(source)
    while index < length:
        char = source[index]
        if char.isspace():
            index += 1
            continue
        column = index + 1
        if char in "'\"":
            value, end = _read_string(source, index)
            tokens.append(_Token("string", value, column, source[index:end]))
            index = end
            continue
        if "0" <= char <= "9":
            match = _NUMBER_RE.match(source, index)
            assert match is not None
            end = match.end()
            if end < length and (source[end] in "._" or source[end].isalnum()):
                tail = _WORD_TAIL_RE.match(source, end)
                word_end = max(tail.end() if tail else end, end + 1)
                word = _clip(source[index:word_end])
                raise ExpressionSyntaxError(
                    column,
                    f"invalid number '{word}' (write numbers like 12 or 3.5)",
                    f"无效的数字 '{word}'（数字应写成 12 或 3.5 的形式）",
                )
            text = match.group()
            number: int | float = float(text) if "." in text else int(text)
            if number > MAX_NUMBER:
                shown = _clip(text)
                raise ExpressionSyntaxError(
                    column,
                    f"number {shown} is too large (the limit is 10^18)",
                    f"数字 {shown} 太大（上限为 10^18）",
                )
            tokens.append(_Token("number", number, column, text))
            index = end
            continue
        if char == "_" or (char.isascii() and char.isalpha()):
            match = _NAME_RE.match(source, index)
            assert match is not None
            parts = [match.group()]
            end = match.end()
            while end < length and source[end] == ".":
                part = _NAME_RE.match(source, end + 1)
                if part is None:
                    dotted = _clip(source[index : end + 1])
                    raise ExpressionSyntaxError(
                        end + 2,
                        f"expected a field name after '.' in '{dotted}'",
                        f"'{dotted}' 的 '.' 后面应该是字段名",
                    )
                parts.append(part.group())
                end = part.end()
            if parts[0] in KEYWORDS:
                if len(parts) > 1:
                    raise ExpressionSyntaxError(
                        column,
                        f"'{parts[0]}' is a keyword, not a variable, so it has no fields",
                        f"'{parts[0]}' 是关键字，不是变量，不能读取字段",
                    )
                tokens.append(_Token("keyword", parts[0], column, parts[0]))
            else:
                tokens.append(_Token("name", tuple(parts), column, source[index:end]))
            index = end
            continue
        pair = source[index : index + 2]
        if pair in _TWO_CHAR_OPS:
            tokens.append(_Token("op", pair, column, pair))
            index += 2
            continue
        if char in _ONE_CHAR_OPS:
            tokens.append(_Token("op", char, column, char))
            index += 1
            continue
        raise _bad_character(source, index)
    tokens.append(_Token("eof", None, length + 1, ""))
    return tokens


# ---------------------------------------------------------------------------------------------
# Parser
# ---------------------------------------------------------------------------------------------

_COMPARISON_OPS: Final = frozenset({"==", "!=", "<", "<=", ">", ">="})


def _arity_text(spec: FunctionSpec) -> tuple[str, str]:
    low, high = spec.min_args, spec.max_args
    if high == 0:
        return "no arguments", "不需要参数"
    if low == high:
        plural = "" if low == 1 else "s"
        return f"exactly {low} argument{plural}", f"需要 {low} 个参数"
    return f"{low} to {high} arguments", f"需要 {low} 到 {high} 个参数"


class _Parser:
    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.depth = 0
        self.variables: set[str] = set()
        self.functions: set[str] = set()

    # -- helpers --------------------------------------------------------------------------

    def peek(self, offset: int = 0) -> _Token:
        return self.tokens[min(self.pos + offset, len(self.tokens) - 1)]

    def advance(self) -> _Token:
        token = self.tokens[self.pos]
        if token.kind != "eof":
            self.pos += 1
        return token

    def at_op(self, *ops: str) -> bool:
        token = self.tokens[self.pos]
        return token.kind == "op" and token.value in ops

    def at_keyword(self, word: str) -> bool:
        token = self.tokens[self.pos]
        return token.kind == "keyword" and token.value == word

    def enter(self, token: _Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionSyntaxError(
                token.column,
                f"expression nested too deeply at {_token_text(token)[0]} "
                f"(the limit is {MAX_DEPTH} levels)",
                f"表达式嵌套过深（{_token_text(token)[1]} 处，上限为 {MAX_DEPTH} 层）",
            )

    def leave(self) -> None:
        self.depth -= 1

    def comparison_here(self) -> tuple[str, int] | None:
        """The comparison operator at the current position and its length in tokens."""
        token = self.tokens[self.pos]
        if token.kind == "op" and token.value in _COMPARISON_OPS:
            return str(token.value), 1
        if token.kind == "keyword":
            if token.value == "in":
                return "in", 1
            following = self.peek(1)
            if token.value == "not" and following.kind == "keyword" and following.value == "in":
                return "not in", 2
        return None

    # -- grammar --------------------------------------------------------------------------

    def parse(self) -> Node:
        node = self.parse_or()
        token = self.peek()
        if token.kind != "eof":
            raise self.trailing(token)
        return node

    def trailing(self, token: _Token) -> ExpressionSyntaxError:
        shown_en, shown_zh = _token_text(token)
        en = f"unexpected {shown_en} after a complete expression"
        zh = f"完整的表达式后面多了 {shown_zh}"
        if token.kind == "name" and token.text.lower() in KEYWORDS:
            lower = token.text.lower()
            en += f" (keywords are lower case: write '{lower}')"
            zh += f"（关键字必须小写：请写 '{lower}'）"
        elif token.kind in ("number", "string", "name") or (
            token.kind == "op" and token.value in ("(", "[")
        ):
            en += " (is an operator such as 'and', '==' or ',' missing?)"
            zh += "（是否漏了 'and'、'==' 或 ',' 等运算符？）"
        elif token.kind == "keyword" and token.value == "not":
            en += " (for membership write 'not in'; 'not' alone goes before a condition)"
            zh += "（判断不包含请写 'not in'；单独的 'not' 应放在条件前面）"
        elif token.kind == "op" and token.value in (")", "]"):
            en += " (unbalanced brackets)"
            zh += "（括号不配对）"
        return ExpressionSyntaxError(token.column, en, zh)

    def parse_or(self) -> Node:
        return self.parse_logical("or")

    def parse_logical(self, word: str) -> Node:
        first = self.parse_logical("and") if word == "or" else self.parse_not()
        if not self.at_keyword(word):
            return first
        column = self.peek().column
        operands = [first]
        while self.at_keyword(word):
            self.advance()
            operands.append(self.parse_logical("and") if word == "or" else self.parse_not())
        return Logical(word, tuple(operands), column)

    def parse_not(self) -> Node:
        if self.at_keyword("not"):
            token = self.advance()
            self.enter(token)
            operand = self.parse_not()
            self.leave()
            return Unary("not", operand, token.column)
        return self.parse_comparison()

    def parse_comparison(self) -> Node:
        left = self.parse_additive()
        found = self.comparison_here()
        if found is None:
            return left
        operator, size = found
        token = self.peek()
        self.pos += size
        right = self.parse_additive()
        again = self.comparison_here()
        if again is not None:
            second = self.peek()
            raise ExpressionSyntaxError(
                second.column,
                f"comparisons cannot be chained ('{operator}' then '{again[0]}'): "
                "write 'a < b and b < c' instead of 'a < b < c'",
                f"比较运算不能连写（'{operator}' 后面又有 '{again[0]}'）："
                "请把 'a < b < c' 写成 'a < b and b < c'",
            )
        return Compare(operator, left, right, token.column)

    def parse_chain(self, ops: tuple[str, ...], operand: Callable[[], Node]) -> Node:
        first = operand()
        if not self.at_op(*ops):
            return first
        rest: list[tuple[str, Node, int]] = []
        while self.at_op(*ops):
            token = self.advance()
            rest.append((str(token.value), operand(), token.column))
        return Arithmetic(first, tuple(rest))

    def parse_additive(self) -> Node:
        return self.parse_chain(("+", "-"), self.parse_multiplicative)

    def parse_multiplicative(self) -> Node:
        return self.parse_chain(("*", "/", "%"), self.parse_unary)

    def parse_unary(self) -> Node:
        if self.at_op("-"):
            token = self.advance()
            self.enter(token)
            operand = self.parse_unary()
            self.leave()
            return Unary("-", operand, token.column)
        return self.parse_primary()

    def parse_primary(self) -> Node:
        token = self.peek()
        kind = token.kind
        if kind in ("number", "string"):
            self.advance()
            return Const(cast("str | int | float", token.value), token.column)
        if kind == "keyword":
            constants = {"true": True, "false": False, "null": None}
            if token.value in constants:
                self.advance()
                return Const(constants[str(token.value)], token.column)
        if kind == "name":
            self.advance()
            parts = cast("tuple[str, ...]", token.value)
            if self.at_op("("):
                return self.parse_call(token, parts)
            self.variables.add(parts[0])
            return Var(parts[0], parts[1:], token.column)
        if self.at_op("("):
            self.advance()
            self.enter(token)
            inner = self.parse_or()
            if not self.at_op(")"):
                raise self.unclosed(token, ")")
            self.advance()
            self.leave()
            return inner
        if self.at_op("["):
            self.advance()
            self.enter(token)
            items = self.parse_items("]", token)
            self.leave()
            return ListLiteral(tuple(items), token.column)
        shown_en, shown_zh = _token_text(token)
        en, zh = f"expected a value but found {shown_en}", f"此处应该是一个值，却遇到了{shown_zh}"
        if kind == "op" and token.value == "+":
            en += " (there is no unary '+')"
            zh += "（不支持一元 '+'）"
        raise ExpressionSyntaxError(token.column, en, zh)

    def unclosed(self, opening: _Token, closing: str) -> ExpressionSyntaxError:
        token = self.peek()
        shown_en, shown_zh = _token_text(token)
        return ExpressionSyntaxError(
            token.column,
            f"expected '{closing}' to close the '{opening.text}' at column {opening.column}, "
            f"found {shown_en}",
            f"缺少 '{closing}'，与第 {opening.column} 列的 '{opening.text}' 配对；"
            f"却遇到了{shown_zh}",
        )

    def parse_items(self, closing: str, opening: _Token) -> list[Node]:
        items: list[Node] = []
        if self.at_op(closing):
            self.advance()
            return items
        while True:
            items.append(self.parse_or())
            if self.at_op(","):
                self.advance()
                continue
            if self.at_op(closing):
                self.advance()
                return items
            raise self.unclosed(opening, closing)

    def parse_call(self, name_token: _Token, parts: tuple[str, ...]) -> Node:
        name = name_token.text
        spec = FUNCTIONS.get(name) if len(parts) == 1 else None
        if spec is None:
            allowed = ", ".join(FUNCTIONS)
            raise ExpressionSyntaxError(
                name_token.column,
                f"unknown function '{name}' (allowed functions: {allowed})",
                f"未知函数 '{name}'（可用的函数：{allowed}）",
            )
        opening = self.advance()  # "("
        self.enter(name_token)
        args = self.parse_items(")", opening)
        self.leave()
        if not spec.min_args <= len(args) <= spec.max_args:
            expected_en, expected_zh = _arity_text(spec)
            given = len(args)
            were = "was" if given == 1 else "were"
            raise ExpressionSyntaxError(
                name_token.column,
                f"{name}() takes {expected_en} but {given} {were} given",
                f"{name}() {expected_zh}，实际给了 {given} 个",
            )
        if name == "matches":
            _check_literal_pattern(args[1], name_token.column)
        self.functions.add(name)
        return Call(name, tuple(args), name_token.column)


_NESTED_QUANTIFIER = re.compile(r"\((?:[^()\\]|\\.)*[+*}]\)[+*{]")


def _check_literal_pattern(arg: Node, column: int) -> None:
    """``matches()`` takes its pattern as a text literal, checked when the flow is validated:
    a value from a caller or a back end can never become a regular expression, and patterns
    with a quantified group that is itself quantified (``(a+)+``, catastrophic backtracking
    that would stall every call on the process) are refused."""
    if not (isinstance(arg, Const) and isinstance(arg.value, str)):
        raise ExpressionSyntaxError(
            column,
            "matches() needs its pattern written as text in quotes, e.g. "
            'matches(id, "^[0-9]{17}[0-9X]$")',
            'matches() 的正则表达式必须直接写成带引号的文字，例如 matches(id, "^[0-9]{17}[0-9X]$")',
        )
    pattern = arg.value
    if len(pattern) > 200:
        raise ExpressionSyntaxError(
            column,
            f"matches() pattern too long ({len(pattern)} characters; the limit is 200)",
            f"matches() 的正则表达式过长（{len(pattern)} 个字符，上限为 200）",
        )
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ExpressionSyntaxError(
            column,
            f"matches() pattern is not a valid regular expression: {exc}",
            f"matches() 的正则表达式无效：{exc}",
        ) from None
    if _NESTED_QUANTIFIER.search(pattern):
        raise ExpressionSyntaxError(
            column,
            "matches() pattern repeats a group that itself repeats (like (a+)+); such "
            "patterns can take minutes on some inputs — write it without the nesting",
            "matches() 的正则表达式对本身带重复的分组再次重复（如 (a+)+），某些输入下会极慢，"
            "请改写为不嵌套的形式",
        )


# ---------------------------------------------------------------------------------------------
# Compiler: syntax tree -> nested closures
# ---------------------------------------------------------------------------------------------


class _Context:
    __slots__ = ("now", "variables")

    def __init__(self, variables: Mapping[str, object], now: datetime | None) -> None:
        self.variables = variables
        self.now = now


_Fn = Callable[[_Context], object]


def _unknown_variable(name: str, column: int) -> ExpressionError:
    en, zh = f"unknown variable {name}", f"未知变量 {name}"
    if name in FUNCTIONS:
        en += f" (to call the function write {name}(...))"
        zh += f"（调用函数请写 {name}(...)）"
    elif name.lower() in ("true", "false", "null", "none"):
        suggestion = "null" if name.lower() == "none" else name.lower()
        en += f" (did you mean '{suggestion}'?)"
        zh += f"（是否想写 '{suggestion}'？）"
    return ExpressionError(en, zh, column)


def _compile(node: Node) -> _Fn:
    if isinstance(node, Const):
        return _compile_const(node.value)
    if isinstance(node, Var):
        return _compile_var(node)
    if isinstance(node, ListLiteral):
        return _compile_list(node)
    if isinstance(node, Unary):
        return _compile_unary(node)
    if isinstance(node, Logical):
        return _compile_logical(node)
    if isinstance(node, Arithmetic):
        return _compile_arithmetic(node)
    if isinstance(node, Compare):
        return _compile_compare(node)
    return _compile_call(node)


def _compile_const(value: object) -> _Fn:
    def constant(ctx: _Context) -> object:
        return value

    return constant


def _compile_var(node: Var) -> _Fn:
    name, path, column = node.name, node.path, node.column

    if not path:

        def read(ctx: _Context) -> object:
            try:
                return ctx.variables[name]
            except KeyError:
                raise _unknown_variable(name, column) from None

        return read

    def read_path(ctx: _Context) -> object:
        try:
            value = ctx.variables[name]
        except KeyError:
            raise _unknown_variable(name, column) from None
        walked = name
        for key in path:
            if value is None:
                return None
            if not isinstance(value, Mapping):
                kind_en, kind_zh = _kind(value)
                raise ExpressionError(
                    f"cannot read field '{key}' of {walked}: it is {kind_en}, not an object",
                    f"无法读取 {walked} 的字段 '{key}'：它是{kind_zh}，不是对象",
                    column,
                )
            value = value.get(key)
            walked = f"{walked}.{key}"
        return value

    return read_path


def _compile_list(node: ListLiteral) -> _Fn:
    items = tuple(_compile(item) for item in node.items)
    column = node.column

    def build(ctx: _Context) -> object:
        values = [item(ctx) for item in items]
        if len(values) > MAX_LIST_LENGTH:
            try:
                _list_result(values)
            except ExpressionError as exc:
                _locate(exc, column)
                raise
        return values

    return build


def _compile_unary(node: Unary) -> _Fn:
    column = node.column
    operand = _compile(node.operand)
    if node.operator == "not":

        def negation(ctx: _Context) -> object:
            return not operand(ctx)

        return negation

    inner = node.operand
    if isinstance(inner, Const) and _is_number(inner.value):
        return _compile_const(_negate(inner.value))  # literals are within range

    def minus(ctx: _Context) -> object:
        value = operand(ctx)
        try:
            return _negate(value)
        except ExpressionError as exc:
            _locate(exc, column)
            raise

    return minus


def _compile_logical(node: Logical) -> _Fn:
    operands = tuple(_compile(operand) for operand in node.operands)
    if node.operator == "and":

        def conjunction(ctx: _Context) -> object:
            return all(operand(ctx) for operand in operands)

        return conjunction

    def disjunction(ctx: _Context) -> object:
        return any(operand(ctx) for operand in operands)

    return disjunction


def _compile_arithmetic(node: Arithmetic) -> _Fn:
    first = _compile(node.first)
    rest = tuple((_ARITHMETIC[op], _compile(operand), column) for op, operand, column in node.rest)

    def arithmetic(ctx: _Context) -> object:
        value = first(ctx)
        for apply, operand, column in rest:
            right = operand(ctx)
            try:
                value = apply(value, right)
            except ExpressionError as exc:
                _locate(exc, column)
                raise
            except (OverflowError, ZeroDivisionError):
                exc2 = _range_error()
                exc2.column = column
                raise exc2 from None
        return value

    return arithmetic


def _compile_compare(node: Compare) -> _Fn:
    compare = _COMPARATORS[node.operator]
    left, right, column = _compile(node.left), _compile(node.right), node.column

    def comparison(ctx: _Context) -> object:
        a = left(ctx)
        b = right(ctx)
        try:
            return compare(a, b)
        except ExpressionError as exc:
            _locate(exc, column)
            raise

    return comparison


def _compile_call(node: Call) -> _Fn:
    name, column = node.function, node.column
    args = tuple(_compile(arg) for arg in node.args)

    if name == "default":
        value_fn, fallback_fn = args

        def default(ctx: _Context) -> object:
            value = value_fn(ctx)
            return fallback_fn(ctx) if value is None else value

        return default

    impl = _IMPLEMENTATIONS[name]

    if name in CLOCK_FUNCTIONS:

        def clock(ctx: _Context) -> object:
            now = ctx.now
            if now is None:
                raise ExpressionError(
                    f"{name}() needs the current time, but none was given",
                    f"{name}() 需要当前时间，但求值时没有提供时间",
                    column,
                )
            return impl(now)

        return clock

    if len(args) == 1:
        (only,) = args

        def call1(ctx: _Context) -> object:
            value = only(ctx)
            try:
                return impl(value)
            except ExpressionError as exc:
                _locate(exc, column)
                raise

        return call1

    def call(ctx: _Context) -> object:
        values = [arg(ctx) for arg in args]
        try:
            return impl(*values)
        except ExpressionError as exc:
            _locate(exc, column)
            raise

    return call


# ---------------------------------------------------------------------------------------------
# Public entry points
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class Expression:
    """A parsed expression. Create with :func:`parse`; evaluate as often as needed."""

    source: str
    node: Node = field(repr=False)
    variables: frozenset[str]
    functions: frozenset[str]
    _run: _Fn = field(repr=False)

    @property
    def uses_clock(self) -> bool:
        """True if the expression calls a clock function (and so needs ``now``)."""
        return not self.functions.isdisjoint(CLOCK_FUNCTIONS)

    def evaluate(self, variables: Mapping[str, object], *, now: datetime | None = None) -> object:
        """The value of the expression over ``variables`` (the clock functions use ``now``).

        Raises :class:`ExpressionError`."""
        try:
            return self._run(_Context(variables, now))
        except RecursionError:
            raise ExpressionError(
                "values nested too deeply to evaluate", "数据嵌套过深，无法求值"
            ) from None


@lru_cache(maxsize=4096)
def parse(source: str) -> Expression:
    """Parse ``source`` into an :class:`Expression` (cached by source text).

    Raises :class:`ExpressionSyntaxError`."""
    if not isinstance(source, str):
        raise TypeError(f"expression source must be str, not {type(source).__name__}")
    if len(source) > MAX_SOURCE_LENGTH:
        raise ExpressionSyntaxError(
            MAX_SOURCE_LENGTH + 1,
            f"expression too long ({len(source):,} characters; the limit is 1,000)",
            f"表达式过长（{len(source):,} 个字符，上限为 1,000）",
        )
    if not source.strip():
        raise ExpressionSyntaxError(1, "empty expression", "表达式为空")
    parser = _Parser(_tokenize(source))
    node = parser.parse()
    return Expression(
        source=source,
        node=node,
        variables=frozenset(parser.variables),
        functions=frozenset(parser.functions),
        _run=_compile(node),
    )
