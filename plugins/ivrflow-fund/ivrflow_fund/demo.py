"""The **demo** fund system: seeded, made-up accounts in the embedded database.

Used when no ``IVRFLOW_FUND_URL`` is configured (or with ``IVRFLOW_FUND_DEMO=1``): the example
flows, the designer's test calls and the tests run against it. Every record is fictitious
(names 演示…, the ID numbers are well-formed but invented) and the backend says so
(``demo = True``, ``name = "demo"``, a warning at start-up).

Tables (the plugin's own, ``fund_*``, migrated by its alembic revisions): persons, loans,
units, the login ids that lead to them, credentials (PIN hash, failures, lock), branches (with
a capacity per appointment slot), policy texts, appointment bookings and slot usage. PINs are
stored only as salted PBKDF2 hashes. The lock-out is the fund system's rule, kept here across
calls and processes: ``max_failures`` (10) wrong PINs in a row lock the account for
``lock_minutes`` (30); a correct PIN resets the count.

Demo logins (PIN ``123456`` unless noted):

==============  ===================================  =============================
person / unit   logins                               notes
==============  ===================================  =============================
P-0001 张演示    account 20261234, ID 110101199001011237, card 6217000010001234567   loan
P-0002 李演示    account 20265678, ID 32010219780315456X, card 6227000020005678901   no loan, sealed
P-0003 王演示    account 20269999                                                     locked
U-880012        unit 880012 (演示科技有限公司)                                          PIN 654321
==============  ===================================  =============================

Appointments: branches B01 (10 places per slot) and B02 (3 per slot) open on the PRC working
days (:mod:`ivrflow_schedule.calendar`: statutory holidays closed, 调休 make-up Saturdays
open; a day the calendar has no data for is closed, and logged), four slots a day
(:data:`SLOTS`), every service at both. Taking a place is one conditional update of the
slot's usage row (``booked = booked + 1 … WHERE booked < capacity``), so concurrent callers
never overbook it, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import logging
import os
import secrets
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from ivrflow_schedule.calendar import Calendar, default_calendar
from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    exists,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError

from ivrflow_fund.backend import (
    REQUEST_TIME,
    SERVICES,
    AlreadyBooked,
    AuthResult,
    Booking,
    Branch,
    EmployerAccount,
    FundNotFound,
    IdType,
    Loan,
    PersonalAccount,
    Policy,
    Scope,
    Slot,
    SlotFull,
    normalise_id_card,
)

__all__ = ["DEMO_PIN", "DEMO_UNIT_PIN", "SLOTS", "DemoFundBackend", "metadata", "seed_demo"]

log = logging.getLogger("ivrflow.fund")

DEMO_PIN = "123456"
DEMO_UNIT_PIN = "654321"
PBKDF2_ROUNDS = 50_000

metadata = MetaData()
TS = DateTime(timezone=True)

persons = Table(
    "fund_person",
    metadata,
    Column("person_id", String(32), primary_key=True),
    Column("name", String(64), nullable=False),
    Column("account_no", String(32), nullable=False),
    Column("balance_fen", BigInteger, nullable=False),
    Column("monthly_deposit_fen", BigInteger, nullable=False),
    Column("last_deposit_date", Date, nullable=True),
    Column("status", String(16), nullable=False),
    Column("unit_id", String(32), nullable=True),
)
loans = Table(
    "fund_loan",
    metadata,
    Column("person_id", String(32), primary_key=True),
    Column("balance_fen", BigInteger, nullable=False),
    Column("remaining_months", Integer, nullable=False),
    Column("monthly_repayment_fen", BigInteger, nullable=False),
    Column("next_due_date", Date, nullable=True),
    Column("progress", String(16), nullable=False),
)
units = Table(
    "fund_unit",
    metadata,
    Column("unit_id", String(32), primary_key=True),
    Column("account_no", String(32), nullable=False),
    Column("name", String(128), nullable=False),
    Column("deposit_status", String(16), nullable=False),
    Column("headcount", Integer, nullable=False),
    Column("paid_until", Date, nullable=True),
)
logins = Table(
    "fund_login",
    metadata,
    Column("id_type", String(16), primary_key=True),
    Column("login_id", String(32), primary_key=True),
    Column("subject_id", String(32), nullable=False),
)
credentials = Table(
    "fund_credential",
    metadata,
    Column("subject_id", String(32), primary_key=True),
    Column("scope", String(16), nullable=False),
    Column("pin_hash", String(200), nullable=False),
    Column("failures", Integer, nullable=False),
    Column("locked_until", TS, nullable=True),
)
branches_table = Table(
    "fund_branch",
    metadata,
    Column("branch_id", String(32), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("address", String(256), nullable=False),
    Column("phone", String(32), nullable=False),
    Column("slot_capacity", Integer, nullable=False, server_default="10"),
)
policies = Table(
    "fund_policy",
    metadata,
    Column("topic", String(64), primary_key=True),
    Column("title", String(200), nullable=False),
    Column("text", Text, nullable=False),
)
appt_usage = Table(
    "fund_appt_usage",
    metadata,
    Column("branch_id", String(32), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("period", String(16), primary_key=True),
    Column("booked", Integer, nullable=False),
)
appt_bookings = Table(
    "fund_appt_booking",
    metadata,
    Column("booking_id", String(32), primary_key=True),
    Column("code", String(6), nullable=False),
    Column("phone", String(32), nullable=False),
    Column("service", String(32), nullable=False),
    Column("branch_id", String(32), nullable=False),
    Column("day", Date, nullable=False),
    Column("period", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("call_id", String(64), nullable=False),
    Column("person_id", String(32), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("cancelled_at", TS, nullable=True),
)
_ACTIVE = text("status = 'booked'")
Index(
    "ix_fund_appt_booking_phone", appt_bookings.c.phone, appt_bookings.c.status, appt_bookings.c.day
)
Index(
    "ux_fund_appt_booking_active_code",
    appt_bookings.c.code,
    unique=True,
    sqlite_where=_ACTIVE,
    postgresql_where=_ACTIVE,
)

SLOTS: tuple[tuple[str, time, time], ...] = (
    ("0900", time(9, 0), time(10, 30)),
    ("1030", time(10, 30), time(12, 0)),
    ("1330", time(13, 30), time(15, 0)),
    ("1500", time(15, 0), time(17, 0)),
)
"""The demo branches' slots: (id, start, end)."""
_SLOT = {period: (start, end) for period, start, end in SLOTS}
WORKING_KINDS = frozenset({"workday", "makeup_workday"})


def hash_pin(pin: str, salt: bytes | None = None) -> str:
    salt = salt or os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), salt, PBKDF2_ROUNDS)
    return f"pbkdf2_sha256${PBKDF2_ROUNDS}${salt.hex()}${digest.hex()}"


def check_pin(pin: str, stored: str) -> bool:
    try:
        _, rounds, salt, digest = stored.split("$")
        got = hashlib.pbkdf2_hmac("sha256", pin.encode(), bytes.fromhex(salt), int(rounds))
    except ValueError:
        return False
    return hmac.compare_digest(got.hex(), digest)


def _fen(value: int) -> Decimal:
    return (Decimal(value) / 100).quantize(Decimal("0.01"))


def seed_demo(engine: Engine, *, now: datetime | None = None) -> bool:
    """Fill the demo tables once (when empty); True if it did."""
    now = now or datetime.now(UTC)
    with engine.begin() as connection:
        if connection.execute(select(func.count()).select_from(persons)).scalar_one():
            return False
        connection.execute(
            insert(units),
            [
                {
                    "unit_id": "U-880012",
                    "account_no": "880012",
                    "name": "演示科技有限公司",
                    "deposit_status": "normal",
                    "headcount": 128,
                    "paid_until": date(2026, 10, 31),
                },
            ],
        )
        connection.execute(
            insert(persons),
            [
                {
                    "person_id": "P-0001",
                    "name": "张演示",
                    "account_no": "20261234",
                    "balance_fen": 1234567,
                    "monthly_deposit_fen": 186050,
                    "last_deposit_date": date(2026, 10, 15),
                    "status": "normal",
                    "unit_id": "U-880012",
                },
                {
                    "person_id": "P-0002",
                    "name": "李演示",
                    "account_no": "20265678",
                    "balance_fen": 4560008,
                    "monthly_deposit_fen": 0,
                    "last_deposit_date": date(2025, 6, 15),
                    "status": "sealed",
                    "unit_id": None,
                },
                {
                    "person_id": "P-0003",
                    "name": "王演示",
                    "account_no": "20269999",
                    "balance_fen": 880000,
                    "monthly_deposit_fen": 96000,
                    "last_deposit_date": date(2026, 10, 15),
                    "status": "normal",
                    "unit_id": "U-880012",
                },
            ],
        )
        connection.execute(
            insert(loans),
            [
                {
                    "person_id": "P-0001",
                    "balance_fen": 35600000,
                    "remaining_months": 212,
                    "monthly_repayment_fen": 268005,
                    "next_due_date": date(2026, 12, 5),
                    "progress": "repaying",
                }
            ],
        )
        connection.execute(
            insert(logins),
            [
                {"id_type": t, "login_id": i, "subject_id": s}
                for t, i, s in (
                    ("account", "20261234", "P-0001"),
                    ("id_card", "110101199001011237", "P-0001"),
                    ("card", "6217000010001234567", "P-0001"),
                    ("account", "20265678", "P-0002"),
                    ("id_card", "32010219780315456X", "P-0002"),
                    ("card", "6227000020005678901", "P-0002"),
                    ("account", "20269999", "P-0003"),
                    ("unit", "880012", "U-880012"),
                )
            ],
        )
        connection.execute(
            insert(credentials),
            [
                {
                    "subject_id": s,
                    "scope": scope,
                    "pin_hash": hash_pin(pin),
                    "failures": 0,
                    "locked_until": locked,
                }
                for s, scope, pin, locked in (
                    ("P-0001", "personal", DEMO_PIN, None),
                    ("P-0002", "personal", DEMO_PIN, None),
                    ("P-0003", "personal", DEMO_PIN, now + timedelta(days=3650)),
                    ("U-880012", "employer", DEMO_UNIT_PIN, None),
                )
            ],
        )
        connection.execute(
            insert(branches_table),
            [
                {
                    "branch_id": "B01",
                    "name": "市中心服务大厅（演示）",
                    "address": "演示市人民路 1 号",
                    "phone": "12329",
                    "slot_capacity": 10,
                },
                {
                    "branch_id": "B02",
                    "name": "高新区服务网点（演示）",
                    "address": "演示市科技大道 88 号",
                    "phone": "12329",
                    "slot_capacity": 3,
                },
            ],
        )
        connection.execute(
            insert(policies),
            [
                {
                    "topic": "withdrawal",
                    "title": "住房公积金提取（演示）",
                    "text": "购买、建造、翻建、大修自住住房，偿还购房贷款本息，租房自住等情形，"
                    "可申请提取住房公积金。",
                },
                {
                    "topic": "loan",
                    "title": "住房公积金贷款（演示）",
                    "text": "连续足额缴存住房公积金满六个月的职工，购买自住住房时可申请住房公积金"
                    "贷款，最长期限三十年。",
                },
            ],
        )
    log.warning("fund plugin: DEMO fund system seeded (fictitious accounts, not a real system)")
    return True


class DemoFundBackend:
    """The :class:`~ivrflow_fund.backend.FundBackend` on the demo tables."""

    name = "demo"
    demo = True

    def __init__(
        self,
        engine: Engine,
        *,
        max_failures: int = 10,
        lock_minutes: int = 30,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        serialise: bool = False,
        calendar: Calendar | None = None,
        timezone: str = "Asia/Shanghai",
    ) -> None:
        self.engine = engine
        self._serialise = threading.Lock() if serialise else None
        self.max_failures = max_failures
        self.lock_minutes = lock_minutes
        self._clock = clock
        self.calendar: Calendar = calendar or default_calendar()
        self.timezone = ZoneInfo(timezone)
        self._warned_years: set[int] = set()

    def __repr__(self) -> str:
        return f"DemoFundBackend({self.engine.url.render_as_string(hide_password=True)!r})"

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self._serialise is None:
            return await asyncio.to_thread(fn, *args)
        return await asyncio.to_thread(self._serialised, fn, *args)

    def _serialised(self, fn: Callable[..., Any], *args: Any) -> Any:
        assert self._serialise is not None
        with self._serialise:  # one in-memory SQLite connection: one thread at a time
            return fn(*args)

    # -- authentication ----------------------------------------------------------------------

    async def authenticate(
        self, scope: Scope, id_type: IdType, login_id: str, pin: str
    ) -> AuthResult:
        if id_type == "id_card":
            login_id = normalise_id_card(login_id)
        return await self._run(self._authenticate, scope, id_type, login_id, pin)

    def _authenticate(self, scope: str, id_type: str, login_id: str, pin: str) -> AuthResult:
        now = self._clock()
        with self.engine.begin() as connection:
            row = connection.execute(
                select(credentials)
                .join(logins, logins.c.subject_id == credentials.c.subject_id)
                .where(
                    logins.c.id_type == id_type,
                    logins.c.login_id == login_id,
                    credentials.c.scope == scope,
                )
            ).first()
            if row is None:
                return AuthResult("failed")  # unknown: same answer as a wrong PIN
            locked_until = _aware(row.locked_until)
            if locked_until is not None and locked_until > now:
                return AuthResult("locked", locked_until=locked_until)
            # Conditional updates: a concurrent call may have locked the account since the
            # read above (PostgreSQL re-checks the condition on the row it waited for; SQLite
            # writers are serialised), so the count and the lock stay exact under load.
            subject = credentials.c.subject_id == row.subject_id
            unlocked = or_(credentials.c.locked_until.is_(None), credentials.c.locked_until <= now)
            right = check_pin(pin, row.pin_hash)
            changed = connection.execute(
                update(credentials)
                .where(subject, unlocked)
                .values(
                    failures=0 if right else credentials.c.failures + 1,
                    locked_until=None,
                )
            ).rowcount
            if not changed:
                return AuthResult("locked", locked_until=self._locked_until(connection, subject))
            if right:
                return AuthResult("ok", subject_id=row.subject_id)
            failures = connection.execute(
                select(credentials.c.failures).where(subject)
            ).scalar_one()
            if failures < self.max_failures:
                return AuthResult("failed", remaining=self.max_failures - failures)
            until = now + timedelta(minutes=self.lock_minutes)
            connection.execute(
                update(credentials).where(subject).values(failures=0, locked_until=until)
            )
            log.warning(
                "fund demo: %s locked for %d minutes after %d wrong PINs",
                row.subject_id,
                self.lock_minutes,
                failures,
            )
            return AuthResult("locked", locked_until=until)

    @staticmethod
    def _locked_until(connection: Any, subject: Any) -> datetime | None:
        return _aware(
            connection.execute(select(credentials.c.locked_until).where(subject)).scalar()
        )

    # -- queries -------------------------------------------------------------------------------

    async def personal_account(self, person_id: str) -> PersonalAccount:
        row = await self._run(self._one, select(persons).where(persons.c.person_id == person_id))
        return PersonalAccount(
            person_id=row.person_id,
            account_no=row.account_no,
            name=row.name,
            balance=_fen(row.balance_fen),
            monthly_deposit=_fen(row.monthly_deposit_fen),
            last_deposit_date=row.last_deposit_date,
            status=row.status,
        )

    async def loan(self, person_id: str) -> Loan:
        row = await self._run(self._one, select(loans).where(loans.c.person_id == person_id))
        return Loan(
            person_id=row.person_id,
            balance=_fen(row.balance_fen),
            remaining_months=row.remaining_months,
            monthly_repayment=_fen(row.monthly_repayment_fen),
            next_due_date=row.next_due_date,
            progress=row.progress,
        )

    async def employer_account(self, unit_id: str) -> EmployerAccount:
        row = await self._run(self._one, select(units).where(units.c.unit_id == unit_id))
        return EmployerAccount(
            unit_id=row.unit_id,
            account_no=row.account_no,
            name=row.name,
            deposit_status=row.deposit_status,
            headcount=row.headcount,
            paid_until=row.paid_until,
        )

    async def branches(self) -> list[Branch]:
        rows = await self._run(
            self._all, select(branches_table).order_by(branches_table.c.branch_id)
        )
        return [Branch(r.branch_id, r.name, r.address, r.phone) for r in rows]

    async def policy(self, topic: str) -> Policy:
        row = await self._run(self._one, select(policies).where(policies.c.topic == topic))
        return Policy(row.topic, row.title, row.text)

    # -- appointments --------------------------------------------------------------------------

    def _local_now(self) -> datetime:
        """Now, in the branches' time zone: the asking call's time (:data:`REQUEST_TIME`,
        e.g. a simulation's frozen time) or else the clock."""
        return (REQUEST_TIME.get() or self._clock()).astimezone(self.timezone)

    def is_open(self, day: date) -> bool:
        """Whether the demo branches open on ``day``: a PRC working day (调休 make-up days
        included). A day the calendar has no data for is closed — and logged, once a year."""
        info = self.calendar.day(day)
        if not info.known:
            if day.year not in self._warned_years:
                self._warned_years.add(day.year)
                log.warning(
                    "fund demo: no calendar data for %d (%s): branches closed on those days",
                    day.year,
                    getattr(self.calendar, "source", "calendar"),
                )
            return False
        return info.kind in WORKING_KINDS

    def _bookable(self, day: date, period: str, now: datetime) -> bool:
        """An open day, a known slot, and not begun yet."""
        if period not in _SLOT or not self.is_open(day):
            return False
        return datetime.combine(day, _SLOT[period][0], self.timezone) > now

    async def appointment_slots(self, branch_id: str, day: date, service: str) -> list[Slot]:
        _check_service(service)
        return await self._run(self._slots, branch_id, day)

    def _slots(self, branch_id: str, day: date) -> list[Slot]:
        now = self._local_now()
        with self.engine.connect() as connection:
            capacity = self._capacity(connection, branch_id)
            if not self.is_open(day):
                return []
            used = dict(
                connection.execute(
                    select(appt_usage.c.period, appt_usage.c.booked).where(
                        appt_usage.c.branch_id == branch_id, appt_usage.c.day == day
                    )
                ).all()
            )
        return [
            Slot(
                branch_id=branch_id,
                day=day,
                period=period,
                start=start,
                end=end,
                capacity=capacity,
                remaining=max(capacity - used.get(period, 0), 0),
            )
            for period, start, end in SLOTS
            if self._bookable(day, period, now)
        ]

    @staticmethod
    def _capacity(connection: Any, branch_id: str) -> int:
        capacity = connection.execute(
            select(branches_table.c.slot_capacity).where(branches_table.c.branch_id == branch_id)
        ).scalar()
        if capacity is None:
            raise FundNotFound(branch_id)
        return int(capacity)

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
        _check_service(service)
        for _ in range(5):
            try:
                return await self._run(
                    functools.partial(
                        self._book,
                        phone,
                        service,
                        branch_id,
                        day,
                        period,
                        call_id=call_id,
                        person_id=person_id,
                    )
                )
            except IntegrityError:  # two new bookings drew the same code at once: again
                log.info("fund demo: confirmation code collision, booking again")
        raise SlotFull("no free confirmation code")  # pragma: no cover - 5 collisions in a row

    def _book(
        self,
        phone: str,
        service: str,
        branch_id: str,
        day: date,
        period: str,
        *,
        call_id: str,
        person_id: str,
    ) -> Booking:
        now = self._local_now()
        today = now.date()
        key = (
            appt_usage.c.branch_id == branch_id,
            appt_usage.c.day == day,
            appt_usage.c.period == period,
        )
        with self.engine.begin() as connection:
            capacity = self._capacity(connection, branch_id)
            if not self._bookable(day, period, now):
                raise SlotFull(f"{branch_id} {day} {period} cannot be booked")
            postgresql = connection.dialect.name == "postgresql"
            if postgresql:
                # one phone's bookings of one service one at a time (the duplicate check)
                connection.execute(select(func.pg_advisory_xact_lock(_lock_key(phone, service))))
            # The slot's usage row, created if missing without a race (ON CONFLICT DO NOTHING;
            # a concurrent creator's row is waited for). On SQLite this first write also takes
            # the database's write lock: the rest of the transaction runs alone.
            connection.execute(
                _insert_ignore(connection, appt_usage).values(
                    branch_id=branch_id, day=day, period=period, booked=0
                )
            )
            held = self._active(connection, phone, service, today)
            if held is not None:
                raise AlreadyBooked(held)
            # Take a place: one conditional statement. PostgreSQL re-checks ``booked <
            # capacity`` on the row a concurrent booking just committed; SQLite writers are
            # serialised. Never more bookings than places.
            taken = connection.execute(
                update(appt_usage)
                .where(*key, appt_usage.c.booked < capacity)
                .values(booked=appt_usage.c.booked + 1)
            ).rowcount
            if taken != 1:
                raise SlotFull(f"{branch_id} {day} {period} is full")
            booking_id = "A" + secrets.token_hex(6).upper()
            code = self._new_code(connection)
            connection.execute(
                insert(appt_bookings).values(
                    booking_id=booking_id,
                    code=code,
                    phone=phone,
                    service=service,
                    branch_id=branch_id,
                    day=day,
                    period=period,
                    status="booked",
                    call_id=call_id[:64],
                    person_id=person_id[:32],
                    created_at=self._clock(),
                )
            )
            row = connection.execute(_booking_query().where(_id(booking_id))).one()
        log.info("fund demo: booked %s %s %s %s", booking_id, branch_id, day, period)
        return _booking(row)

    @staticmethod
    def _new_code(connection: Any) -> str:
        for _ in range(20):
            code = f"{secrets.randbelow(1_000_000):06d}"
            taken = connection.execute(
                select(
                    exists().where(appt_bookings.c.code == code, appt_bookings.c.status == "booked")
                )
            ).scalar()
            if not taken:
                return code
        raise SlotFull("no free confirmation code")  # pragma: no cover

    @staticmethod
    def _active(connection: Any, phone: str, service: str, today: date) -> Booking | None:
        row = connection.execute(
            _booking_query()
            .where(
                appt_bookings.c.phone == phone,
                appt_bookings.c.service == service,
                appt_bookings.c.status == "booked",
                appt_bookings.c.day >= today,
            )
            .order_by(appt_bookings.c.day, appt_bookings.c.period)
            .limit(1)
        ).first()
        return None if row is None else _booking(row)

    async def bookings(self, phone: str, *, from_day: date) -> list[Booking]:
        rows = await self._run(
            self._all,
            _booking_query()
            .where(
                appt_bookings.c.phone == phone,
                appt_bookings.c.status == "booked",
                appt_bookings.c.day >= from_day,
            )
            .order_by(appt_bookings.c.day, appt_bookings.c.period, appt_bookings.c.created_at),
        )
        return [_booking(r) for r in rows]

    async def cancel(self, booking_id: str, phone: str) -> bool:
        return await self._run(self._cancel, booking_id, phone)

    def _cancel(self, booking_id: str, phone: str) -> bool:
        with self.engine.begin() as connection:
            row = connection.execute(
                select(
                    appt_bookings.c.branch_id, appt_bookings.c.day, appt_bookings.c.period
                ).where(_id(booking_id), appt_bookings.c.phone == phone)
            ).first()
            if row is None:
                return False
            # conditional: of two concurrent cancels, one frees the place
            done = connection.execute(
                update(appt_bookings)
                .where(_id(booking_id), appt_bookings.c.status == "booked")
                .values(status="cancelled", cancelled_at=self._clock())
            ).rowcount
            if done != 1:
                return False
            connection.execute(
                update(appt_usage)
                .where(
                    appt_usage.c.branch_id == row.branch_id,
                    appt_usage.c.day == row.day,
                    appt_usage.c.period == row.period,
                    appt_usage.c.booked > 0,
                )
                .values(booked=appt_usage.c.booked - 1)
            )
        log.info("fund demo: cancelled %s", booking_id)
        return True

    def _one(self, query: Any) -> Any:
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        if row is None:
            raise FundNotFound(str(query.whereclause.right.value))
        return row

    def _all(self, query: Any) -> list[Any]:
        with self.engine.connect() as connection:
            return list(connection.execute(query))


def _check_service(service: str) -> None:
    if service not in SERVICES:
        raise ValueError(f"unknown appointment service {service!r}")


def _lock_key(phone: str, service: str) -> int:
    """A stable signed 64-bit key for ``pg_advisory_xact_lock``."""
    digest = hashlib.sha256(f"fund.appt|{phone}|{service}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _insert_ignore(connection: Any, table: Table) -> Any:
    """``INSERT … ON CONFLICT DO NOTHING`` on SQLite and PostgreSQL."""
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing()
    if connection.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table).on_conflict_do_nothing()
    raise RuntimeError(f"appointments need SQLite or PostgreSQL: {connection.dialect.name}")


def _id(booking_id: str) -> Any:
    return appt_bookings.c.booking_id == booking_id


def _booking_query() -> Any:
    return select(appt_bookings, branches_table.c.name.label("branch_name")).join(
        branches_table, branches_table.c.branch_id == appt_bookings.c.branch_id, isouter=True
    )


def _booking(row: Any) -> Booking:
    start, end = _SLOT.get(row.period, (time(0), time(0)))
    return Booking(
        booking_id=row.booking_id,
        code=row.code,
        phone=row.phone,
        service=row.service,
        branch_id=row.branch_id,
        branch_name=row.branch_name or "",
        day=row.day,
        period=row.period,
        start=start,
        end=end,
        status=row.status,
        created_at=_aware(row.created_at),
    )


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:  # SQLite drops the zone
        return value.replace(tzinfo=UTC)
    return value
