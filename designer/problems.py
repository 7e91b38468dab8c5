"""Error responses: every error is an RFC 9457 problem document (``application/problem+json``)
with a stable ``code``, a message in Chinese and in English, and, for flows, the validator's
problem list (node id, field pointer, line)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from runtime.problems import Problem

__all__ = ["PROBLEM_TYPE", "ApiError", "problem_handlers", "problem_response"]

log = logging.getLogger("ivrflow.designer")

PROBLEM_TYPE = "application/problem+json"

# status code → (code, zh, en) for errors Starlette raises itself (unknown path, bad method …)
_HTTP = {
    400: ("request.bad", "请求无效", "Bad request"),
    401: ("auth.required", "请先登录", "Please sign in"),
    403: ("auth.forbidden", "没有权限", "Not allowed"),
    404: ("not_found", "找不到请求的内容", "Not found"),
    405: ("request.method", "不支持该请求方法", "Method not allowed"),
    413: ("request.too_large", "请求内容过大", "Request body too large"),
    500: ("server.error", "服务器内部错误，已记录", "Internal server error (logged)"),
}


class ApiError(Exception):
    """Raised by endpoints; rendered as a problem document."""

    def __init__(
        self,
        status: int,
        code: str,
        message_zh: str,
        message_en: str,
        *,
        problems: Iterable[Problem] = (),
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message_en)
        self.status = status
        self.code = code
        self.message_zh = message_zh
        self.message_en = message_en
        self.problems = list(problems)
        self.headers = headers or {}
        self.extra = extra


def problem_response(
    status: int,
    code: str,
    message_zh: str,
    message_en: str,
    *,
    problems: Iterable[Problem] = (),
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    body: dict[str, Any] = {
        "type": f"https://ivrflow.dev/problems/{code}",
        "title": message_en,
        "status": status,
        "code": code,
        "message_zh": message_zh,
        "message_en": message_en,
    }
    listed = [p.to_json() for p in problems]
    if listed:
        body["problems"] = listed
    body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_TYPE)


async def _api_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return problem_response(
        exc.status,
        exc.code,
        exc.message_zh,
        exc.message_en,
        problems=exc.problems,
        headers=exc.headers,
        **exc.extra,
    )


async def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code, zh, en = _HTTP.get(exc.status_code, ("http.error", "请求失败", "Request failed"))
    return problem_response(exc.status_code, code, zh, en, headers=exc.headers)


async def _server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    code, zh, en = _HTTP[500]
    return problem_response(500, code, zh, en)


def problem_handlers() -> dict[Any, Any]:
    return {ApiError: _api_error, HTTPException: _http_error, Exception: _server_error}
