"""``core.http`` — call a business system over HTTP(S) and save parts of its JSON answer.

    method:  GET
    url:     https://gjj.example.cn/api/accounts/{{account_no}}
    query:   {"type": "{{id_kind}}"}
    headers: {"Authorization": "Bearer {{api_token}}"}
    save:    {"balance": "/data/balance", "name": "/data/holder/name"}

Templates use the flow's variables (``runtime.template``). In ``url``, a placeholder at the very
start is inserted as is (a base address such as ``{{api_base}}/accounts``); every other
placeholder, and every ``query`` value, is percent-encoded, so a variable cannot change the
path or add parameters. ``body`` is any JSON value with templates inside its strings (a string
that is exactly one placeholder keeps the variable's type); it is sent as JSON for every
method but GET.

``save`` maps a variable to a JSON pointer (RFC 6901) into the response: ``/data/balance``,
``/items/0/id``, ``""`` for the whole document. A pointer that is not in the response sets the
variable to null (and says so in the trace).

The request (connect, send, headers and the whole body) must finish within ``timeout_ms``
(default 3 s, at most 10 s), else the call takes ``timeout``. ``error`` is taken on connection
refused, DNS failure and other transport errors, a status outside ``ok_status`` (default:
200–299; ``status_variable`` still receives it), a body over 1 MiB (reading stops there), and a
body that is not JSON when ``save`` is used. Both may be left unwired: the flow's fallback
node ("system busy") then takes over.

The trace gets one ``http`` event with the method, the URL (secret values masked), the status
and the time taken — never headers or bodies. The session comes from
``call.resources["http"]`` (a shared :class:`aiohttp.ClientSession`) when there is one.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote, quote_plus

import aiohttp
import yarl

from nodes.api import ConfigIssue, Node, Reference
from runtime.call import Call
from runtime.template import PLACEHOLDER_RE, render, render_value, stringify

MAX_BODY_BYTES = 1 << 20  # 1 MiB
CHUNK_BYTES = 64 * 1024
MASK = "******"
VARIABLE_NAME = "^[A-Za-z_][A-Za-z0-9_]{0,63}$"
_SCHEME_RE = re.compile(r"^https?://", re.IGNORECASE)


class _BodyTooLarge(Exception):
    pass


class _Refused(Exception):
    """The request cannot be built from this config and these variables."""


def _token(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def resolve_pointer(document: Any, pointer: str) -> tuple[bool, Any]:
    """``(True, value)`` at the RFC 6901 ``pointer`` in ``document``, else ``(False, None)``."""
    if pointer == "":
        return True, document
    value = document
    for raw in pointer[1:].split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(value, dict):
            if token not in value:
                return False, None
            value = value[token]
        elif isinstance(value, list):
            if not token.isdigit() or (token != "0" and token.startswith("0")):
                return False, None
            index = int(token)
            if index >= len(value):
                return False, None
            value = value[index]
        else:
            return False, None
    return True, value


def render_url(template: str, variables: Mapping[str, Any]) -> str:
    """Render a URL template: a leading placeholder raw, all others percent-encoded."""
    template = template.strip()
    match = PLACEHOLDER_RE.match(template)
    head, rest = ("", template) if match is None else (match.group(0), template[match.end() :])
    return render(head, variables) + render(rest, variables, quote=lambda s: quote(s, safe=""))


def _strings_in(value: Any, pointer: str) -> list[Reference]:
    if isinstance(value, str):
        return [Reference("template", pointer, value)]
    if isinstance(value, list):
        return [r for i, v in enumerate(value) for r in _strings_in(v, f"{pointer}/{i}")]
    if isinstance(value, dict):
        return [r for k, v in value.items() for r in _strings_in(v, f"{pointer}/{_token(k)}")]
    return []


class _Exchange:
    __slots__ = ("body", "status")

    def __init__(self) -> None:
        self.status: int | None = None
        self.body: bytes | None = None


class HttpRequest(Node):
    type = "core.http"
    version = 1
    title: ClassVar[dict[str, str]] = {"zh": "HTTP 接口调用", "en": "HTTP request"}
    description: ClassVar[dict[str, str]] = {
        "zh": "调用业务系统的 HTTP 接口（如查询公积金账户），把返回 JSON 中的字段存入变量。"
        "超时或出错时走对应出口（未连线则进入兜底节点）。",
        "en": "Calls a business system's HTTP API (e.g. a fund account lookup) and saves fields "
        "of the JSON answer in variables. Timeouts and failures take their exits (or the "
        "flow's fallback when unwired).",
    }
    category = "integration"
    config_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["url"],
        "properties": {
            "method": {
                "type": "string",
                "title": "方法 / Method",
                "enum": ["GET", "POST", "PUT", "PATCH", "DELETE"],
                "default": "GET",
            },
            "url": {
                "type": "string",
                "title": "地址 / URL",
                "description": "http:// 或 https:// 开头，可用 {{变量}}。 Starts with http:// "
                "or https://; may use {{variable}}.",
                "minLength": 1,
                "maxLength": 2000,
                "x-ivrflow": "template",
            },
            "query": {
                "type": "object",
                "title": "查询参数 / Query parameters",
                "maxProperties": 50,
                "propertyNames": {"minLength": 1, "maxLength": 100},
                "additionalProperties": {
                    "type": "string",
                    "maxLength": 2000,
                    "x-ivrflow": "template",
                },
                "default": {},
            },
            "headers": {
                "type": "object",
                "title": "请求头 / Headers",
                "maxProperties": 20,
                "propertyNames": {"pattern": "^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$"},
                "additionalProperties": {
                    "type": "string",
                    "maxLength": 2000,
                    "x-ivrflow": "template",
                },
                "default": {},
            },
            "body": {
                "title": "请求体（JSON） / Body (JSON)",
                "description": "GET 请求不发送。字符串中可用 {{变量}}。 Not sent with GET; "
                "strings may use {{variable}}.",
            },
            "timeout_ms": {
                "type": "integer",
                "title": "超时（毫秒） / Timeout (ms)",
                "minimum": 100,
                "maximum": 10000,
                "default": 3000,
            },
            "save": {
                "type": "object",
                "title": "保存结果 / Save from the response",
                "description": "变量 → JSON 指针，如 /data/balance。 Variable → JSON pointer, "
                "e.g. /data/balance.",
                "maxProperties": 50,
                "propertyNames": {"pattern": VARIABLE_NAME},
                "additionalProperties": {
                    "type": "string",
                    "maxLength": 500,
                    "pattern": "^(/([^~/]|~[01])*)*$",
                },
                "default": {},
            },
            "status_variable": {
                "type": "string",
                "title": "保存状态码到变量 / Store the status code in",
                "pattern": VARIABLE_NAME,
                "x-ivrflow": "variable-out",
            },
            "ok_status": {
                "type": "array",
                "title": "成功状态码 / Success status codes",
                "description": "留空表示 200–299。 Empty: 200–299.",
                "maxItems": 20,
                "uniqueItems": True,
                "items": {"type": "integer", "minimum": 100, "maximum": 599},
                "default": [],
            },
        },
    }
    exits = ("ok", "error", "timeout")
    optional_exits = frozenset({"error", "timeout"})
    timeout_s = 11  # backstop only: the request's own timeout_ms (≤ 10 s) fires first

    @classmethod
    def check_config(cls, config: dict[str, Any]) -> list[ConfigIssue]:
        issues: list[ConfigIssue] = []
        url = config.get("url", "").strip()
        if not (_SCHEME_RE.match(url) or PLACEHOLDER_RE.match(url)):
            issues.append(
                ConfigIssue(
                    "/url",
                    "http.url_scheme",
                    "地址必须以 http:// 或 https:// 开头（或以 {{变量}} 开头）。",
                    "The URL must start with http:// or https:// (or with a {{variable}}).",
                )
            )
        if config.get("method", "GET") == "GET" and config.get("body") is not None:
            issues.append(
                ConfigIssue(
                    "/body",
                    "http.body_ignored",
                    "GET 请求不会发送请求体。",
                    "A GET request does not send a body.",
                    severity="warning",
                )
            )
        return issues

    @classmethod
    def references(cls, config: Mapping[str, Any]) -> list[Reference]:
        refs = super().references(config)
        if "body" in config:
            refs.extend(_strings_in(config["body"], "/body"))
        for key in config.get("save", {}):
            refs.append(Reference("variable-out", f"/save/{_token(key)}", key))
        return refs

    async def run(self, call: Call, config: dict[str, Any]) -> str:
        method = config["method"]
        try:
            url, headers, data = self._build(call, config)
        except _Refused as exc:
            call.note("http", method=method, url=None, status=None, ms=0, error=str(exc))
            return "error"
        shown_url = _shown_url(call, config, url)
        exchange = _Exchange()
        injected = call.resources.get("http")
        own: aiohttp.ClientSession | None = None
        if isinstance(injected, aiohttp.ClientSession) and not injected.closed:
            session = injected
        else:
            session = own = _temporary_session()
        started = time.perf_counter()
        error: str | None = None
        outcome = "ok"
        try:
            async with asyncio.timeout(config["timeout_ms"] / 1000):
                await self._exchange(
                    call,
                    config,
                    session,
                    method=method,
                    url=url,
                    headers=headers,
                    data=data,
                    exchange=exchange,
                )
        except TimeoutError:
            outcome, error = "timeout", f"no complete answer within {config['timeout_ms']} ms"
        except _BodyTooLarge:
            outcome, error = "error", f"response body over {MAX_BODY_BYTES} bytes"
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            outcome, error = "error", _mask(call, f"{type(exc).__name__}: {exc}")
        finally:
            if own is not None:
                await own.close()
        ms = round((time.perf_counter() - started) * 1000, 1)

        status = exchange.status
        if outcome == "ok" and status is not None and not _status_ok(status, config["ok_status"]):
            outcome, error = "error", f"status {status} is not a success status"
        document: Any = None
        if outcome == "ok" and config["save"]:
            try:
                document = json.loads(exchange.body or b"")
            except (ValueError, RecursionError):  # incl. UnicodeDecodeError; absurd nesting
                outcome, error = "error", "response is not JSON"
        event: dict[str, Any] = {"method": method, "url": shown_url, "status": status, "ms": ms}
        if error:
            event["error"] = error
        call.note("http", **event)
        if outcome != "ok":
            return outcome

        for variable, pointer in config["save"].items():
            found, value = resolve_pointer(document, pointer)
            if not found:
                call.note("http_missing", variable=variable, pointer=pointer)
            call.vars[variable] = value
        return "ok"

    # -- helpers -----------------------------------------------------------------------

    @staticmethod
    def _build(call: Call, config: dict[str, Any]) -> tuple[yarl.URL, dict[str, str], bytes | None]:
        url = build_url(config, call.vars)
        headers: dict[str, str] = {}
        for name, tpl in config["headers"].items():
            value = render(tpl, call.vars)
            if any(c in value for c in "\r\n\0"):
                raise _Refused(f"header {name} would contain a line break")
            headers[name] = value
        data: bytes | None = None
        if config["method"] != "GET" and config.get("body") is not None:
            try:
                body = render_value(config["body"], call.vars)
                data = json.dumps(body, ensure_ascii=False, allow_nan=False).encode("utf-8")
            except (TypeError, ValueError) as exc:
                raise _Refused(f"the body cannot be sent as JSON: {type(exc).__name__}") from None
            if not any(k.lower() == "content-type" for k in headers):
                headers["Content-Type"] = "application/json; charset=utf-8"
        return url, headers, data

    @staticmethod
    async def _exchange(
        call: Call,
        config: dict[str, Any],
        session: aiohttp.ClientSession,
        *,
        method: str,
        url: yarl.URL,
        headers: dict[str, str],
        data: bytes | None,
        exchange: _Exchange,
    ) -> None:
        async with session.request(method, url, headers=headers, data=data) as response:
            exchange.status = response.status
            if config.get("status_variable"):
                call.vars[config["status_variable"]] = response.status
            if not _status_ok(response.status, config["ok_status"]):
                return
            length = response.content_length
            if length is not None and length > MAX_BODY_BYTES:
                response.close()
                raise _BodyTooLarge
            body = bytearray()
            async for chunk in response.content.iter_chunked(CHUNK_BYTES):
                body.extend(chunk)
                if len(body) > MAX_BODY_BYTES:
                    response.close()
                    raise _BodyTooLarge
            exchange.body = bytes(body)


def build_url(config: Mapping[str, Any], variables: Mapping[str, Any]) -> yarl.URL:
    """The request URL: ``url`` rendered (see :func:`render_url`) plus the ``query``."""
    text = render_url(config["url"], variables)
    if not _SCHEME_RE.match(text):
        raise _Refused("the URL does not start with http:// or https://")
    try:
        url = yarl.URL(text)
    except (ValueError, TypeError) as exc:
        raise _Refused(f"invalid URL: {type(exc).__name__}") from None
    if not url.host:
        raise _Refused("the URL has no host")
    if config.get("query"):
        url = url.extend_query(
            {name: render(tpl, variables) for name, tpl in config["query"].items()}
        )
    return url


def _shown_url(call: Call, config: Mapping[str, Any], url: yarl.URL) -> str:
    """The URL for the trace: rebuilt with every secret variable replaced by the mask (so no
    encoded form of a secret can slip through), decoded for reading."""
    masked: dict[str, Any] = {}
    for name in list(call.vars):
        value = call.vars.get(name)
        secret = call.is_secret(name) and value not in (None, "")
        masked[name] = MASK if secret else value
    masked["language"] = call.language
    try:
        shown = build_url(config, masked).human_repr()
    except _Refused:
        shown = str(url)
    return _mask(call, shown)


def _temporary_session() -> aiohttp.ClientSession:
    """A session for one request, when no shared one was injected (closed right after)."""
    return aiohttp.ClientSession()


def _status_ok(status: int, ok_status: list[int]) -> bool:
    return status in ok_status if ok_status else 200 <= status <= 299


def _mask(call: Call, text: str) -> str:
    """Mask secret variables' values in ``text`` — also their URL-encoded forms, which the
    trace's own masking would not recognise."""
    forms: set[str] = set()
    for name in list(call.vars):
        if not call.is_secret(name):
            continue
        raw = stringify(call.vars.get(name))
        if len(raw) >= 3:  # the trace's threshold: shorter values would garble the text
            forms.update({raw, quote(raw, safe=""), quote_plus(raw, safe=""), quote(raw)})
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, MASK)
    return text
