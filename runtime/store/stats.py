"""Hotline statistics from call records and queue legs, by day, week, month or year.

The figures the requirements ask for (brief §2, seed §3.3):

* total calls;
* answer rate = calls answered by an agent / total calls;
* abandon ("call loss") rate as the seed defines it = abandoned / answered, shown beside the
  industry definition abandoned / queued;
* average wait (queue join → agent answer), average talk time, average wrap-up.

Periods are in the hotline's time zone (Asia/Shanghai by default); weeks are ISO weeks.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from runtime.store.models import CallRecord, QueueLeg, db_time

__all__ = ["PERIODS", "PeriodStats", "hotline_stats"]

PERIODS = ("day", "week", "month", "year")


@dataclass
class PeriodStats:
    period: str
    calls: int = 0
    queued: int = 0
    answered: int = 0
    abandoned: int = 0
    timed_out: int = 0
    answer_rate: float | None = None
    abandon_rate_seed: float | None = None
    """abandoned / answered (the seed's definition)"""
    abandon_rate_queued: float | None = None
    """abandoned / queued (the usual industry definition)"""
    avg_wait_s: float | None = None
    avg_talk_s: float | None = None
    avg_wrapup_s: float | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _key(moment: datetime, by: str, tz: ZoneInfo) -> str:
    local = db_time(moment).astimezone(tz)
    if by == "day":
        return local.strftime("%Y-%m-%d")
    if by == "week":
        year, week, _ = local.isocalendar()
        return f"{year}-W{week:02d}"
    if by == "month":
        return local.strftime("%Y-%m")
    return local.strftime("%Y")


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def hotline_stats(
    engine: Engine,
    *,
    by: str = "day",
    since: datetime | None = None,
    until: datetime | None = None,
    timezone: str = "Asia/Shanghai",
) -> list[PeriodStats]:
    """Statistics per period, oldest first."""
    if by not in PERIODS:
        raise ValueError(f"by must be one of {PERIODS}, not {by!r}")
    tz = ZoneInfo(timezone)
    with Session(engine) as session:
        calls = select(CallRecord.started_at).where(CallRecord.outcome != "no_entry")
        legs = select(
            QueueLeg.joined_at,
            QueueLeg.outcome,
            QueueLeg.hold_s,
            QueueLeg.talk_s,
            QueueLeg.wrapup_s,
        )
        if since is not None:
            calls = calls.where(col(CallRecord.started_at) >= db_time(since))
            legs = legs.where(col(QueueLeg.joined_at) >= db_time(since))
        if until is not None:
            calls = calls.where(col(CallRecord.started_at) < db_time(until))
            legs = legs.where(col(QueueLeg.joined_at) < db_time(until))
        call_times = session.exec(calls).all()
        leg_rows = session.exec(legs).all()
    periods: dict[str, PeriodStats] = {}
    waits: dict[str, list[float]] = defaultdict(list)
    talks: dict[str, list[float]] = defaultdict(list)
    wrapups: dict[str, list[float]] = defaultdict(list)

    def bucket(key: str) -> PeriodStats:
        return periods.setdefault(key, PeriodStats(key))

    for started in call_times:
        bucket(_key(started, by, tz)).calls += 1
    for joined, outcome, hold_s, talk_s, wrapup_s in leg_rows:
        key = _key(joined, by, tz)
        stats = bucket(key)
        stats.queued += 1
        if outcome == "answered":
            stats.answered += 1
            if hold_s is not None:
                waits[key].append(hold_s)
            if talk_s is not None:
                talks[key].append(talk_s)
            if wrapup_s is not None:
                wrapups[key].append(wrapup_s)
        elif outcome == "abandoned":
            stats.abandoned += 1
        elif outcome == "timeout":
            stats.timed_out += 1
    for key, stats in periods.items():
        stats.answer_rate = _ratio(stats.answered, stats.calls)
        stats.abandon_rate_seed = _ratio(stats.abandoned, stats.answered)
        stats.abandon_rate_queued = _ratio(stats.abandoned, stats.queued)
        stats.avg_wait_s = _mean(waits[key])
        stats.avg_talk_s = _mean(talks[key])
        stats.avg_wrapup_s = _mean(wrapups[key])
    return [periods[k] for k in sorted(periods)]
