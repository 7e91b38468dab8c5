"""ivrflow-schedule: time-of-day routing on named schedules and the PRC working calendar.

* :mod:`ivrflow_schedule.node` — the ``schedule.route`` node (exits open / closed / holiday);
* :mod:`ivrflow_schedule.model` — schedules and their JSON form;
* :mod:`ivrflow_schedule.calendar` — statutory holidays and 调休 from ``chinese-calendar``;
* :mod:`ivrflow_schedule.evaluate` — the decision at an instant and the preview of days;
* :mod:`ivrflow_schedule.store` — named schedules and admin overrides in the database;
* :mod:`ivrflow_schedule.api` — the designer API; :mod:`ivrflow_schedule.plugin` — start-up.
"""

from ivrflow_schedule.evaluate import Decision, Override, decide, plan_day, preview
from ivrflow_schedule.model import Schedule, ScheduleError, load_schedule, parse_schedule

__all__ = [
    "Decision",
    "Override",
    "Schedule",
    "ScheduleError",
    "decide",
    "load_schedule",
    "parse_schedule",
    "plan_day",
    "preview",
]
