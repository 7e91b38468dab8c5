"""The fund system's interface: what the fund nodes ask of a housing provident fund system.

:class:`FundBackend` is a :class:`typing.Protocol`; two implementations ship with the plugin,
:class:`~ivrflow_fund.http.HttpFundBackend` (the centre's HTTP/JSON API, with timeouts and a
circuit breaker) and :class:`~ivrflow_fund.demo.DemoFundBackend` (seeded demo data in the
embedded database). Nodes find the configured one as ``call.resources["fund"]``.

Amounts are :class:`~decimal.Decimal` yuan (exact to the fen), dates :class:`datetime.date`.

Failures are exceptions with a defined meaning: :class:`FundUnavailable` (the system cannot
answer now: timeout, 5xx, invalid response, breaker open — nodes take ``unavailable``),
:class:`FundNotFound` (no such account, branch…) and, for appointments, :class:`SlotFull` (no
place left, or the day or slot cannot be booked) and :class:`AlreadyBooked` (the phone already
holds an upcoming booking for that service). A PIN is an argument of :meth:`authenticate` only:
no implementation logs, stores or returns it.
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Literal, Protocol, runtime_checkable

__all__ = [
    "ID_TYPES",
    "REQUEST_TIME",
    "SERVICES",
    "AlreadyBooked",
    "AuthResult",
    "Booking",
    "Branch",
    "EmployerAccount",
    "FundBackend",
    "FundError",
    "FundNotFound",
    "FundUnavailable",
    "Loan",
    "PersonalAccount",
    "Policy",
    "Slot",
    "SlotFull",
    "id_card_valid",
    "mask_id",
]

Scope = Literal["personal", "employer"]
IdType = Literal["account", "id_card", "card", "unit"]
ID_TYPES: tuple[str, ...] = ("account", "id_card", "card", "unit")
"""``account`` fund account number, ``id_card`` 18-digit resident ID (final X), ``card``
co-branded bank card number (personal); ``unit`` employer (unit) account number."""


class FundError(Exception):
    """Base of the fund system's errors."""


class FundUnavailable(FundError):
    """The fund system cannot answer now. ``reason``: ``timeout``, ``connect``, ``http_5xx``,
    ``invalid_response``, ``rejected`` (a 4xx we did not expect), ``breaker_open``."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"fund system unavailable: {reason}" + (f" ({detail})" if detail else ""))
        self.reason = reason
        self.detail = detail


class FundNotFound(FundError):
    """No such account / loan / unit / branch."""


class SlotFull(FundError):
    """No place left in the appointment slot — or the day or slot cannot be booked (closed,
    past, no such slot)."""


class AlreadyBooked(FundError):
    """The phone already holds an active, upcoming booking for this service: ``booking``."""

    def __init__(self, booking: Booking) -> None:
        super().__init__(f"already booked: {booking.booking_id}")
        self.booking = booking


SERVICES: dict[str, dict[str, str]] = {
    "loan_application": {"zh": "贷款申请", "en": "loan application"},
    "loan_repayment": {"zh": "贷款还款", "en": "loan repayment"},
    "withdrawal": {"zh": "提取", "en": "withdrawal"},
}
"""The services a caller can book an appointment for: code → zh/en title."""

REQUEST_TIME: ContextVar[datetime | None] = ContextVar("ivrflow_fund_request_time", default=None)
"""The time of the call a node asks for (``call.now()``, set by the appointment nodes around
their requests). The demo system takes it as "now" — which days and slots have passed, which
bookings are upcoming — so a simulated call at a frozen time sees the demo at that time; a
real fund system keeps its own clock."""


@dataclass(frozen=True, slots=True)
class AuthResult:
    """How an authentication ended: ``ok`` (``subject_id`` is the person or unit id),
    ``failed`` (wrong PIN or unknown account; ``remaining`` failures before the lock, when
    known) or ``locked`` (``locked_until`` when known)."""

    status: Literal["ok", "failed", "locked"]
    subject_id: str = ""
    remaining: int | None = None
    locked_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class PersonalAccount:
    person_id: str
    account_no: str
    name: str
    balance: Decimal
    monthly_deposit: Decimal
    last_deposit_date: date | None
    status: str  # normal 正常 / sealed 封存 / closed 销户 / frozen 冻结


@dataclass(frozen=True, slots=True)
class Loan:
    person_id: str
    balance: Decimal
    remaining_months: int
    monthly_repayment: Decimal
    next_due_date: date | None
    progress: str  # application progress: reviewing / approved / disbursed / repaying / settled


@dataclass(frozen=True, slots=True)
class EmployerAccount:
    unit_id: str
    account_no: str
    name: str
    deposit_status: str  # normal 正常缴存 / arrears 欠缴 / suspended 缓缴
    headcount: int
    paid_until: date | None


@dataclass(frozen=True, slots=True)
class Branch:
    branch_id: str
    name: str
    address: str
    phone: str


@dataclass(frozen=True, slots=True)
class Policy:
    topic: str
    title: str
    text: str


@dataclass(frozen=True, slots=True)
class Slot:
    """An appointment slot of a branch on a day; ``period`` is its id (``"0900"``)."""

    branch_id: str
    day: date
    period: str
    start: time
    end: time
    capacity: int
    remaining: int  # capacity − active bookings


@dataclass(frozen=True, slots=True)
class Booking:
    """An appointment. ``code`` is the 6-digit confirmation code the caller is told (unique
    among active bookings); ``status`` ``booked`` or ``cancelled``."""

    booking_id: str
    code: str
    phone: str
    service: str
    branch_id: str
    branch_name: str
    day: date
    period: str
    start: time
    end: time
    status: str
    created_at: datetime | None


@runtime_checkable
class FundBackend(Protocol):
    """A housing provident fund system, as the fund nodes see it."""

    name: str
    """``http`` or ``demo``."""
    demo: bool
    """True for demo data: never a real caller's account."""

    async def authenticate(
        self, scope: Scope, id_type: IdType, login_id: str, pin: str
    ) -> AuthResult:
        """Check a caller's PIN. A locked account answers ``locked`` without checking it."""

    async def personal_account(self, person_id: str) -> PersonalAccount: ...

    async def loan(self, person_id: str) -> Loan:
        """The person's current loan; :class:`FundNotFound` when there is none."""

    async def employer_account(self, unit_id: str) -> EmployerAccount: ...

    async def branches(self) -> list[Branch]: ...

    async def policy(self, topic: str) -> Policy: ...

    async def appointment_slots(self, branch_id: str, day: date, service: str) -> list[Slot]:
        """The branch's slots on ``day`` for ``service`` (empty when it is closed);
        :class:`FundNotFound` for an unknown branch."""

    async def book(
        self,
        phone: str,
        service: str,
        branch_id: str,
        day: date,
        period: str,
        *,
        call_id: str = "",
        person_id: str = "",
        request_id: str = "",
    ) -> Booking:
        """Take a place: :class:`SlotFull` when none is left (or the slot cannot be booked),
        :class:`AlreadyBooked` when the phone holds an upcoming booking for the service,
        :class:`FundNotFound` for an unknown branch. Never more bookings than places, however
        many callers book at once. ``request_id`` names this attempt (unique per booking
        attempt): a system that sees it twice may answer with the first booking."""

    async def bookings(self, phone: str, *, from_day: date) -> list[Booking]:
        """The phone's active bookings on ``from_day`` or later, earliest first."""

    async def cancel(self, booking_id: str, phone: str) -> bool:
        """Cancel and free the place; False if there is no such active booking for ``phone``."""


# -- identifiers -----------------------------------------------------------------------------

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_RE = re.compile(r"^[1-9]\d{16}[\dX]$")


def id_card_valid(number: str) -> bool:
    """An 18-digit PRC resident ID number (GB 11643): form, birth date and check digit. The
    final ``X`` may be given as ``X`` or as ``*`` (how a phone keypad types it)."""
    number = number.upper().replace("*", "X") if number.endswith("*") else number.upper()
    if not _ID_RE.match(number):
        return False
    try:
        date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    total = sum(int(d) * w for d, w in zip(number[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == number[17]


def normalise_id_card(number: str) -> str:
    """``…*`` → ``…X`` (the form fund systems store)."""
    return number[:-1] + "X" if number.endswith("*") else number.upper()


def mask_id(value: str) -> str:
    """For the trace and logs: only the last 4 characters of an account or ID number."""
    return "*" * max(len(value) - 4, 0) + value[-4:]
