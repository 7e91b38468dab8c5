"""The request plumbing shared by every API endpoint: sign-in and CSRF checks, permissions,
bounded bodies, typed request bodies, and problem responses. An endpoint is a plain
synchronous function of a :class:`Context` (it talks to the database, so it runs in a worker
thread); :func:`api` turns it into a Starlette endpoint and records what the OpenAPI document
needs to describe it."""

from __future__ import annotations

import inspect
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from designer.auth import Principal
from designer.flows import Actor, parse_flow
from designer.problems import ApiError
from runtime.document import FlowText
from runtime.problems import Problem, Severity

if TYPE_CHECKING:
    from designer.app import Services

__all__ = ["SAFE_METHODS", "ApiSpec", "Context", "api", "client_ip"]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "x-csrf-token"
Model = TypeVar("Model", bound=BaseModel)


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


@dataclass
class ApiSpec:
    """What :mod:`designer.openapi` says about an endpoint."""

    summary: str
    description: str
    permission: str | None
    body: type[BaseModel] | str | None
    """A pydantic model, ``"flow"`` (a raw flow document) or None."""
    responses: dict[int, str] = field(default_factory=dict)
    tag: str = ""


@dataclass
class Context:
    request: Request
    services: Services
    principal: Principal | None
    raw: bytes

    @property
    def actor(self) -> Actor:
        name = self.principal.username if self.principal else ""
        return Actor(name, client_ip(self.request))

    @property
    def user(self) -> Principal:
        assert self.principal is not None
        return self.principal

    def path(self, name: str) -> str:
        return str(self.request.path_params[name])

    def query(self, name: str, default: str | None = None) -> str | None:
        return self.request.query_params.get(name, default)

    def query_int(
        self, name: str, default: int | None = None, *, lo: int = 0, hi: int = 10**9
    ) -> int | None:
        raw = self.request.query_params.get(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            value = lo - 1
        if not lo <= value <= hi:
            raise ApiError(
                400,
                "request.query",
                f"查询参数 {name} 须为 {lo}–{hi} 的整数",
                f"query parameter {name} must be an integer {lo}-{hi}",
            )
        return value

    def json(self) -> Any:
        if not self.raw:
            raise ApiError(400, "request.empty", "请求内容为空", "the request body is empty")
        try:
            return json.loads(self.raw)
        except UnicodeDecodeError:
            raise ApiError(
                400, "json.encoding", "请求不是 UTF-8 编码", "the body is not UTF-8"
            ) from None
        except json.JSONDecodeError as exc:
            raise ApiError(
                400,
                "json.syntax",
                f"JSON 格式错误：第 {exc.lineno} 行第 {exc.colno} 列：{exc.msg}",
                f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}",
            ) from None

    def body(self, model: type[Model]) -> Model:
        data = self.json()
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            problems = [
                Problem(
                    severity=Severity.ERROR,
                    code="request.field",
                    message_zh=f"字段 {_loc(e['loc'])}：{e['msg']}",
                    message_en=f"field {_loc(e['loc'])}: {e['msg']}",
                    pointer="/" + "/".join(str(p) for p in e["loc"]),
                )
                for e in exc.errors()
            ]
            first = problems[0]
            raise ApiError(
                422, "request.invalid", first.message_zh, first.message_en, problems=problems
            ) from None

    def flow_document(self) -> FlowText:
        if not self.raw:
            raise ApiError(400, "request.empty", "请求内容为空", "the request body is empty")
        return parse_flow(self.raw)


def _loc(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(body)"


def _unauthorised() -> ApiError:
    return ApiError(
        401, "auth.required", "请先登录（或登录已过期）", "sign in first (or the session expired)"
    )


def api(
    permission: str | None,
    *,
    body: type[BaseModel] | str | None = None,
    responses: dict[int, str] | None = None,
    tag: str = "",
) -> Callable[[Callable[[Context], Any]], Callable[[Request], Any]]:
    """Make a Starlette endpoint of ``fn(ctx)`` (a plain function runs in a worker thread; an
    async one on the event loop). ``permission`` None = no sign-in needed."""

    def decorate(fn: Callable[[Context], Any]) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            services: Services = request.app.state.services
            principal = None
            if permission is not None:
                token = request.cookies.get(services.auth.cookie_name, "")
                principal = await run_in_threadpool(services.users.authenticate, token)
                if principal is None:
                    raise _unauthorised()
                if request.method not in SAFE_METHODS:
                    sent = request.headers.get(CSRF_HEADER, "")
                    if not sent or not secrets.compare_digest(sent, principal.csrf_token):
                        raise ApiError(
                            403,
                            "auth.csrf",
                            "缺少或错误的 CSRF 令牌（X-CSRF-Token），请刷新页面",
                            "missing or wrong CSRF token (X-CSRF-Token); reload the page",
                        )
                if not principal.can(permission):
                    raise ApiError(
                        403,
                        "auth.forbidden",
                        f"你的角色（{', '.join(principal.roles)}）不能执行此操作"
                        f"（需要 {permission}）",
                        f"your roles ({', '.join(principal.roles)}) do not allow this "
                        f"(needs {permission})",
                        permission=permission,
                    )
            raw = b"" if request.method in SAFE_METHODS else await request.body()
            ctx = Context(request, services, principal, raw)
            if inspect.iscoroutinefunction(fn):
                result = await fn(ctx)  # it runs its database work in worker threads itself
            else:
                result = await run_in_threadpool(fn, ctx)
            if isinstance(result, Response):
                return result
            return JSONResponse(result)

        doc = (fn.__doc__ or "").strip()
        summary, _, description = doc.partition("\n")
        endpoint.__name__ = fn.__name__
        endpoint.__doc__ = fn.__doc__
        endpoint.spec = ApiSpec(  # type: ignore[attr-defined]
            summary=summary.strip(),
            description=description.strip(),
            permission=permission,
            body=body,
            responses=responses or {},
            tag=tag,
        )
        return endpoint

    return decorate
