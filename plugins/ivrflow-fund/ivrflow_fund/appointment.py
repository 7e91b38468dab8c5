"""The appointment nodes: choose a day and a time at a branch, book, look up and cancel.

A 12329 appointment flow: the caller picks the service (``loan_application`` 贷款申请,
``loan_repayment`` 贷款还款, ``withdrawal`` 提取) and the branch with ``core.menu`` +
``core.set_variable`` (variables ``appt_service``, ``appt_branch``), then

1. ``fund.appointment_dates`` offers the next working days (PRC calendar: statutory holidays
   closed, 调休 make-up days open; days the calendar has no data for are skipped and noted)
   with places left → ``appt_date``;
2. ``fund.appointment_slots`` offers that day's times with places left → ``appt_slot``,
   ``appt_slot_start``, ``appt_slot_end``;
3. the flow reads the choice back and asks for confirmation (``core.menu``);
4. ``fund.appointment_book`` books → ``appt_booking``, ``appt_code``, ``appt_branch_name``
   (what the SMS text uses); ``taken`` when the place went meanwhile, ``duplicate`` when the
   phone already holds an upcoming booking for the service (its details are set instead).

``fund.appointment_lookup`` finds the caller's earliest upcoming booking (by phone) and
``fund.appointment_cancel`` cancels it. Every node reads ``call.resources["fund"]``; the fund
system failing (timeout, 5xx, invalid response, breaker open) takes ``unavailable`` at once.
Phone numbers appear in the trace only as their last 4 digits.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import date, timedelta
from typing import Any, ClassVar

from ivrflow_schedule.calendar import default_calendar

from ivrflow_fund.backend import (
    REQUEST_TIME,
    SERVICES,
    AlreadyBooked,
    Booking,
    FundBackend,
    FundError,
    FundNotFound,
    FundUnavailable,
    Slot,
    SlotFull,
    mask_id,
)
from nodes.api import ConfigIssue, Node
from runtime.call import Call, CollectSpec
from runtime.template import render

__all__ = [
    "FundAppointmentBook",
    "FundAppointmentCancel",
    "FundAppointmentDates",
    "FundAppointmentLookup",
    "FundAppointmentSlots",
]

RESOURCE = "fund"
VAR = "^[A-Za-z_][A-Za-z0-9_]{0,63}$"
PHONE_RE = re.compile(r"^\+?[0-9]{5,20}$")
SLOT_RE = re.compile(r"^[A-Za-z0-9_-]{1,16}$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
WORKING_KINDS = frozenset({"workday", "makeup_workday"})
MAX_OPTIONS = 9
BOOKED_OUT = (
    "booking_variable",
    "code_variable",
    "branch_name_variable",
    "slot_start_variable",
    "slot_end_variable",
)
"""What ``fund.appointment_book`` sets on ``booked`` (on ``duplicate``: every variable)."""
BACKEND_TIMEOUT_S = 15.0  # the connector's own timeout (3 s) comes first

# -- schema pieces -----------------------------------------------------------------------------


def _var(title: str, default: str, kind: str) -> dict[str, Any]:
    return {"type": "string", "title": title, "pattern": VAR, "x-ivrflow": kind, "default": default}


def _prompt(title: str, default: str) -> dict[str, Any]:
    return {"type": "string", "title": title, "x-ivrflow": "prompt", "default": default}


def _prompts(**fields: tuple[str, str]) -> dict[str, Any]:
    return {
        "type": "object",
        "title": "语音提示 / Prompts",
        "additionalProperties": False,
        "default": {},
        "properties": {name: _prompt(title, default) for name, (title, default) in fields.items()},
    }


SERVICE_IN = _var("业务变量 / Service variable", "appt_service", "variable-in")
BRANCH_IN = _var("网点变量 / Branch variable", "appt_branch", "variable-in")
DATE_IN = _var("日期变量 / Date variable", "appt_date", "variable-in")
SLOT_IN = _var("时段变量 / Time slot variable", "appt_slot", "variable-in")
BOOKING_IN = _var("预约编号变量 / Booking id variable", "appt_booking", "variable-in")

PHONE = {
    "type": "string",
    "title": "手机号码 / Phone number",
    "description": "预约登记的手机号码（短信发到此号码），可用 {{变量}}；默认主叫号码。"
    " The phone the booking is held under (and the SMS goes to); {{variables}} allowed; "
    "default the caller's number.",
    "x-ivrflow": "template",
    "maxLength": 200,
    "default": "{{caller}}",
}
MAX_ATTEMPTS = {
    "type": "integer",
    "title": "最多询问次数 / Attempts",
    "description": "没有按键或按错时重新播报选项，一共询问几次。"
    " How many times the options are offered when the caller presses nothing or a wrong key.",
    "minimum": 1,
    "maximum": 10,
    "default": 3,
}
INPUT_TIMEOUT = {
    "type": "integer",
    "title": "等待按键（毫秒）/ Wait for the key (ms)",
    "description": "默认使用流程设置。Default: the flow's setting.",
    "minimum": 1000,
    "maximum": 60000,
}
RETRY_PROMPTS = {
    "no_input": ("未按键 / Nothing pressed", "fund_appt_no_input"),
    "invalid": ("按键无效 / Not an option", "fund_appt_invalid"),
}

# -- helpers -----------------------------------------------------------------------------------


def _text(value: Any) -> str:
    """A variable's value as stripped text ('' for nothing usable)."""
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, int | str):
        return str(value).strip()
    return ""


def _phone(call: Call, config: dict[str, Any]) -> str:
    """The phone from the ``phone`` template, without spaces and dashes; '' if not a number."""
    phone = re.sub(r"[\s-]", "", render(config["phone"], call.vars))
    return phone if PHONE_RE.match(phone) else ""


def _day(value: Any) -> date | None:
    text = _text(value)
    if not DATE_RE.match(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _hhmm(value: Any) -> str:
    return value.strftime("%H:%M")


@contextlib.contextmanager
def _call_time(call: Call) -> Iterator[None]:
    """The fund system's requests made in this block are at the call's time (the demo system
    follows a simulation's frozen clock)."""
    token = REQUEST_TIME.set(call.now())
    try:
        yield
    finally:
        REQUEST_TIME.reset(token)


def _backend(call: Call, event: str) -> FundBackend | None:
    backend: FundBackend | None = call.resources.get(RESOURCE)
    if backend is None:
        call.note(event, result="unavailable", detail="no fund system configured")
    return backend


def _branch_and_service(call: Call, config: dict[str, Any]) -> tuple[str, str, str | None]:
    """(branch, service, problem): problem names the missing or malformed variable."""
    branch = _text(call.vars.get(config["branch_variable"]))
    service = _text(call.vars.get(config["service_variable"]))
    if service not in SERVICES:
        return branch, service, config["service_variable"]
    if not branch:
        return branch, service, config["branch_variable"]
    return branch, service, None


def _set_booking(
    call: Call, config: dict[str, Any], booking: Booking, only: Sequence[str] | None = None
) -> None:
    """The booking's details into the variables this node's config names (``only`` those
    config keys, if given)."""
    values = {
        "service_variable": booking.service,
        "branch_variable": booking.branch_id,
        "branch_name_variable": booking.branch_name,
        "date_variable": booking.day.isoformat(),
        "slot_variable": booking.period,
        "slot_start_variable": _hhmm(booking.start),
        "slot_end_variable": _hhmm(booking.end),
        "booking_variable": booking.booking_id,
        "code_variable": booking.code,
    }
    for key, value in values.items():
        if key in config and (only is None or key in only):
            call.vars[config[key]] = value


# -- choosing from a spoken list ---------------------------------------------------------------


class _Choose(Node):
    """Offer up to 9 options (``…，请按 n``), collect one key, ask again on silence or a wrong
    key up to ``max_attempts`` times."""

    abstract = True
    category = "integration"
    waits_for_input = True
    event: ClassVar[str] = ""

    async def choose(
        self,
        call: Call,
        config: dict[str, Any],
        options: Sequence[Any],
        read_out: Callable[[Any], Sequence[tuple[str, Any]]],
    ) -> tuple[str, Any]:
        """("ok", the chosen option) or ("timeout" | "invalid", None) — the last attempt's."""
        prompts = config["prompts"]
        timeout = config.get("input_timeout_ms")
        spec = CollectSpec(
            min_digits=1,
            max_digits=1,
            terminator=None,
            first_timeout_ms=call.settings.input_timeout_ms if timeout is None else timeout,
            inter_digit_timeout_ms=call.settings.inter_digit_timeout_ms,
            barge_in=True,
        )
        steps: list[tuple[str, Any]] = [("play", prompts["intro"])]
        for n, option in enumerate(options, 1):
            steps += [*read_out(option), ("play", prompts["press"]), ("number", n)]
        outcome = "timeout"
        for attempt in range(1, config["max_attempts"] + 1):
            await self._announce(call, steps)
            got = await call.collect([], spec)
            key = got.digits
            if not key:
                outcome = "timeout"
            elif key.isdigit() and 1 <= int(key) <= len(options):
                call.note(self.event, attempt=attempt, key=key, result="ok")
                return "ok", options[int(key) - 1]
            else:
                outcome = "invalid"
            call.note(self.event, attempt=attempt, key=key or None, result=outcome)
            if attempt < config["max_attempts"]:
                retry = prompts["no_input"] if outcome == "timeout" else prompts["invalid"]
                await call.play([retry], barge_in=False)
        return outcome, None

    @staticmethod
    async def _announce(call: Call, steps: Sequence[tuple[str, Any]]) -> None:
        """Play the list; a key pressed during it stops it (and is the caller's answer)."""
        for kind, value in steps:
            if kind == "play":
                key = await call.play([value], barge_in=True)
            else:
                key = await call.say(kind, value, barge_in=True)
            if key:
                return


# -- 1. the day --------------------------------------------------------------------------------


class FundAppointmentDates(_Choose):
    type = "fund.appointment_dates"
    version = 1
    event = "fund_appt_dates"
    title: ClassVar[dict[str, str]] = {"zh": "选择预约日期", "en": "Appointment: choose a day"}
    description: ClassVar[dict[str, str]] = {
        "zh": "按所选业务和网点，播报接下来有空位的工作日（法定节假日不办公，调休上班日办公；"
        "日历无数据的日子跳过并记入轨迹），来电者按键选择，日期（YYYY-MM-DD）存入变量。",
        "en": "Offers the next working days with places left at the chosen branch for the "
        "chosen service (statutory holidays closed, 调休 make-up days open; days without "
        "calendar data are skipped and noted in the trace); the caller picks one by key and "
        "the date (YYYY-MM-DD) goes into a variable.",
    }
    exits = ("ok", "none", "timeout", "invalid", "unavailable")
    exit_titles: ClassVar[dict[str, dict[str, str]]] = {
        "ok": {"zh": "已选日期", "en": "Day chosen"},
        "none": {"zh": "近期无可预约日期", "en": "No day available"},
        "unavailable": {"zh": "系统不可用", "en": "System unavailable"},
    }
    config_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "first_day_offset": {
                "type": "integer",
                "title": "最早可约（距今天数）/ First day (days from today)",
                "description": "1 = 明天。1 = tomorrow.",
                "minimum": 0,
                "maximum": 30,
                "default": 1,
            },
            "horizon_days": {
                "type": "integer",
                "title": "最远可约（距今天数）/ Last day (days from today)",
                "description": "只提供今天之后这么多天以内的日期。Days up to this many days "
                "from today are offered.",
                "minimum": 1,
                "maximum": 60,
                "default": 14,
            },
            "max_options": {
                "type": "integer",
                "title": "最多播报几个日期 / Days offered",
                "minimum": 1,
                "maximum": MAX_OPTIONS,
                "default": 5,
            },
            "max_attempts": MAX_ATTEMPTS,
            "input_timeout_ms": INPUT_TIMEOUT,
            "prompts": _prompts(
                intro=("请选择预约日期 / Choose a day", "fund_appt_dates_intro"),
                press=("请按 / Press", "fund_appt_press"),
                **RETRY_PROMPTS,
            ),
            "service_variable": SERVICE_IN,
            "branch_variable": BRANCH_IN,
            "date_variable": _var("日期存入 / Date into", "appt_date", "variable-out"),
        },
    }

    @classmethod
    def check_config(cls, config: dict[str, Any]) -> list[ConfigIssue]:
        if config["first_day_offset"] > config["horizon_days"]:
            return [
                ConfigIssue(
                    "/first_day_offset",
                    "fund.appointment_dates.range",
                    "最早可约日期晚于最远可约日期。",
                    "The first day is after the last day.",
                )
            ]
        return []

    async def run(self, call: Call, config: dict[str, Any]) -> str:
        backend = _backend(call, self.event)
        if backend is None:
            return "unavailable"
        branch, service, problem = _branch_and_service(call, config)
        if problem:
            call.note(self.event, result="invalid", reason="missing or malformed", variable=problem)
            return "invalid"
        try:
            with _call_time(call):
                days = await self._open_days(call, config, backend, branch, service)
        except FundUnavailable as exc:
            call.note(self.event, result="unavailable", why=exc.reason)
            return "unavailable"
        except FundNotFound:
            call.note(self.event, result="invalid", reason="unknown branch", branch=branch)
            return "invalid"
        if not days:
            call.note(self.event, result="none", branch=branch, service=service)
            return "none"
        call.note(self.event, offered=[d.isoformat() for d in days])
        outcome, day = await self.choose(
            call,
            config,
            days,
            lambda d: [("date", d.isoformat()), ("weekday", d.isoformat())],
        )
        if outcome == "ok":
            call.vars[config["date_variable"]] = day.isoformat()
        return outcome

    @staticmethod
    async def _open_days(
        call: Call, config: dict[str, Any], backend: FundBackend, branch: str, service: str
    ) -> list[date]:
        calendar = default_calendar()
        today = call.now().date()
        day = today + timedelta(days=config["first_day_offset"])
        last = today + timedelta(days=config["horizon_days"])
        working: list[date] = []
        unknown: list[str] = []
        while day <= last:
            info = calendar.day(day)
            if not info.known:
                unknown.append(day.isoformat())
            elif info.kind in WORKING_KINDS:
                working.append(day)
            day += timedelta(days=1)
        # The days are asked for a batch at a time, concurrently (a remote fund system answers
        # ten days in about the time of one: less silence before the caller hears the dates).
        wanted = config["max_options"]
        found: list[date] = []
        for start in range(0, len(working), wanted):
            batch = working[start : start + wanted]
            open_ = await _days_with_places(backend, branch, service, batch)
            found += [d for d, has_places in zip(batch, open_, strict=True) if has_places]
            if len(found) >= wanted:
                break
        found = found[:wanted]
        if unknown:
            call.note(
                "fund_appt_no_calendar",
                days=unknown,
                detail=f"no calendar data ({calendar.source}): skipped",
            )
        return found


async def _days_with_places(
    backend: FundBackend, branch: str, service: str, days: Sequence[date]
) -> list[bool]:
    """Whether each day has a place left, asked concurrently; the first failure (e.g.
    :class:`FundUnavailable`) is raised and the other requests are cancelled."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [
                group.create_task(backend.appointment_slots(branch, day, service)) for day in days
            ]
    except ExceptionGroup as failed:
        first = failed.exceptions[0]
        while isinstance(first, ExceptionGroup):
            first = first.exceptions[0]
        raise first from None
    return [any(s.remaining > 0 for s in task.result()) for task in tasks]


# -- 2. the time -------------------------------------------------------------------------------


class FundAppointmentSlots(_Choose):
    type = "fund.appointment_slots"
    version = 1
    event = "fund_appt_slots"
    title: ClassVar[dict[str, str]] = {"zh": "选择预约时段", "en": "Appointment: choose a time"}
    description: ClassVar[dict[str, str]] = {
        "zh": "播报所选日期还有空位的时段（几点至几点），来电者按键选择；时段编号和起止时间"
        "（HH:MM）存入变量。",
        "en": "Offers the times with places left on the chosen day (from … to …); the caller "
        "picks one by key; the slot id and its start and end (HH:MM) go into variables.",
    }
    exits = ("ok", "full", "timeout", "invalid", "unavailable")
    exit_titles: ClassVar[dict[str, dict[str, str]]] = {
        "ok": {"zh": "已选时段", "en": "Time chosen"},
        "full": {"zh": "当天已约满", "en": "Fully booked"},
        "unavailable": {"zh": "系统不可用", "en": "System unavailable"},
    }
    config_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "max_attempts": MAX_ATTEMPTS,
            "input_timeout_ms": INPUT_TIMEOUT,
            "prompts": _prompts(
                intro=("请选择预约时段 / Choose a time", "fund_appt_slots_intro"),
                to=("至 / To", "fund_appt_to"),
                press=("请按 / Press", "fund_appt_press"),
                **RETRY_PROMPTS,
            ),
            "service_variable": SERVICE_IN,
            "branch_variable": BRANCH_IN,
            "date_variable": DATE_IN,
            "slot_variable": _var("时段编号存入 / Slot id into", "appt_slot", "variable-out"),
            "slot_start_variable": _var(
                "开始时间存入 / Start time into", "appt_slot_start", "variable-out"
            ),
            "slot_end_variable": _var(
                "结束时间存入 / End time into", "appt_slot_end", "variable-out"
            ),
        },
    }

    async def run(self, call: Call, config: dict[str, Any]) -> str:
        backend = _backend(call, self.event)
        if backend is None:
            return "unavailable"
        branch, service, problem = _branch_and_service(call, config)
        day = _day(call.vars.get(config["date_variable"]))
        if problem is None and day is None:
            problem = config["date_variable"]
        if problem:
            call.note(self.event, result="invalid", reason="missing or malformed", variable=problem)
            return "invalid"
        assert day is not None
        try:
            with _call_time(call):
                slots = await backend.appointment_slots(branch, day, service)
        except FundUnavailable as exc:
            call.note(self.event, result="unavailable", why=exc.reason)
            return "unavailable"
        except FundNotFound:
            call.note(self.event, result="invalid", reason="unknown branch", branch=branch)
            return "invalid"
        free = [s for s in slots if s.remaining > 0][:MAX_OPTIONS]
        if not free:
            call.note(self.event, result="full", branch=branch, date=day.isoformat())
            return "full"
        call.note(self.event, offered=[s.period for s in free])
        to = config["prompts"]["to"]

        def read_out(slot: Slot) -> list[tuple[str, Any]]:
            return [("time", _hhmm(slot.start)), ("play", to), ("time", _hhmm(slot.end))]

        outcome, slot = await self.choose(call, config, free, read_out)
        if outcome == "ok":
            call.vars[config["slot_variable"]] = slot.period
            call.vars[config["slot_start_variable"]] = _hhmm(slot.start)
            call.vars[config["slot_end_variable"]] = _hhmm(slot.end)
        return outcome


# -- 3. booking --------------------------------------------------------------------------------

BOOKING_OUT: dict[str, dict[str, Any]] = {
    "booking_variable": _var("预约编号存入 / Booking id into", "appt_booking", "variable-out"),
    "code_variable": _var("预约码存入 / Confirmation code into", "appt_code", "variable-out"),
    "branch_name_variable": _var(
        "网点名称存入 / Branch name into", "appt_branch_name", "variable-out"
    ),
    "slot_start_variable": _var(
        "开始时间存入 / Start time into", "appt_slot_start", "variable-out"
    ),
    "slot_end_variable": _var("结束时间存入 / End time into", "appt_slot_end", "variable-out"),
}
"""The variables a booking is described in (booked, a duplicate's existing booking, a
look-up's find)."""


class FundAppointmentBook(Node):
    type = "fund.appointment_book"
    version = 1
    title: ClassVar[dict[str, str]] = {"zh": "提交预约", "en": "Appointment: book"}
    description: ClassVar[dict[str, str]] = {
        "zh": "按所选业务、网点、日期和时段，以手机号码登记预约；预约编号、六位预约码和网点名称"
        "存入变量（供播报和短信）。名额刚被约满走“时段已满”；该号码已有同项业务的预约走"
        "“已有预约”（变量为已有预约的信息）。",
        "en": "Books the chosen service, branch, day and time under the phone number; the "
        "booking id, the 6-digit confirmation code and the branch name go into variables (to "
        "read out and for the SMS). 'taken' when the last place just went; 'duplicate' when "
        "the phone already holds an upcoming booking for the service (the variables then "
        "describe that booking).",
    }
    category = "integration"
    timeout_s = BACKEND_TIMEOUT_S
    exits = ("booked", "taken", "duplicate", "invalid", "unavailable")
    exit_titles: ClassVar[dict[str, dict[str, str]]] = {
        "booked": {"zh": "预约成功", "en": "Booked"},
        "taken": {"zh": "时段已满", "en": "Slot just taken"},
        "duplicate": {"zh": "已有预约", "en": "Already booked"},
        "invalid": {"zh": "预约信息不全", "en": "Details missing"},
        "unavailable": {"zh": "系统不可用", "en": "System unavailable"},
    }
    config_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "phone": PHONE,
            "person_variable": {
                "type": "string",
                "title": "个人编号变量（可选）/ Person id variable (optional)",
                "description": "已验证身份时（如 fund.auth 的 fund_id）随预约登记。"
                " When the caller is authenticated (e.g. fund.auth's fund_id), recorded with "
                "the booking.",
                "pattern": VAR,
                "x-ivrflow": "variable-in",
            },
            "service_variable": SERVICE_IN,
            "branch_variable": BRANCH_IN,
            "date_variable": DATE_IN,
            "slot_variable": SLOT_IN,
            **BOOKING_OUT,
        },
    }

    async def run(self, call: Call, config: dict[str, Any]) -> str:
        event = "fund_appt_book"
        backend = _backend(call, event)
        if backend is None:
            return "unavailable"
        branch, service, problem = _branch_and_service(call, config)
        day = _day(call.vars.get(config["date_variable"]))
        period = _text(call.vars.get(config["slot_variable"]))
        phone = _phone(call, config)
        if problem is None and day is None:
            problem = config["date_variable"]
        if problem is None and not SLOT_RE.match(period):
            problem = config["slot_variable"]
        if problem is None and not phone:
            problem = "phone"
        if problem:
            call.note(event, result="invalid", reason="missing or malformed", variable=problem)
            return "invalid"
        assert day is not None
        person = config.get("person_variable")
        person_id = _text(call.vars.get(person)) if person else ""
        where = {
            "phone": mask_id(phone),
            "service": service,
            "branch": branch,
            "date": day.isoformat(),
            "slot": period,
        }
        request_id = uuid.uuid4().hex
        try:
            with _call_time(call):
                booking = await backend.book(
                    phone,
                    service,
                    branch,
                    day,
                    period,
                    call_id=call.call_id,
                    person_id=person_id,
                    request_id=request_id,
                )
        except FundUnavailable as exc:
            # A timeout or a 5xx may come after the fund system booked: look before telling
            # the caller it failed (a booking they were not told of would hold a place and
            # block their next try as a duplicate).
            landed = None
            if exc.reason in AMBIGUOUS:
                with _call_time(call):
                    landed = await _booked_meanwhile(backend, phone, (service, branch, day, period))
            if landed is None:
                call.note(event, result="unavailable", why=exc.reason, **where)
                return "unavailable"
            booking = landed
            call.note(event, confirmed_after=exc.reason, booking=booking.booking_id)
        except SlotFull:
            call.note(event, result="taken", **where)
            return "taken"
        except AlreadyBooked as exc:
            _set_booking(call, config, exc.booking)
            call.note(event, result="duplicate", existing=exc.booking.booking_id, **where)
            return "duplicate"
        except FundNotFound:
            call.note(event, result="invalid", reason="unknown branch", **where)
            return "invalid"
        _set_booking(call, config, booking, BOOKED_OUT)
        call.note(event, result="booked", booking=booking.booking_id, **where)
        return "booked"


AMBIGUOUS = frozenset({"timeout", "http_5xx", "invalid_response"})
"""Failures after which a booking may exist all the same (the request reached the system)."""


async def _booked_meanwhile(
    backend: FundBackend, phone: str, wanted: tuple[str, str, date, str]
) -> Booking | None:
    """The booking (``wanted``: service, branch, day, slot) a failed request made after all,
    if the fund system can say (one look-up; its own failure means "don't know": None)."""
    try:
        held = await backend.bookings(phone, from_day=wanted[2])
    except FundError:
        return None
    for booking in held:
        if (booking.service, booking.branch_id, booking.day, booking.period) == wanted:
            return booking
    return None


# -- 4. look-up and 5. cancel ------------------------------------------------------------------


class FundAppointmentLookup(Node):
    type = "fund.appointment_lookup"
    version = 1
    title: ClassVar[dict[str, str]] = {"zh": "查询预约", "en": "Appointment: look up"}
    description: ClassVar[dict[str, str]] = {
        "zh": "按手机号码查询今天及以后的预约：最早一个预约的信息和预约个数存入变量。",
        "en": "Finds the phone's appointments from today on: the earliest one's details and "
        "how many there are go into variables.",
    }
    category = "integration"
    timeout_s = BACKEND_TIMEOUT_S
    exits = ("found", "none", "unavailable")
    exit_titles: ClassVar[dict[str, dict[str, str]]] = {
        "found": {"zh": "有预约", "en": "Found"},
        "none": {"zh": "无预约", "en": "None"},
        "unavailable": {"zh": "系统不可用", "en": "System unavailable"},
    }
    config_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "phone": PHONE,
            **BOOKING_OUT,
            "service_variable": _var("业务存入 / Service into", "appt_service", "variable-out"),
            "branch_variable": _var("网点存入 / Branch into", "appt_branch", "variable-out"),
            "date_variable": _var("日期存入 / Date into", "appt_date", "variable-out"),
            "slot_variable": _var("时段编号存入 / Slot id into", "appt_slot", "variable-out"),
            "count_variable": _var("预约个数存入 / Count into", "appt_count", "variable-out"),
        },
    }

    async def run(self, call: Call, config: dict[str, Any]) -> str:
        event = "fund_appt_lookup"
        backend = _backend(call, event)
        if backend is None:
            return "unavailable"
        phone = _phone(call, config)
        if not phone:
            call.vars[config["count_variable"]] = 0
            call.note(event, result="none", reason="no phone number")
            return "none"
        try:
            with _call_time(call):
                found = await backend.bookings(phone, from_day=call.now().date())
        except FundUnavailable as exc:
            call.note(event, result="unavailable", why=exc.reason, phone=mask_id(phone))
            return "unavailable"
        call.vars[config["count_variable"]] = len(found)
        if not found:
            call.note(event, result="none", phone=mask_id(phone))
            return "none"
        _set_booking(call, config, found[0])
        call.note(
            event,
            result="found",
            phone=mask_id(phone),
            count=len(found),
            booking=found[0].booking_id,
        )
        return "found"


class FundAppointmentCancel(Node):
    type = "fund.appointment_cancel"
    version = 1
    title: ClassVar[dict[str, str]] = {"zh": "取消预约", "en": "Appointment: cancel"}
    description: ClassVar[dict[str, str]] = {
        "zh": "取消变量中的预约（须为该手机号码的预约），名额释放。",
        "en": "Cancels the booking in the variable (it must be held under the phone number); "
        "the place is freed.",
    }
    category = "integration"
    timeout_s = BACKEND_TIMEOUT_S
    exits = ("cancelled", "not_found", "unavailable")
    exit_titles: ClassVar[dict[str, dict[str, str]]] = {
        "cancelled": {"zh": "已取消", "en": "Cancelled"},
        "not_found": {"zh": "未找到预约", "en": "Not found"},
        "unavailable": {"zh": "系统不可用", "en": "System unavailable"},
    }
    config_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {"phone": PHONE, "booking_variable": BOOKING_IN},
    }

    async def run(self, call: Call, config: dict[str, Any]) -> str:
        event = "fund_appt_cancel"
        backend = _backend(call, event)
        if backend is None:
            return "unavailable"
        booking_id = _text(call.vars.get(config["booking_variable"]))
        phone = _phone(call, config)
        if not booking_id or not phone:
            reason = "no booking id" if not booking_id else "no phone number"
            call.note(event, result="not_found", reason=reason)
            return "not_found"
        try:
            with _call_time(call):
                done = await backend.cancel(booking_id, phone)
        except FundUnavailable as exc:
            call.note(event, result="unavailable", why=exc.reason, booking=booking_id)
            return "unavailable"
        result = "cancelled" if done else "not_found"
        call.note(event, result=result, booking=booking_id, phone=mask_id(phone))
        return result
