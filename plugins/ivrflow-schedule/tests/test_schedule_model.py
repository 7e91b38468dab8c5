"""Schedules from JSON: ranges, merging, and every kind of bad input reported clearly."""

from __future__ import annotations

import pytest
from ivrflow_schedule.model import (
    Schedule,
    ScheduleError,
    TimeRange,
    load_schedule,
    parse_schedule,
)


def _codes(issues, severity="error"):
    return [(i.pointer, i.code) for i in issues if i.severity == severity]


def test_a_weekly_schedule_with_several_ranges_a_day(hours):
    schedule = load_schedule(hours)
    assert schedule.weekly["mon"] == (TimeRange(510, 720), TimeRange(810, 1050))
    assert schedule.weekly["sat"] == ()
    assert schedule.timezone == "Asia/Shanghai"
    assert (schedule.holidays, schedule.makeup_day_hours, schedule.unknown_calendar) == (
        "prc",
        "mon",
        "weekly",
    )
    assert schedule.to_json()["weekly"]["fri"] == ["08:30-12:00", "13:30-17:30"]


def test_ranges_are_sorted_and_overlaps_merged_with_a_warning():
    schedule, issues = parse_schedule(
        {"weekly": {"mon": ["13:00-17:00", "08:00-12:00", "11:30-13:30", "17:00-18:00"]}}
    )
    assert schedule is not None
    # 08-12 and 11:30-13:30 overlap, 13-17 overlaps that, 17-18 only touches: one range
    assert schedule.weekly["mon"] == (TimeRange(480, 1080),)
    [warning] = [i for i in issues if i.severity == "warning"]
    assert warning.code == "schedule.range_overlap" and warning.pointer == "/weekly/mon"
    assert "08:00-18:00" in warning.message_en and "11:30-13:30" in warning.message_en
    assert "已合并" in warning.message_zh


def test_touching_ranges_join_silently_and_24_00_ends_the_day():
    schedule, issues = parse_schedule({"weekly": {"sun": ["00:00-12:00", "12:00-24:00"]}})
    assert schedule is not None and issues == []
    assert schedule.weekly["sun"] == (TimeRange(0, 1440),)
    assert str(schedule.weekly["sun"][0]) == "00:00-24:00"


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("17:00-08:00", "schedule.range_order"),  # ends before it starts
        ("09:00-09:00", "schedule.range_order"),  # empty
        ("22:00-02:00", "schedule.range_order"),  # over midnight: split it
        ("25:00-26:00", "schedule.range_time"),
        ("08:60-09:00", "schedule.range_time"),
        ("24:00-24:00", "schedule.range_time"),
        ("9点-12点", "schedule.range_format"),
        ("", "schedule.range_format"),
    ],
)
def test_bad_ranges_are_errors_with_their_pointer(value, code):
    schedule, issues = parse_schedule({"weekly": {"tue": ["08:00-09:00", value]}})
    assert schedule is None
    assert _codes(issues) == [("/weekly/tue/1", code)]
    assert issues[0].message_zh and value in issues[0].message_en


def test_an_over_midnight_range_says_how_to_split_it():
    _, issues = parse_schedule({"weekly": {"fri": ["22:00-02:00"]}})
    [issue] = [i for i in issues if i.severity == "error"]
    assert "22:00-24:00" in issue.message_en and "00:00-02:00" in issue.message_zh


def test_invalid_time_zones_are_named_with_a_hint():
    _, issues = parse_schedule({"weekly": {}, "timezone": "Asia/Beijing"})
    [issue] = [i for i in issues if i.severity == "error"]
    assert issue.pointer == "/timezone" and issue.code == "schedule.timezone"
    assert "Asia/Shanghai" in issue.message_en and "Asia/Shanghai" in issue.message_zh
    assert parse_schedule({"weekly": {}, "timezone": "../../etc/passwd"})[0] is None
    assert parse_schedule({"weekly": {}, "timezone": "Europe/London"})[0] is not None


def test_everything_wrong_is_reported_at_once():
    schedule, issues = parse_schedule(
        {
            "timezone": "Mars/Olympus",
            "weekly": {"monday": ["08:00-12:00"], "wed": "08:00-12:00", "thu": ["12:00-08:00"]},
            "holidays": "us",
            "makeup_day_hours": "sat?",
            "unknown_calendar": "guess",
            "special_days": [
                {"date": "2026-02-30", "kind": "closed"},
                {"date": "2026-05-06", "kind": "party"},
                {"date": "2026-05-07", "kind": "hours"},
                {"date": "2026-05-08", "kind": "closed"},
                {"date": "2026-05-08", "kind": "holiday"},
            ],
            "colour": "blue",
        }
    )
    assert schedule is None
    assert set(_codes(issues)) == {
        ("/colour", "schedule.unknown_field"),
        ("/timezone", "schedule.timezone"),
        ("/weekly/monday", "schedule.weekday"),
        ("/weekly/wed", "schedule.ranges"),
        ("/weekly/thu/0", "schedule.range_order"),
        ("/holidays", "schedule.option"),
        ("/makeup_day_hours", "schedule.option"),
        ("/unknown_calendar", "schedule.option"),
        ("/special_days/0/date", "schedule.date"),
        ("/special_days/1/kind", "schedule.special_kind"),
        ("/special_days/2/hours", "schedule.special_hours_missing"),
        ("/special_days/4", "schedule.special_duplicate"),
    }
    with pytest.raises(ScheduleError) as caught:
        load_schedule({"weekly": {"thu": ["12:00-08:00"]}})
    assert "/weekly/thu/0" in str(caught.value)


def test_missing_or_empty_weekly_hours():
    assert _codes(parse_schedule({})[1]) == [("/weekly", "schedule.weekly")]
    assert _codes(parse_schedule([])[1]) == [("", "schedule.type")]
    schedule, issues = parse_schedule({"weekly": {}})
    assert schedule is not None
    assert _codes(issues, "warning") == [("/weekly", "schedule.never_open")]


def test_special_days_round_trip():
    data = {
        "weekly": {"mon": ["09:00-17:00"]},
        "special_days": [
            {"date": "2026-12-31", "kind": "hours", "hours": ["09:00-15:00"], "note": "年末"},
            {"date": "2026-07-15", "kind": "closed", "hours": ["09:00-10:00"]},
        ],
    }
    schedule, issues = parse_schedule(data)
    assert schedule is not None
    assert _codes(issues, "warning") == [
        ("/special_days/1/hours", "schedule.special_hours_ignored")
    ]
    assert schedule.to_json()["special_days"] == [
        {"date": "2026-07-15", "kind": "closed"},
        {"date": "2026-12-31", "kind": "hours", "hours": ["09:00-15:00"], "note": "年末"},
    ]
    assert load_schedule(schedule.to_json()) == schedule


def test_the_default_schedule_is_never_open():
    assert all(hours == () for hours in Schedule().weekly.values())
