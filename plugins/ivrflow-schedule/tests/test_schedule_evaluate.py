"""The decision at an instant and the preview of days: weekly ranges, PRC holidays and 调休,
special days, overrides, time zones, and days the calendar has no data for."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from ivrflow_schedule.calendar import CalendarDay, default_calendar
from ivrflow_schedule.evaluate import Override, calendar_issues, decide, plan_day, preview
from ivrflow_schedule.model import TimeRange, load_schedule

LAST_KNOWN = default_calendar().years()[1]
UNKNOWN = LAST_KNOWN + 1  # a year chinese-calendar has no data for (whatever its version)


class FakeCalendar:
    """Knows only 2026, with one holiday."""

    source = "fake calendar"

    def years(self):
        return (2026, 2026)

    def day(self, day):
        if day.year != 2026:
            return CalendarDay(day, "unknown")
        if day == date(2026, 4, 1):
            return CalendarDay(day, "holiday", "Test Day")
        return CalendarDay(day, "weekend" if day.weekday() >= 5 else "workday")


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("2026-03-02 08:29", "closed"),  # Monday, just before opening
        ("2026-03-02 08:30", "open"),
        ("2026-03-02 11:59", "open"),
        ("2026-03-02 12:00", "closed"),  # lunch: the end is excluded
        ("2026-03-02 13:30", "open"),
        ("2026-03-06 17:29", "open"),  # Friday
        ("2026-03-06 17:30", "closed"),
        ("2026-03-07 10:00", "closed"),  # an ordinary Saturday
        ("2026-03-08 10:00", "closed"),  # Sunday
    ],
)
def test_weekdays_and_ranges(hours, at, when, expected):
    decision = decide(load_schedule(hours), at(when))
    assert decision.exit == expected
    assert decision.reason == "weekly" and decision.calendar_known


@pytest.mark.parametrize(
    ("when", "exit_", "reason"),
    [
        ("2026-02-13 10:00", "open", "weekly"),  # Friday before the festival
        ("2026-02-14 10:00", "open", "makeup_workday"),  # Saturday worked (调休)
        ("2026-02-14 12:30", "closed", "makeup_workday"),  # … with Monday's lunch break
        ("2026-02-15 10:00", "holiday", "holiday"),  # Sunday, first day of the holiday
        ("2026-02-17 10:00", "holiday", "holiday"),  # New Year's Day of the lunar calendar
        ("2026-02-23 10:00", "holiday", "holiday"),  # a Monday, still holiday
        ("2026-02-23 23:59", "holiday", "holiday"),
        ("2026-02-24 08:30", "open", "weekly"),  # back to work
        ("2026-02-28 09:00", "open", "makeup_workday"),  # Saturday worked
        ("2026-01-04 09:00", "open", "makeup_workday"),  # Sunday worked for New Year
        ("2026-10-01 10:00", "holiday", "holiday"),  # National Day
        ("2026-10-10 10:00", "open", "makeup_workday"),
    ],
)
def test_spring_festival_and_make_up_working_days_2026(hours, at, when, exit_, reason):
    decision = decide(load_schedule(hours), at(when))
    assert (decision.exit, decision.reason) == (exit_, reason)


def test_make_up_days_take_the_hours_of_the_chosen_weekday(hours, at):
    hours["weekly"]["fri"] = ["08:30-16:00"]
    hours["makeup_day_hours"] = "fri"
    schedule = load_schedule(hours)
    assert decide(schedule, at("2026-02-14 12:30")).exit == "open"
    assert decide(schedule, at("2026-02-14 16:00")).exit == "closed"


def test_holidays_none_follows_the_week_only(hours, at):
    hours["holidays"] = "none"
    schedule = load_schedule(hours)
    assert decide(schedule, at("2026-02-16 10:00")).exit == "open"  # festival Monday
    assert decide(schedule, at("2026-02-14 10:00")).exit == "closed"  # make-up Saturday
    assert decide(schedule, at(f"{UNKNOWN}-03-01 10:00")).calendar_known


def test_time_zones_convert_the_instant_first(hours, at):
    schedule = load_schedule(hours)
    # 01:00 UTC is 09:00 in Beijing; 09:00 UTC is 17:00 there
    assert decide(schedule, at("2026-03-02 01:00", "UTC")).exit == "open"
    assert decide(schedule, at("2026-03-02 09:30", "UTC")).exit == "closed"
    # 23:00 UTC on Sunday 15 Feb is Monday 07:00… in Beijing, and a holiday there
    decision = decide(schedule, at("2026-02-15 23:00", "UTC"))
    assert decision.exit == "holiday" and decision.at.tzinfo.key == "Asia/Shanghai"
    assert decision.at.date() == date(2026, 2, 16)


def test_a_schedule_in_another_zone_uses_its_wall_clock_across_dst(at):
    london = load_schedule(
        {"timezone": "Europe/London", "holidays": "none", "weekly": {"mon": ["09:00-17:00"]}}
    )
    winter, summer = at("2026-03-23 09:30", "UTC"), at("2026-03-30 08:30", "UTC")
    assert decide(london, winter).exit == "open"  # GMT: 09:30 local
    assert decide(london, summer).exit == "open"  # BST: 09:30 local
    assert decide(london, at("2026-03-30 16:30", "UTC")).exit == "closed"  # 17:30 BST
    with pytest.raises(ValueError, match="aware"):
        decide(london, datetime(2026, 3, 30, 9))


def test_special_days_in_the_schedule(hours, at):
    hours["special_days"] = [
        {"date": "2026-12-31", "kind": "hours", "hours": ["08:30-15:00"], "note": "年末"},
        {"date": "2026-07-15", "kind": "closed", "note": "系统升级"},
        {"date": "2026-07-16", "kind": "holiday"},
        {"date": "2026-02-16", "kind": "hours", "hours": ["09:00-12:00"]},  # open in a holiday
    ]
    schedule = load_schedule(hours)
    late = decide(schedule, at("2026-12-31 14:00"))
    assert (late.exit, late.reason, late.note) == ("open", "special_day", "年末")
    assert decide(schedule, at("2026-12-31 16:00")).exit == "closed"
    assert decide(schedule, at("2026-07-15 10:00")).exit == "closed"
    assert decide(schedule, at("2026-07-16 10:00")).exit == "holiday"
    assert decide(schedule, at("2026-02-16 10:00")).exit == "open"


def test_overrides_precedence(hours, at):
    schedule = load_schedule({**hours, "special_days": [{"date": "2026-03-03", "kind": "closed"}]})
    schedule = type(schedule)(**{**schedule.__dict__, "name": "main"})
    closure = Override(
        "closure",
        None,
        starts_at=at("2026-03-02 14:00"),
        ends_at=at("2026-03-02 16:00"),
        note="台风停止服务",
    )
    mine = Override("hours", "main", day=date(2026, 3, 3), hours=(TimeRange(600, 660),))
    everyone = Override("holiday", None, day=date(2026, 3, 3))
    other = Override("closed", "other", day=date(2026, 3, 4))
    overrides = [everyone, mine, closure, other]
    during = decide(schedule, at("2026-03-02 15:00"), overrides=overrides)
    assert (during.exit, during.reason, during.note) == ("closed", "closure", "台风停止服务")
    assert decide(schedule, at("2026-03-02 16:00"), overrides=overrides).exit == "open"
    # the schedule's own override beats the one for everyone, which beats the schedule's day
    assert decide(schedule, at("2026-03-03 10:30"), overrides=overrides).exit == "open"
    assert decide(schedule, at("2026-03-03 09:30"), overrides=overrides).exit == "closed"
    assert decide(schedule, at("2026-03-03 09:30"), overrides=[everyone]).exit == "holiday"
    assert decide(schedule, at("2026-03-04 10:00"), overrides=overrides).exit == "open"  # other's
    until_lifted = Override("closure", "main", starts_at=at("2026-02-16 09:00"))
    assert decide(schedule, at("2027-06-01 10:00"), overrides=[until_lifted]).exit == "closed"
    assert decide(schedule, at("2026-02-16 08:59"), overrides=[until_lifted]).exit == "holiday"


@pytest.mark.parametrize(
    ("policy", "at_ten", "at_night"),
    [
        ("weekly", "open", "closed"),
        ("closed", "closed", "closed"),
        ("holiday", "holiday", "holiday"),
        ("error", "error", "error"),
    ],
)
def test_a_day_without_calendar_data_takes_the_policy(hours, at, policy, at_ten, at_night):
    schedule = load_schedule({**hours, "unknown_calendar": policy})
    monday = date(UNKNOWN, 1, 5) + timedelta(days=(7 - date(UNKNOWN, 1, 5).weekday()) % 7)
    ten = decide(schedule, at(f"{monday} 10:00"))
    assert (ten.exit, ten.reason, ten.calendar_known) == (at_ten, "calendar_unknown", False)
    assert decide(schedule, at(f"{monday} 22:00")).exit == at_night
    # a special day still answers for an unknown year: admins can patch the calendar
    patched = load_schedule(
        {
            **hours,
            "unknown_calendar": policy,
            "special_days": [{"date": str(monday), "kind": "holiday"}],
        }
    )
    assert decide(patched, at(f"{monday} 10:00")).exit == "holiday"


def test_plan_day_cuts_the_day_into_segments(hours, at):
    schedule = load_schedule(hours)
    closure = Override(
        "closure", None, starts_at=at("2026-03-02 15:00"), ends_at=at("2026-03-02 16:15")
    )
    plan = plan_day(schedule, date(2026, 3, 2), overrides=[closure]).to_json()
    assert [(s["start"], s["end"], s["exit"], s["reason"]) for s in plan["segments"]] == [
        ("00:00", "08:30", "closed", "weekly"),
        ("08:30", "12:00", "open", "weekly"),
        ("12:00", "13:30", "closed", "weekly"),
        ("13:30", "15:00", "open", "weekly"),
        ("15:00", "16:15", "closed", "closure"),
        ("16:15", "17:30", "open", "weekly"),
        ("17:30", "24:00", "closed", "weekly"),
    ]
    assert plan["open"] == ["08:30-12:00", "13:30-15:00", "16:15-17:30"]
    holiday = plan_day(schedule, date(2026, 2, 16)).to_json()
    assert holiday["segments"] == [
        {"start": "00:00", "end": "24:00", "exit": "holiday", "reason": "holiday", "note": ""}
    ]
    assert holiday["calendar"]["holiday_zh"] == "春节" and holiday["weekday_zh"] == "周一"


def test_preview_what_happens_at_date_x(hours, at):
    schedule = load_schedule(hours)
    result = preview(schedule, at=at("2026-02-14 10:00"), days=3).to_json()
    assert result["at"]["exit"] == "open" and result["at"]["reason"] == "makeup_workday"
    assert "调休上班日" in result["at"]["explain_zh"] and "open" in result["at"]["explain_en"]
    assert [d["date"] for d in result["days"]] == ["2026-02-14", "2026-02-15", "2026-02-16"]
    assert [d["calendar"]["kind"] for d in result["days"]] == [
        "makeup_workday",
        "holiday",
        "holiday",
    ]
    assert result["issues"] == []


def test_preview_reports_unknown_years_once(hours, at):
    schedule = load_schedule(hours)
    result = preview(schedule, start=date(LAST_KNOWN, 12, 30), days=5)
    [issue] = result.issues
    assert issue.code == "schedule.calendar_unknown" and issue.severity == "warning"
    assert f"{UNKNOWN}-01-01" in issue.message_en and str(UNKNOWN) in issue.message_zh
    assert [d.day.known for d in result.days] == [True, True, False, False, False]
    only_at = preview(schedule, at=at(f"{UNKNOWN}-03-02 10:00"), days=0)
    assert only_at.at is not None and not only_at.at.calendar_known
    assert [i.code for i in only_at.issues] == ["schedule.calendar_unknown"]


def test_calendar_issues_look_ahead(hours):
    fake = FakeCalendar()
    schedule = load_schedule(hours)
    assert calendar_issues(schedule, date(2026, 6, 1), 92, fake) == []
    [issue] = calendar_issues(schedule, date(2026, 10, 15), 92, fake)
    assert "2027" in issue.message_en and "fake calendar" in issue.message_en
    assert (
        calendar_issues(load_schedule({**hours, "holidays": "none"}), date(2026, 12, 1), 92, fake)
        == []
    )
    assert decide(schedule, datetime(2026, 4, 1, 2, tzinfo=UTC), calendar=fake).exit == "holiday"
