"""core.http against a real local aiohttp server: saving, statuses, faults, timeouts, secrets."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.test_utils import TestServer

import nodes.core.http as http_module
from nodes.api import Reference
from nodes.core.http import HttpRequest, render_url, resolve_pointer
from runtime.testing import NodeRun, run_node
from runtime.trace import MASK

MIB = 1 << 20
ACCOUNT = {
    "code": 0,
    "data": {
        "balance": 12345.67,
        "holder": {"name": "张三", "id_tail": "1234"},
        "months": [{"month": "2026-09", "amount": 1200}],
        "a/b": "slash",
        "flag": None,
    },
}


class Backend:
    """A fund back end on 127.0.0.1 with the faults of reliability-targets §7.3.12."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.release = asyncio.Event()  # lets slow handlers finish at teardown
        self.streamed = 0
        self.stream_aborted = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/account/{id}", self.account)
        app.router.add_get("/status/{code}", self.status)
        app.router.add_get("/not-json", self.not_json)
        app.router.add_get("/empty", self.empty)
        app.router.add_get("/deep", self.deep)
        app.router.add_get("/big", self.big)
        app.router.add_get("/big-stream", self.big_stream)
        app.router.add_get("/exactly-1mib", self.exactly_1mib)
        app.router.add_get("/slow", self.slow)
        app.router.add_get("/slow-body", self.slow_body)
        app.router.add_get("/redirect", self.redirect)
        self.server = TestServer(app, host="127.0.0.1", port=0)

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))

    async def _log(self, request: web.Request) -> None:
        body = await request.read()
        self.requests.append(
            {
                "method": request.method,
                "path": request.path,
                "raw_path": request.raw_path,
                "query": dict(request.query),
                "headers": {k.lower(): v for k, v in request.headers.items()},
                "body": body,
            }
        )

    async def account(self, request: web.Request) -> web.Response:
        await self._log(request)
        return web.json_response({**ACCOUNT, "id": request.match_info["id"]})

    async def status(self, request: web.Request) -> web.Response:
        await self._log(request)
        code = int(request.match_info["code"])
        return web.json_response({"code": code, "message": "后端错误"}, status=code)

    async def not_json(self, request: web.Request) -> web.Response:
        await self._log(request)
        return web.Response(text="<html>维护中</html>", content_type="text/html")

    async def empty(self, request: web.Request) -> web.Response:
        await self._log(request)
        return web.Response(status=200)

    async def deep(self, request: web.Request) -> web.Response:
        await self._log(request)
        return web.Response(body=b"[" * 200_000 + b"]" * 200_000, content_type="application/json")

    async def big(self, request: web.Request) -> web.Response:
        await self._log(request)
        payload = json.dumps({"pad": "x" * MIB}).encode()
        return web.Response(body=payload, content_type="application/json")

    async def exactly_1mib(self, request: web.Request) -> web.Response:
        await self._log(request)
        payload = b'{"pad": "' + b"x" * (MIB - 12) + b'"}'
        assert len(payload) == MIB - 1
        return web.Response(body=payload + b" ", content_type="application/json")

    async def big_stream(self, request: web.Request) -> web.StreamResponse:
        """64 MiB, chunked (no Content-Length): the client must stop reading early."""
        await self._log(request)
        response = web.StreamResponse()
        response.content_type = "application/json"
        await response.prepare(request)
        chunk = b"x" * (64 * 1024)
        try:
            for _ in range(1024):
                await response.write(chunk)
                self.streamed += len(chunk)
        except ConnectionError:  # the client closed the connection …
            self.stream_aborted.set()
        except asyncio.CancelledError:  # … and the server cancelled this handler for it
            self.stream_aborted.set()
            raise
        return response

    async def slow(self, request: web.Request) -> web.Response:
        await self._log(request)
        await asyncio.wait_for(self.release.wait(), 5)
        return web.json_response(ACCOUNT)

    async def slow_body(self, request: web.Request) -> web.StreamResponse:
        await self._log(request)
        response = web.StreamResponse()
        response.content_type = "application/json"
        await response.prepare(request)
        try:
            await response.write(b'{"data": {"balance": ')
            await asyncio.wait_for(self.release.wait(), 5)
            await response.write(b"1}}")
        except ConnectionError:
            pass
        return response

    async def redirect(self, request: web.Request) -> web.Response:
        await self._log(request)
        raise web.HTTPFound(location="/account/redirected")


@pytest.fixture
async def backend() -> AsyncIterator[Backend]:
    b = Backend()
    await b.server.start_server()
    try:
        yield b
    finally:
        b.release.set()
        await b.server.close()


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def http(config: dict[str, Any], **kw: Any) -> NodeRun:
    return await run_node(HttpRequest, config, **kw)


def http_event(run: NodeRun) -> dict[str, Any]:
    (event,) = [e for e in run.events if e["event"] == "http"]
    return event


# -- description and config ----------------------------------------------------------------


def test_describe_and_defaults() -> None:
    info = HttpRequest.describe()
    assert info["category"] == "integration"
    assert info["exits"] == ["ok", "error", "timeout"]
    assert info["optional_exits"] == ["error", "timeout"]
    assert info["timeout_s"] == 11
    assert HttpRequest.with_defaults({"url": "https://x"}) == {
        "url": "https://x",
        "method": "GET",
        "query": {},
        "headers": {},
        "timeout_ms": 3000,
        "save": {},
        "ok_status": [],
    }


@pytest.mark.parametrize(
    "config",
    [
        {},
        {"url": ""},
        {"url": "https://x/" + "a" * 2000},
        {"url": "https://x", "method": "HEAD"},
        {"url": "https://x", "timeout_ms": 99},
        {"url": "https://x", "timeout_ms": 10001},
        {"url": "https://x", "save": {"v": "data/balance"}},
        {"url": "https://x", "save": {"v": "/a~2b"}},
        {"url": "https://x", "save": {"9v": "/a"}},
        {"url": "https://x", "ok_status": [99]},
        {"url": "https://x", "headers": {"Bad Header": "x"}},
        {"url": "https://x", "status_variable": "a-b"},
        {"url": "https://x", "extra": 1},
    ],
)
def test_schema_rejects(config: dict[str, Any]) -> None:
    assert HttpRequest.config_errors(config)


def test_schema_accepts_any_json_body_and_pointer_forms() -> None:
    for body in ({"a": [1, None, "x"]}, [1, 2], "text", 3, None, True):
        assert HttpRequest.config_errors({"url": "https://x", "method": "POST", "body": body}) == []
    save = {"whole": "", "a": "/data/a~1b", "b": "/x/0/~0y"}
    assert HttpRequest.config_errors({"url": "https://x", "save": save}) == []


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://gjj.example.cn/api", True),
        ("http://10.0.0.5:8080/api", True),
        ("HTTPS://GJJ.EXAMPLE.CN", True),
        ("{{api_base}}/accounts/{{id}}", True),
        ("{{ api_base }}/x", True),
        ("ftp://example.cn/file", False),
        ("gjj.example.cn/api", False),
        ("/api/accounts", False),
        ("file:///etc/passwd", False),
        ("x{{base}}", False),
    ],
)
def test_check_config_url(url: str, ok: bool) -> None:
    found = HttpRequest.check_config(HttpRequest.with_defaults({"url": url}))
    assert [i.code for i in found] == ([] if ok else ["http.url_scheme"])


def test_check_config_warns_about_a_get_body() -> None:
    (issue,) = HttpRequest.check_config(HttpRequest.with_defaults({"url": "https://x", "body": {}}))
    assert (issue.code, issue.severity, issue.pointer) == ("http.body_ignored", "warning", "/body")
    post = HttpRequest.with_defaults({"url": "https://x", "method": "POST", "body": {}})
    assert HttpRequest.check_config(post) == []


def test_references() -> None:
    config = HttpRequest.with_defaults(
        {
            "method": "POST",
            "url": "{{base}}/accounts/{{id}}",
            "query": {"type": "{{kind}}"},
            "headers": {"Authorization": "Bearer {{token}}"},
            "body": {"pin": "{{pin}}", "list": ["{{a}}", 1], "n": 2},
            "save": {"balance": "/data/balance", "name": "/data/holder/name"},
            "status_variable": "http_status",
        }
    )
    refs = HttpRequest.references(config)
    assert sorted(refs, key=lambda r: r.pointer) == sorted(
        [
            Reference("template", "/url", "{{base}}/accounts/{{id}}"),
            Reference("template", "/query/type", "{{kind}}"),
            Reference("template", "/headers/Authorization", "Bearer {{token}}"),
            Reference("template", "/body/pin", "{{pin}}"),
            Reference("template", "/body/list/0", "{{a}}"),
            Reference("variable-out", "/save/balance", "balance"),
            Reference("variable-out", "/save/name", "name"),
            Reference("variable-out", "/status_variable", "http_status"),
        ],
        key=lambda r: r.pointer,
    )


def test_resolve_pointer() -> None:
    doc = {"a": {"b": [10, {"c": None}]}, "x/y": 1, "t~": 2, "": 3}
    assert resolve_pointer(doc, "") == (True, doc)
    assert resolve_pointer(doc, "/a/b/0") == (True, 10)
    assert resolve_pointer(doc, "/a/b/1/c") == (True, None)
    assert resolve_pointer(doc, "/x~1y") == (True, 1)
    assert resolve_pointer(doc, "/t~0") == (True, 2)
    assert resolve_pointer(doc, "/") == (True, 3)
    for missing in ("/nope", "/a/b/2", "/a/b/01", "/a/b/-", "/a/b/0/z", "/a/c"):
        assert resolve_pointer(doc, missing) == (False, None)


def test_render_url_encodes_all_but_a_leading_base() -> None:
    variables = {"base": "https://h:8080/api", "id": "a/b c?&#", "q": "x&y=z"}
    assert (
        render_url("{{base}}/acct/{{id}}?q={{q}}", variables)
        == "https://h:8080/api/acct/a%2Fb%20c%3F%26%23?q=x%26y%3Dz"
    )
    assert render_url("https://h/{{base}}", variables) == "https://h/https%3A%2F%2Fh%3A8080%2Fapi"


# -- success and saving --------------------------------------------------------------------


async def test_get_json_and_save_pointers(backend: Backend) -> None:
    run = await http(
        {
            "url": backend.url("/account/880012"),
            "save": {
                "balance": "/data/balance",
                "name": "/data/holder/name",
                "first_month": "/data/months/0/amount",
                "slashed": "/data/a~1b",
                "flag": "/data/flag",
                "whole_data": "/data/holder",
                "missing": "/data/nothing/here",
                "missing_index": "/data/months/5",
            },
            "status_variable": "http_status",
        },
        vars={"missing": "stale"},
    )
    assert run.exit == "ok"
    assert run.vars["balance"] == 12345.67
    assert run.vars["name"] == "张三"
    assert run.vars["first_month"] == 1200
    assert run.vars["slashed"] == "slash"
    assert run.vars["flag"] is None
    assert run.vars["whole_data"] == {"name": "张三", "id_tail": "1234"}
    assert run.vars["missing"] is None and run.vars["missing_index"] is None
    assert run.vars["http_status"] == 200
    missing = [e for e in run.events if e["event"] == "http_missing"]
    assert missing == [
        {"event": "http_missing", "variable": "missing", "pointer": "/data/nothing/here"},
        {"event": "http_missing", "variable": "missing_index", "pointer": "/data/months/5"},
    ]
    event = http_event(run)
    assert event["method"] == "GET"
    assert event["url"] == backend.url("/account/880012")
    assert event["status"] == 200
    assert isinstance(event["ms"], float) and 0 <= event["ms"] < 3000
    assert "error" not in event
    assert backend.requests[0]["method"] == "GET"


async def test_ok_without_save_ignores_the_body(backend: Backend) -> None:
    run = await http({"url": backend.url("/not-json")})
    assert run.exit == "ok"
    run = await http({"url": backend.url("/empty")})
    assert run.exit == "ok"


async def test_redirect_is_followed(backend: Backend) -> None:
    run = await http({"url": backend.url("/redirect"), "save": {"id": "/id"}})
    assert run.exit == "ok"
    assert run.vars["id"] == "redirected"


# -- templating ----------------------------------------------------------------------------


async def test_url_and_query_templating_with_encoding(backend: Backend) -> None:
    run = await http(
        {
            "url": "{{base}}/account/{{acct}}?fixed=1&who={{who}}",
            "query": {"name": "{{name}}", "q": "a&b=c+d {{name}}", "n": "{{n}}", "none": "{{x}}"},
            "save": {"id": "/id"},
        },
        vars={
            "base": backend.url("").rstrip("/"),
            "acct": "A/1 2&x=y?#",
            "who": "李 四&admin=1",
            "name": "张三",
            "n": 7,
        },
    )
    assert run.exit == "ok"
    (request,) = backend.requests
    assert request["raw_path"].startswith("/account/A%2F1%202&x=y%3F%23?")
    assert run.vars["id"] == "A/1 2&x=y?#"  # one path segment, decoded by the server
    assert request["query"] == {
        "fixed": "1",
        "who": "李 四&admin=1",
        "name": "张三",
        "q": "a&b=c+d 张三",
        "n": "7",
        "none": "",
    }


async def test_post_body_rendering(backend: Backend) -> None:
    run = await http(
        {
            "method": "POST",
            "url": backend.url("/account/1"),
            "headers": {"X-Request-Id": "req-{{call_id}}", "X-Channel": "ivr"},
            "body": {
                "account": "{{acct}}",
                "amount": "{{amount}}",
                "label": "尾号{{acct}}",
                "nested": ["{{flag}}", 1, True, None, {"inner": "{{missing}}"}],
                "obj": "{{profile}}",
            },
        },
        vars={"acct": "880012", "amount": 12.5, "flag": False, "profile": {"vip": True}},
        call_id="call-7",
    )
    assert run.exit == "ok"
    (request,) = backend.requests
    assert request["method"] == "POST"
    assert request["headers"]["content-type"] == "application/json; charset=utf-8"
    assert request["headers"]["x-request-id"] == "req-call-7"
    assert request["headers"]["x-channel"] == "ivr"
    assert json.loads(request["body"]) == {
        "account": "880012",
        "amount": 12.5,
        "label": "尾号880012",
        "nested": [False, 1, True, None, {"inner": None}],
        "obj": {"vip": True},
    }
    event = http_event(run)
    assert set(event) == {"event", "method", "url", "status", "ms"}  # never headers or body


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
async def test_other_methods_send_the_body(backend: Backend, method: str) -> None:
    run = await http(
        {"method": method, "url": backend.url("/account/1"), "body": [1, "{{x}}"]},
        vars={"x": "y"},
    )
    assert run.exit == "ok"
    assert backend.requests[0]["method"] == method
    assert json.loads(backend.requests[0]["body"]) == [1, "y"]


async def test_get_sends_no_body_and_own_content_type_wins(backend: Backend) -> None:
    await http({"url": backend.url("/account/1"), "body": {"a": 1}})
    assert backend.requests[0]["body"] == b""
    await http(
        {
            "method": "POST",
            "url": backend.url("/account/1"),
            "headers": {"content-type": "application/vnd.fund+json"},
            "body": {"a": 1},
        }
    )
    assert backend.requests[1]["headers"]["content-type"] == "application/vnd.fund+json"


async def test_header_injection_is_refused(backend: Backend) -> None:
    run = await http(
        {"url": backend.url("/account/1"), "headers": {"X-Token": "{{token}}"}},
        vars={"token": "abc\r\nX-Admin: 1"},
    )
    assert run.exit == "error"
    assert backend.requests == []
    assert "line break" in http_event(run)["error"]


@pytest.mark.parametrize("base", ["file:///etc/passwd", "", "gopher://x", "http://"])
async def test_rendered_url_must_be_http(backend: Backend, base: str) -> None:
    run = await http({"url": "{{base}}/x"}, vars={"base": base})
    assert run.exit == "error"
    assert http_event(run)["status"] is None


async def test_body_that_cannot_be_json_is_refused(backend: Backend) -> None:
    run = await http(
        {"method": "POST", "url": backend.url("/account/1"), "body": "{{n}}"},
        vars={"n": float("nan")},
    )
    assert run.exit == "error"
    assert backend.requests == []


# -- statuses ------------------------------------------------------------------------------


async def test_500_is_an_error_with_the_status_saved(backend: Backend) -> None:
    run = await http(
        {
            "url": backend.url("/status/500"),
            "status_variable": "http_status",
            "save": {"msg": "/message"},
        }
    )
    assert run.exit == "error"
    assert run.vars["http_status"] == 500
    assert "msg" not in run.vars
    event = http_event(run)
    assert event["status"] == 500
    assert "500" in event["error"]


@pytest.mark.parametrize(
    ("path", "ok_status", "exit_name"),
    [
        ("/status/404", [404], "ok"),
        ("/status/404", [], "error"),
        ("/status/201", [], "ok"),
        ("/status/299", [], "ok"),
        ("/status/200", [201], "error"),
        ("/status/201", [200, 201], "ok"),
        ("/status/302", [], "error"),
        ("/status/400", [], "error"),
        ("/status/503", [], "error"),
    ],
)
async def test_ok_status(backend: Backend, path: str, ok_status: list[int], exit_name: str) -> None:
    run = await http(
        {"url": backend.url(path), "ok_status": ok_status, "status_variable": "s"},
        vars={},
    )
    assert run.exit == exit_name
    assert run.vars["s"] == int(path.rsplit("/", 1)[1])


async def test_ok_404_still_saves(backend: Backend) -> None:
    run = await http(
        {"url": backend.url("/status/404"), "ok_status": [404], "save": {"c": "/code"}}
    )
    assert run.exit == "ok"
    assert run.vars["c"] == 404


# -- faults --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/not-json", "/empty", "/deep"])
async def test_save_from_a_non_json_body_is_an_error(backend: Backend, path: str) -> None:
    run = await http({"url": backend.url(path), "save": {"balance": "/data/balance"}})
    assert run.exit == "error"
    assert "balance" not in run.vars
    assert http_event(run)["error"] == "response is not JSON"


async def test_body_over_1_mib_is_an_error(backend: Backend) -> None:
    run = await http({"url": backend.url("/big"), "save": {"pad": "/pad"}})
    assert run.exit == "error"
    assert "pad" not in run.vars
    assert "over 1048576 bytes" in http_event(run)["error"]


async def test_body_of_exactly_1_mib_is_fine(backend: Backend) -> None:
    run = await http({"url": backend.url("/exactly-1mib"), "save": {"pad": "/pad"}})
    assert run.exit == "ok"
    assert len(run.vars["pad"]) == MIB - 12


async def test_streamed_body_over_1_mib_stops_reading_early(backend: Backend) -> None:
    run = await http({"url": backend.url("/big-stream"), "timeout_ms": 5000})
    assert run.exit == "error"
    assert "over 1048576 bytes" in http_event(run)["error"]
    # the client closed the connection (not merely stopped reading) long before 64 MiB
    await asyncio.wait_for(backend.stream_aborted.wait(), 5)
    assert backend.streamed < 32 * MIB


async def test_slow_answer_times_out(backend: Backend) -> None:
    run = await http({"url": backend.url("/slow"), "timeout_ms": 200, "status_variable": "s"})
    assert run.exit == "timeout"
    event = http_event(run)
    assert event["status"] is None
    assert 150 <= event["ms"] < 2000
    assert "200 ms" in event["error"]
    assert run.vars.get("s") is None


async def test_slow_body_times_out(backend: Backend) -> None:
    run = await http(
        {
            "url": backend.url("/slow-body"),
            "timeout_ms": 200,
            "save": {"b": "/data/balance"},
            "status_variable": "s",
        }
    )
    assert run.exit == "timeout"
    assert run.vars["s"] == 200  # the headers came in time; the body did not
    assert "b" not in run.vars
    assert http_event(run)["status"] == 200


async def test_connection_refused(closed_port: int) -> None:
    run = await http({"url": f"http://127.0.0.1:{closed_port}/account/1"})
    assert run.exit == "error"
    event = http_event(run)
    assert event["status"] is None
    assert "ClientConnectorError" in event["error"]


class FailingResolver(AbstractResolver):
    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        raise OSError(socket.EAI_NONAME, f"Name or service not known: {host}")

    async def close(self) -> None:
        return None


async def test_dns_failure() -> None:
    connector = aiohttp.TCPConnector(resolver=FailingResolver())
    async with aiohttp.ClientSession(connector=connector) as session:
        run = await http({"url": "https://fund-backend.invalid/api"}, resources={"http": session})
    assert run.exit == "error"
    assert "DNS" in http_event(run)["error"]


# -- sessions ------------------------------------------------------------------------------


async def test_injected_session_is_used_and_left_open(backend: Backend) -> None:
    started: list[str] = []

    async def on_start(session: Any, ctx: Any, params: aiohttp.TraceRequestStartParams) -> None:
        started.append(str(params.url))

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_start)
    async with aiohttp.ClientSession(trace_configs=[trace]) as session:
        for _ in range(2):
            run = await http(
                {"url": backend.url("/account/9"), "save": {"id": "/id"}},
                resources={"http": session},
            )
            assert run.exit == "ok" and run.vars["id"] == "9"
        assert not session.closed
    assert started == [backend.url("/account/9")] * 2


async def test_closed_injected_session_is_not_used(backend: Backend) -> None:
    session = aiohttp.ClientSession()
    await session.close()
    run = await http({"url": backend.url("/account/9")}, resources={"http": session})
    assert run.exit == "ok"


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> list[aiohttp.ClientSession]:
    """Every temporary session the node opens."""
    made: list[aiohttp.ClientSession] = []
    real = http_module._temporary_session

    def recording() -> aiohttp.ClientSession:
        made.append(real())
        return made[-1]

    monkeypatch.setattr(http_module, "_temporary_session", recording)
    return made


@pytest.mark.parametrize("path", ["/account/1", "/slow", "/status/500", "/big"])
async def test_temporary_session_is_always_closed(
    backend: Backend, counting: list[aiohttp.ClientSession], path: str
) -> None:
    await http({"url": backend.url(path), "timeout_ms": 200})
    assert len(counting) == 1 and counting[0].closed


async def test_temporary_session_is_closed_on_cancellation(
    backend: Backend, counting: list[aiohttp.ClientSession]
) -> None:
    task = asyncio.ensure_future(http({"url": backend.url("/slow"), "timeout_ms": 5000}))
    for _ in range(200):
        if backend.requests:
            break
        await asyncio.sleep(0.01)
    assert backend.requests, "the request never reached the server"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(counting) == 1 and counting[0].closed


# -- secrets -------------------------------------------------------------------------------


async def test_secret_in_url_is_masked_in_the_trace(backend: Backend) -> None:
    run = await http(
        {
            "url": backend.url("/account/") + "{{pin}}",
            "query": {"pin": "{{pin}}", "id": "{{id_card}}"},
            "save": {"id": "/id"},
        },
        variables={"pin": {"secret": True}, "id_card": {"secret": True}},
        vars={"pin": "123456", "id_card": "33010 2199 0/0101"},
    )
    assert run.exit == "ok"
    assert backend.requests[0]["query"] == {"pin": "123456", "id": "33010 2199 0/0101"}
    event = http_event(run)
    text = json.dumps(run.events, ensure_ascii=False)
    assert "123456" not in text
    assert "33010" not in text  # nor its URL-encoded forms (33010%202199… / 33010+2199…)
    assert event["url"].count(MASK) == 3
    assert "/account/" + MASK in event["url"]


async def test_secret_in_an_error_message_is_masked(closed_port: int) -> None:
    run = await http(
        {"url": "http://127.0.0.1:{{port}}/x"},
        variables={"port": {"secret": True}},
        vars={"port": str(closed_port)},
    )
    assert run.exit == "error"
    assert str(closed_port) not in json.dumps(run.events)
