"""Spell numbers, money, digit strings, dates, times and weekdays as prompt words.

IVR "say" plays a sequence of short recorded prompts from the *number prompt set*: 1234.56
yuan in Mandarin is 一 千 二 百 三 十 四 元 五 角 六 分. :func:`spell` turns a value into that
sequence of :class:`Word` s (prompt id + text); the runtime plays the ids on Asterisk, the
simulator prints :func:`text_of` the words. :func:`prompt_set` lists every prompt id the
speller can emit for a language, so the prompt library can record or generate (TTS) the whole
set up front.

Kinds (:data:`SAY_KINDS`) and the values they accept:

``number``
    ``int``, ``float``, ``Decimal`` or a plain decimal string (``"1234"``, ``"-5"``,
    ``"12.50"``, ``" 7 "``); ``|x| < 10**16``, at most 4 decimal places; ``bool`` is rejected.
    Decimal places are read as written (``"12.50"`` → 十二点五零); a float is taken by its
    shortest ``repr`` (``5.0`` → 五点零, ``0.1 + 0.2`` has too many decimal places).
``money``
    The same inputs (any number of decimal places), rounded half-up to fen (0.01) with
    ``Decimal`` arithmetic; 元角分 / "yuan jiao fen".
``digits``
    A string of ``0-9``, ``*`` and ``#`` (plus a final ``X``/``x`` for ID-card numbers), at
    most 64 characters; a non-negative ``int`` is converted with ``str()``. Each character is
    read by name; ``yao=True`` reads 1 as 幺 (phone-number style, Mandarin only).
``date``
    ``datetime.date`` / ``datetime.datetime`` or ``"YYYY-MM-DD"`` / ``"YYYYMMDD"``.
``time``
    ``datetime.time`` / ``datetime.datetime`` or ``"HH:MM"`` / ``"HH:MM:SS"`` (24-hour;
    one-digit hours allowed).
``weekday``
    ISO weekday ``int`` 1..7 (1 = Monday), a ``"1"``..``"7"`` string, or a date (any form
    accepted by ``date``) → its weekday.

Languages (:data:`LANGUAGES`): any tag whose primary subtag is ``zh`` is spoken as zh-CN, any
``en`` tag as en-US; everything else raises :class:`SayError`.

Mandarin readings follow ``cn2an.an2cn(n, "low")`` (二, never 两, in numbers; 万/亿 grouping;
one 零 per run of zeros; 一十 → 十 only at the very start) with one deliberate deviation:
when the 万 group under a non-zero 亿 part is entirely zero and the last group starts with a
non-zero thousands digit, a 零 is read: 100001000 → 一亿零一千 (cn2an: 一亿一千, which a
caller hears as 110,000,000; the school rule reads the whole-zero 万 group as one 零).
Money follows ``cn2an.an2cn(x, "rmb")`` in lower-case spoken form, except that a leading
一十 is read 十 (10.60 → 十元六角, cn2an 壹拾元陆角 — the written-cheque form) and zero is
零元 (cn2an 零元整). In a time the hour 2 is 两点 (never 二点), as every Mandarin speaker says it.

English: "one thousand two hundred thirty four" (no "and", no hyphens), "minus", "point five
zero"; money "... yuan five jiao six fen"; dates "october first twenty twenty six" (years as
two pairs, 2000-2009 "two thousand five", 1900 "nineteen hundred", 1905 "nineteen oh five");
times 24-hour-neutral: 10:30 "ten thirty", 9:05 "nine oh five", 14:00 "fourteen o'clock",
non-zero seconds "... and five seconds".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext

__all__ = [
    "LANGUAGES",
    "SAY_KINDS",
    "SayError",
    "Word",
    "normalize_language",
    "prompt_set",
    "spell",
    "text_of",
]

SAY_KINDS = ("number", "money", "digits", "date", "time", "weekday")
LANGUAGES = ("zh-CN", "en-US")

MAX_ABS = 10**16  # exclusive bound on |value| for number and money
MAX_DECIMALS = 4  # decimal places allowed for kind "number"
MAX_DIGITS = 64  # characters allowed for kind "digits"
_MAX_INPUT = 100  # longest string we even try to parse for number/money/date/time


@dataclass(frozen=True, slots=True)
class Word:
    """One prompt of the number prompt set: its library id and what it says."""

    prompt: str
    text: str


class SayError(ValueError):
    """A value that cannot be said as the requested kind (or an unknown kind / language).

    ``message_en`` and ``message_zh`` describe the problem and name the offending value.
    """

    def __init__(self, message_en: str, message_zh: str) -> None:
        super().__init__(f"{message_en} / {message_zh}")
        self.message_en = message_en
        self.message_zh = message_zh


# --------------------------------------------------------------------------- prompt tables

_PROMPTS: dict[str, dict[str, str]] = {"zh-CN": {}, "en-US": {}}


def _zh(name: str, text: str) -> Word:
    word = Word(f"say/zh/{name}", text)
    _PROMPTS["zh-CN"][word.prompt] = text
    return word


def _en(name: str, text: str | None = None) -> Word:
    word = Word(f"say/en/{name}", name if text is None else text)
    _PROMPTS["en-US"][word.prompt] = word.text
    return word


# Mandarin
ZH_DIGITS = tuple(_zh(str(i), t) for i, t in enumerate("零一二三四五六七八九"))
ZH_SHI = _zh("shi", "十")
ZH_BAI = _zh("bai", "百")
ZH_QIAN = _zh("qian", "千")
ZH_WAN = _zh("wan", "万")
ZH_YI = _zh("yiyi", "亿")
ZH_FU = _zh("fu", "负")
ZH_DIAN = _zh("dian", "点")  # decimal point
ZH_YUAN = _zh("yuan", "元")
ZH_JIAO = _zh("jiao", "角")
ZH_FEN = _zh("fen", "分")  # money
ZH_ZHENG = _zh("zheng", "整")
ZH_NIAN = _zh("nian", "年")
ZH_YUE = _zh("yue", "月")
ZH_RI = _zh("ri", "日")
ZH_OCLOCK = _zh("oclock", "点")  # hour of a time
ZH_MINUTE = _zh("minute", "分")  # minutes of a time
ZH_MIAO = _zh("miao", "秒")
ZH_XINGQI = _zh("xingqi", "星期")
ZH_TIAN = _zh("tian", "天")
ZH_LIANG = _zh("liang", "两")
ZH_YAO = _zh("yao", "幺")
ZH_STAR = _zh("xinghao", "星号")
ZH_POUND = _zh("jinghao", "井号")
ZH_X = _zh("x", "X")
_ZH_UNITS = (None, ZH_SHI, ZH_BAI, ZH_QIAN)  # by position inside a 4-digit group

# English
EN_SMALL = tuple(  # 0..19
    _en(name)
    for name in (
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
        "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
        "seventeen", "eighteen", "nineteen",
    )
)  # fmt: skip
EN_TENS = (  # by tens digit 2..9
    None,
    None,
    *(
        _en(name)
        for name in ("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
    ),
)
EN_HUNDRED = _en("hundred")
EN_SCALES = (  # by power of 1000
    None,
    *(_en(name) for name in ("thousand", "million", "billion", "trillion", "quadrillion")),
)
EN_MINUS = _en("minus")
EN_POINT = _en("point")
EN_YUAN = _en("yuan")
EN_JIAO = _en("jiao")
EN_FEN = _en("fen")
EN_STAR = _en("star")
EN_POUND = _en("pound")
EN_X = _en("x")
EN_OH = _en("oh")
EN_OCLOCK = _en("oclock", "o'clock")
EN_AND = _en("and")
EN_SECOND = _en("second")  # also the ordinal "second"
EN_SECONDS = _en("seconds")
EN_MONTHS = (  # by month 1..12
    None,
    *(
        _en(name)
        for name in (
            "january", "february", "march", "april", "may", "june", "july", "august",
            "september", "october", "november", "december",
        )
    ),
)  # fmt: skip
EN_WEEKDAYS = (  # by ISO weekday 1..7
    None,
    *(
        _en(name)
        for name in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    ),
)
EN_ORDINALS = (  # 1..19
    None,
    *(
        _en(name)
        for name in (
            "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth",
            "ninth", "tenth", "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth",
            "sixteenth", "seventeenth", "eighteenth", "nineteenth",
        )
    ),
)  # fmt: skip
EN_TWENTIETH = _en("twentieth")
EN_THIRTIETH = _en("thirtieth")


# --------------------------------------------------------------------------- public API


def normalize_language(language: object) -> str:
    """Map a language tag to one of :data:`LANGUAGES` by its primary subtag
    (``"zh"``, ``"zh-TW"``, ``"zh_CN"`` → ``"zh-CN"``; ``"en-GB"`` → ``"en-US"``)."""
    if isinstance(language, str):
        primary = re.split(r"[-_]", language.strip(), maxsplit=1)[0].lower()
        if primary == "zh":
            return "zh-CN"
        if primary == "en":
            return "en-US"
    shown = _show(language)
    raise SayError(
        f"unsupported language {shown} (supported: zh-CN, en-US)",
        f"不支持的语言 {shown}（支持：zh-CN、en-US）",
    )


def spell(kind: str, value: object, language: str = "zh-CN", *, yao: bool = False) -> list[Word]:
    """The prompt words that say ``value`` as ``kind`` in ``language``.

    Raises :class:`SayError` for an unknown kind or language and for any value the kind
    cannot say (wrong type, malformed, out of range); never another exception.
    """
    if kind not in SAY_KINDS:
        shown = _show(kind)
        raise SayError(
            f"unknown say kind {shown} (expected one of {', '.join(SAY_KINDS)})",
            f"未知的播报类型 {shown}（应为 {'、'.join(SAY_KINDS)} 之一）",
        )
    return _SPELLERS[normalize_language(language)][kind](value, yao)


def text_of(words: Sequence[Word], language: str) -> str:
    """What ``words`` say, as one string: Mandarin concatenated without spaces
    ("一千二百三十四元五角六分"), English joined with single spaces."""
    separator = "" if normalize_language(language) == "zh-CN" else " "
    return separator.join(word.text for word in words)


def prompt_set(language: str) -> dict[str, str]:
    """Every prompt id :func:`spell` can emit for ``language``, mapped to its text."""
    return dict(_PROMPTS[normalize_language(language)])


# --------------------------------------------------------------------------- errors / parsing

_KIND_ZH = {
    "number": "数字",
    "money": "金额",
    "digits": "数字串",
    "date": "日期",
    "time": "时间",
    "weekday": "星期",
}


def _show(value: object) -> str:
    try:
        shown = repr(value)
    except Exception:  # e.g. an int too large for str()
        shown = f"<{type(value).__name__}>"
    return shown if len(shown) <= 40 else shown[:37] + "..."


def _bad(kind: str, value: object, why_en: str, why_zh: str) -> SayError:
    shown = _show(value)
    return SayError(
        f"cannot say {shown} as {kind}: {why_en}",
        f"无法将 {shown} 读作{_KIND_ZH[kind]}：{why_zh}",
    )


_DECIMAL_RE = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")
_DATE_RE = re.compile(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})|([0-9]{4})([0-9]{2})([0-9]{2})")
_TIME_RE = re.compile(r"([0-9]{1,2}):([0-9]{2})(?::([0-9]{2}))?")
_LIMIT = Decimal(MAX_ABS)


def _to_decimal(kind: str, value: object) -> Decimal:
    """A finite Decimal with |d| < 10**16, from int / float / Decimal / decimal string."""
    if isinstance(value, bool):
        raise _bad(kind, value, "a boolean is not a number", "布尔值不是数字")
    if isinstance(value, int):
        if abs(value) >= MAX_ABS:
            raise _bad(kind, value, "out of range (|x| < 10**16)", "超出范围（绝对值须小于 10^16）")
        return Decimal(value)
    if isinstance(value, float):
        number = Decimal(repr(value))  # shortest repr: 2.675 → Decimal("2.675")
    elif isinstance(value, Decimal):
        number = value
    elif isinstance(value, str):
        text = value.strip()
        if len(text) > _MAX_INPUT or not _DECIMAL_RE.fullmatch(text):
            raise _bad(kind, value, "not a decimal number", "不是有效的十进制数")
        number = Decimal(text)
    else:
        raise _bad(
            kind,
            value,
            f"expected int, float, Decimal or str, got {type(value).__name__}",
            f"应为整数、小数或字符串，实际为 {type(value).__name__}",
        )
    if not number.is_finite():
        raise _bad(kind, value, "not a finite number", "不是有限数值")
    if abs(number) >= _LIMIT:
        raise _bad(kind, value, "out of range (|x| < 10**16)", "超出范围（绝对值须小于 10^16）")
    return number


def _split(number: Decimal) -> tuple[bool, int, str]:
    """(negative, integer part, decimal digits as written) of a finite Decimal."""
    negative = number.is_signed() and not number.is_zero()
    integer, _, fraction = format(abs(number), "f").partition(".")
    return negative, int(integer), fraction


def _parse_number(value: object) -> tuple[bool, int, str]:
    number = _to_decimal("number", value)
    exponent = number.as_tuple().exponent
    assert isinstance(exponent, int)  # finite
    if exponent < -MAX_DECIMALS:  # checked before formatting: 1E-999999999 is a Decimal too
        raise _bad(
            "number",
            value,
            f"more than {MAX_DECIMALS} decimal places",
            f"小数位超过 {MAX_DECIMALS} 位",
        )
    return _split(number)


def _parse_money(value: object) -> tuple[bool, int, int, int]:
    """(negative, yuan, jiao, fen), rounded half-up to the fen."""
    number = _to_decimal("money", value)
    try:
        with localcontext() as context:
            context.prec = 60
            rounded = number.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    except InvalidOperation:  # pragma: no cover - unreachable within the range check
        raise _bad("money", value, "cannot be rounded to fen", "无法舍入到分") from None
    if abs(rounded) >= _LIMIT:
        raise _bad("money", value, "out of range (|x| < 10**16)", "超出范围（绝对值须小于 10^16）")
    negative, yuan, fraction = _split(rounded)
    return negative, yuan, int(fraction[0]), int(fraction[1])


def _parse_digits(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**MAX_DIGITS:
        return str(value)
    if not isinstance(value, str):
        raise _bad(
            "digits",
            value,
            "expected a string of digits or a non-negative int",
            "应为数字字符串或非负整数",
        )
    text = value.strip().upper()
    if not text or len(text) > MAX_DIGITS:
        raise _bad(
            "digits",
            value,
            f"expected 1 to {MAX_DIGITS} characters",
            f"长度应为 1 到 {MAX_DIGITS} 个字符",
        )
    body = text[:-1] if text.endswith("X") else text
    if any(ch not in "0123456789*#" for ch in body):
        raise _bad(
            "digits",
            value,
            "only 0-9, * and # (and a final X) can be said",
            "只能包含 0-9、* 和 #（末位可为 X）",
        )
    return text


def _parse_date(value: object, kind: str = "date") -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        text = value.strip()
        match = _DATE_RE.fullmatch(text) if len(text) <= _MAX_INPUT else None
        if match:
            y, m, d = (int(g) for g in match.groups() if g is not None)
            try:
                return date(y, m, d)
            except ValueError:
                raise _bad(kind, value, "no such date", "日期不存在") from None
        raise _bad(kind, value, "expected YYYY-MM-DD or YYYYMMDD", "应为 YYYY-MM-DD 或 YYYYMMDD")
    raise _bad(
        kind,
        value,
        f"expected a date or a date string, got {type(value).__name__}",
        f"应为日期或日期字符串，实际为 {type(value).__name__}",
    )


def _parse_time(value: object) -> time:
    if isinstance(value, datetime):
        return value.time()
    if isinstance(value, time):
        return value
    if isinstance(value, str):
        text = value.strip()
        match = _TIME_RE.fullmatch(text) if len(text) <= _MAX_INPUT else None
        if match:
            h, m, s = match.groups()
            try:
                return time(int(h), int(m), int(s or 0))
            except ValueError:
                raise _bad("time", value, "no such time of day", "时间不存在") from None
        raise _bad("time", value, "expected HH:MM or HH:MM:SS", "应为 HH:MM 或 HH:MM:SS")
    raise _bad(
        "time",
        value,
        f"expected a time or a time string, got {type(value).__name__}",
        f"应为时间或时间字符串，实际为 {type(value).__name__}",
    )


def _parse_weekday(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        if 1 <= value <= 7:
            return value
        raise _bad(
            "weekday", value, "expected 1 (Monday) to 7 (Sunday)", "应为 1（星期一）到 7（星期天）"
        )
    if isinstance(value, str) and value.strip() in {"1", "2", "3", "4", "5", "6", "7"}:
        return int(value.strip())
    if isinstance(value, bool) or not isinstance(value, str | date):
        raise _bad(
            "weekday",
            value,
            "expected 1..7 (ISO, 1 = Monday) or a date",
            "应为 1..7（ISO，1 为星期一）或日期",
        )
    return _parse_date(value, "weekday").isoweekday()


# --------------------------------------------------------------------------- Mandarin


def _zh_group(n: int) -> list[Word]:
    """0 < n < 10**4: 一千零一, 一百一十, 三十; one 零 per inner run of zeros."""
    words: list[Word] = []
    pending_zero = False
    for position, char in zip((3, 2, 1, 0), f"{n:04d}", strict=True):
        digit = int(char)
        if digit == 0:
            pending_zero = bool(words)
            continue
        if pending_zero:
            words.append(ZH_DIGITS[0])
            pending_zero = False
        words.append(ZH_DIGITS[digit])
        unit = _ZH_UNITS[position]
        if unit is not None:
            words.append(unit)
    return words


def _zh_below(n: int, size: int, unit: Word, lower: Callable[[int], list[Word]]) -> list[Word]:
    """0 < n: ``high unit [零] low`` with ``low = n % size``; 零 when low lost leading digits."""
    high, low = divmod(n, size)
    words: list[Word] = []
    if high:
        words += [*lower(high), unit]
    if low:
        if high and low < size // 10:
            words.append(ZH_DIGITS[0])
        words += lower(low)
    return words


def _zh_wan(n: int) -> list[Word]:
    return _zh_below(n, 10**4, ZH_WAN, _zh_group)


def _zh_int(n: int) -> list[Word]:
    """0 <= n < 10**16 the way cn2an reads it (see the module docstring for the deviation)."""
    if n == 0:
        return [ZH_DIGITS[0]]
    words = _zh_below(n, 10**8, ZH_YI, _zh_wan)
    if words[:2] == [ZH_DIGITS[1], ZH_SHI]:  # 一十二 → 十二, 一十五万 → 十五万
        del words[0]
    return words


def _zh_number(value: object, yao: bool) -> list[Word]:
    negative, integer, fraction = _parse_number(value)
    words = [ZH_FU] if negative else []
    words += _zh_int(integer)
    if fraction:
        words.append(ZH_DIAN)
        words += [ZH_DIGITS[int(c)] for c in fraction]
    return words


def _zh_money(value: object, yao: bool) -> list[Word]:
    negative, yuan, jiao, fen = _parse_money(value)
    words = [ZH_FU] if negative else []
    if yuan:
        words += [*_zh_int(yuan), ZH_YUAN]
        if not jiao and not fen:
            words.append(ZH_ZHENG)
    elif not jiao and not fen:
        words += [ZH_DIGITS[0], ZH_YUAN]
    if jiao:
        words += [ZH_DIGITS[jiao], ZH_JIAO]
    if fen:
        if yuan and not jiao:
            words.append(ZH_DIGITS[0])
        words += [ZH_DIGITS[fen], ZH_FEN]
    return words


_ZH_SYMBOLS = {"*": ZH_STAR, "#": ZH_POUND, "X": ZH_X}


def _zh_digits(value: object, yao: bool) -> list[Word]:
    text = _parse_digits(value)
    return [
        ZH_YAO if yao and c == "1" else ZH_DIGITS[int(c)] if c.isdigit() else _ZH_SYMBOLS[c]
        for c in text
    ]


def _zh_date(value: object, yao: bool) -> list[Word]:
    day = _parse_date(value)
    words = [ZH_DIGITS[int(c)] for c in str(day.year)]
    return [*words, ZH_NIAN, *_zh_int(day.month), ZH_YUE, *_zh_int(day.day), ZH_RI]


def _zh_time(value: object, yao: bool) -> list[Word]:
    moment = _parse_time(value)
    words = [ZH_LIANG] if moment.hour == 2 else _zh_int(moment.hour)
    words.append(ZH_OCLOCK)
    if moment.minute or moment.second:
        if 0 < moment.minute < 10:
            words.append(ZH_DIGITS[0])
        words += [*_zh_int(moment.minute), ZH_MINUTE]
    if moment.second:
        if moment.second < 10:
            words.append(ZH_DIGITS[0])
        words += [*_zh_int(moment.second), ZH_MIAO]
    return words


def _zh_weekday(value: object, yao: bool) -> list[Word]:
    weekday = _parse_weekday(value)
    return [ZH_XINGQI, ZH_TIAN if weekday == 7 else ZH_DIGITS[weekday]]


# --------------------------------------------------------------------------- English


def _en_below_100(n: int) -> list[Word]:
    """0 < n < 100."""
    if n < 20:
        return [EN_SMALL[n]]
    tens, ones = divmod(n, 10)
    tens_word = EN_TENS[tens]
    assert tens_word is not None
    return [tens_word, EN_SMALL[ones]] if ones else [tens_word]


def _en_below_1000(n: int) -> list[Word]:
    """0 < n < 1000."""
    hundreds, rest = divmod(n, 100)
    words = [EN_SMALL[hundreds], EN_HUNDRED] if hundreds else []
    if rest:
        words += _en_below_100(rest)
    return words


def _en_int(n: int) -> list[Word]:
    """0 <= n < 10**18: "one million two hundred thousand three"."""
    if n == 0:
        return [EN_SMALL[0]]
    groups: list[int] = []
    while n:
        n, group = divmod(n, 1000)
        groups.append(group)
    words: list[Word] = []
    for scale in range(len(groups) - 1, -1, -1):
        if groups[scale]:
            words += _en_below_1000(groups[scale])
            scale_word = EN_SCALES[scale]
            if scale_word is not None:
                words.append(scale_word)
    return words


def _en_number(value: object, yao: bool) -> list[Word]:
    negative, integer, fraction = _parse_number(value)
    words = [EN_MINUS] if negative else []
    words += _en_int(integer)
    if fraction:
        words.append(EN_POINT)
        words += [EN_SMALL[int(c)] for c in fraction]
    return words


def _en_money(value: object, yao: bool) -> list[Word]:
    negative, yuan, jiao, fen = _parse_money(value)
    words = [EN_MINUS] if negative else []
    if yuan or not (jiao or fen):
        words += [*_en_int(yuan), EN_YUAN]
    if jiao:
        words += [EN_SMALL[jiao], EN_JIAO]
    if fen:
        words += [EN_SMALL[fen], EN_FEN]
    return words


_EN_SYMBOLS = {"*": EN_STAR, "#": EN_POUND, "X": EN_X}


def _en_digits(value: object, yao: bool) -> list[Word]:
    text = _parse_digits(value)
    return [EN_SMALL[int(c)] if c.isdigit() else _EN_SYMBOLS[c] for c in text]


def _en_ordinal(n: int) -> list[Word]:
    """1 <= n <= 31: "first", "twentieth", "twenty first"."""
    if n < 20:
        ordinal = EN_ORDINALS[n]
        assert ordinal is not None
        return [ordinal]
    if n == 20:
        return [EN_TWENTIETH]
    if n == 30:
        return [EN_THIRTIETH]
    tens_word, ordinal = EN_TENS[n // 10], EN_ORDINALS[n % 10]
    assert tens_word is not None and ordinal is not None
    return [tens_word, ordinal]


def _en_year(year: int) -> list[Word]:
    """2026 "twenty twenty six", 2005 "two thousand five", 1900 "nineteen hundred",
    1905 "nineteen oh five", 476 "four seventy six", 99 "ninety nine"."""
    high, low = divmod(year, 100)
    if high == 0 or (high % 10 == 0 and low < 10):
        return _en_int(year)
    if low == 0:
        return [*_en_below_100(high), EN_HUNDRED]
    if low < 10:
        return [*_en_below_100(high), EN_OH, EN_SMALL[low]]
    return [*_en_below_100(high), *_en_below_100(low)]


def _en_date(value: object, yao: bool) -> list[Word]:
    day = _parse_date(value)
    month = EN_MONTHS[day.month]
    assert month is not None
    return [month, *_en_ordinal(day.day), *_en_year(day.year)]


def _en_time(value: object, yao: bool) -> list[Word]:
    moment = _parse_time(value)
    words = _en_int(moment.hour)
    if moment.minute == 0:
        words.append(EN_OCLOCK)
    elif moment.minute < 10:
        words += [EN_OH, EN_SMALL[moment.minute]]
    else:
        words += _en_below_100(moment.minute)
    if moment.second:
        words += [EN_AND, *_en_below_100(moment.second)]
        words.append(EN_SECOND if moment.second == 1 else EN_SECONDS)
    return words


def _en_weekday(value: object, yao: bool) -> list[Word]:
    weekday = EN_WEEKDAYS[_parse_weekday(value)]
    assert weekday is not None
    return [weekday]


# --------------------------------------------------------------------------- dispatch

_Speller = Callable[[object, bool], list[Word]]
_SPELLERS: dict[str, dict[str, _Speller]] = {
    "zh-CN": {
        "number": _zh_number,
        "money": _zh_money,
        "digits": _zh_digits,
        "date": _zh_date,
        "time": _zh_time,
        "weekday": _zh_weekday,
    },
    "en-US": {
        "number": _en_number,
        "money": _en_money,
        "digits": _en_digits,
        "date": _en_date,
        "time": _en_time,
        "weekday": _en_weekday,
    },
}
