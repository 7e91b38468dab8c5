"""The plugin's designer API: named schedules, admin overrides and the preview.

========================================  ================  ===================================
``GET    /api/schedules``                 flows.read        schedules and the calendar's years
``GET    /api/schedules/{name}``          flows.read        one schedule
``PUT    /api/schedules/{name}``          entries.manage    create or replace (warnings back)
``DELETE /api/schedules/{name}``          entries.manage    delete (and its overrides)
``GET    /api/schedules/{name}/preview``  flows.read        ?at=…&date=…&days=… what happens
``POST   /api/schedule-preview``          flows.read        the same for an unsaved schedule
``GET    /api/schedule-overrides``        flows.read        ?schedule=…&since=…
``POST   /api/schedule-overrides``        data.manage       closure or special day
``DELETE /api/schedule-overrides/{id}``   data.manage       lift / remove
========================================  ================  ===================================

Every change is written to ivrflow's audit log in the same transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from datetime import date as Date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel
from sqlmodel import Session
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from designer import audit
from designer.problems import ApiError
from designer.web import Context, api
from ivrflow_schedule.calendar import default_calendar
from ivrflow_schedule.evaluate import Override, calendar_issues, preview
from ivrflow_schedule.model import (
    DEFAULT_TIMEZONE,
    SCHEDULE_SCHEMA,
    Issue,
    Schedule,
    ScheduleError,
    parse_ranges,
    parse_schedule,
    zone,
)
from ivrflow_schedule.store import ScheduleStore, UnknownSchedule
from runtime.problems import Problem, Severity

__all__ = ["AUDIT_ACTIONS", "make_routes"]

AUDIT_ACTIONS = {
    "schedule.save": ("保存时间表", "saved a schedule"),
    "schedule.delete": ("删除时间表", "deleted a schedule"),
    "schedule.override_add": ("添加时间表例外", "added a schedule override"),
    "schedule.override_delete": ("删除时间表例外", "removed a schedule override"),
}
MAX_PREVIEW_DAYS = 62


class ScheduleBody(RootModel[dict[str, Any]]):
    """A schedule's JSON form (see the node's ``hours``)."""

    model_config = ConfigDict(json_schema_extra=SCHEDULE_SCHEMA)


class PreviewBody(BaseModel):
    schedule: dict[str, Any] = Field(description="a schedule's JSON form (unsaved)")
    at: datetime | None = Field(default=None, description="an instant; naive = schedule's zone")
    date: Date | None = Field(default=None, description="first day to plan (default: at's day)")
    days: int = Field(default=1, ge=0, le=MAX_PREVIEW_DAYS, description="days to plan")


class OverrideBody(BaseModel):
    schedule: str | None = Field(
        default=None, max_length=64, description="a schedule's name; null: every schedule"
    )
    kind: Literal["closure", "hours", "closed", "holiday"] = Field(
        description="closure: emergency closure from starts_at to ends_at; hours, closed, "
        "holiday: a special day on date"
    )
    date: Date | None = None
    starts_at: datetime | None = Field(
        default=None, description="closure start (default: now); naive = the schedule's zone"
    )
    ends_at: datetime | None = Field(default=None, description="closure end; null: until lifted")
    hours: list[str] = Field(default_factory=list, max_length=12)
    note: str = Field(default="", max_length=500)


def _problems(issues: list[Issue]) -> list[Problem]:
    return [
        Problem(
            severity=Severity.ERROR if i.severity == "error" else Severity.WARNING,
            code=i.code,
            message_zh=i.message_zh,
            message_en=i.message_en,
            pointer=i.pointer,
        )
        for i in issues
    ]


def _invalid(issues: list[Issue]) -> ApiError:
    errors = [i for i in issues if i.severity == "error"] or issues
    first = errors[0]
    return ApiError(
        422,
        "schedule.invalid",
        f"时间表有误：{first.message_zh}",
        f"The schedule is invalid: {first.message_en}",
        problems=_problems(issues),
    )


def _not_found(name: str) -> ApiError:
    return ApiError(404, "schedule.unknown", f"没有名为 {name} 的时间表", f"no schedule {name!r}")


def _parse(data: Any, name: str = "") -> tuple[Schedule, list[Issue]]:
    schedule, issues = parse_schedule(data, name=name)
    if schedule is None:
        raise _invalid(issues)
    return schedule, issues


def _aware(value: datetime | None, tz: str) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=zone(tz))


def _query_datetime(ctx: Context, name: str, tz: str) -> datetime | None:
    raw = ctx.query(name)
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.strip().replace(" ", "T"))
    except ValueError:
        raise ApiError(
            400,
            "request.query",
            f"查询参数 {name} 须为日期时间，如 2026-02-16T10:00",
            f"query parameter {name} must be a date-time, e.g. 2026-02-16T10:00",
        ) from None
    return _aware(value, tz)


def _query_date(ctx: Context, name: str) -> Date | None:
    raw = ctx.query(name)
    if not raw:
        return None
    try:
        return Date.fromisoformat(raw.strip())
    except ValueError:
        raise ApiError(
            400,
            "request.query",
            f"查询参数 {name} 须为日期，如 2026-02-16",
            f"query parameter {name} must be a date, e.g. 2026-02-16",
        ) from None


def _calendar_info() -> dict[str, Any]:
    from ivrflow_schedule.node import LOOKAHEAD_DAYS, today

    calendar = default_calendar()
    return {
        "source": calendar.source,
        "years": list(calendar.years()),
        "issues": [i.to_json() for i in calendar_issues(None, today(), LOOKAHEAD_DAYS)],
    }


def _override_from(body: OverrideBody, store: ScheduleStore) -> Override:
    tz = DEFAULT_TIMEZONE
    if body.schedule is not None:
        stored = store.get(body.schedule)
        if stored is None:
            raise _not_found(body.schedule)
        tz = stored.schedule.timezone
    issues: list[Issue] = []
    hours = parse_ranges(body.hours, "/hours", issues)

    def bad(pointer: str, zh: str, en: str) -> ApiError:
        return _invalid([Issue(pointer, "schedule.override", zh, en)])

    if issues and any(i.severity == "error" for i in issues):
        raise _invalid(issues)
    if body.kind == "closure":
        if body.date is not None or body.hours:
            raise bad(
                "/date",
                "临时停止服务用 starts_at/ends_at，不用 date/hours。",
                "A closure takes starts_at/ends_at, not date/hours.",
            )
        starts = _aware(body.starts_at, tz) or datetime.now(UTC)
        ends = _aware(body.ends_at, tz)
        if ends is not None and ends <= starts:
            raise bad(
                "/ends_at",
                "结束时间须晚于开始时间。",
                "ends_at must be after starts_at.",
            )
        return Override(
            "closure",
            body.schedule,
            starts_at=starts.astimezone(UTC),
            ends_at=ends.astimezone(UTC) if ends else None,
            note=body.note,
        )
    if body.date is None:
        raise bad("/date", "特殊日期须给出 date。", "A special day needs a date.")
    if body.starts_at is not None or body.ends_at is not None:
        raise bad(
            "/starts_at",
            "特殊日期不用 starts_at/ends_at。",
            "A special day takes no starts_at/ends_at.",
        )
    if body.kind == "hours" and not hours:
        raise bad(
            "/hours",
            "类型为 hours 的特殊日期须给出时间（全天不上班请用 closed）。",
            "A special day of kind 'hours' needs hours (use 'closed' for none).",
        )
    if body.kind != "hours" and body.hours:
        raise bad(
            "/hours",
            f"类型为 {body.kind} 的特殊日期不用 hours。",
            f"A special day of kind '{body.kind}' takes no hours.",
        )
    return Override(body.kind, body.schedule, day=body.date, hours=hours, note=body.note)


def make_routes(store: ScheduleStore) -> list[BaseRoute]:
    """The plugin's routes, bound to ``store``."""
    audit.register_actions(AUDIT_ACTIONS)

    @api("flows.read", tag="schedules")
    def schedule_list(ctx: Context) -> dict[str, Any]:
        """Named schedules, and which years the PRC holiday calendar knows."""
        return {"schedules": store.list(), "calendar": _calendar_info()}

    @api("flows.read", tag="schedules", responses={404: "no such schedule"})
    def schedule_get(ctx: Context) -> dict[str, Any]:
        """One schedule (normalised: overlapping ranges merged)."""
        name = ctx.path("name")
        stored = store.get(name)
        if stored is None:
            raise _not_found(name)
        return stored.to_json()

    @api(
        "entries.manage",
        body=ScheduleBody,
        tag="schedules",
        responses={422: "the schedule has errors (all listed)"},
    )
    def schedule_put(ctx: Context) -> JSONResponse:
        """Create or replace a schedule; warnings (e.g. merged overlapping ranges) come back."""
        name = ctx.path("name")
        data = ctx.json()
        with Session(ctx.services.engine) as session:
            try:
                stored, created = store.put(
                    name, data, actor=ctx.actor.username, connection=session.connection()
                )
            except ScheduleError as exc:
                raise _invalid(exc.issues) from None
            audit.record(
                session,
                "schedule.save",
                actor=ctx.actor.username,
                target=name,
                ip=ctx.actor.ip,
                detail={"revision": stored.revision, "created": created},
            )
            session.commit()
        store.invalidate()
        return JSONResponse(stored.to_json(), status_code=201 if created else 200)

    @api("entries.manage", tag="schedules", responses={404: "no such schedule"})
    def schedule_delete(ctx: Context) -> dict[str, Any]:
        """Delete a schedule and its overrides (flows naming it then take their error exit)."""
        name = ctx.path("name")
        with Session(ctx.services.engine) as session:
            if not store.delete(name, connection=session.connection()):
                raise _not_found(name)
            audit.record(
                session, "schedule.delete", actor=ctx.actor.username, target=name, ip=ctx.actor.ip
            )
            session.commit()
        store.invalidate()
        return {"ok": True}

    @api("flows.read", tag="schedules", responses={404: "no such schedule"})
    def schedule_preview(ctx: Context) -> dict[str, Any]:
        """What happens at a moment (?at=2026-02-16T10:00) and on days (?date=…&days=7)."""
        name = ctx.path("name")
        stored = store.get(name)
        if stored is None:
            raise _not_found(name)
        schedule = stored.schedule
        at = _query_datetime(ctx, "at", schedule.timezone)
        start = _query_date(ctx, "date")
        days = ctx.query_int("days", 1, lo=0, hi=MAX_PREVIEW_DAYS) or 0
        return _preview(schedule, at, start, days, [])

    @api("flows.read", body=PreviewBody, tag="schedules", responses={422: "invalid schedule"})
    def schedule_preview_inline(ctx: Context) -> dict[str, Any]:
        """The preview of an unsaved schedule (a node's inline hours), overrides included."""
        body = ctx.body(PreviewBody)
        schedule, issues = _parse(body.schedule)
        return _preview(schedule, _aware(body.at, schedule.timezone), body.date, body.days, issues)

    def _preview(
        schedule: Schedule,
        at: datetime | None,
        start: Date | None,
        days: int,
        issues: list[Issue],
    ) -> dict[str, Any]:
        at_day = at.astimezone(schedule.tz).date() if at is not None else None
        first = start or at_day or datetime.now(UTC).astimezone(schedule.tz).date()
        last = first + timedelta(days=max(days, 1))
        overrides = store.overrides(
            schedule=schedule.name or None,
            since=min(first, at_day or first),
            until=max(last, at_day or last),
        )
        if not schedule.name:  # an unsaved schedule: only the overrides for every schedule
            overrides = [o for o in overrides if o.schedule is None]
        result = preview(
            schedule,
            at=at,
            start=first,
            days=days,
            overrides=overrides,
            issues=[i for i in issues if i.severity != "error"],
        )
        return result.to_json()

    @api("flows.read", tag="schedules")
    def schedule_overrides(ctx: Context) -> dict[str, Any]:
        """Overrides (?schedule=NAME: its own and every schedule's; ?since=DATE)."""
        name = ctx.query("schedule")
        since = _query_date(ctx, "since")
        found = store.overrides(schedule=name or None, since=since)
        return {"overrides": [o.to_json() for o in found]}

    @api(
        "data.manage",
        body=OverrideBody,
        tag="schedules",
        responses={404: "no such schedule", 422: "invalid override"},
    )
    def schedule_override_add(ctx: Context) -> JSONResponse:
        """Add an emergency closure (from now until lifted by default) or a special day."""
        body = ctx.body(OverrideBody)
        override = _override_from(body, store)
        with Session(ctx.services.engine) as session:
            try:
                saved = store.add_override(
                    override, actor=ctx.actor.username, connection=session.connection()
                )
            except UnknownSchedule as exc:
                raise _not_found(exc.name) from None
            audit.record(
                session,
                "schedule.override_add",
                actor=ctx.actor.username,
                target=saved.schedule or "*",
                ip=ctx.actor.ip,
                detail=saved.to_json(),
            )
            session.commit()
        store.invalidate()
        return JSONResponse(saved.to_json(), status_code=201)

    @api("data.manage", tag="schedules", responses={404: "no such override"})
    def schedule_override_delete(ctx: Context) -> dict[str, Any]:
        """Lift a closure or remove a special day."""
        override_id = int(ctx.path("override_id"))
        existing = store.get_override(override_id)
        if existing is None:
            raise ApiError(
                404,
                "schedule.override_unknown",
                f"没有编号为 {override_id} 的例外",
                f"no override {override_id}",
            )
        with Session(ctx.services.engine) as session:
            store.delete_override(override_id, connection=session.connection())
            audit.record(
                session,
                "schedule.override_delete",
                actor=ctx.actor.username,
                target=existing.schedule or "*",
                ip=ctx.actor.ip,
                detail=existing.to_json(),
            )
            session.commit()
        store.invalidate()
        return {"ok": True}

    return [
        Route("/api/schedules", schedule_list, methods=["GET"]),
        Route("/api/schedules/{name}", schedule_get, methods=["GET"]),
        Route("/api/schedules/{name}", schedule_put, methods=["PUT"]),
        Route("/api/schedules/{name}", schedule_delete, methods=["DELETE"]),
        Route("/api/schedules/{name}/preview", schedule_preview, methods=["GET"]),
        Route("/api/schedule-preview", schedule_preview_inline, methods=["POST"]),
        Route("/api/schedule-overrides", schedule_overrides, methods=["GET"]),
        Route("/api/schedule-overrides", schedule_override_add, methods=["POST"]),
        Route(
            "/api/schedule-overrides/{override_id:int}",
            schedule_override_delete,
            methods=["DELETE"],
        ),
    ]
