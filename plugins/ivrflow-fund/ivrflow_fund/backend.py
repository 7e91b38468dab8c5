"""The fund system's interface: what the fund nodes ask of a housing provident fund system.

:class:`FundBackend` is a :class:`typing.Protocol`; two implementations ship with the plugin,
:class:`~ivrflow_fund.http.HttpFundBackend` (the centre's HTTP/JSON API, with timeouts and a
circuit breaker) and :class:`~ivrflow_fund.demo.DemoFundBackend` (seeded demo data in the
embedded database). Nodes find the configured one as ``call.resources["fund"]``.

Amounts are :class:`~decimal.Decimal` yuan (exact to the fen), dates :class:`datetime.date`.

Failures are exceptions with a defined meaning: :class:`FundUnavailable` (the system cannot
answer now: timeout, 5xx, invalid response, breaker open — nodes take ``unavailable``) and
:class:`FundNotFound` (no such account). A PIN is an argument of :meth:`authenticate` only:
no implementation logs, stores or returns it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Literal, Protocol, runtime_checkable

__all__ = [
    "ID_TYPES",
    "AuthResult",
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
    """No such account / loan / unit."""


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
    branch_id: str
    day: date
    period: str  # morning / afternoon
    capacity: int
    remaining: int


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

    async def appointment_slots(self, branch_id: str, day: date) -> list[Slot]: ...


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
