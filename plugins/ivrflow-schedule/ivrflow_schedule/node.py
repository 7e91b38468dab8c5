"""``schedule.route`` — route by office hours on the PRC working calendar.

The node names a schedule that admins manage in the designer (``schedule``), or holds one in
its config (``hours``: the same JSON form, see :mod:`ivrflow_schedule.model`) — inline is what
a flow run from a file in the simulator needs. It takes:

* ``open`` — within the day's hours;
* ``closed`` — outside them, on a day without hours, or during an emergency closure;
* ``holiday`` — a PRC statutory holiday (or a special day marked holiday);
* ``error`` — the named schedule does not exist or there is no database to read it from, or
  a day without calendar data under ``unknown_calendar: error``. Unwired, the flow's fallback
  takes over.

Admin overrides stored by the plugin apply to both kinds: a closure or special day for every
schedule closes inline schedules too. Each decision lands in the trace as a ``schedule``
event (exit, reason, the day's kind and holiday, the hours applied); a day the calendar has no
data for adds a ``calendar_unknown`` event and a warning in the log.

Validation warns when the PRC calendar has no data for a day in the coming
:data:`LOOKAHEAD_DAYS` (upgrade ``chinese-calendar`` once the State Council publishes the next
year's holidays).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import date, datetime
from functools import lru_cache
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from ivrflow_schedule.calendar import default_calendar
from ivrflow_schedule.evaluate import calendar_issues, decide
from ivrflow_schedule.model import SCHEDULE_SCHEMA, Schedule, load_schedule, parse_schedule
from ivrflow_schedule.store import ScheduleUnavailable, UnknownSchedule
from nodes.api import ConfigIssue, Node
from runtime.call import Call

__all__ = ["LOOKAHEAD_DAYS", "RESOURCE", "ScheduleRoute", "today"]

log = logging.getLogger("ivrflow.schedule")

RESOURCE = "schedule"
"""The key of the plugin's :class:`~ivrflow_schedule.store.ScheduleStore` in
``call.resources``."""
LOOKAHEAD_DAYS = 92
"""Validation warns when the calendar lacks data within this many days (from October on, a
missing next year)."""


def today() -> date:
    """Today in China (validation's reference day; tests replace it)."""
    return datetime.now(ZoneInfo("Asia/Shanghai")).date()


@lru_cache(maxsize=256)
def _inline(text: str) -> Schedule:
    return load_schedule(json.loads(text))


def inline_schedule(hours: Mapping[str, Any]) -> Schedule:
    """A node's inline schedule, parsed once per distinct config."""
    return _inline(json.dumps(hours, sort_keys=True, ensure_ascii=False))


class ScheduleRoute(Node):
    type = "schedule.route"
    version = 1
    title: ClassVar[dict[str, str]] = {"zh": "工作时间路由", "en": "Office hours"}
    description: ClassVar[dict[str, str]] = {
        "zh": "按工作时间表（每周时段、法定节假日与调休、临时停止服务）分流："
        "上班时间、下班时间、节假日各走一个出口。",
        "en": "Routes by a schedule (weekly hours, PRC statutory holidays and make-up working "
        "days, emergency closures): one exit for open, closed and holiday.",
    }
    category = "logic"
    config_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "schedule": {
                "type": "string",
                "title": "时间表 / Schedule",
                "description": "管理员在设计器中维护的时间表名称（或在下方直接填写时间）。 "
                "The name of a schedule admins manage in the designer (or give the hours "
                "below).",
                "pattern": "^([a-z0-9][a-z0-9_-]{0,63})?$",
                "default": "",
            },
            "hours": {
                **SCHEDULE_SCHEMA,
                "title": "直接填写时间 / Hours in this node",
                "description": "不使用命名时间表时，在此填写每周时间等。 Instead of a named "
                "schedule: the weekly hours etc. here.",
            },
            "reason_variable": {
                "type": "string",
                "title": "把原因存入变量 / Store the reason in",
                "description": "weekly、holiday、makeup_workday、special_day、closure、"
                "calendar_unknown 之一。 One of weekly, holiday, makeup_workday, special_day, "
                "closure, calendar_unknown.",
                "pattern": "^[A-Za-z_][A-Za-z0-9_]{0,63}$",
                "x-ivrflow": "variable-out",
            },
        },
    }
    exits = ("open", "closed", "holiday", "error")
    exit_titles: ClassVar[dict[str, dict[str, str]]] = {
        "open": {"zh": "上班时间", "en": "Open"},
        "closed": {"zh": "下班时间", "en": "Closed"},
        "holiday": {"zh": "节假日", "en": "Holiday"},
    }

    @classmethod
    def check_config(cls, config: Mapping[str, Any]) -> list[ConfigIssue]:
        issues: list[ConfigIssue] = []
        named = bool(config.get("schedule"))
        inline = config.get("hours")
        if named == (inline is not None):
            issues.append(
                ConfigIssue(
                    "/schedule" if named else "",
                    "schedule.choose_one",
                    "请二选一：填写时间表名称（schedule），或直接填写时间（hours）。",
                    "Give either a schedule name (schedule) or the hours (hours), not "
                    "both and not neither.",
                )
            )
        schedule: Schedule | None = None
        if inline is not None:
            schedule, found = parse_schedule(inline)
            issues.extend(
                ConfigIssue(
                    "/hours" + issue.pointer,
                    issue.code,
                    issue.message_zh,
                    issue.message_en,
                    issue.severity,
                )
                for issue in found
            )
            if schedule is None:
                return issues
        for issue in calendar_issues(schedule, today(), LOOKAHEAD_DAYS):
            issues.append(
                ConfigIssue(
                    "/hours" + issue.pointer if inline is not None else "/schedule",
                    issue.code,
                    issue.message_zh,
                    issue.message_en,
                    "warning",
                )
            )
        return issues

    async def run(self, call: Call, config: dict[str, Any]) -> str:
        store = call.resources.get(RESOURCE)
        name = config.get("schedule") or None
        try:
            if name is not None:
                if store is None or not store.available:
                    raise ScheduleUnavailable("named schedules need the plugin's database")
                schedule, overrides = await store.resolve(name)
            else:
                schedule = inline_schedule(config["hours"])
                overrides = ()
                if store is not None and store.available:
                    _, overrides = await store.resolve(None)  # closures for every schedule
        except UnknownSchedule:
            call.note(
                "schedule_error",
                schedule=name,
                reason=f"no schedule named {name!r}",
                reason_zh=f"没有名为 {name} 的时间表",
            )
            return "error"
        except ScheduleUnavailable as exc:
            call.note(
                "schedule_error",
                schedule=name,
                reason=str(exc),
                reason_zh="没有数据库，无法读取命名时间表（模拟时可用 --database）",
            )
            return "error"
        assert schedule is not None
        decision = decide(schedule, call.now(), calendar=default_calendar(), overrides=overrides)
        call.note(
            "schedule",
            schedule=name or "(inline)",
            exit=decision.exit,
            reason=decision.reason,
            local_time=decision.at.isoformat(timespec="minutes"),
            day=decision.day.kind,
            holiday=decision.day.holiday,
            holiday_zh=decision.day.holiday_zh,
            hours=[str(r) for r in decision.hours],
            note=decision.note,
        )
        if not decision.calendar_known:
            source = default_calendar().source
            call.note("calendar_unknown", year=decision.at.year, source=source)
            log.warning(
                "%s has no holiday data for %d: schedule %s took %r by its unknown_calendar "
                "policy; upgrade chinese-calendar",
                source,
                decision.at.year,
                name or "(inline)",
                decision.exit,
            )
        if config.get("reason_variable"):
            call.vars[config["reason_variable"]] = decision.reason
        return decision.exit
