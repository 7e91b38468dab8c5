"""The SMS gateway interface, the HTTP gateway and the development log sink.

A gateway sends one message and returns the gateway's id for it, or raises:

* :class:`SmsTemporaryError` — try again later (timeout, connection error, HTTP 5xx or 429, a
  2xx answer that is not the expected JSON). ``retry_after`` is the gateway's hint in
  seconds (``Retry-After``), if any;
* :class:`SmsPermanentError` — do not retry (HTTP 4xx other than 429: the number is
  invalid, the template is not approved, the account is blocked…).

The outbox (:mod:`ivrflow_sms.store`) calls ``send`` from its own worker thread and event
loop, never from a call's.

**The HTTP gateway** (:class:`HttpSmsGateway`) is configured from the plugin host's
environment::

    IVRFLOW_SMS_URL        the gateway's endpoint (http or https); set → HTTP gateway
    IVRFLOW_SMS_TOKEN      sent as ``Authorization: Bearer …`` (optional; never logged)
    IVRFLOW_SMS_SIGN       the SMS signature, e.g. 【某市住房公积金】 (optional)
    IVRFLOW_SMS_TIMEOUT_S  per request, connect to last body byte (default 5)

It POSTs one JSON object per message::

    {"to": "13800138000", "text": "…", "template": "balance_notice",
     "params": {"balance": "12345.67"}, "sign": "【某市住房公积金】", "client_ref": "…"}

and expects a 2xx answer ``{"id": "…"}``. ``client_ref`` is the same on every attempt of one
message: a gateway that deduplicates on it never delivers a message twice (a retry after a
timeout may otherwise repeat one the gateway did send).

**The log sink** (:class:`LogSmsGateway`, used when ``IVRFLOW_SMS_URL`` is not set) sends
nothing: it writes each message to the log (logger ``ivrflow.sms``) and returns a made-up id.
It is for development and demonstrations only.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import aiohttp

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "HttpSmsGateway",
    "LogSmsGateway",
    "OutgoingSms",
    "SmsError",
    "SmsGateway",
    "SmsPermanentError",
    "SmsTemporaryError",
    "make_gateway",
    "mask_phone",
]

log = logging.getLogger("ivrflow.sms")

DEFAULT_TIMEOUT_S = 5.0
MAX_RETRY_AFTER_S = 3600.0


def mask_phone(phone: str) -> str:
    """The number with all but its last 4 digits masked: ``*******8000``."""
    if len(phone) <= 4:
        return "*" * len(phone)
    return "*" * (len(phone) - 4) + phone[-4:]


@dataclass(frozen=True)
class OutgoingSms:
    """One message to send. ``to`` is an 11-digit PRC mobile number; ``text`` is rendered
    (without the signature: the gateway adds it); ``params`` are the template's placeholder
    values as text (for gateways that send by approved template rather than by text);
    ``client_ref`` identifies the message on every attempt."""

    to: str
    text: str
    template: str = ""
    params: Mapping[str, str] = field(default_factory=dict)
    call_id: str = ""
    flow: str = ""
    node: str = ""
    max_attempts: int | None = None
    """None: the outbox's default."""
    client_ref: str = field(default_factory=lambda: uuid.uuid4().hex)


class SmsError(Exception):
    """Sending failed. ``reason`` is a short code (``timeout``, ``http_503``…), ``detail``
    free text (never credentials)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class SmsTemporaryError(SmsError):
    """Try again later (``retry_after`` seconds, when the gateway said)."""

    def __init__(self, reason: str, detail: str = "", *, retry_after: float | None = None):
        super().__init__(reason, detail)
        self.retry_after = retry_after


class SmsPermanentError(SmsError):
    """The gateway refused the message; retrying would not help."""


@runtime_checkable
class SmsGateway(Protocol):
    """Sends messages. ``name`` is recorded with each message (``http``, ``log``…);
    ``delivers`` is False for sinks that send nothing."""

    name: str
    delivers: bool

    async def send(self, message: OutgoingSms) -> str:
        """Send ``message``; the gateway's id for it. Raises :class:`SmsTemporaryError` or
        :class:`SmsPermanentError`."""
        ...


class LogSmsGateway:
    """Development sink: logs each message and sends nothing."""

    name = "log"
    delivers = False

    def __init__(self, sign: str = "") -> None:
        self.sign = sign
        self.count = 0

    def __repr__(self) -> str:
        return "LogSmsGateway()"

    async def send(self, message: OutgoingSms) -> str:
        self.count += 1
        log.warning(
            "SMS NOT SENT (log sink, development only; set IVRFLOW_SMS_URL to send) "
            "短信未发送（仅记录日志）: to=%s template=%s text=%s%s",
            mask_phone(message.to),
            message.template or "-",
            self.sign,
            message.text,
        )
        return f"log-{message.client_ref}"


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None  # an HTTP date: use our own back-off
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def _error_text(raw: bytes) -> str:
    """The gateway's error message from a JSON body (``error``/``message``), else ''."""
    try:
        data = json.loads(raw)
    except ValueError:
        return ""
    if isinstance(data, dict):
        for key in ("error", "message", "msg", "code"):
            value = data.get(key)
            if isinstance(value, str | int) and not isinstance(value, bool):
                return str(value)[:200]
    return ""


class HttpSmsGateway:
    """An HTTP/JSON SMS gateway (see the module docstring for the wire format)."""

    name = "http"
    delivers = True

    def __init__(
        self, url: str, *, token: str = "", sign: str = "", timeout_s: float = DEFAULT_TIMEOUT_S
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"IVRFLOW_SMS_URL must be an http(s) URL, got {url!r}")
        if timeout_s <= 0:
            raise ValueError(f"IVRFLOW_SMS_TIMEOUT_S must be positive, got {timeout_s!r}")
        self.url = url
        self._token = token
        self.sign = sign
        self.timeout_s = timeout_s

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> HttpSmsGateway:
        return cls(
            environ["IVRFLOW_SMS_URL"].strip(),
            token=environ.get("IVRFLOW_SMS_TOKEN", "").strip(),
            sign=environ.get("IVRFLOW_SMS_SIGN", "").strip(),
            timeout_s=float(environ.get("IVRFLOW_SMS_TIMEOUT_S", "") or DEFAULT_TIMEOUT_S),
        )

    def __repr__(self) -> str:  # never the token
        return f"HttpSmsGateway({self.url!r}, timeout_s={self.timeout_s:g})"

    def body(self, message: OutgoingSms) -> dict[str, Any]:
        """The JSON object POSTed for ``message``."""
        return {
            "to": message.to,
            "text": message.text,
            "template": message.template,
            "params": dict(message.params),
            "sign": self.sign,
            "client_ref": message.client_ref,
        }

    async def send(self, message: OutgoingSms) -> str:
        headers = {"Accept": "application/json"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        try:
            async with (
                asyncio.timeout(self.timeout_s),
                aiohttp.ClientSession(
                    timeout=aiohttp.ClientTimeout(total=self.timeout_s)
                ) as session,
                session.post(self.url, json=self.body(message), headers=headers) as response,
            ):
                status = response.status
                retry_after = response.headers.get("Retry-After")
                raw = await response.read()
        except TimeoutError as exc:
            raise SmsTemporaryError("timeout", f"no answer within {self.timeout_s:g} s") from exc
        except aiohttp.ClientError as exc:
            raise SmsTemporaryError("connect", type(exc).__name__) from exc
        if status == 429 or status >= 500:
            raise SmsTemporaryError(
                f"http_{status}", _error_text(raw), retry_after=_retry_after(retry_after)
            )
        if not 200 <= status < 300:
            raise SmsPermanentError(f"http_{status}", _error_text(raw))
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise SmsTemporaryError("invalid_response", "not JSON") from exc
        gateway_id = data.get("id") if isinstance(data, dict) else None
        if isinstance(gateway_id, int) and not isinstance(gateway_id, bool):
            gateway_id = str(gateway_id)
        if not isinstance(gateway_id, str) or not gateway_id.strip():
            raise SmsTemporaryError("invalid_response", 'no "id" in the answer')
        return gateway_id.strip()[:100]


def make_gateway(environ: Mapping[str, str]) -> SmsGateway:
    """``IVRFLOW_SMS_URL`` set: the HTTP gateway; otherwise the log sink (with a warning)."""
    if environ.get("IVRFLOW_SMS_URL", "").strip():
        return HttpSmsGateway.from_environ(environ)
    log.warning(
        "IVRFLOW_SMS_URL is not set: SMS messages are only logged, NOT sent (development "
        "log sink) / 未配置 IVRFLOW_SMS_URL：短信只写入日志，不会发送"
    )
    return LogSmsGateway(environ.get("IVRFLOW_SMS_SIGN", "").strip())
