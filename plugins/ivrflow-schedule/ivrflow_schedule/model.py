"""Schedules: weekly opening hours in a time zone, how the PRC working calendar applies, and
special days — read from JSON with every problem reported in Chinese and English.

The JSON form (a node's inline ``hours`` and a named schedule in the database alike)::

    {
      "timezone": "Asia/Shanghai",
      "weekly": {"mon": ["08:30-12:00", "13:30-17:30"], "tue": [...], ..., "sat": []},
      "holidays": "prc",               # statutory holidays and 调休 from chinese-calendar; "none"
      "makeup_day_hours": "mon",       # a 调休 working weekend keeps Monday's hours
      "unknown_calendar": "weekly",    # no calendar data: weekly | closed | holiday | error
      "special_days": [
        {"date": "2026-12-31", "kind": "hours", "hours": ["08:30-15:00"], "note": "年末"},
        {"date": "2026-07-15", "kind": "closed", "note": "系统升级"}
      ]
    }

A range is ``HH:MM-HH:MM`` in local wall-clock time, the end excluded; ``24:00`` ends a day.
A range may not run past midnight (write ``22:00-24:00`` on one day and ``00:00-02:00`` on
the next). Overlapping ranges of one day are merged, with a warning naming them.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

__all__ = [
    "DEFAULT_TIMEZONE",
    "NAME_RE",
    "SCHEDULE_SCHEMA",
    "SPECIAL_KINDS",
    "UNKNOWN_CALENDAR_POLICIES",
    "WEEKDAYS",
    "Issue",
    "Schedule",
    "ScheduleError",
    "SpecialDay",
    "TimeRange",
    "format_minute",
    "load_schedule",
    "parse_ranges",
    "parse_schedule",
    "zone",
]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKDAY_TITLES = {
    "mon": ("周一", "Monday"),
    "tue": ("周二", "Tuesday"),
    "wed": ("周三", "Wednesday"),
    "thu": ("周四", "Thursday"),
    "fri": ("周五", "Friday"),
    "sat": ("周六", "Saturday"),
    "sun": ("周日", "Sunday"),
}
DEFAULT_TIMEZONE = "Asia/Shanghai"
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
SPECIAL_KINDS = ("hours", "closed", "holiday")
UNKNOWN_CALENDAR_POLICIES = ("weekly", "closed", "holiday", "error")
HOLIDAY_POLICIES = ("prc", "none")
MAX_RANGES = 12

_RANGE_RE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

RANGES_SCHEMA: dict[str, Any] = {
    "type": "array",
    "maxItems": MAX_RANGES,
    "items": {
        "type": "string",
        "pattern": r"^\s*[0-9]{1,2}:[0-9]{2}\s*-\s*[0-9]{1,2}:[0-9]{2}\s*$",
        "description": "如 08:30-12:00（不含结束时刻；24:00 表示当天结束）。 "
        "E.g. 08:30-12:00 (end excluded; 24:00 is the end of the day).",
    },
}

SCHEDULE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["weekly"],
    "properties": {
        "title": {"type": "string", "title": "名称 / Title", "maxLength": 200},
        "timezone": {
            "type": "string",
            "title": "时区 / Time zone",
            "description": "IANA 时区名，中国为 Asia/Shanghai。 An IANA zone; China is "
            "Asia/Shanghai.",
            "minLength": 1,
            "maxLength": 64,
            "default": DEFAULT_TIMEZONE,
        },
        "weekly": {
            "type": "object",
            "title": "每周工作时间 / Weekly hours",
            "description": "每天可有多个时段；未列出的日子不上班。 Several ranges a day; a day "
            "not listed is closed.",
            "additionalProperties": False,
            "properties": {
                day: {**RANGES_SCHEMA, "title": f"{zh} / {en}"}
                for day, (zh, en) in WEEKDAY_TITLES.items()
            },
        },
        "holidays": {
            "type": "string",
            "title": "法定节假日 / Public holidays",
            "description": "prc：按国务院公布的法定节假日放假、调休上班日上班（chinese-calendar）；"
            "none：只按每周时间。 prc: closed on PRC statutory holidays and open on make-up "
            "working days (调休); none: weekly hours only.",
            "enum": list(HOLIDAY_POLICIES),
            "default": "prc",
        },
        "makeup_day_hours": {
            "type": "string",
            "title": "调休上班日按哪天的时间 / Hours on make-up working days",
            "enum": list(WEEKDAYS),
            "default": "mon",
        },
        "unknown_calendar": {
            "type": "string",
            "title": "日历无数据时 / When the calendar has no data",
            "description": "chinese-calendar 尚无该年数据时：weekly 按每周时间，closed 下班，"
            "holiday 节假日，error 走出错出口。 For a year chinese-calendar has no data for: "
            "weekly hours, closed, holiday, or the error exit.",
            "enum": list(UNKNOWN_CALENDAR_POLICIES),
            "default": "weekly",
        },
        "special_days": {
            "type": "array",
            "title": "特殊日期 / Special days",
            "maxItems": 366,
            "default": [],
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["date", "kind"],
                "properties": {
                    "date": {
                        "type": "string",
                        "title": "日期 / Date",
                        "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
                    },
                    "kind": {
                        "type": "string",
                        "title": "类型 / Kind",
                        "description": "hours 按给定时间；closed 全天下班；holiday 全天按节假日。 "
                        "hours: the given hours; closed: closed all day; holiday: a holiday.",
                        "enum": list(SPECIAL_KINDS),
                    },
                    "hours": {**RANGES_SCHEMA, "title": "时间 / Hours"},
                    "note": {"type": "string", "title": "说明 / Note", "maxLength": 200},
                },
            },
        },
    },
}


@dataclass(frozen=True, slots=True)
class Issue:
    """A problem with a schedule: ``pointer`` is a JSON pointer into its JSON form."""

    pointer: str
    code: str
    message_zh: str
    message_en: str
    severity: str = "error"

    def to_json(self) -> dict[str, str]:
        return {
            "pointer": self.pointer,
            "code": self.code,
            "message_zh": self.message_zh,
            "message_en": self.message_en,
            "severity": self.severity,
        }


class ScheduleError(ValueError):
    """A schedule that cannot be used; ``issues`` lists every problem (errors and warnings)."""

    def __init__(self, issues: Sequence[Issue]) -> None:
        self.issues = list(issues)
        errors = [i for i in self.issues if i.severity == "error"] or self.issues
        super().__init__("; ".join(f"{i.pointer or '/'}: {i.message_en}" for i in errors))


def format_minute(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


@dataclass(frozen=True, order=True, slots=True)
class TimeRange:
    """``[start, end)`` in minutes after local midnight (``end`` may be 1440)."""

    start: int
    end: int

    def __contains__(self, minute: object) -> bool:
        return isinstance(minute, int) and self.start <= minute < self.end

    def __str__(self) -> str:
        return f"{format_minute(self.start)}-{format_minute(self.end)}"


@dataclass(frozen=True, slots=True)
class SpecialDay:
    day: date
    kind: str  # "hours" | "closed" | "holiday"
    hours: tuple[TimeRange, ...] = ()
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"date": self.day.isoformat(), "kind": self.kind}
        if self.kind == "hours":
            out["hours"] = [str(r) for r in self.hours]
        if self.note:
            out["note"] = self.note
        return out


def _empty_week() -> dict[str, tuple[TimeRange, ...]]:
    return {day: () for day in WEEKDAYS}


@dataclass(frozen=True)
class Schedule:
    """A parsed, normalised schedule (ranges sorted and merged)."""

    weekly: Mapping[str, tuple[TimeRange, ...]] = field(default_factory=_empty_week)
    timezone: str = DEFAULT_TIMEZONE
    holidays: str = "prc"
    makeup_day_hours: str = "mon"
    unknown_calendar: str = "weekly"
    special_days: Mapping[date, SpecialDay] = field(default_factory=dict)
    title: str = ""
    name: str = ""
    """The stored schedule's name; empty for one held inline in a node's config."""

    @property
    def tz(self) -> ZoneInfo:
        return zone(self.timezone)

    def hours_on(self, weekday: int) -> tuple[TimeRange, ...]:
        return self.weekly.get(WEEKDAYS[weekday], ())

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "timezone": self.timezone,
            "weekly": {day: [str(r) for r in self.weekly.get(day, ())] for day in WEEKDAYS},
            "holidays": self.holidays,
            "makeup_day_hours": self.makeup_day_hours,
            "unknown_calendar": self.unknown_calendar,
            "special_days": [self.special_days[d].to_json() for d in sorted(self.special_days)],
        }
        if self.title:
            out["title"] = self.title
        return out


@lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    """The time zone called ``name``; ``ValueError`` for an unknown one."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def _zone_issue(name: str, pointer: str) -> Issue | None:
    try:
        zone(name)
    except ValueError:
        chinese = any(w in name.lower() for w in ("beijing", "china", "peking", "chongqing"))
        close = (
            ["Asia/Shanghai"]
            if chinese
            else difflib.get_close_matches(name, sorted(available_timezones()), n=1)
        )
        hint_zh = f"（是否为 {close[0]}？）" if close else ""
        hint_en = f" (did you mean {close[0]}?)" if close else ""
        return Issue(
            pointer,
            "schedule.timezone",
            f"未知时区 “{name}”{hint_zh}；中国为 Asia/Shanghai。",
            f"Unknown time zone '{name}'{hint_en}; China is Asia/Shanghai.",
        )
    return None


def _parse_time(hours: str, minutes: str) -> int | None:
    h, m = int(hours), int(minutes)
    if m > 59 or h > 24 or (h == 24 and m != 0):
        return None
    return h * 60 + m


def parse_ranges(values: Iterable[Any], pointer: str, issues: list[Issue]) -> tuple[TimeRange, ...]:
    """Parse ``["08:30-12:00", …]`` into sorted, merged ranges; problems go to ``issues``."""
    parsed: list[tuple[TimeRange, str]] = []
    for index, value in enumerate(values):
        where = f"{pointer}/{index}"
        match = _RANGE_RE.match(value) if isinstance(value, str) else None
        if match is None:
            issues.append(
                Issue(
                    where,
                    "schedule.range_format",
                    f"时段 “{value}” 格式不对，应为 HH:MM-HH:MM（如 08:30-12:00）。",
                    f"Time range {value!r} is not HH:MM-HH:MM (e.g. 08:30-12:00).",
                )
            )
            continue
        start = _parse_time(match.group(1), match.group(2))
        end = _parse_time(match.group(3), match.group(4))
        if start is None or end is None or start == 24 * 60:
            issues.append(
                Issue(
                    where,
                    "schedule.range_time",
                    f"时段 “{value}” 含无效时刻（时 00–23，分 00–59；24:00 只能作结束）。",
                    f"Time range {value!r} has an invalid time (hours 00-23, minutes 00-59; "
                    "24:00 only as an end).",
                )
            )
            continue
        if end <= start:
            issues.append(
                Issue(
                    where,
                    "schedule.range_order",
                    f"时段 “{value}” 的结束不晚于开始。跨午夜请拆成两段"
                    f"（如 22:00-24:00 与次日 00:00-02:00）。",
                    f"Time range {value!r} ends before (or when) it starts. Split a range over "
                    "midnight in two (e.g. 22:00-24:00 and 00:00-02:00 the next day).",
                )
            )
            continue
        parsed.append((TimeRange(start, end), value.strip()))
    parsed.sort()
    merged: list[TimeRange] = []
    group: list[str] = []
    for current, text in parsed:
        if merged and current.start <= merged[-1].end:
            if current.start < merged[-1].end:  # overlapping (touching ranges join silently)
                group.append(text)
            merged[-1] = TimeRange(merged[-1].start, max(merged[-1].end, current.end))
            continue
        _report_overlap(group, merged, pointer, issues)
        merged.append(current)
        group = [text]
    _report_overlap(group, merged, pointer, issues)
    return tuple(merged)


def _report_overlap(
    group: list[str], merged: list[TimeRange], pointer: str, issues: list[Issue]
) -> None:
    if len(group) > 1 and merged:
        listed = "、".join(group)
        issues.append(
            Issue(
                pointer,
                "schedule.range_overlap",
                f"时段 {listed} 相互重叠，已合并为 {merged[-1]}。",
                f"Time ranges {', '.join(group)} overlap; merged into {merged[-1]}.",
                severity="warning",
            )
        )


def _parse_special_days(
    values: Any, issues: list[Issue], pointer: str = "/special_days"
) -> dict[date, SpecialDay]:
    out: dict[date, SpecialDay] = {}
    for index, item in enumerate(values or ()):
        where = f"{pointer}/{index}"
        if not isinstance(item, Mapping):
            issues.append(
                Issue(
                    where,
                    "schedule.special_day",
                    "特殊日期须为对象。",
                    "A special day must be an object.",
                )
            )
            continue
        raw = item.get("date")
        day = _parse_date(raw)
        if day is None:
            issues.append(
                Issue(
                    f"{where}/date",
                    "schedule.date",
                    f"日期 “{raw}” 无效，应为 YYYY-MM-DD。",
                    f"Date {raw!r} is not a valid YYYY-MM-DD date.",
                )
            )
            continue
        kind = item.get("kind")
        if kind not in SPECIAL_KINDS:
            issues.append(
                Issue(
                    f"{where}/kind",
                    "schedule.special_kind",
                    f"类型 “{kind}” 无效，可选 {'、'.join(SPECIAL_KINDS)}。",
                    f"Kind {kind!r} is invalid; choose one of {', '.join(SPECIAL_KINDS)}.",
                )
            )
            continue
        hours_raw = item.get("hours") or []
        hours: tuple[TimeRange, ...] = ()
        if kind == "hours":
            hours = parse_ranges(hours_raw, f"{where}/hours", issues)
            if not hours_raw:
                issues.append(
                    Issue(
                        f"{where}/hours",
                        "schedule.special_hours_missing",
                        "类型为 hours 的特殊日期须给出时间（全天不上班请用 closed）。",
                        "A special day of kind 'hours' needs hours (use 'closed' for a day "
                        "without any).",
                    )
                )
        elif hours_raw:
            issues.append(
                Issue(
                    f"{where}/hours",
                    "schedule.special_hours_ignored",
                    f"类型为 {kind} 的特殊日期不使用时间，已忽略。",
                    f"A special day of kind '{kind}' has no hours; they are ignored.",
                    severity="warning",
                )
            )
        if day in out:
            issues.append(
                Issue(
                    where,
                    "schedule.special_duplicate",
                    f"特殊日期 {day} 重复，只能有一条。",
                    f"Special day {day} is listed twice; keep one.",
                )
            )
            continue
        out[day] = SpecialDay(day, kind, hours, str(item.get("note") or ""))
    return out


def _parse_date(raw: Any) -> date | None:
    if not isinstance(raw, str) or not _DATE_RE.match(raw):
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        return None


def _enum(
    data: Mapping[str, Any], key: str, allowed: Sequence[str], default: str, issues: list[Issue]
) -> str:
    value = data.get(key, default)
    if value not in allowed:
        issues.append(
            Issue(
                f"/{key}",
                "schedule.option",
                f"{key} 的值 “{value}” 无效，可选 {'、'.join(allowed)}。",
                f"{key} {value!r} is invalid; choose one of {', '.join(allowed)}.",
            )
        )
        return default
    return str(value)


def parse_schedule(data: Any, *, name: str = "") -> tuple[Schedule | None, list[Issue]]:
    """Read a schedule's JSON form. Returns the schedule (None when there are errors) and
    every problem found (errors and warnings such as merged overlapping ranges)."""
    issues: list[Issue] = []
    if not isinstance(data, Mapping):
        issues.append(
            Issue("", "schedule.type", "时间表须为 JSON 对象。", "A schedule must be an object.")
        )
        return None, issues
    known = set(SCHEDULE_SCHEMA["properties"])
    for key in data:
        if key not in known:
            issues.append(
                Issue(
                    f"/{key}",
                    "schedule.unknown_field",
                    f"未知字段 “{key}”。",
                    f"Unknown field '{key}'.",
                )
            )
    timezone = data.get("timezone", DEFAULT_TIMEZONE)
    if not isinstance(timezone, str):
        timezone = str(timezone)
    problem = _zone_issue(timezone, "/timezone")
    if problem is not None:
        issues.append(problem)
    weekly_raw = data.get("weekly")
    weekly = _empty_week()
    if not isinstance(weekly_raw, Mapping):
        issues.append(
            Issue(
                "/weekly",
                "schedule.weekly",
                '须给出每周工作时间 weekly（如 {"mon": ["08:30-12:00"]}）。',
                'The weekly hours are missing (e.g. {"mon": ["08:30-12:00"]}).',
            )
        )
    else:
        for day, ranges in weekly_raw.items():
            if day not in WEEKDAYS:
                issues.append(
                    Issue(
                        f"/weekly/{day}",
                        "schedule.weekday",
                        f"“{day}” 不是星期，可选 {'、'.join(WEEKDAYS)}。",
                        f"'{day}' is not a weekday; use {', '.join(WEEKDAYS)}.",
                    )
                )
                continue
            if not isinstance(ranges, list | tuple):
                issues.append(
                    Issue(
                        f"/weekly/{day}",
                        "schedule.ranges",
                        "每天的时间须为时段列表。",
                        "A day's hours must be a list of ranges.",
                    )
                )
                continue
            weekly[day] = parse_ranges(ranges, f"/weekly/{day}", issues)
    special = _parse_special_days(data.get("special_days"), issues)
    schedule = Schedule(
        weekly=weekly,
        timezone=timezone,
        holidays=_enum(data, "holidays", HOLIDAY_POLICIES, "prc", issues),
        makeup_day_hours=_enum(data, "makeup_day_hours", WEEKDAYS, "mon", issues),
        unknown_calendar=_enum(
            data, "unknown_calendar", UNKNOWN_CALENDAR_POLICIES, "weekly", issues
        ),
        special_days=special,
        title=str(data.get("title") or ""),
        name=name,
    )
    if isinstance(weekly_raw, Mapping) and not any(weekly.values()):
        issues.append(
            Issue(
                "/weekly",
                "schedule.never_open",
                "每周工作时间为空：除特殊日期外一直走“下班”出口。",
                "No weekly hours: outside special days the schedule is always closed.",
                severity="warning",
            )
        )
    if any(i.severity == "error" for i in issues):
        return None, issues
    return schedule, issues


def load_schedule(data: Any, *, name: str = "") -> Schedule:
    """Like :func:`parse_schedule` but raises :class:`ScheduleError` on errors."""
    schedule, issues = parse_schedule(data, name=name)
    if schedule is None:
        raise ScheduleError(issues)
    return schedule
