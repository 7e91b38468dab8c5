"""The HTTP/JSON connector to the fund centre's system.

Configured from the plugin host's environment (never from flow files)::

    IVRFLOW_FUND_URL            base URL, e.g. https://gjj.example.gov.cn/ivr/api
    IVRFLOW_FUND_TOKEN          sent as ``Authorization: Bearer …`` (optional)
    IVRFLOW_FUND_TIMEOUT_S      per request, connect to last body byte (default 3)
    IVRFLOW_FUND_BREAKER_FAILURES   consecutive failures that open the breaker (default 5)
    IVRFLOW_FUND_BREAKER_RESET_S    how long it stays open before a probe (default 30)

The API (JSON bodies; amounts in yuan as numbers or decimal strings, dates ``YYYY-MM-DD``):

=======================================  ==================================================
``POST /auth``                            ``{"scope", "id_type", "id", "pin"}`` → 200
                                          ``{"person_id"}`` / ``{"unit_id"}``;
                                          401/403/404 wrong PIN or unknown
                                          (``{"remaining"}`` optional); 423 locked
                                          (``{"locked_until"}`` optional)
``GET /accounts/{person_id}``             ``{"balance", "monthly_deposit",
                                          "last_deposit_date", "status", "account_no",
                                          "name"}`` (the last three optional)
``GET /loans/{person_id}``                ``{"balance", "remaining_months",
                                          "monthly_repayment", "next_due_date",
                                          "application_progress"}``; 404 no loan
``GET /units/{unit_id}``                  ``{"deposit_status", "headcount", "paid_until",
                                          "name", "account_no"}``
``GET /branches``                         ``{"branches": [{"id", "name", "address",
                                          "phone"}]}``
``GET /policies/{topic}``                 ``{"title", "text"}``
``GET /appointments/slots``               ``?branch=&date=&service=`` → ``{"slots": [{"id",
                                          "start", "end", "capacity", "remaining"}]}``
                                          (``start``/``end`` ``HH:MM``; ``[]`` closed); 404
                                          unknown branch
``POST /appointments``                    ``{"phone", "service", "branch", "date", "slot",
                                          "call_id", "person_id", "request_id"}`` → 201
                                          (or 200: a ``request_id`` seen before) a
                                          *booking*; 409 ``{"error": "slot_full"}`` (no place
                                          left, or not bookable) or ``{"error":
                                          "already_booked", "booking": {…}}``; 404 unknown
                                          branch
``GET /appointments?phone=&from=``        ``{"appointments": [booking…]}`` (active, on or
                                          after ``from``, earliest first)
``POST /appointments/{id}/cancel``        ``{"phone"}`` → 200 cancelled; 404 (or 409) no such
                                          active booking for that phone
=======================================  ==================================================

A *booking* is ``{"id", "code", "phone", "service", "branch", "branch_name", "date", "slot",
"start", "end", "status", "created_at"}`` (``code`` the 6-digit confirmation code, ``status``
``booked`` / ``cancelled``, ``created_at`` ISO 8601; ``branch_name``, ``status`` and
``created_at`` optional). Services are ``loan_application``, ``loan_repayment`` and
``withdrawal``.

Every request (appointments included) is bounded by the timeout (a server that accepts and
never answers, or trickles its body, costs at most that long) and goes through the
:class:`~ivrflow_fund.breaker.CircuitBreaker`: timeouts, connection errors, 5xx and invalid
JSON count as failures; after ``failures`` in a row calls fail at once with
``FundUnavailable("breaker_open")`` until a probe succeeds.

The PIN is sent only in the body of ``POST /auth`` to this URL; request bodies are never
logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Mapping
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

import aiohttp

from ivrflow_fund.backend import (
    AlreadyBooked,
    AuthResult,
    Booking,
    Branch,
    EmployerAccount,
    FundNotFound,
    FundUnavailable,
    IdType,
    Loan,
    PersonalAccount,
    Policy,
    Scope,
    Slot,
    SlotFull,
)
from ivrflow_fund.breaker import CircuitBreaker

__all__ = ["HttpFundBackend"]

log = logging.getLogger("ivrflow.fund")


class _BadResponse(Exception):
    pass


class HttpFundBackend:
    name = "http"
    demo = False

    def __init__(
        self,
        base_url: str,
        *,
        token: str = "",
        timeout_s: float = 3.0,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"IVRFLOW_FUND_URL must be an http(s) URL, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.timeout_s = timeout_s
        self.breaker = breaker or CircuitBreaker()

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> HttpFundBackend:
        return cls(
            environ["IVRFLOW_FUND_URL"],
            token=environ.get("IVRFLOW_FUND_TOKEN", ""),
            timeout_s=float(environ.get("IVRFLOW_FUND_TIMEOUT_S", "3")),
            breaker=CircuitBreaker(
                int(environ.get("IVRFLOW_FUND_BREAKER_FAILURES", "5")),
                float(environ.get("IVRFLOW_FUND_BREAKER_RESET_S", "30")),
            ),
        )

    def __repr__(self) -> str:  # never the token
        return f"HttpFundBackend({self.base_url!r}, timeout_s={self.timeout_s})"

    # -- transport -------------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
        expected: frozenset[int] = frozenset({200}),
    ) -> tuple[int, Any]:
        """One request through the breaker: (status, parsed JSON). Statuses other than 2xx
        and ``expected`` raise; failures count against the breaker."""
        self.breaker.before()
        headers = {"Accept": "application/json"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        try:
            async with (
                asyncio.timeout(self.timeout_s),
                aiohttp.ClientSession(
                    timeout=aiohttp.ClientTimeout(total=self.timeout_s)
                ) as session,
                session.request(
                    method, self.base_url + path, json=body, params=params, headers=headers
                ) as response,
            ):
                status = response.status
                raw = await response.read()
            if status >= 500:
                raise FundUnavailable("http_5xx", f"HTTP {status}")
            if status not in expected and not 200 <= status < 300:
                self.breaker.success()  # it answered: our request was refused
                log.warning("fund system refused %s %s: HTTP %d", method, path, status)
                raise FundUnavailable("rejected", f"HTTP {status}")
            try:
                data = json.loads(raw) if raw.strip() else None
            except ValueError as exc:
                raise FundUnavailable("invalid_response", "not JSON") from exc
        except FundUnavailable as exc:
            if exc.reason != "rejected":
                self._failed(method, path, exc.reason, exc.detail)
            raise
        except TimeoutError as exc:
            self._failed(method, path, "timeout", f"no answer within {self.timeout_s:g} s")
            raise FundUnavailable("timeout") from exc
        except aiohttp.ClientError as exc:
            self._failed(method, path, "connect", type(exc).__name__)
            raise FundUnavailable("connect", type(exc).__name__) from exc
        except asyncio.CancelledError:
            self.breaker.release()
            raise
        self.breaker.success()
        return status, data

    def _failed(self, method: str, path: str, reason: str, detail: str) -> None:
        self.breaker.failure()
        log.warning(
            "fund system %s %s failed: %s %s (breaker %s)",
            method,
            path,
            reason,
            detail,
            self.breaker.state,
        )

    async def _get(self, path: str, **params: str) -> Any:
        status, data = await self._request(
            "GET", path, params=params or None, expected=frozenset({200, 404})
        )
        if status == 404:
            raise FundNotFound(path)
        return self._parsed(path, data, lambda d: d)

    def _parsed(self, path: str, data: Any, build: Any, method: str = "GET") -> Any:
        try:
            if not isinstance(data, dict):
                raise _BadResponse("not a JSON object")
            return build(data)
        except (_BadResponse, KeyError, TypeError, ValueError, InvalidOperation) as exc:
            self.breaker.failure()
            log.warning(
                "fund system %s %s: invalid response (%s)", method, path, type(exc).__name__
            )
            raise FundUnavailable("invalid_response", type(exc).__name__) from exc

    # -- the interface -----------------------------------------------------------------------

    async def authenticate(
        self, scope: Scope, id_type: IdType, login_id: str, pin: str
    ) -> AuthResult:
        body = {"scope": scope, "id_type": id_type, "id": login_id, "pin": pin}
        status, data = await self._request(
            "POST", "/auth", body=body, expected=frozenset({200, 401, 403, 404, 423})
        )
        data = data if isinstance(data, dict) else {}
        if status in (401, 403, 404):  # wrong PIN, or no such account: the same to the caller
            remaining = data.get("remaining")
            return AuthResult("failed", remaining=remaining if isinstance(remaining, int) else None)
        if status == 423:
            return AuthResult("locked", locked_until=_datetime(data.get("locked_until")))
        key = "unit_id" if scope == "employer" else "person_id"
        subject = data.get(key)
        if not isinstance(subject, str) or not subject:
            self.breaker.failure()
            raise FundUnavailable("invalid_response", f"no {key}")
        return AuthResult("ok", subject_id=subject)

    async def personal_account(self, person_id: str) -> PersonalAccount:
        path = f"/accounts/{quote(person_id, safe='')}"
        data = await self._get(path)
        return self._parsed(
            path,
            data,
            lambda d: PersonalAccount(
                person_id=person_id,
                account_no=str(d.get("account_no", "")),
                name=str(d.get("name", "")),
                balance=_money(d["balance"]),
                monthly_deposit=_money(d["monthly_deposit"]),
                last_deposit_date=_date(d.get("last_deposit_date")),
                status=str(d.get("status", "normal")),
            ),
        )

    async def loan(self, person_id: str) -> Loan:
        path = f"/loans/{quote(person_id, safe='')}"
        data = await self._get(path)
        return self._parsed(
            path,
            data,
            lambda d: Loan(
                person_id=person_id,
                balance=_money(d["balance"]),
                remaining_months=_int(d["remaining_months"]),
                monthly_repayment=_money(d["monthly_repayment"]),
                next_due_date=_date(d.get("next_due_date")),
                progress=str(d.get("application_progress", "")),
            ),
        )

    async def employer_account(self, unit_id: str) -> EmployerAccount:
        path = f"/units/{quote(unit_id, safe='')}"
        data = await self._get(path)
        return self._parsed(
            path,
            data,
            lambda d: EmployerAccount(
                unit_id=unit_id,
                account_no=str(d.get("account_no", "")),
                name=str(d.get("name", "")),
                deposit_status=str(d["deposit_status"]),
                headcount=_int(d["headcount"]),
                paid_until=_date(d.get("paid_until")),
            ),
        )

    async def branches(self) -> list[Branch]:
        data = await self._get("/branches")
        return self._parsed(
            "/branches",
            data,
            lambda d: [
                Branch(
                    str(b["id"]), str(b["name"]), str(b.get("address", "")), str(b.get("phone", ""))
                )
                for b in d["branches"]
            ],
        )

    async def policy(self, topic: str) -> Policy:
        path = f"/policies/{quote(topic, safe='')}"
        data = await self._get(path)
        return self._parsed(path, data, lambda d: Policy(topic, str(d["title"]), str(d["text"])))

    # -- appointments ------------------------------------------------------------------------

    async def appointment_slots(self, branch_id: str, day: date, service: str) -> list[Slot]:
        path = "/appointments/slots"
        data = await self._get(path, branch=branch_id, date=day.isoformat(), service=service)

        def build(d: dict[str, Any]) -> list[Slot]:
            if not isinstance(d["slots"], list):
                raise _BadResponse("slots")
            return [
                Slot(
                    branch_id=branch_id,
                    day=day,
                    period=_text(s["id"]),
                    start=_time(s["start"]),
                    end=_time(s["end"]),
                    capacity=_int(s["capacity"]),
                    remaining=max(_int(s["remaining"]), 0),
                )
                for s in d["slots"]
            ]

        return self._parsed(path, data, build)

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
        path = "/appointments"
        body = {
            "phone": phone,
            "service": service,
            "branch": branch_id,
            "date": day.isoformat(),
            "slot": period,
            "call_id": call_id,
            "person_id": person_id,
            "request_id": request_id,
        }
        status, data = await self._request(
            "POST", path, body=body, expected=frozenset({200, 201, 404, 409})
        )
        if status == 404:
            raise FundNotFound(branch_id)
        if status == 409:
            error = data.get("error") if isinstance(data, dict) else None
            if error == "slot_full":
                raise SlotFull(f"{branch_id} {day} {period}")
            if error == "already_booked":
                held = self._parsed(path, data, lambda d: _booking(d["booking"]), "POST")
                raise AlreadyBooked(held)
            self.breaker.failure()
            log.warning("fund system POST %s: invalid response (409 %r)", path, error)
            raise FundUnavailable("invalid_response", "409 without a known error")
        return self._parsed(path, data, _booking, "POST")

    async def bookings(self, phone: str, *, from_day: date) -> list[Booking]:
        path = "/appointments"
        _, data = await self._request(
            "GET", path, params={"phone": phone, "from": from_day.isoformat()}
        )
        return self._parsed(
            path,
            data,
            lambda d: sorted(
                (_booking(b) for b in d["appointments"]), key=lambda b: (b.day, b.start)
            ),
        )

    async def cancel(self, booking_id: str, phone: str) -> bool:
        path = f"/appointments/{quote(booking_id, safe='')}/cancel"
        status, _ = await self._request(
            "POST", path, body={"phone": phone}, expected=frozenset({200, 404, 409})
        )
        return status not in (404, 409)


def _booking(d: Any) -> Booking:
    if not isinstance(d, dict):
        raise _BadResponse("booking")
    code = _text(d["code"])
    if not re.fullmatch(r"[0-9]{6}", code):
        raise _BadResponse("code")
    day = _date(d["date"])
    if day is None:
        raise _BadResponse("date")
    return Booking(
        booking_id=_text(d["id"]),
        code=code,
        phone=_text(d["phone"]),
        service=_text(d["service"]),
        branch_id=_text(d["branch"]),
        branch_name=str(d.get("branch_name") or ""),
        day=day,
        period=_text(d["slot"]),
        start=_time(d["start"]),
        end=_time(d["end"]),
        status=str(d.get("status") or "booked"),
        created_at=_datetime(d.get("created_at")),
    )


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise _BadResponse("text")
    return value


def _time(value: Any) -> time:
    if not isinstance(value, str) or not re.fullmatch(r"\d{2}:\d{2}(:\d{2})?", value):
        raise _BadResponse("time")
    return time.fromisoformat(value)


def _money(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _BadResponse("amount")
    amount = Decimal(str(value))
    if not amount.is_finite():
        raise _BadResponse("amount")
    return amount.quantize(Decimal("0.01"))


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _BadResponse("integer")
    return value


def _date(value: Any) -> date | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise _BadResponse("date")
    return date.fromisoformat(value)


def _datetime(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
