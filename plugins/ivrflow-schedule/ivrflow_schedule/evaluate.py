"""Deciding: open, closed or holiday at an instant — and the preview of whole days.

Precedence, first match wins:

1. an **emergency closure** in force (admin override, start…end or until lifted) → ``closed``;
2. a **special day** (admin override for this schedule, else one for every schedule, else one
   in the schedule itself): ``hours`` → open within them, ``closed``, or ``holiday``;
3. with ``holidays: prc``, the **PRC calendar**: a statutory holiday → ``holiday``; a make-up
   working day (调休) → open within the hours of ``makeup_day_hours``; a year the calendar has
   no data for → the schedule's ``unknown_calendar`` policy (weekly hours, closed, holiday, or
   the node's error exit), reported;
4. the **weekly hours** of the local weekday.

Times are local to the schedule's time zone; the caller's instant is converted first.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any

from ivrflow_schedule.calendar import Calendar, CalendarDay, default_calendar, unknown_years
from ivrflow_schedule.model import (
    WEEKDAY_TITLES,
    WEEKDAYS,
    Issue,
    Schedule,
    SpecialDay,
    TimeRange,
    format_minute,
)

__all__ = [
    "EXITS",
    "DayPlan",
    "Decision",
    "Override",
    "Segment",
    "calendar_issues",
    "decide",
    "plan_day",
    "preview",
]

EXITS = ("open", "closed", "holiday")
OVERRIDE_KINDS = ("closure", "hours", "closed", "holiday")

_UNKNOWN = "schedule.calendar_unknown"

REASONS = {
    "closure": ("临时停止服务", "emergency closure"),
    "special_day": ("特殊日期", "special day"),
    "holiday": ("法定节假日", "statutory holiday"),
    "makeup_workday": ("调休上班日", "make-up working day"),
    "weekly": ("每周工作时间", "weekly hours"),
    "calendar_unknown": ("日历无该年数据", "no calendar data for the year"),
}


@dataclass(frozen=True, slots=True)
class Override:
    """An admin's override, stored by the plugin. ``schedule`` None: every schedule.

    ``closure``: closed from ``starts_at`` until ``ends_at`` (None: until lifted).
    ``hours`` / ``closed`` / ``holiday``: a special day on ``day``."""

    kind: str
    schedule: str | None = None
    day: date | None = None
    hours: tuple[TimeRange, ...] = ()
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    note: str = ""
    id: int | None = None
    created_by: str = ""
    created_at: datetime | None = None

    def active_at(self, at: datetime) -> bool:
        if self.kind != "closure" or self.starts_at is None:
            return False
        return self.starts_at <= at and (self.ends_at is None or at < self.ends_at)

    def applies_to(self, schedule_name: str) -> bool:
        return self.schedule is None or self.schedule == schedule_name

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "schedule": self.schedule,
            "kind": self.kind,
            "note": self.note,
        }
        if self.kind == "closure":
            out["starts_at"] = self.starts_at.isoformat() if self.starts_at else None
            out["ends_at"] = self.ends_at.isoformat() if self.ends_at else None
        else:
            out["date"] = self.day.isoformat() if self.day else None
            if self.kind == "hours":
                out["hours"] = [str(r) for r in self.hours]
        if self.created_at is not None:
            out["created_at"] = self.created_at.isoformat()
            out["created_by"] = self.created_by
        return out


@dataclass(frozen=True, slots=True)
class Decision:
    """What the schedule says at one instant."""

    exit: str
    """``open`` | ``closed`` | ``holiday`` — or ``error`` (a day without calendar data under
    ``unknown_calendar: error``)."""
    reason: str
    """What decided: ``closure`` | ``special_day`` | ``holiday`` | ``makeup_workday`` |
    ``weekly`` | ``calendar_unknown``."""
    at: datetime
    """The instant, in the schedule's time zone."""
    day: CalendarDay
    hours: tuple[TimeRange, ...] = ()
    """The opening hours that applied to the day."""
    note: str = ""
    """The override's note (a closure's reason, a special day's explanation)."""
    override: Override | None = None
    calendar_known: bool = True

    def explain(self, language: str = "zh") -> str:
        en = language.startswith("en")
        when = self.at.strftime("%Y-%m-%d %H:%M")
        zh_day, en_day = WEEKDAY_TITLES[WEEKDAYS[self.at.weekday()]]
        hours = ", ".join(str(r) for r in self.hours) or ("none" if en else "无")
        reason_zh, reason_en = REASONS[self.reason]
        extra = f" — {self.note}" if self.note else ""
        said = self.reason in ("closure", "special_day")  # else the day's kind says it
        if en:
            why = f"; {reason_en}" if said else ""
            text = f"{when} {en_day}: {self.day.title('en')}{why}; hours {hours}"
            return f"{text} → {self.exit}{extra}"
        why = f"；{reason_zh}" if said else ""
        text = f"{when} {zh_day}：{self.day.title('zh')}{why}；时间 {hours}"
        return f"{text} → {self.exit}{extra}"

    def to_json(self) -> dict[str, Any]:
        return {
            "exit": self.exit,
            "reason": self.reason,
            "at": self.at.isoformat(),
            "day": self.day.to_json(),
            "hours": [str(r) for r in self.hours],
            "note": self.note,
            "override": self.override.to_json() if self.override else None,
            "calendar_known": self.calendar_known,
            "explain_zh": self.explain("zh"),
            "explain_en": self.explain("en"),
        }


def _within(hours: Sequence[TimeRange], minute: int) -> bool:
    return any(minute in r for r in hours)


def _special_day(
    schedule: Schedule, day: date, overrides: Iterable[Override]
) -> tuple[SpecialDay, Override | None] | None:
    """The special day that applies: the schedule's own override, else an override for every
    schedule, else one written in the schedule."""
    general: Override | None = None
    for item in overrides:
        if item.kind == "closure" or item.day != day:
            continue
        if item.schedule is not None and item.schedule == schedule.name:
            return SpecialDay(day, item.kind, item.hours, item.note), item
        if item.schedule is None and general is None:
            general = item
    if general is not None:
        return SpecialDay(day, general.kind, general.hours, general.note), general
    own = schedule.special_days.get(day)
    return (own, None) if own is not None else None


def decide(
    schedule: Schedule,
    at: datetime,
    *,
    calendar: Calendar | None = None,
    overrides: Iterable[Override] = (),
) -> Decision:
    """Open, closed or holiday at the aware instant ``at`` (see the module docstring)."""
    if at.tzinfo is None:
        raise ValueError("decide() needs an aware datetime")
    calendar = calendar or default_calendar()
    overrides = [o for o in overrides if o.applies_to(schedule.name)]
    local = at.astimezone(schedule.tz)
    today = local.date()
    minute = local.hour * 60 + local.minute
    cal = (
        calendar.day(today)
        if schedule.holidays == "prc"
        else CalendarDay(today, "weekend" if today.weekday() >= 5 else "workday")
    )
    weekly = schedule.hours_on(today.weekday())

    def made(exit_name: str, reason: str, hours: tuple[TimeRange, ...], **kw: Any) -> Decision:
        return Decision(exit_name, reason, local, cal, hours, calendar_known=cal.known, **kw)

    closure = next((o for o in overrides if o.active_at(at)), None)
    if closure is not None:
        return made("closed", "closure", (), note=closure.note, override=closure)
    special = _special_day(schedule, today, overrides)
    if special is not None:
        spec, source = special
        if spec.kind == "hours":
            exit_name = "open" if _within(spec.hours, minute) else "closed"
        else:
            exit_name = spec.kind
        return made(exit_name, "special_day", spec.hours, note=spec.note, override=source)
    if cal.kind == "holiday":
        return made("holiday", "holiday", ())
    if cal.kind == "makeup_workday":
        hours = schedule.weekly.get(schedule.makeup_day_hours, ())
        return made("open" if _within(hours, minute) else "closed", "makeup_workday", hours)
    if cal.kind == "unknown":
        policy = schedule.unknown_calendar
        if policy == "weekly":
            exit_name = "open" if _within(weekly, minute) else "closed"
            return made(exit_name, "calendar_unknown", weekly)
        return made(policy, "calendar_unknown", ())
    return made("open" if _within(weekly, minute) else "closed", "weekly", weekly)


@dataclass(frozen=True, slots=True)
class Segment:
    start: str  # "HH:MM"
    end: str  # "HH:MM" ("24:00" at the end of the day)
    exit: str
    reason: str
    note: str = ""

    def to_json(self) -> dict[str, str]:
        return {
            "start": self.start,
            "end": self.end,
            "exit": self.exit,
            "reason": self.reason,
            "note": self.note,
        }


@dataclass(frozen=True)
class DayPlan:
    """What happens on one local day: its calendar kind and which exit each part takes."""

    day: CalendarDay
    segments: tuple[Segment, ...]
    issues: tuple[Issue, ...] = ()

    def to_json(self) -> dict[str, Any]:
        weekday = WEEKDAYS[self.day.day.weekday()]
        return {
            "date": self.day.day.isoformat(),
            "weekday": weekday,
            "weekday_zh": WEEKDAY_TITLES[weekday][0],
            "calendar": self.day.to_json(),
            "segments": [s.to_json() for s in self.segments],
            "open": [f"{s.start}-{s.end}" for s in self.segments if s.exit == "open"],
            "issues": [i.to_json() for i in self.issues],
        }


def _local(day: date, minute: int, schedule: Schedule) -> datetime:
    if minute >= 24 * 60:
        return datetime.combine(day + timedelta(days=1), time(0), schedule.tz)
    return datetime.combine(day, time(minute // 60, minute % 60), schedule.tz)


def plan_day(
    schedule: Schedule,
    day: date,
    *,
    calendar: Calendar | None = None,
    overrides: Iterable[Override] = (),
) -> DayPlan:
    """The exits of ``day`` (local to the schedule) from midnight to midnight."""
    calendar = calendar or default_calendar()
    overrides = [o for o in overrides if o.applies_to(schedule.name)]
    cuts = {0, 24 * 60}
    ranges = [r for hours in schedule.weekly.values() for r in hours]
    ranges += [r for o in overrides for r in o.hours]
    ranges += [r for s in schedule.special_days.values() for r in s.hours]
    for r in ranges:
        cuts.update((r.start, r.end))
    start_of_day, end_of_day = _local(day, 0, schedule), _local(day, 24 * 60, schedule)
    for o in overrides:
        for edge in (o.starts_at, o.ends_at):
            if edge is not None and start_of_day < edge < end_of_day:
                local = edge.astimezone(schedule.tz)
                cuts.add(local.hour * 60 + local.minute)
    points = sorted(cuts)
    segments: list[Segment] = []
    first: Decision | None = None
    for begin, end in pairwise(points):
        decision = decide(
            schedule, _local(day, begin, schedule), calendar=calendar, overrides=overrides
        )
        first = first or decision
        last = segments[-1] if segments else None
        if last and (last.exit, last.reason, last.note) == (
            decision.exit,
            decision.reason,
            decision.note,
        ):
            segments[-1] = Segment(
                last.start, format_minute(end), last.exit, last.reason, last.note
            )
        else:
            segments.append(
                Segment(
                    format_minute(begin),
                    format_minute(end),
                    decision.exit,
                    decision.reason,
                    decision.note,
                )
            )
    assert first is not None
    issues: list[Issue] = []
    if not first.day.known and schedule.holidays == "prc":
        issues.append(unknown_day_issue(schedule, day, calendar))
    return DayPlan(first.day, tuple(segments), tuple(issues))


def unknown_day_issue(schedule: Schedule, day: date, calendar: Calendar) -> Issue:
    policy = schedule.unknown_calendar
    what_zh = {
        "weekly": "按每周工作时间处理（不知道节假日和调休）",
        "closed": "全天按下班处理",
        "holiday": "全天按节假日处理",
        "error": "节点走“出错”出口",
    }[policy]
    what_en = {
        "weekly": "the weekly hours apply (holidays and 调休 are not known)",
        "closed": "the whole day is closed",
        "holiday": "the whole day is a holiday",
        "error": "the node takes its error exit",
    }[policy]
    return Issue(
        "/unknown_calendar",
        _UNKNOWN,
        f"{calendar.source} 没有 {day.year} 年的节假日数据：{day} {what_zh}。"
        "国务院公布该年安排后请升级 chinese-calendar，或把节假日录为特殊日期。",
        f"{calendar.source} has no holiday data for {day.year}: on {day} {what_en}. Upgrade "
        "chinese-calendar once the State Council publishes that year's holidays, or enter "
        "them as special days.",
        severity="warning",
    )


def calendar_issues(
    schedule: Schedule | None, today: date, days: int, calendar: Calendar | None = None
) -> list[Issue]:
    """Warnings for the coming ``days`` from ``today``: years the calendar does not know."""
    calendar = calendar or default_calendar()
    if schedule is not None and schedule.holidays != "prc":
        return []
    out = []
    for year in unknown_years(calendar, today, days):
        first_day = max(today, date(year, 1, 1))
        probe = schedule or Schedule()
        out.append(unknown_day_issue(probe, first_day, calendar))
    return out


@dataclass(frozen=True)
class Preview:
    schedule: Schedule
    at: Decision | None = None
    days: tuple[DayPlan, ...] = ()
    issues: tuple[Issue, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        return {
            "schedule": self.schedule.name or None,
            "timezone": self.schedule.timezone,
            "at": self.at.to_json() if self.at else None,
            "days": [d.to_json() for d in self.days],
            "issues": [i.to_json() for i in self.issues],
        }


def preview(
    schedule: Schedule,
    *,
    at: datetime | None = None,
    start: date | None = None,
    days: int = 1,
    calendar: Calendar | None = None,
    overrides: Sequence[Override] = (),
    issues: Sequence[Issue] = (),
) -> Preview:
    """What happens "at date X": the decision at ``at`` and/or the plan of ``days`` days from
    ``start`` (default: the day of ``at``, else today in the schedule's zone)."""
    calendar = calendar or default_calendar()
    decision = (
        decide(schedule, at, calendar=calendar, overrides=overrides) if at is not None else None
    )
    if start is None:
        start = (at or datetime.now(UTC)).astimezone(schedule.tz).date()
    plans = tuple(
        plan_day(schedule, start + timedelta(days=i), calendar=calendar, overrides=overrides)
        for i in range(max(days, 0))
    )
    found = list(issues)
    unknown = [p.day.day for p in plans if not p.day.known]
    if decision is not None and not decision.day.known:
        unknown.append(decision.at.date())
    if schedule.holidays == "prc":
        reported: set[int] = set()
        for day in sorted(unknown):
            if day.year not in reported:  # once per year, from its first day shown
                reported.add(day.year)
                found.append(unknown_day_issue(schedule, day, calendar))
    return Preview(schedule, decision, plans, tuple(found))
