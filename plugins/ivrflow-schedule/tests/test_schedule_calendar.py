"""The PRC calendar from chinese-calendar: 2026's statutory holidays and make-up working days
(调休) as the State Council published them, and years without data."""

from __future__ import annotations

from datetime import date, timedelta

import chinese_calendar
import pytest
from ivrflow_schedule.calendar import CalendarDay, default_calendar, unknown_years

CAL = default_calendar()


@pytest.mark.parametrize(
    "day", [date(2026, 2, 15) + timedelta(days=i) for i in range(9)]
)  # Sun 15 Feb … Mon 23 Feb 2026
def test_the_2026_spring_festival_is_nine_days_of_holiday(day):
    found = CAL.day(day)
    assert (found.kind, found.holiday, found.holiday_zh) == ("holiday", "Spring Festival", "春节")


@pytest.mark.parametrize(
    ("day", "holiday"),
    [
        (date(2026, 1, 4), "New Year's Day"),  # a Sunday
        (date(2026, 2, 14), "Spring Festival"),  # Saturday before
        (date(2026, 2, 28), "Spring Festival"),  # Saturday after
        (date(2026, 5, 9), "Labour Day"),
        (date(2026, 9, 20), "National Day"),
        (date(2026, 10, 10), "National Day"),
    ],
)
def test_2026_make_up_working_weekends(day, holiday):
    assert day.weekday() >= 5
    assert CAL.day(day) == CalendarDay(day, "makeup_workday", holiday)
    assert chinese_calendar.is_workday(day)  # what the library itself says


def test_ordinary_days():
    assert CAL.day(date(2026, 2, 24)).kind == "workday"  # the Tuesday after the festival
    assert CAL.day(date(2026, 3, 1)).kind == "weekend"
    assert CAL.day(date(2026, 10, 1)).kind == "holiday"
    assert CAL.day(date(2026, 10, 1)).title("zh") == "法定节假日（国庆节）"
    assert CAL.day(date(2026, 2, 14)).title("en") == "make-up working day (调休) (Spring Festival)"


def test_a_year_without_data_is_a_day_of_kind_unknown_never_an_exception():
    first, last = CAL.years()
    assert first == 2004 and last >= 2026
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_holiday(date(last + 1, 1, 1))
    for day in (date(last + 1, 1, 1), date(last + 1, 6, 15), date(first - 1, 12, 31)):
        found = CAL.day(day)
        assert found.kind == "unknown" and not found.known and found.holiday is None
    assert "chinese-calendar" in CAL.source


def test_unknown_years_in_a_window():
    _, last = CAL.years()
    assert unknown_years(CAL, date(last, 1, 1), 300) == []
    assert unknown_years(CAL, date(last, 12, 1), 60) == [last + 1]
    assert unknown_years(CAL, date(last + 2, 1, 1), 0) == [last + 2]
