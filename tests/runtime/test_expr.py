"""Tests for the flow expression language (runtime/expr.py)."""

from __future__ import annotations

import pickle
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import runtime.expr as expr_module
from runtime.expr import (
    FUNCTIONS,
    MAX_DEPTH,
    Expression,
    ExpressionError,
    ExpressionSyntaxError,
    parse,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 10, 1, 9, 5, 42, tzinfo=SHANGHAI)  # a Thursday

VARS: dict[str, Any] = {
    "digits": "05",
    "pin": "1234",
    "n": 5,
    "f": 2.5,
    "big": 10**18,
    "unset": None,
    "yes": True,
    "no": False,
    "empty": "",
    "zero_text": "0",
    "word": "Hello",
    "spaced": "  hi  ",
    "items": [1, "2", "abc"],
    "account": {
        "balance": 1200,
        "owner": {"name": "张三"},
        "nothing": None,
        "list": [1],
        "__class__": "just a key",
    },
    "long": "x" * 6000,
    "inf": float("inf"),
}

CJK = re.compile(r"[\u4e00-\u9fff]")


def evaluate(source: str, variables: dict[str, Any] | None = None, **kw: Any) -> object:
    return parse(source).evaluate(VARS if variables is None else variables, **kw)


def same(actual: object, expected: object) -> bool:
    """Equal and of the same type (so 3 is not accepted for 3.0, nor True for 1)."""
    if type(actual) is not type(expected):
        return False
    if isinstance(expected, list):
        assert isinstance(actual, list)
        return len(actual) == len(expected) and all(map(same, actual, expected))
    return actual == expected


# ---------------------------------------------------------------------------------------------
# Evaluation: table of (source, expected value)
# ---------------------------------------------------------------------------------------------

LITERALS = [
    ("12", 12),
    ("3.5", 3.5),
    ("1.0", 1.0),
    ("0", 0),
    ("1000000000000000000", 10**18),
    ("'a'", "a"),
    ('"a"', "a"),
    ('"中文"', "中文"),
    (r'"a\"b"', 'a"b'),
    (r"'it\'s'", "it's"),
    (r'"x\\y"', "x\\y"),
    (r'"a\nb"', "a\nb"),
    (r"'\t'", "\t"),
    ('"it\'s"', "it's"),
    ("'say \"hi\"'", 'say "hi"'),
    ("true", True),
    ("false", False),
    ("null", None),
    ("[]", []),
    ("[1, 'a', n]", [1, "a", 5]),
    ("[[1], [], null]", [[1], [], None]),
    ("  7  ", 7),
]

NAMES = [
    ("n", 5),
    ("unset", None),
    ("account.balance", 1200),
    ("account.owner.name", "张三"),
    ("account.missing", None),
    ("account.missing.deeper", None),
    ("account.nothing.x", None),
    ("unset.x.y", None),
    ("account.__class__", "just a key"),
    ("account.owner.__class__", None),
]

ARITHMETIC = [
    ("1 + 2", 3),
    ("5 - 7", -2),
    ("3 * 4", 12),
    ("7 / 2", 3.5),
    ("6 / 2", 3),
    ("6 / 4", 1.5),
    ("-6 / 3", -2),
    ("7 % 3", 1),
    ("-7 % 3", 2),
    ("7.5 % 2", 1.5),
    ("0.1 + 0.2", 0.30000000000000004),
    ("0.5 + 0.5", 1),
    ("2.5 * 2", 5),
    ("10 - 2 - 3", 5),
    ("100 / 10 / 5", 2),
    ("2 * 3 % 4", 2),
    ("digits + 1", 6),
    ("'1.5' * 2", 3),
    ("' 7 ' - 2", 5),
    ("'+3' + 1", 4),
    ("'-3' + 1", -2),
    ("f * 2", 5),
    ("f + 0.25", 2.75),
    ("-n", -5),
    ("--n", 5),
    ("-'5'", -5),
    ("-2.5", -2.5),
    ("big - 1", 10**18 - 1),
    ("-big", -(10**18)),
    ("big / 1000000", 10**12),
]

PRECEDENCE = [
    ("1 + 2 * 3", 7),
    ("(1 + 2) * 3", 9),
    ("-2 * 3", -6),
    ("- 2 * - 3", 6),
    ("-(2 + 3)", -5),
    ("2 - -3", 5),
    ("1 + 2 == 3", True),
    ("1 + 1 in [2]", True),
    ("not 1 == 2", True),
    ("not 1 in [1]", False),
    ("not true and false", False),
    ("not (true and false)", True),
    ("true or false and false", True),
    ("(true or false) and false", False),
    ("1 < 2 and 2 < 3", True),
    ("not not 1", True),
    ("(1 < 2) == true", True),
    ("len('ab') * 2 + 1", 5),
    ("-len('abc')", -3),
    ("((((1))))", 1),
]

EQUALITY = [
    ('"05" == 5', True),
    ('5 == "05"', True),
    ("digits == 5", True),
    ('"05" == "5"', False),
    ('digits == "05"', True),
    ('digits == "5"', False),
    ('"5.0" == 5', True),
    ('"0.1" == 0.1', True),
    ('" 5 " == 5', True),
    ('"5a" == 5', False),
    ('"" == 0', False),
    ("1 == 1.0", True),
    ("null == null", True),
    ("unset == null", True),
    ("null == 0", False),
    ('null == ""', False),
    ("null == false", False),
    ("0 == null", False),
    ("true == 1", False),
    ("false == 0", False),
    ("true == true", True),
    ('"true" == true', False),
    ("[1, 2] == [1, 2]", True),
    ("[1] == 1", False),
    ("items == [1, '2', 'abc']", True),
    ("account.owner == account.owner", True),
    ("account == items", False),
    ('"A" == "a"', False),
    ('"05" != "5"', True),
    ('"05" != 5', False),
    ("items != null", True),
    ("null != null", False),
]

ORDERING = [
    ('"10" > "9"', True),
    ('"9" < "10"', True),
    ('"b" > "a"', True),
    ('"apple" < "banana"', True),
    ('"10" > "9a"', False),  # not both numeric -> dictionary order
    ('"abc" < "abd"', True),
    ('"2.5" > "2.25"', True),
    ('5 > "4"', True),
    ('"4" < 5', True),
    ("digits >= 5", True),
    ("digits > 4.9", True),
    ("2 <= 2", True),
    ("2 >= 3", False),
    ("2.5 > 2", True),
    ("-1 < 0", True),
    ('"" < "a"', True),
]

MEMBERSHIP = [
    ("2 in [1, 2]", True),
    ('"2" in [1, 2]', True),
    ('5 in ["05"]', True),
    ('"05" in ["5"]', False),
    ("null in [null]", True),
    ("null in [0, false, '']", False),
    ("true in [1]", False),
    ("3 not in [1, 2]", True),
    ("2 not in [1, 2]", False),
    ('"ell" in word', True),
    ('"xyz" not in word', True),
    ('3 in "1234"', True),
    ('2.5 in "x2.5"', True),
    ('2.0 in "x2"', True),  # a whole decimal is written without ".0"
    ('2.0 in "2.0"', True),
    ('pin in "001234"', True),
    ('"a" in []', False),
    ("[1] in [[1]]", True),
    ('"" in "abc"', True),
]

LOGIC = [
    ("true and 1", True),
    ("0 or ''", False),
    ("zero_text and true", True),  # the text "0" is true
    ("null or []", False),
    ("account and items", True),
    ("unset or 'x'", True),
    ("not ''", True),
    ("not zero_text", False),
    ("not 0.0", True),
    ("not []", True),
    ("not account", False),
    ("empty or no", False),
    ("yes and not no", True),
    # short-circuit: the right side is never evaluated
    ("false and missing_var", False),
    ("true or missing_var", True),
    ("false and 1 / 0 == 1", False),
    ("1 == 1 or len(5) == 1", True),
    ("default(n, missing_var)", 5),
]

FUNCTION_CASES = [
    ('len("abc")', 3),
    ("len(items)", 3),
    ("len(account)", 5),
    ('len("张三")', 2),
    ('len("")', 0),
    ("len([])", 0),
    ('lower("AbC")', "abc"),
    ("upper(word)", "HELLO"),
    ("trim(spaced)", "hi"),
    ("lower(12)", "12"),
    ("upper(2.50)", "2.5"),
    ('startswith(pin, "12")', True),
    ("startswith(pin, 12)", True),
    ('startswith(1234, "2")', False),
    ('endswith(word, "lo")', True),
    ('endswith(word, "Lo")', False),
    ('contains(word, "ell")', True),
    ('contains("abc", "")', True),
    ('contains("abc", "d")', False),
    ('matches(pin, "[0-9]{4}")', True),
    ('matches(pin, "[0-9]{3}")', False),  # whole-string match
    ('matches("13812345678", "1[3-9][0-9]{9}")', True),
    (r'matches(pin, "\\d+")', True),
    ("matches(1234, '12.*')", True),
    ('concat("a", 1, 2.5, 3.0, null, true, false)', "a12.53truefalse"),
    ('concat("x")', "x"),
    ("concat(0.1, '|', -0.5, '|', 0.0000001)", "0.1|-0.5|0.0000001"),
    ("concat(items)", '[1, "2", "abc"]'),
    ("concat('尾号', substr(pin, -2))", "尾号34"),
    ('number("42")', 42),
    ('number(" 42 ")', 42),
    ('number("3.0")', 3.0),
    ('number("-1.25")', -1.25),
    ("number(7)", 7),
    ("number(digits)", 5),
    ("string(5)", "5"),
    ("string(2.50)", "2.5"),
    ("string(1.0)", "1"),
    ("string(null)", ""),
    ("string(true)", "true"),
    ('string("x")', "x"),
    ("string([1, null, false])", "[1, null, false]"),
    ("string(account.owner)", '{"name": "张三"}'),
    ("round(2.5)", 3),
    ("round(-2.5)", -3),
    ("round(2.4)", 2),
    ("round(2.675, 2)", 2.68),
    ("round(1.005, 2)", 1.01),
    ("round(1.23456, 3)", 1.235),
    ("round(2.0001, 2)", 2),
    ("round(1234.5, -2)", 1200),
    ("round(1250, -2)", 1300),
    ("round(7)", 7),
    ("round(7, 2)", 7),
    ('round("2.5")', 3),
    ("abs(-3)", 3),
    ('abs("-2.5")', 2.5),
    ("abs(0)", 0),
    ("min(3, 1, 2)", 1),
    ("max(3, 1, 2)", 3),
    ("max(1.5, 1)", 1.5),
    ('max("10", 9)', "10"),
    ('min("b", "a")', "a"),
    ("max([4, 8, 2])", 8),
    ("min([5])", 5),
    ('substr("abcdef", 2)', "cdef"),
    ('substr("abcdef", 1, 3)', "bcd"),
    ('substr("abcdef", -2)', "ef"),
    ('substr("abcdef", 10)', ""),
    ('substr("abcdef", 0, 0)', ""),
    ('substr("abcdef", 4, 100)', "ef"),
    ('substr(pin, "1", "2")', "23"),
    ('substr("身份证号码", 2, 2)', "证号"),
    ("substr(13812345678, -4)", "5678"),
    ('default(unset, "none")', "none"),
    ("default(n, 0)", 5),
    ("default(no, true)", False),
    ("default(account.missing, 0)", 0),
    ("default(null, null)", None),
]

ALL_CASES = (
    LITERALS + NAMES + ARITHMETIC + PRECEDENCE + EQUALITY + ORDERING + MEMBERSHIP + LOGIC
) + FUNCTION_CASES


@pytest.mark.parametrize(("source", "expected"), ALL_CASES)
def test_evaluate(source: str, expected: object) -> None:
    result = evaluate(source)
    assert same(result, expected), f"{source!r} gave {result!r}, expected {expected!r}"


def test_every_function_has_a_case() -> None:
    covered = {name for name in FUNCTIONS if any(f"{name}(" in src for src, _ in ALL_CASES)}
    clock = {name for name, spec in FUNCTIONS.items() if spec.uses_clock}
    assert covered | clock == set(FUNCTIONS)


# ---------------------------------------------------------------------------------------------
# Evaluation errors
# ---------------------------------------------------------------------------------------------

EVAL_ERRORS = [
    ("missing", "unknown variable missing"),
    ("n + missing", "unknown variable missing"),
    ("account.balance.x", "cannot read field 'x' of account.balance"),
    ("items.x", "cannot read field 'x' of items"),
    ("word.length", "cannot read field 'length' of word"),
    ('"abc" < 5', "cannot compare 'abc' with 5"),
    ('5 > "abc"', "cannot compare 5 with 'abc'"),
    ("null < 1", "cannot compare null with 1"),
    ("1 >= null", "cannot compare 1 with null"),
    ("unset < 1", "cannot compare null"),
    ("null < null", "cannot compare null with null"),
    ("true < false", "cannot compare true with false"),
    ("[1] < [2]", "cannot compare a list with a list"),
    ("account > 1", "cannot compare an object with 1"),
    ('"abc" + 1', "operator '+' needs numbers, got 'abc'"),
    ('"a" + "b"', "use concat()"),
    ("null + 1", "needs numbers, got null"),
    ("true * 2", "operator '*' needs numbers, got true"),
    ("items - 1", "needs numbers, got a list"),
    ('-"x"', "operator '-' needs numbers"),
    ("-null", "operator '-' needs numbers"),
    ("1 / 0", "division by zero"),
    ("1 % 0", "division by zero"),
    ("1 / 0.0", "division by zero"),
    ('"5" / "0"', "division by zero"),
    ("big + 1", "out of range"),
    ("big * 10", "out of range"),
    ("-big - 1", "out of range"),
    ("99999999999 * 99999999999", "out of range"),
    ("inf + 1", "out of range"),
    ("number(inf)", "out of range"),
    ("abs(inf)", "out of range"),
    ("round(inf)", "out of range"),
    ("1 in 5", "the right side of 'in' must be a list or text"),
    ("1 in null", "must be a list or text"),
    ("1 in account", "must be a list or text"),
    ('null in "abc"', "needs text or a number on the left"),
    ('[1] in "abc"', "needs text or a number on the left"),
    ('true in "true"', "needs text or a number on the left"),
    ("len(5)", "len() needs text, a list or an object"),
    ("len(null)", "len() needs"),
    ("lower(null)", "lower() argument 1 must be text or a number"),
    ("trim(items)", "trim() argument 1"),
    ("upper(true)", "upper() argument 1"),
    ('startswith(null, "a")', "startswith() argument 1"),
    ('contains("a", true)', "contains() argument 2"),
    ('number("abc")', "cannot convert 'abc' to a number"),
    ("number(null)", "cannot convert null to a number"),
    ("number(true)", "cannot convert true to a number"),
    ('number("1e5")', "cannot convert"),
    ("number(big)", ""),  # exactly 10**18: allowed (empty fragment = must succeed)
    ("big + 0", ""),
    ('round("x")', "round() argument 1 must be a number"),
    ("round(1.5, 11)", "between -10 and 10"),
    ("round(1.5, 0.5)", "round() argument 2 must be a whole number"),
    ('abs("x")', "abs() argument 1 must be a number"),
    ("max(1)", "max() with one argument needs a list"),
    ("min([])", "min() of an empty list"),
    ('max(1, "a")', "cannot compare"),
    ("min([1, null])", "cannot compare"),
    ('substr("abc", 1.5)', "substr() argument 2 must be a whole number"),
    ('substr("abc", 0, -1)', "must not be negative"),
    ('substr("abc", 0, null)', "substr() argument 3 must be a whole number, got null"),
    ("round(1.5, null)", "round() argument 2 must be a whole number"),
    ("substr(null, 0)", "substr() argument 1"),
    ("matches(long, 'x+')", "matches() text too long"),
    ("concat(long, long)", "text result too long"),
    ("upper(concat(long, substr(long, 0, 4001)))", "text result too long"),
    ("string(concat(long, 'a'))", ""),  # 6,001 characters: allowed
    ("hour()", "hour() needs the current time"),
    ("date()", "date() needs the current time"),
]


@pytest.mark.parametrize(("source", "fragment"), [c for c in EVAL_ERRORS if c[1]])
def test_evaluation_errors(source: str, fragment: str) -> None:
    with pytest.raises(ExpressionError) as info:
        evaluate(source)
    error = info.value
    assert not isinstance(error, ExpressionSyntaxError)
    assert fragment in error.message_en
    assert error.message_zh and CJK.search(error.message_zh), error.message_zh
    assert isinstance(error, ValueError)
    assert error.column is not None
    assert str(error) == f"{error.message_en} (column {error.column})"


@pytest.mark.parametrize("source", [c[0] for c in EVAL_ERRORS if not c[1]])
def test_near_limit_values_are_fine(source: str) -> None:
    evaluate(source)


def test_matches_patterns_are_literal_checked_at_parse_time() -> None:
    # a pattern can never come from a variable (caller input, a back end)
    for source, fragment in [
        ("matches('a', p)", "written as text in quotes"),
        ('matches("a", null)', "written as text in quotes"),
        ('matches("a", "(")', "not a valid regular expression"),
        ('matches("a", "[")', "not a valid regular expression"),
        ("matches('a', '" + "a" * 201 + "')", "pattern too long"),
        ('matches(x, "(a+)+$")', "repeats a group that itself repeats"),
        ('matches(x, "(a|aa)*b")', ""),
    ]:
        if not fragment:
            parse(source)
            continue
        with pytest.raises(ExpressionSyntaxError, match=re.escape(fragment)) as info:
            parse(source)
        assert info.value.message_zh
    assert evaluate("matches('a', '" + "a?" * 99 + "aa')") is False
    assert evaluate("matches('a', '" + "a?" * 100 + "')") is True


def test_error_column_points_at_the_failing_operator() -> None:
    cases = {
        '1 + "a"': 3,
        "missing": 1,
        "1 + missing": 5,
        "len(5)": 1,
        '  "abc" < 5': 9,
        "1 + 2 * (3 / 0)": 12,
        "1 + abs(null)": 5,
        "-null": 1,
        "[1, 2, 1 / 0]": 10,
    }
    for source, column in cases.items():
        with pytest.raises(ExpressionError) as info:
            evaluate(source)
        assert info.value.column == column, source


def test_unknown_variable_hints() -> None:
    with pytest.raises(ExpressionError) as info:
        evaluate("True")
    assert "did you mean 'true'" in info.value.message_en
    with pytest.raises(ExpressionError) as info:
        evaluate("None")
    assert "'null'" in info.value.message_en
    with pytest.raises(ExpressionError) as info:
        evaluate("hour > 9")
    assert "hour(...)" in info.value.message_en


def test_expression_error_without_column_and_pickling() -> None:
    error = ExpressionError("boom", "出错")
    assert str(error) == "boom"
    assert error.column is None
    copy = pickle.loads(pickle.dumps(ExpressionError("boom", "出错", 3)))
    assert (copy.message_en, copy.message_zh, copy.column) == ("boom", "出错", 3)
    syntax = pickle.loads(pickle.dumps(ExpressionSyntaxError(4, "bad", "坏")))
    assert (syntax.column, syntax.message_en, syntax.message_zh) == (4, "bad", "坏")
    assert str(syntax) == "bad (column 4)"


def test_deeply_nested_data_is_an_expression_error() -> None:
    def nested() -> list[Any]:
        value: list[Any] = []
        for _ in range(5000):
            value = [value]
        return value

    with pytest.raises(ExpressionError, match="nested too deeply"):
        evaluate("x == y", {"x": nested(), "y": nested()})


def test_huge_integers_in_variables_do_not_crash() -> None:
    huge = 10**5000
    for source in ["x + 1", "-x", "abs(x)", "number(x)", "round(x, -2)", "round(1, x)"]:
        with pytest.raises(ExpressionError):
            evaluate(source, {"x": huge})
    for source in ["string(x)", "concat(x)", "x in 'abc'", "substr('abc', 0, -x)"]:
        with pytest.raises(ExpressionError):
            evaluate(source, {"x": huge})
    assert evaluate("x > 1 and x == x and x != 1", {"x": huge}) is True
    assert evaluate("substr('abc', x)", {"x": huge}) == ""


def test_huge_numeric_text_does_not_crash() -> None:
    huge = "9" * 5000
    assert evaluate("x == 5", {"x": huge}) is False
    assert evaluate("x > 5", {"x": huge}) is True
    assert evaluate("x == y", {"x": huge, "y": huge}) is True
    with pytest.raises(ExpressionError, match="out of range"):
        evaluate("x + 1", {"x": huge})
    with pytest.raises(ExpressionError, match="out of range"):
        evaluate("number(x)", {"x": huge})


# ---------------------------------------------------------------------------------------------
# Clock functions
# ---------------------------------------------------------------------------------------------

CLOCK_CASES = [
    (NOW, "hour()", 9),
    (NOW, "minute()", 5),
    (NOW, "weekday()", 4),
    (NOW, "day()", 1),
    (NOW, "month()", 10),
    (NOW, "year()", 2026),
    (NOW, "date()", "2026-10-01"),
    (NOW, "time()", "09:05"),
    (NOW, "hour() >= 9 and hour() < 17 and weekday() <= 5", True),
    (NOW, 'date() == "2026-10-01"', True),
    (NOW, 'time() >= "09:00"', True),
    (datetime(2026, 10, 4, 23, 59, tzinfo=SHANGHAI), "weekday()", 7),
    (datetime(2026, 10, 4, 23, 59, tzinfo=SHANGHAI), "time()", "23:59"),
    (datetime(2026, 10, 5, 0, 0, tzinfo=SHANGHAI), "weekday()", 1),
    (
        datetime(2027, 1, 1, 0, 0, tzinfo=SHANGHAI),
        "concat(date(), ' ', time())",
        "2027-01-01 00:00",
    ),
    # ``now`` is used as given: the runtime passes call.now(), already in the flow's zone
    (datetime(2026, 10, 1, 1, 5, tzinfo=UTC), "hour()", 1),
    (datetime(2026, 10, 1, 1, 5, tzinfo=UTC).astimezone(SHANGHAI), "hour()", 9),
]


@pytest.mark.parametrize(("now", "source", "expected"), CLOCK_CASES)
def test_clock_functions(now: datetime, source: str, expected: object) -> None:
    assert same(evaluate(source, now=now), expected)


@pytest.mark.parametrize("name", sorted(n for n, s in FUNCTIONS.items() if s.uses_clock))
def test_clock_functions_need_now(name: str) -> None:
    expression = parse(f"{name}()")
    assert expression.uses_clock
    with pytest.raises(ExpressionError) as info:
        expression.evaluate({})
    assert CJK.search(info.value.message_zh)
    assert expression.evaluate({}, now=NOW) is not None


def test_uses_clock_is_false_without_clock_functions() -> None:
    assert not parse("len(x) > 0").uses_clock


# ---------------------------------------------------------------------------------------------
# Syntax errors
# ---------------------------------------------------------------------------------------------

SYNTAX_ERRORS = [
    ("", 1, "empty expression"),
    ("   ", 1, "empty expression"),
    ("1 +", 4, "expected a value but found the end"),
    ("(1", 3, "expected ')' to close the '(' at column 1"),
    ("[1, 2", 6, "expected ']' to close the '[' at column 1"),
    ("[1 2]", 4, "expected ']'"),
    ("len(1", 6, "expected ')' to close the '(' at column 4"),
    ("len(1 2)", 7, "expected ')'"),
    ("1 2", 3, "after a complete expression"),
    ("a b", 3, "is an operator such as"),
    ("(1))", 4, "unbalanced brackets"),
    ('"a" "b"', 5, "after a complete expression"),
    ('"abc', 1, "unterminated text"),
    ("x == 'abc", 6, "unterminated text"),
    ('"a\\', 1, "unterminated text"),
    ('"\\q"', 2, "unknown escape sequence '\\q'"),
    ("#", 1, "unexpected character '#'"),
    ("a = 1", 3, "use '==' to compare"),
    ("a && b", 3, "use 'and'"),
    ("a || b", 3, "use 'or'"),
    ("!a", 1, "use 'not'"),
    ("{'a': 1}", 1, "object literals are not supported"),
    ("1 < 2 < 3", 7, "comparisons cannot be chained"),
    ("1 == 2 != 3", 8, "comparisons cannot be chained"),
    ("a in b in c", 8, "comparisons cannot be chained"),
    ("a < b not in c", 7, "comparisons cannot be chained"),
    ("foo(1)", 1, "unknown function 'foo' (allowed functions: abs, concat"),
    ("1 + Len(1)", 5, "unknown function 'Len'"),
    ("account.get(1)", 1, "unknown function 'account.get'"),
    ("len()", 1, "len() takes exactly 1 argument but 0 were given"),
    ("len(1, 2)", 1, "len() takes exactly 1 argument but 2 were given"),
    ("hour(1)", 1, "hour() takes no arguments but 1 was given"),
    ("round(1, 2, 3)", 1, "round() takes 1 to 2 arguments but 3 were given"),
    ("concat()", 1, "concat() takes 1 to 16 arguments"),
    ("concat(" + ", ".join(["1"] * 17) + ")", 1, "but 17 were given"),
    ('substr("a")', 1, "substr() takes 2 to 3 arguments"),
    ("default(x)", 1, "default() takes exactly 2 arguments"),
    ("a AND b", 3, "keywords are lower case: write 'and'"),
    ("Not a", 5, "after a complete expression"),
    ("x not y", 3, "'not in'"),
    ("（1）", 1, "full-width punctuation, type '('"),
    ("1，2", 2, "type ','"),
    ("a == “b”", 6, "full-width"),
    ("１", 1, "type '1'"),
    ("余额 > 1", 1, "names may only use"),
    ("1.", 1, "invalid number '1.'"),
    (".5", 1, "write decimals as 0.5"),
    ("12abc", 1, "invalid number '12abc'"),
    ("1.2.3", 1, "invalid number '1.2.3'"),
    ("1e5", 1, "invalid number '1e5'"),
    ("0x10", 1, "invalid number '0x10'"),
    ("5元", 1, "invalid number '5元'"),
    ("x + 99999999999999999999", 5, "too large"),
    ("1000000000000000001", 1, "too large"),
    ("true.x", 1, "'true' is a keyword"),
    ("a.", 3, "expected a field name after '.'"),
    ("a..b", 3, "expected a field name after '.'"),
    ("a.1", 3, "expected a field name after '.'"),
    ("a . b", 3, "'.' may only join field names"),
    ("+1", 1, "there is no unary '+'"),
    ("and", 1, "expected a value but found 'and'"),
    ("not", 4, "expected a value"),
    ("()", 2, "expected a value but found ')'"),
    ("[1,]", 4, "expected a value but found ']'"),
    ("1 ** 2", 4, "expected a value but found '*'"),
    ("a == not b", 6, "expected a value but found 'not'"),
    ('"张三" = 1', 6, "use '=='"),
    ("x" * 1001, 1001, "expression too long"),
]


@pytest.mark.parametrize(("source", "column", "fragment"), SYNTAX_ERRORS)
def test_syntax_errors(source: str, column: int, fragment: str) -> None:
    with pytest.raises(ExpressionSyntaxError) as info:
        parse(source)
    error = info.value
    assert error.column == column, (source, error)
    assert fragment in error.message_en, error.message_en
    assert str(error) == f"{error.message_en} (column {error.column})"
    assert error.message_zh and CJK.search(error.message_zh), error.message_zh
    assert isinstance(error, ValueError)


def test_syntax_error_messages_name_the_token_in_chinese_too() -> None:
    with pytest.raises(ExpressionSyntaxError) as info:
        parse("foo(1)")
    assert "foo" in info.value.message_zh and "未知函数" in info.value.message_zh
    with pytest.raises(ExpressionSyntaxError) as info:
        parse('"abc')
    assert "第 1 列" in info.value.message_zh


def test_length_limit_boundary() -> None:
    assert parse("x" * 1000).variables == {"x" * 1000}
    assert evaluate("1" + " " * 999) == 1


@pytest.mark.parametrize(
    ("opening", "closing", "width"),
    [("(", ")", 1), ("[", "]", 1), ("abs(", ")", 4), ("-", "", 1), ("not ", "", 4)],
)
def test_nesting_limit(opening: str, closing: str, width: int) -> None:
    ok = opening * MAX_DEPTH + "1" + closing * MAX_DEPTH
    parse(ok)
    too_deep = opening * (MAX_DEPTH + 1) + "1" + closing * (MAX_DEPTH + 1)
    with pytest.raises(ExpressionSyntaxError, match="nested too deeply") as info:
        parse(too_deep)
    assert info.value.column == MAX_DEPTH * width + 1


def test_long_flat_chains_are_not_nesting() -> None:
    source = "+".join(["1"] * 300)
    assert evaluate(source) == 300
    assert evaluate("|".join(["0"] * 150).replace("|", " or ") + " or 1") is True


# ---------------------------------------------------------------------------------------------
# Parse results: variables, functions, caching, whitelist
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "variables", "functions"),
    [
        ("1 + 2", set(), set()),
        ("a + b.c.d * a", {"a", "b"}, set()),
        ("len(x) > 0 and hour() < 9", {"x"}, {"len", "hour"}),
        ("'a' == \"b\"", set(), set()),
        ("hour", {"hour"}, set()),
        ("round(account.balance, 2)", {"account"}, {"round"}),
        ("default(x, default(y, z))", {"x", "y", "z"}, {"default"}),
        ("[a, [b.c], concat(d)] == e", {"a", "b", "d", "e"}, {"concat"}),
        ("false and never_read", {"never_read"}, set()),
        ("not x in items", {"x", "items"}, set()),
    ],
)
def test_variables_and_functions(source: str, variables: set[str], functions: set[str]) -> None:
    expression = parse(source)
    assert expression.source == source
    assert expression.variables == variables
    assert expression.functions == functions
    assert isinstance(expression.variables, frozenset)
    assert isinstance(expression.functions, frozenset)


def test_parse_is_cached() -> None:
    assert parse("n + 1") is parse("n + 1")
    assert isinstance(parse("n + 1"), Expression)


def test_parse_rejects_non_text() -> None:
    with pytest.raises(TypeError):
        parse(12)  # type: ignore[arg-type]


def test_expression_is_reusable_and_stateless() -> None:
    expression = parse("[x, x + 1]")
    first = expression.evaluate({"x": 1})
    second = expression.evaluate({"x": 10})
    assert first == [1, 2]
    assert second == [10, 11]
    assert first is not expression.evaluate({"x": 1})


def test_function_whitelist_is_documented() -> None:
    doc = expr_module.__doc__ or ""
    for name, spec in FUNCTIONS.items():
        assert spec.name == name
        assert 0 <= spec.min_args <= spec.max_args <= 16
        assert spec.signature.startswith(f"{name}(")
        assert spec.summary_en and CJK.search(spec.summary_zh)
        assert f"``{name}(" in doc, name
    with pytest.raises(TypeError):
        FUNCTIONS["evil"] = FUNCTIONS["len"]  # type: ignore[index]
    assert set(expr_module._IMPLEMENTATIONS) | {"default"} == set(FUNCTIONS)


# ---------------------------------------------------------------------------------------------
# Security
# ---------------------------------------------------------------------------------------------


class _Secretive:
    secret = "do not leak"

    def __init__(self) -> None:
        self.inner = {"a": 1}


SECURITY_SOURCES = [
    "__import__('os')",
    "__import__('os').system('true')",
    "().__class__",
    "().__class__.__bases__[0].__subclasses__()",
    "x.__class__",
    "x.__class__.__mro__",
    "x.__dict__",
    "x.secret",
    "x.inner",
    "d.__class__",
    "d.__class__.__name__",
    "d.keys",
    "s.upper",
    "s.__len__",
    "n.real",
    "__builtins__",
    "__class__",
    "eval('1')",
    "exec('1')",
    "getattr(x, 'secret')",
    "open('/etc/passwd')",
    "globals()",
    "''.join([])",
    "[].__class__",
    "(1).real",
    "lambda: 1",
    "import os",
    "x[0]",
    "d['__class__']",
    "a if b else c",
    "a; b",
    "f'{x}'",
    "type(x)",
    "len.__self__",
    "len.__call__(1)",
]


@pytest.mark.parametrize("source", SECURITY_SOURCES)
def test_no_python_attribute_access(source: str) -> None:
    variables = {"x": _Secretive(), "d": {"a": 1}, "s": "text", "n": 5, "a": 1, "b": 2, "c": 3}
    try:
        expression = parse(source)
    except ExpressionSyntaxError:
        return
    try:
        result = expression.evaluate(variables)
    except ExpressionError:
        return
    # a harmless dict lookup is the only other possible outcome
    assert result is None, (source, result)


def test_dotted_names_only_index_dicts() -> None:
    assert evaluate("d.__class__", {"d": {"__class__": "k"}}) == "k"
    assert evaluate("d.__class__", {"d": {}}) is None
    assert evaluate("d.items", {"d": {"a": 1}}) is None
    with pytest.raises(ExpressionError, match="not an object"):
        evaluate("x.secret", {"x": _Secretive()})


def test_module_never_uses_python_eval() -> None:
    text = Path(expr_module.__file__).read_text(encoding="utf-8")
    forbidden = [
        r"\beval\(",
        r"\bexec\(",
        r"(?<![.\w])compile\(",
        r"\bgetattr\(",
        r"__import__\(",
        r"^\s*(import|from)\s+ast\b",
        r"\bbuiltins\b",
    ]
    for pattern in forbidden:
        assert not re.search(pattern, text, re.MULTILINE), pattern


# ---------------------------------------------------------------------------------------------
# Property tests
# ---------------------------------------------------------------------------------------------

PROPERTY_SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

VARIABLE_NAMES = ["a", "b", "digits", "account"]

numeric_text = st.from_regex(r"\A ?[+-]?[0-9]{1,25}(\.[0-9]{1,10})? ?\Z")
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(-(10**6), 10**6),
    st.floats(),
    st.text(max_size=20),
    numeric_text,
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.sampled_from(["x", "y", "balance", "__class__"]) | st.text(max_size=4),
            children,
            max_size=4,
        ),
    ),
    max_leaves=10,
)
variable_values = st.fixed_dictionaries({name: json_values for name in VARIABLE_NAMES})
nows = st.one_of(
    st.none(),
    st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(SHANGHAI)
    ),
)


def quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return '"' + escaped.replace("\t", "\\t") + '"'


SAFE_PATTERNS = ["[0-9]+", "1[3-9][0-9]{9}", "a.*", "(yes|no)", "", "[^x]?"]
BINARY = ["or", "and", "==", "!=", "<", "<=", ">", ">=", "in", "not in", "+", "-", "*", "/", "%"]
CALLABLE = sorted(
    name for name, spec in FUNCTIONS.items() if name != "matches" and spec.max_args > 0
)

leaves = st.one_of(
    st.integers(0, 10**6).map(str),
    st.tuples(st.integers(0, 999), st.integers(0, 999)).map(lambda t: f"{t[0]}.{t[1]}"),
    st.text(max_size=8).map(quote),
    numeric_text.map(quote),
    st.sampled_from(["true", "false", "null"]),
    st.sampled_from([*VARIABLE_NAMES, "account.balance", "account.x.y", "a.b", "digits.x"]),
    st.sampled_from([f"{name}()" for name, spec in FUNCTIONS.items() if spec.uses_clock]),
)


def _call(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    def build(name: str) -> st.SearchStrategy[str]:
        spec = FUNCTIONS[name]
        return st.lists(children, min_size=spec.min_args, max_size=min(spec.max_args, 4)).map(
            lambda args: f"{name}({', '.join(args)})"
        )

    return st.sampled_from(CALLABLE).flatmap(build)


def _extend(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    binary = st.tuples(children, st.sampled_from(BINARY), children).map(
        lambda t: f"({t[0]} {t[1]} {t[2]})"
    )
    return st.one_of(
        binary,
        binary,  # twice: binary operators are the most common shape in real flows
        st.tuples(st.sampled_from(["-", "not "]), children).map(lambda t: f"({t[0]}{t[1]})"),
        st.lists(children, max_size=4).map(lambda xs: "[" + ", ".join(xs) + "]"),
        _call(children),
        st.tuples(children, st.sampled_from(SAFE_PATTERNS)).map(
            lambda t: f"matches({t[0]}, {quote(t[1])})"
        ),
    )


well_formed = st.recursive(leaves, _extend, max_leaves=25)

TOKENS = [
    "(", ")", "[", "]", ",", "+", "-", "*", "/", "%", "==", "!=", "<", "<=", ">", ">=",
    "and", "or", "not", "in", "true", "false", "null", "1", "2.5", "007", "'s'", '"t"',
    "x", "a.b", "a.", "len", "hour", "concat", "matches", "round", "default", "substr",
    ".", "'", '"', "\\", "=", "!", "&", "|", "（", "余", "__import__", "__class__",
    "0x", "1.", "1e3", "99999999999999999999", "\t", "\n", "{", "}", ":", "#", "@",
]  # fmt: skip

token_soup = st.tuples(
    st.lists(st.sampled_from(TOKENS), max_size=30), st.sampled_from([" ", ""])
).map(lambda t: t[1].join(t[0]))

VALUE_TYPES = (type(None), bool, int, float, str, list, dict)


def _check_value(value: object) -> None:
    assert isinstance(value, VALUE_TYPES), type(value)


@PROPERTY_SETTINGS
@given(st.text(max_size=200))
def test_parse_arbitrary_text_only_raises_syntax_errors(source: str) -> None:
    try:
        expression = parse(source)
    except ExpressionSyntaxError as error:
        assert 1 <= error.column <= max(len(source), 1000) + 1
        assert error.message_en and error.message_zh
        return
    assert isinstance(expression, Expression)


@PROPERTY_SETTINGS
@given(token_soup, variable_values, nows)
def test_token_soup_parses_or_fails_cleanly(
    source: str, variables: dict[str, Any], now: datetime | None
) -> None:
    try:
        expression = parse(source)
    except ExpressionSyntaxError as error:
        assert 1 <= error.column <= len(source) + 1
        assert error.message_en and error.message_zh
        return
    env = {**variables, "x": variables["a"], "len": 1, "hour": 2}
    try:
        _check_value(expression.evaluate(env, now=now))
    except ExpressionError as error:
        assert error.message_en and error.message_zh


@PROPERTY_SETTINGS
@given(well_formed, variable_values, nows)
def test_well_formed_expressions_only_raise_expression_errors(
    source: str, variables: dict[str, Any], now: datetime | None
) -> None:
    try:
        expression = parse(source)
    except ExpressionSyntaxError as error:  # only the size limits may reject generated text
        assert "nested too deeply" in error.message_en or "too long" in error.message_en
        return
    assert expression.variables <= set(VARIABLE_NAMES)
    try:
        result = expression.evaluate(variables, now=now)
    except ExpressionError as error:
        assert error.message_en and CJK.search(error.message_zh)
        return
    _check_value(result)
    if isinstance(result, str):
        assert len(result) <= 10_000


@PROPERTY_SETTINGS
@given(
    st.integers(-(10**6), 10**6),
    st.sampled_from(["+", "-", "*"]),
    st.integers(-(10**6), 10**6),
)
def test_integer_arithmetic_matches_python(a: int, op: str, b: int) -> None:
    expected = {"+": a + b, "-": a - b, "*": a * b}[op]
    assert same(evaluate(f"a {op} b", {"a": a, "b": b}), expected)
    assert same(evaluate(f"a {op} b", {"a": str(a), "b": f"{b}"}), expected)


@PROPERTY_SETTINGS
@given(st.integers(0, 10**9), st.integers(0, 10**9), st.integers(0, 3))
def test_numeric_text_rules(a: int, b: int, zeros: int) -> None:
    padded = "0" * zeros + str(a)
    variables = {"x": padded, "y": str(b), "n": a}
    assert evaluate("x == n", variables) is True  # text vs number: numeric
    assert evaluate("x == y", variables) is (padded == str(b))  # text vs text: as text
    assert evaluate("x < y", variables) is (a < b)  # both numeric text: numeric order
    assert evaluate("x in [n]", variables) is True


@PROPERTY_SETTINGS
@given(
    st.dictionaries(st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,6}\Z"), json_values, max_size=5),
    st.lists(st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,6}\Z"), min_size=1, max_size=4),
)
def test_dotted_access_is_plain_dict_lookup(root: dict[str, Any], path: list[str]) -> None:
    expected: object = root
    for key in path:
        if expected is None:
            break
        if not isinstance(expected, dict):
            with pytest.raises(ExpressionError):
                evaluate("v." + ".".join(path), {"v": root})
            return
        expected = expected.get(key)
    result = evaluate("v." + ".".join(path), {"v": root})
    assert result is expected or result == expected
