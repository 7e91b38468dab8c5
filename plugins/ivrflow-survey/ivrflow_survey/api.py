"""The plugin's designer API: the survey summary.

=================================  ==========  ==============================================
``GET /api/surveys/summary``       flows.read  ?by=day|agent|queue|question|survey
                                               &since=DATE&until=DATE (both included; default
                                               the last 30 days)&survey=…&question=…
``GET /api/surveys/calls/{call}``  flows.read  the stored answers of one call
=================================  ==========  ==============================================

Read-only: answers are written only by calls, so there is nothing to audit.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from starlette.routing import BaseRoute, Route

from designer.problems import ApiError
from designer.web import Context, api
from ivrflow_survey.store import GROUPS, SurveyStore

__all__ = ["DEFAULT_DAYS", "MAX_DAYS", "make_routes"]

DEFAULT_DAYS = 30
MAX_DAYS = 366


def _query_date(ctx: Context, name: str) -> date | None:
    raw = ctx.query(name)
    if not raw:
        return None
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise ApiError(
            400,
            "request.query",
            f"查询参数 {name} 须为日期，如 2026-02-16",
            f"query parameter {name} must be a date, e.g. 2026-02-16",
        ) from None


def make_routes(store: SurveyStore) -> list[BaseRoute]:
    """The plugin's routes, bound to ``store``."""

    @api("flows.read", tag="surveys", responses={400: "bad query parameters"})
    def survey_summary(ctx: Context) -> dict[str, Any]:
        """Average score and count of answers (and of calls) per day, agent or queue."""
        by = ctx.query("by") or "day"
        if by not in GROUPS:
            raise ApiError(
                400,
                "request.query",
                f"查询参数 by 须为 {'、'.join(GROUPS)} 之一",
                f"query parameter by must be one of {', '.join(GROUPS)}",
            )
        until = _query_date(ctx, "until") or datetime.now(UTC).date()
        since = _query_date(ctx, "since") or until - timedelta(days=DEFAULT_DAYS - 1)
        if since > until:
            raise ApiError(
                400,
                "request.query",
                "since 不能晚于 until",
                "since must not be after until",
            )
        if (until - since).days >= MAX_DAYS:
            raise ApiError(
                400,
                "request.query",
                f"日期范围最多 {MAX_DAYS} 天",
                f"the date range is at most {MAX_DAYS} days",
            )
        return store.summary(
            by=by,
            since=since,
            until=until,
            survey=ctx.query("survey") or None,
            question=ctx.query("question") or None,
        )

    @api("flows.read", tag="surveys")
    def survey_call(ctx: Context) -> dict[str, Any]:
        """The stored answers of one call."""
        call_id = ctx.path("call_id")
        rows = store.answers(call_id)
        for row in rows:
            row["day"] = row["day"].isoformat()
            stamp = row["answered_at"]
            if stamp.tzinfo is None:  # SQLite hands it back naive (stored in UTC)
                stamp = stamp.replace(tzinfo=UTC)
            row["answered_at"] = stamp.isoformat()
        return {"call_id": call_id, "answers": rows}

    return [
        Route("/api/surveys/summary", survey_summary, methods=["GET"]),
        Route("/api/surveys/calls/{call_id}", survey_call, methods=["GET"]),
    ]
