"""Tests for prompts.say: table-driven readings plus property tests against cn2an."""

from __future__ import annotations

import dataclasses
import math
from datetime import date, datetime, time
from decimal import ROUND_HALF_UP, Decimal

import cn2an
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from prompts.say import (
    LANGUAGES,
    SAY_KINDS,
    SayError,
    Word,
    normalize_language,
    prompt_set,
    spell,
    text_of,
)

FAST = settings(max_examples=300, deadline=None)
MAX = 10**16 - 1


def zh(kind: str, value: object, **kwargs: bool) -> str:
    return text_of(spell(kind, value, "zh-CN", **kwargs), "zh-CN")


def en(kind: str, value: object, **kwargs: bool) -> str:
    return text_of(spell(kind, value, "en-US", **kwargs), "en-US")


# --------------------------------------------------------------------------- oracle helpers

_UPPER_TO_LOWER = str.maketrans("壹贰叁肆伍陆柒捌玖拾佰仟", "一二三四五六七八九十百千")


def cn2an_deviates(n: int) -> bool:
    """The one integer class where we deliberately differ from cn2an: a non-zero 亿 part,
    an all-zero 万 group and a last group >= 1000 (100001000: 一亿零一千, cn2an 一亿一千)."""
    return n >= 10**8 and 1000 <= n % 10**8 < 10**4


def expected_zh_int(n: int) -> str:
    """cn2an's reading, with the documented 亿零X千 correction."""
    if cn2an_deviates(n):
        high, low = divmod(n, 10**8)
        return cn2an.an2cn(high, "low") + "亿零" + cn2an.an2cn(low, "low")
    return cn2an.an2cn(n, "low")


def expected_zh_money(amount: Decimal) -> str:
    """cn2an's 人民币大写 in spoken lower case: 一十 → 十 at the start, 零元整 → 零元."""
    text = cn2an.an2cn(format(amount, "f"), "rmb").translate(_UPPER_TO_LOWER)
    sign = ""
    if text.startswith("负"):
        sign, text = "负", text[1:]
    if text.startswith("一十"):
        text = text[1:]
    if text == "零元整":
        text = "零元"
    return sign + text


# --------------------------------------------------------------------------- Mandarin tables

ZH_NUMBERS = [
    (0, "零"),
    (1, "一"),
    (2, "二"),
    (10, "十"),
    (11, "十一"),
    (12, "十二"),
    (20, "二十"),
    (100, "一百"),
    (101, "一百零一"),
    (110, "一百一十"),
    (1000, "一千"),
    (1001, "一千零一"),
    (1010, "一千零一十"),
    (1234, "一千二百三十四"),
    (2222, "二千二百二十二"),
    (10000, "一万"),
    (10001, "一万零一"),
    (10010, "一万零一十"),
    (100000, "十万"),
    (100010, "十万零一十"),
    (150000, "十五万"),
    (1000000, "一百万"),
    (1100000, "一百一十万"),
    (10001000, "一千万一千"),
    (10**8, "一亿"),
    (10**8 + 1, "一亿零一"),
    (100010000, "一亿零一万"),
    (100000100, "一亿零一百"),
    (110000000, "一亿一千万"),
    (1000000000, "十亿"),
    (10**12, "一万亿"),
    (10**13, "十万亿"),
    (10**13 + 10, "十万亿零一十"),
    (10**15, "一千万亿"),
    (MAX, "九千九百九十九万九千九百九十九亿九千九百九十九万九千九百九十九"),
    (-5, "负五"),
    (-10, "负十"),
    (-MAX, "负九千九百九十九万九千九百九十九亿九千九百九十九万九千九百九十九"),
    # deliberate deviation from cn2an (一亿一千 / 五亿三千 / 一万亿一千)
    (100001000, "一亿零一千"),
    (500003000, "五亿零三千"),
    (10**12 + 1000, "一万亿零一千"),
    # decimals and the other input forms
    ("3.05", "三点零五"),
    ("12.50", "十二点五零"),
    ("  7 ", "七"),
    ("+8", "八"),
    ("-5", "负五"),
    ("0.5", "零点五"),
    ("-0.5", "负零点五"),
    ("10.5", "十点五"),
    ("1234.5678", "一千二百三十四点五六七八"),
    ("0007", "七"),
    ("-0", "零"),
    (Decimal("1.20"), "一点二零"),
    (Decimal("5E+3"), "五千"),
    (Decimal("-0.00"), "零点零零"),
    (2.5, "二点五"),
    (5.0, "五点零"),
    (-0.25, "负零点二五"),
    (1e15, "一千万亿点零"),  # a float is read by its repr, "1000000000000000.0"
]


@pytest.mark.parametrize(("value", "expected"), ZH_NUMBERS)
def test_zh_number(value: object, expected: str) -> None:
    assert zh("number", value) == expected


@pytest.mark.parametrize(
    "n", [n for n, _ in ZH_NUMBERS if isinstance(n, int) and n >= 0 and not cn2an_deviates(n)]
)
def test_zh_number_table_agrees_with_cn2an(n: int) -> None:
    assert zh("number", n) == cn2an.an2cn(n, "low")


@pytest.mark.parametrize("n", [100001000, 500003000, 10**12 + 1000, 7090150500001609])
def test_zh_number_documented_deviation_from_cn2an(n: int) -> None:
    high, low = divmod(n, 10**8)
    assert cn2an.an2cn(n, "low") == cn2an.an2cn(high, "low") + "亿" + cn2an.an2cn(low, "low")
    assert zh("number", n) == cn2an.an2cn(high, "low") + "亿零" + cn2an.an2cn(low, "low")


def test_zh_number_words_and_ids() -> None:
    assert spell("number", 1234) == [
        Word("say/zh/1", "一"),
        Word("say/zh/qian", "千"),
        Word("say/zh/2", "二"),
        Word("say/zh/bai", "百"),
        Word("say/zh/3", "三"),
        Word("say/zh/shi", "十"),
        Word("say/zh/4", "四"),
    ]
    assert [w.prompt for w in spell("number", 100000001)] == [
        "say/zh/1",
        "say/zh/yiyi",
        "say/zh/0",
        "say/zh/1",
    ]
    assert [w.prompt for w in spell("number", "-1.5")] == [
        "say/zh/fu",
        "say/zh/1",
        "say/zh/dian",
        "say/zh/5",
    ]


ZH_MONEY = [
    ("1234.56", "一千二百三十四元五角六分"),
    (100, "一百元整"),
    ("100.50", "一百元五角"),
    ("100.05", "一百元零五分"),
    ("0.5", "五角"),
    ("0.05", "五分"),
    ("0.55", "五角五分"),
    (0, "零元"),
    ("0.00", "零元"),
    ("1000.07", "一千元零七分"),
    ("10.60", "十元六角"),
    (10, "十元整"),
    ("2.00", "二元整"),
    ("100000000.05", "一亿元零五分"),
    ("-3.5", "负三元五角"),
    ("-0.05", "负五分"),
    # half-up rounding to the fen, with Decimal
    ("0.005", "一分"),
    ("0.004", "零元"),
    ("-0.004", "零元"),
    ("-0.005", "负一分"),
    ("2.675", "二元六角八分"),
    (2.675, "二元六角八分"),  # float: by its repr, not its binary value 2.67499999...
    (Decimal("2.675"), "二元六角八分"),
    ("9.995", "十元整"),
    ("0.994999", "九角九分"),
    (1.1, "一元一角"),
    (" 12 ", "十二元整"),
    (
        "9999999999999999.994",
        "九千九百九十九万九千九百九十九亿九千九百九十九万九千九百九十九元九角九分",
    ),
]


@pytest.mark.parametrize(("value", "expected"), ZH_MONEY)
def test_zh_money(value: object, expected: str) -> None:
    assert zh("money", value) == expected


@pytest.mark.parametrize("value", ["1234.56", "100", "100.50", "100.05", "0.50", "0.05", "1000.07"])
def test_zh_money_table_agrees_with_cn2an_rmb(value: str) -> None:
    assert zh("money", value) == expected_zh_money(Decimal(value))


def test_zh_money_documented_deviations_from_cn2an() -> None:
    assert cn2an.an2cn("10.60", "rmb") == "壹拾元陆角"  # cheque form
    assert zh("money", "10.60") == "十元六角"
    assert cn2an.an2cn("0", "rmb") == "零元整"
    assert zh("money", 0) == "零元"


def test_money_minute_and_fen_are_distinct_prompts() -> None:
    assert spell("money", "0.05")[-1] == Word("say/zh/fen", "分")
    assert spell("time", "9:05")[-1] == Word("say/zh/minute", "分")
    assert Word("say/zh/oclock", "点") in spell("time", "9:05")
    assert Word("say/zh/dian", "点") in spell("number", "9.5")


ZH_DIGITS = [
    ("0123456789", "零一二三四五六七八九", False),
    ("12329", "一二三二九", False),
    ("12329", "幺二三二九", True),
    ("*#", "星号井号", False),
    ("11010519491231002X", "一一零一零五一九四九一二三一零零二X", False),
    ("11010519491231002x", "幺幺零幺零五幺九四九幺二三幺零零二X", True),
    (" 110 ", "一一零", False),
    (12329, "一二三二九", False),
    (0, "零", False),
    ("9" * 64, "九" * 64, False),
]


@pytest.mark.parametrize(("value", "expected", "yao"), ZH_DIGITS)
def test_zh_digits(value: object, expected: str, yao: bool) -> None:
    assert zh("digits", value, yao=yao) == expected


def test_zh_digit_prompt_ids() -> None:
    assert [w.prompt for w in spell("digits", "1*#X", yao=True)] == [
        "say/zh/yao",
        "say/zh/xinghao",
        "say/zh/jinghao",
        "say/zh/x",
    ]


ZH_DATES = [
    ("2026-10-01", "二零二六年十月一日"),
    ("20261001", "二零二六年十月一日"),
    ("2026-1-5", "二零二六年一月五日"),
    (date(2000, 2, 29), "二零零零年二月二十九日"),
    (datetime(1999, 12, 31, 23, 59), "一九九九年十二月三十一日"),
    (date(2024, 11, 11), "二零二四年十一月十一日"),
    (date(1, 1, 1), "一年一月一日"),
    (" 2026-03-20 ", "二零二六年三月二十日"),
]


@pytest.mark.parametrize(("value", "expected"), ZH_DATES)
def test_zh_date(value: object, expected: str) -> None:
    assert zh("date", value) == expected


ZH_TIMES = [
    ("10:30", "十点三十分"),
    ("9:05", "九点零五分"),
    ("09:05", "九点零五分"),
    ("14:00", "十四点"),
    ("14:00:00", "十四点"),
    ("02:00", "两点"),  # hours say 两点, never 二点
    ("2:02", "两点零二分"),
    ("12:00", "十二点"),
    ("22:20", "二十二点二十分"),
    ("00:00", "零点"),
    ("0:30", "零点三十分"),
    ("10:30:15", "十点三十分十五秒"),
    ("9:05:05", "九点零五分零五秒"),
    ("10:00:05", "十点零分零五秒"),
    ("23:59:59", "二十三点五十九分五十九秒"),
    (time(8, 10), "八点十分"),
    (time(8, 10, 0, 999_999), "八点十分"),
    (datetime(2026, 10, 1, 18, 45), "十八点四十五分"),
]


@pytest.mark.parametrize(("value", "expected"), ZH_TIMES)
def test_zh_time(value: object, expected: str) -> None:
    assert zh("time", value) == expected


ZH_WEEKDAYS = [
    (1, "星期一"),
    (2, "星期二"),
    (3, "星期三"),
    (4, "星期四"),
    (5, "星期五"),
    (6, "星期六"),
    (7, "星期天"),
    ("7", "星期天"),
    (date(2026, 10, 1), "星期四"),
    (datetime(2026, 10, 4, 9, 0), "星期天"),
    ("2026-10-05", "星期一"),
    ("20261003", "星期六"),
]


@pytest.mark.parametrize(("value", "expected"), ZH_WEEKDAYS)
def test_zh_weekday(value: object, expected: str) -> None:
    assert zh("weekday", value) == expected


# --------------------------------------------------------------------------- English tables

EN_NUMBERS = [
    (0, "zero"),
    (7, "seven"),
    (10, "ten"),
    (11, "eleven"),
    (19, "nineteen"),
    (20, "twenty"),
    (21, "twenty one"),
    (99, "ninety nine"),
    (100, "one hundred"),
    (101, "one hundred one"),
    (110, "one hundred ten"),
    (1000, "one thousand"),
    (1010, "one thousand ten"),
    (1234, "one thousand two hundred thirty four"),
    (10000, "ten thousand"),
    (10001, "ten thousand one"),
    (100010, "one hundred thousand ten"),
    (1000000, "one million"),
    (10**8, "one hundred million"),
    (10**8 + 1, "one hundred million one"),
    (10**9, "one billion"),
    (10**12, "one trillion"),
    (10**15 + 1, "one quadrillion one"),
    (
        MAX,
        "nine quadrillion nine hundred ninety nine trillion nine hundred ninety nine billion"
        " nine hundred ninety nine million nine hundred ninety nine thousand"
        " nine hundred ninety nine",
    ),
    (-5, "minus five"),
    ("-1234", "minus one thousand two hundred thirty four"),
    ("12.50", "twelve point five zero"),
    ("3.05", "three point zero five"),
    ("-0.5", "minus zero point five"),
    (Decimal("0.0001"), "zero point zero zero zero one"),
    (2.5, "two point five"),
]


@pytest.mark.parametrize(("value", "expected"), EN_NUMBERS)
def test_en_number(value: object, expected: str) -> None:
    assert en("number", value) == expected


EN_MONEY = [
    ("1234.56", "one thousand two hundred thirty four yuan five jiao six fen"),
    (100, "one hundred yuan"),
    ("100.50", "one hundred yuan five jiao"),
    ("100.05", "one hundred yuan five fen"),
    ("0.5", "five jiao"),
    ("0.05", "five fen"),
    (0, "zero yuan"),
    ("1000.07", "one thousand yuan seven fen"),
    ("10.60", "ten yuan six jiao"),
    ("-3.5", "minus three yuan five jiao"),
    ("0.005", "one fen"),
    (2.675, "two yuan six jiao eight fen"),
]


@pytest.mark.parametrize(("value", "expected"), EN_MONEY)
def test_en_money(value: object, expected: str) -> None:
    assert en("money", value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("123", "one two three"),
        ("0*#", "zero star pound"),
        ("11010519491231002X", "one one zero one zero five one nine four nine one two three one"
         " zero zero two x"),
        (4008, "four zero zero eight"),
    ],
)  # fmt: skip
def test_en_digits(value: object, expected: str) -> None:
    assert en("digits", value) == expected
    assert en("digits", value, yao=True) == expected  # 幺 is Mandarin only


EN_DATES = [
    ("2026-10-01", "october first twenty twenty six"),
    (date(2026, 10, 2), "october second twenty twenty six"),
    (date(2026, 10, 3), "october third twenty twenty six"),
    (date(2026, 1, 11), "january eleventh twenty twenty six"),
    (date(2026, 1, 12), "january twelfth twenty twenty six"),
    (date(2026, 1, 20), "january twentieth twenty twenty six"),
    (date(2026, 1, 21), "january twenty first twenty twenty six"),
    (date(2026, 1, 22), "january twenty second twenty twenty six"),
    (date(2026, 1, 30), "january thirtieth twenty twenty six"),
    (date(2026, 1, 31), "january thirty first twenty twenty six"),
    (date(2000, 2, 29), "february twenty ninth two thousand"),
    (date(2005, 5, 5), "may fifth two thousand five"),
    (date(2009, 9, 9), "september ninth two thousand nine"),
    (date(2010, 3, 1), "march first twenty ten"),
    (date(1900, 6, 15), "june fifteenth nineteen hundred"),
    (date(1905, 7, 4), "july fourth nineteen oh five"),
    (date(1999, 12, 31), "december thirty first nineteen ninety nine"),
    (date(2100, 8, 8), "august eighth twenty one hundred"),
    (date(1066, 10, 14), "october fourteenth ten sixty six"),
    (date(476, 9, 4), "september fourth four seventy six"),
    (date(99, 4, 1), "april first ninety nine"),
    ("20261101", "november first twenty twenty six"),
]


@pytest.mark.parametrize(("value", "expected"), EN_DATES)
def test_en_date(value: object, expected: str) -> None:
    assert en("date", value) == expected


def test_en_compound_ordinal_is_two_prompts() -> None:
    prompts = [w.prompt for w in spell("date", "2026-03-21", "en-US")]
    assert prompts[:3] == ["say/en/march", "say/en/twenty", "say/en/first"]


EN_TIMES = [
    ("10:30", "ten thirty"),
    ("9:05", "nine oh five"),
    ("14:00", "fourteen o'clock"),
    ("00:00", "zero o'clock"),
    ("00:45", "zero forty five"),
    ("23:59", "twenty three fifty nine"),
    ("10:30:15", "ten thirty and fifteen seconds"),
    ("12:00:01", "twelve o'clock and one second"),
]


@pytest.mark.parametrize(("value", "expected"), EN_TIMES)
def test_en_time(value: object, expected: str) -> None:
    assert en("time", value) == expected


def test_en_weekday() -> None:
    assert [en("weekday", i) for i in range(1, 8)] == [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ]
    assert en("weekday", date(2026, 10, 1)) == "thursday"


# --------------------------------------------------------------------------- API surface


def test_constants() -> None:
    assert SAY_KINDS == ("number", "money", "digits", "date", "time", "weekday")
    assert LANGUAGES == ("zh-CN", "en-US")


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("zh-CN", "zh-CN"),
        ("zh", "zh-CN"),
        ("zh_CN", "zh-CN"),
        ("ZH-tw", "zh-CN"),
        ("zh-Hans-CN", "zh-CN"),
        ("en-US", "en-US"),
        ("en", "en-US"),
        ("en-GB", "en-US"),
        (" en_us ", "en-US"),
    ],
)
def test_language_tags(tag: str, expected: str) -> None:
    assert normalize_language(tag) == expected
    assert prompt_set(tag) == prompt_set(expected)
    assert spell("number", 21, tag) == spell("number", 21, expected)


@pytest.mark.parametrize("tag", ["fr-FR", "", "zhx", "yue", "english", None, 5])
def test_unsupported_language(tag: object) -> None:
    with pytest.raises(SayError) as info:
        spell("number", 1, tag)  # type: ignore[arg-type]
    assert info.value.message_en and info.value.message_zh
    with pytest.raises(SayError):
        text_of([], tag)  # type: ignore[arg-type]
    with pytest.raises(SayError):
        prompt_set(tag)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["Number", "currency", "", None, 3])
def test_unknown_kind(kind: object) -> None:
    with pytest.raises(SayError) as info:
        spell(kind, 1)  # type: ignore[arg-type]
    assert "number" in info.value.message_en
    assert "播报类型" in info.value.message_zh


def test_text_of_joins() -> None:
    words = spell("money", "1234.56")
    assert text_of(words, "zh-CN") == "一千二百三十四元五角六分"
    assert text_of(words, "en-US") == "一 千 二 百 三 十 四 元 五 角 六 分"
    assert text_of([], "zh") == ""


def test_word_is_frozen_and_slotted() -> None:
    word = Word("say/zh/1", "一")
    with pytest.raises(dataclasses.FrozenInstanceError):
        word.text = "二"  # type: ignore[misc]
    assert not hasattr(word, "__dict__")
    assert hash(word) == hash(Word("say/zh/1", "一"))


@pytest.mark.parametrize("language", LANGUAGES)
def test_prompt_set_shape(language: str) -> None:
    prompts = prompt_set(language)
    prefix = "say/zh/" if language == "zh-CN" else "say/en/"
    assert prompts
    assert all(pid.startswith(prefix) and pid.isascii() for pid in prompts)
    assert all(text.strip() for text in prompts.values())
    prompts.clear()  # a copy: callers cannot corrupt the table
    assert prompt_set(language)


def test_prompt_set_zh_core_ids() -> None:
    prompts = prompt_set("zh-CN")
    for digit, text in enumerate("零一二三四五六七八九"):
        assert prompts[f"say/zh/{digit}"] == text
    assert prompts["say/zh/yiyi"] == "亿"
    assert prompts["say/zh/qian"] == "千"
    assert prompts["say/zh/liang"] == "两"
    assert prompts["say/zh/yao"] == "幺"


def _coverage_inputs(language: str) -> list[list[Word]]:
    calls: list[list[Word]] = [
        spell("number", n, language) for n in [*range(100), 1234567890123456, "-1.5"]
    ]
    calls += [spell("money", v, language) for v in ["100", "1.25", "1.05"]]
    calls += [spell("digits", "0123456789*#X", language, yao=y) for y in (False, True)]
    calls += [spell("date", date(2026, m, d), language) for m in range(1, 13) for d in (1, 28)]
    calls += [spell("date", date(2026, 1, d), language) for d in range(1, 32)]
    calls += [spell("date", date(1905, 1, 1), language)]
    calls += [spell("time", t, language) for t in ["2:00", "10:05:01", "10:30:15"]]
    calls += [spell("weekday", i, language) for i in range(1, 8)]
    return calls


@pytest.mark.parametrize("language", LANGUAGES)
def test_prompt_set_is_exactly_what_can_be_emitted(language: str) -> None:
    emitted = {w.prompt: w.text for words in _coverage_inputs(language) for w in words}
    assert emitted == prompt_set(language)


# --------------------------------------------------------------------------- invalid values

INVALID = [
    ("number", True),
    ("number", False),
    ("number", math.nan),
    ("number", math.inf),
    ("number", -math.inf),
    ("number", Decimal("NaN")),
    ("number", Decimal("sNaN")),
    ("number", Decimal("-Infinity")),
    ("number", 10**16),
    ("number", -(10**16)),
    pytest.param("number", 10**5000, id="number-int-too-large-for-repr"),
    ("number", "10000000000000000"),
    ("number", 1e16),
    ("number", Decimal("1E+16")),
    ("number", "1.23456"),
    ("number", 1e-05),
    ("number", 0.1 + 0.2),
    ("number", Decimal("1E-999999999")),
    ("number", "1e3"),
    ("number", "1,234"),
    ("number", "12."),
    ("number", ".5"),
    ("number", "--5"),
    ("number", ""),
    ("number", "   "),
    ("number", "abc"),
    ("number", "١٢٣"),  # non-ASCII digits
    ("number", "1" * 200),
    ("number", None),
    ("number", [1]),
    ("number", b"12"),
    ("number", 1 + 2j),
    ("money", True),
    ("money", math.nan),
    ("money", "9999999999999999.995"),  # rounds to 10**16
    ("money", 10**16),
    ("money", "¥12"),
    ("money", "12 元"),
    ("money", None),
    ("digits", ""),
    ("digits", "  "),
    ("digits", "12a"),
    ("digits", "X12"),
    ("digits", "1XX"),
    ("digits", "1-2"),
    ("digits", "1" * 65),
    ("digits", -1),
    ("digits", True),
    ("digits", 1.5),
    ("digits", None),
    ("digits", 10**64),
    ("date", "2026-02-30"),
    ("date", "2026/10/01"),
    ("date", "0000-01-01"),
    ("date", "26-10-01"),
    ("date", "2026101"),
    ("date", ""),
    ("date", 20261001),
    ("date", time(10, 0)),
    ("date", None),
    ("time", "24:00"),
    ("time", "10:60"),
    ("time", "10:30:60"),
    ("time", "1030"),
    ("time", "10:3"),
    ("time", ""),
    ("time", 1030),
    ("time", date(2026, 1, 1)),
    ("time", None),
    ("weekday", 0),
    ("weekday", 8),
    ("weekday", -1),
    ("weekday", True),
    ("weekday", "monday"),
    ("weekday", "8"),
    ("weekday", 1.0),
    ("weekday", time(10, 0)),
    ("weekday", None),
]


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize(("kind", "value"), INVALID)
def test_invalid_values_raise_say_error(kind: str, value: object, language: str) -> None:
    with pytest.raises(SayError) as info:
        spell(kind, value, language)
    error = info.value
    assert isinstance(error, ValueError)
    assert error.message_en and error.message_zh
    assert error.message_en in str(error) and error.message_zh in str(error)
    assert len(error.message_en) < 300


def test_error_messages_name_the_value() -> None:
    with pytest.raises(SayError) as info:
        spell("number", "12abc")
    assert "'12abc'" in info.value.message_en
    assert "'12abc'" in info.value.message_zh
    assert "数字" in info.value.message_zh
    with pytest.raises(SayError) as info:
        spell("date", "2026-02-30", "en")
    assert "2026-02-30" in info.value.message_en and "日期" in info.value.message_zh


# --------------------------------------------------------------------------- properties


def _sparse_int(max_digits: int = 16) -> st.SearchStrategy[int]:
    """Integers rich in zeros (where the 零 rules live), plus plain uniform ones."""
    sparse = st.lists(st.sampled_from("0000000123456789"), min_size=1, max_size=max_digits).map(
        lambda digits: int("".join(digits))
    )
    return st.one_of(sparse, st.integers(0, 10**max_digits - 1))


@FAST
@given(_sparse_int())
def test_zh_integers_match_cn2an(n: int) -> None:
    assert zh("number", n) == expected_zh_int(n)
    if n:
        assert zh("number", -n) == "负" + expected_zh_int(n)


@FAST
@given(_sparse_int(), st.integers(1, 4).flatmap(lambda k: st.integers(0, 10**k - 1).map(
    lambda f: str(f).zfill(k))))  # fmt: skip
def test_zh_decimals_match_cn2an(n: int, fraction: str) -> None:
    value = f"{n}.{fraction}"
    expected = cn2an.an2cn(value, "low")
    if cn2an_deviates(n):
        expected = expected_zh_int(n) + expected[len(cn2an.an2cn(n, "low")) :]
    assert zh("number", value) == expected


@FAST
@given(_sparse_int(), st.integers(0, 99), st.booleans())
def test_zh_money_matches_cn2an_rmb(yuan: int, cents: int, negative: bool) -> None:
    assume(not cn2an_deviates(yuan))
    amount = Decimal(yuan) + Decimal(cents) / 100
    if negative and amount:
        amount = -amount
    assert zh("money", format(amount, "f")) == expected_zh_money(amount)
    assert zh("money", amount) == expected_zh_money(amount)


@FAST
@given(st.decimals(min_value=-(10**15), max_value=10**15, allow_nan=False, allow_infinity=False))
def test_money_rounds_half_up(amount: Decimal) -> None:
    rounded = amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    assert spell("money", amount) == spell("money", format(rounded, "f"))
    assert spell("money", amount, "en") == spell("money", rounded, "en")


@FAST
@given(_sparse_int(15))
def test_en_integers_are_consistent(n: int) -> None:
    text = en("number", n)
    assert text and "  " not in text and "-" not in text and " and " not in text
    assert en("number", -n) == (f"minus {text}" if n else text)
    # group structure: the part below 1000 is read the same on its own
    if n >= 1000 and n % 1000:
        assert text.endswith(" " + en("number", n % 1000))


def _valid_values() -> st.SearchStrategy[tuple[str, object]]:
    numbers = st.one_of(
        _sparse_int(),
        _sparse_int().map(lambda n: -n),
        st.integers(0, 4).flatmap(
            lambda k: st.decimals(
                min_value=-MAX, max_value=MAX, places=k, allow_nan=False, allow_infinity=False
            )
        ),
        st.integers(-MAX, MAX).map(str),
    )
    money = st.one_of(
        numbers,
        st.floats(min_value=-1e15, max_value=1e15),
        st.decimals(min_value=-MAX, max_value=MAX, allow_nan=False, allow_infinity=False),
    )
    digits = st.tuples(
        st.text(alphabet="0123456789*#", min_size=1, max_size=63), st.sampled_from(["", "X"])
    ).map("".join)
    return st.one_of(
        st.tuples(st.just("number"), numbers),
        st.tuples(st.just("money"), money),
        st.tuples(st.just("digits"), st.one_of(digits, st.integers(0, 10**30))),
        st.tuples(st.just("date"), st.one_of(st.dates(), st.datetimes())),
        st.tuples(st.just("time"), st.one_of(st.times(), st.datetimes())),
        st.tuples(st.just("weekday"), st.one_of(st.integers(1, 7), st.dates())),
    )


@settings(max_examples=500, deadline=None)
@given(_valid_values(), st.sampled_from(LANGUAGES), st.booleans())
def test_every_word_is_in_the_prompt_set(
    kind_value: tuple[str, object], language: str, yao: bool
) -> None:
    kind, value = kind_value
    words = spell(kind, value, language, yao=yao)
    prompts = prompt_set(language)
    assert words
    for word in words:
        assert isinstance(word, Word)
        assert prompts.get(word.prompt) == word.text
    text = text_of(words, language)
    assert text.strip()
    assert text == text.strip()


_ANYTHING = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**16, max_value=10**40),
    st.floats(),
    st.decimals(),
    st.text(max_size=40),
    st.text(alphabet="0123456789.-+:*#Xx e", max_size=25),
    st.binary(max_size=8),
    st.dates(),
    st.times(),
    st.datetimes(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(SAY_KINDS), _ANYTHING, st.sampled_from(LANGUAGES), st.booleans())
def test_any_input_says_or_raises_say_error(
    kind: str, value: object, language: str, yao: bool
) -> None:
    try:
        words = spell(kind, value, language, yao=yao)
    except SayError as error:
        assert error.message_en and error.message_zh
        return
    prompts = prompt_set(language)
    assert words and all(prompts.get(w.prompt) == w.text for w in words)


@FAST
@given(st.text(max_size=12), _ANYTHING)
def test_random_kind_or_language_raises_say_error(garbage: str, value: object) -> None:
    assume(garbage not in SAY_KINDS)
    with pytest.raises(SayError):
        spell(garbage, value)
    assume(garbage.strip()[:2].lower() not in {"zh", "en"})
    with pytest.raises(SayError):
        spell("number", 1, garbage)
