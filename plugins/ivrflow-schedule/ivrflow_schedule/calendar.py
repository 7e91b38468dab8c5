"""The PRC working calendar: statutory holidays and make-up working days (调休), from the
``chinese-calendar`` package.

The State Council publishes each year's holidays in the autumn before; ``chinese-calendar``
carries them from its next release on. For a year it has no data for it raises
``NotImplementedError`` — here that is a day of kind ``"unknown"`` (``known`` false), which a
schedule handles by its ``unknown_calendar`` policy and which previews and validation report.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from typing import Protocol

import chinese_calendar

__all__ = [
    "HOLIDAY_NAMES_ZH",
    "Calendar",
    "CalendarDay",
    "PrcCalendar",
    "default_calendar",
    "unknown_years",
]

HOLIDAY_NAMES_ZH = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节",
    "Anti-Fascist 70th Day": "中国人民抗日战争暨世界反法西斯战争胜利70周年纪念日",
}

DAY_KINDS = ("workday", "weekend", "holiday", "makeup_workday", "unknown")
KIND_TITLES = {
    "workday": ("工作日", "working day"),
    "weekend": ("周末", "weekend"),
    "holiday": ("法定节假日", "statutory holiday"),
    "makeup_workday": ("调休上班日", "make-up working day (调休)"),
    "unknown": ("日历无数据", "no calendar data"),
}


@dataclass(frozen=True, slots=True)
class CalendarDay:
    day: date
    kind: str
    """``workday`` | ``weekend`` | ``holiday`` | ``makeup_workday`` | ``unknown``."""
    holiday: str | None = None
    """The holiday's English name (also on the make-up working days that belong to it)."""

    @property
    def known(self) -> bool:
        return self.kind != "unknown"

    @property
    def holiday_zh(self) -> str | None:
        if self.holiday is None:
            return None
        return HOLIDAY_NAMES_ZH.get(self.holiday, self.holiday)

    def title(self, language: str = "zh") -> str:
        zh, en = KIND_TITLES[self.kind]
        if language.startswith("en"):
            return f"{en} ({self.holiday})" if self.holiday else en
        return f"{zh}（{self.holiday_zh}）" if self.holiday else zh

    def to_json(self) -> dict[str, object]:
        return {
            "date": self.day.isoformat(),
            "kind": self.kind,
            "known": self.known,
            "holiday": self.holiday,
            "holiday_zh": self.holiday_zh,
            "title_zh": self.title("zh"),
            "title_en": self.title("en"),
        }


class Calendar(Protocol):
    """Where a schedule learns which days are holidays (tests pass a fake)."""

    source: str
    """What the data comes from, for messages (``chinese-calendar 1.11.0``)."""

    def day(self, day: date) -> CalendarDay: ...

    def years(self) -> tuple[int, int]:
        """The first and last year with data."""


class PrcCalendar:
    """The PRC calendar from ``chinese-calendar``."""

    def __init__(self) -> None:
        try:
            self.source = f"chinese-calendar {version('chinese-calendar')}"
        except PackageNotFoundError:  # pragma: no cover - installed as a dependency
            self.source = "chinese-calendar"
        known = list(chinese_calendar.holidays) + list(chinese_calendar.workdays)
        self._years = (min(known).year, max(known).year)

    def years(self) -> tuple[int, int]:
        return self._years

    def day(self, day: date) -> CalendarDay:
        return _prc_day(day)


@lru_cache(maxsize=4096)
def _prc_day(day: date) -> CalendarDay:
    try:
        is_holiday, name = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:  # "no available data for year …"
        return CalendarDay(day, "unknown")
    if is_holiday:
        return CalendarDay(day, "holiday" if name else "weekend", name)
    if name:  # a weekend day worked in exchange for a holiday
        return CalendarDay(day, "makeup_workday", name)
    return CalendarDay(day, "workday")


@lru_cache(maxsize=1)
def default_calendar() -> PrcCalendar:
    return PrcCalendar()


def unknown_years(calendar: Calendar, start: date, days: int) -> list[int]:
    """Years touched by ``start`` … ``start + days`` that ``calendar`` has no data for."""
    first, last = calendar.years()
    end = start + timedelta(days=max(days, 0))
    return [y for y in range(start.year, end.year + 1) if not first <= y <= last]
