"""What test calls see as the fund system: the real one, except that they never change it.

Designer test calls and ``ivrflow simulate`` (the plugin's ``test_resources``) read accounts,
loans, branches and free places from the configured fund system — a tester hears real
answers — but a booking or a cancellation made in a test call is only pretended: it is kept in
this object (so the rest of the test call, and later test calls in the same process, see it)
and never reaches the fund system. Authentication is real (a test call needs a real account);
wrong PINs count towards the lock as they would on the phone.
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

from ivrflow_fund.backend import REQUEST_TIME, AlreadyBooked, Booking, FundBackend, SlotFull

__all__ = ["DryRunFund"]


class DryRunFund:
    """A :class:`~ivrflow_fund.backend.FundBackend` over ``real`` whose bookings and
    cancellations stay in memory."""

    def __init__(self, real: FundBackend) -> None:
        self.real = real
        self._booked: dict[str, Booking] = {}
        """Bookings made in test calls, by id."""
        self._cancelled: set[str] = set()
        """Real bookings "cancelled" in test calls (still booked in the fund system)."""

    def __getattr__(self, name: str) -> Any:  # everything read-only goes to the real system
        return getattr(self.real, name)

    def __repr__(self) -> str:
        return f"DryRunFund({self.real!r})"

    async def appointment_slots(self, branch_id: str, day: date, service: str) -> list[Any]:
        slots = await self.real.appointment_slots(branch_id, day, service)
        taken: dict[str, int] = {}
        for b in self._booked.values():
            if (b.branch_id, b.day) == (branch_id, day):
                taken[b.period] = taken.get(b.period, 0) + 1
        return [replace(s, remaining=max(0, s.remaining - taken.get(s.period, 0))) for s in slots]

    async def bookings(self, phone: str, *, from_day: date) -> list[Booking]:
        real = [
            b
            for b in await self.real.bookings(phone, from_day=from_day)
            if b.booking_id not in self._cancelled
        ]
        mine = [b for b in self._booked.values() if b.phone == phone and b.day >= from_day]
        return sorted([*real, *mine], key=lambda b: (b.day, b.start))

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
        for held in await self.bookings(phone, from_day=_today()):
            if held.service == service:
                raise AlreadyBooked(held)
        slots = {s.period: s for s in await self.appointment_slots(branch_id, day, service)}
        slot = slots.get(period)
        if slot is None or slot.remaining <= 0:
            raise SlotFull(f"{branch_id} {day} {period}: no place (test call)")
        names = {b.branch_id: b.name for b in await self.real.branches()}
        booking = Booking(
            booking_id="TEST-" + secrets.token_hex(4).upper(),
            code=f"{secrets.randbelow(1_000_000):06d}",
            phone=phone,
            service=service,
            branch_id=branch_id,
            branch_name=names.get(branch_id, branch_id),
            day=day,
            period=period,
            start=slot.start,
            end=slot.end,
            status="booked",
            created_at=datetime.now(UTC),
        )
        self._booked[booking.booking_id] = booking
        return booking

    async def cancel(self, booking_id: str, phone: str) -> bool:
        mine = self._booked.get(booking_id)
        if mine is not None:
            if mine.phone != phone:
                return False
            del self._booked[booking_id]
            return True
        if booking_id in self._cancelled:
            return False
        held = await self.real.bookings(phone, from_day=_today())
        if any(b.booking_id == booking_id for b in held):
            self._cancelled.add(booking_id)
            return True
        return False


def _today() -> date:
    """The call's day (the appointment nodes set :data:`REQUEST_TIME` from ``call.now()``)."""
    return (REQUEST_TIME.get() or datetime.now(UTC)).date()
