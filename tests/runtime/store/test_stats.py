"""Statistics by period from call records and queue legs (seed §3.3)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session

from runtime.store.models import CallRecord, QueueLeg
from runtime.store.stats import hotline_stats

# 2026-10-09 is a Friday; 16:30 UTC is 00:30 the next day in Shanghai
FRI = datetime(2026, 10, 9, 2, 0, tzinfo=UTC)


def seed(engine) -> None:
    rows = []
    for i in range(10):
        rows.append(CallRecord(call_id=f"c{i}", started_at=FRI + timedelta(minutes=i)))
    rows.append(CallRecord(call_id="late", started_at=datetime(2026, 10, 9, 16, 30, tzinfo=UTC)))
    rows.append(
        CallRecord(call_id="x", started_at=FRI, outcome="no_entry")  # not a served call
    )
    legs = [
        ("answered", 20.0, 100.0, 30.0),
        ("answered", 40.0, 200.0, 30.0),
        ("answered", 30.0, 300.0, None),
        ("abandoned", None, None, None),
        ("timeout", None, None, None),
    ]
    for i, (outcome, hold, talk, wrap) in enumerate(legs):
        rows.append(
            QueueLeg(
                uniqueid=f"c{i}",
                queue="consult",
                joined_at=FRI + timedelta(minutes=i),
                outcome=outcome,
                hold_s=hold,
                talk_s=talk,
                wrapup_s=wrap,
            )
        )
    with Session(engine) as session:
        session.add_all(rows)
        session.commit()


def test_daily_figures_follow_the_seed_definitions(engine):
    seed(engine)
    [fri, sat] = hotline_stats(engine, by="day")
    assert (fri.period, sat.period) == ("2026-10-09", "2026-10-10")  # Shanghai days
    assert (fri.calls, fri.queued, fri.answered, fri.abandoned, fri.timed_out) == (10, 5, 3, 1, 1)
    assert fri.answer_rate == 0.3
    assert fri.abandon_rate_seed == pytest.approx(1 / 3, abs=1e-4)  # abandoned / answered
    assert fri.abandon_rate_queued == 0.2  # abandoned / queued
    assert (fri.avg_wait_s, fri.avg_talk_s, fri.avg_wrapup_s) == (30.0, 200.0, 30.0)
    assert sat.calls == 1 and sat.answer_rate == 0.0 and sat.abandon_rate_seed is None


@pytest.mark.parametrize(
    ("by", "periods"),
    [("week", ["2026-W41"]), ("month", ["2026-10"]), ("year", ["2026"])],
)
def test_weeks_months_years(engine, by, periods):
    seed(engine)
    rows = hotline_stats(engine, by=by)
    assert [r.period for r in rows] == periods
    assert rows[0].calls == 11


def test_since_until_and_bad_period(engine):
    seed(engine)
    rows = hotline_stats(engine, since=FRI + timedelta(minutes=5), until=FRI + timedelta(hours=1))
    assert [(r.calls, r.queued) for r in rows] == [(5, 0)]
    with pytest.raises(ValueError, match="by must be one of"):
        hotline_stats(engine, by="hour")
