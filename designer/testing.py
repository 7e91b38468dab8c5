"""Test helpers for code that extends the designer — plugins' API tests use them (a plugin
cannot import ivrflow's own ``tests/``): the designer with a plugin's routes and resources and
users of given roles, a signed-in client that sends the CSRF token like the browser, and
checks of a plugin's pages (:func:`unresolved_page_urls`, :func:`form_errors`)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from argon2 import PasswordHasher
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.routing import Match
from starlette.testclient import TestClient

from designer.app import create_app
from designer.auth import AuthSettings, Users
from nodes.plugins import PluginPage, Plugins, fill_template

__all__ = [
    "FAST_HASHER",
    "PASSWORD",
    "ApiTestClient",
    "api_route",
    "designer_with_plugins",
    "form_errors",
    "unresolved_page_urls",
]

PASSWORD = "correct horse 12329"
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
"""argon2id with tiny costs: tests exercise the logic, not the hash's strength."""


def designer_with_plugins(
    engine: Engine,
    plugins: Plugins,
    media_dir: Path,
    users: Mapping[str, Sequence[str]],
    *,
    password: str = PASSWORD,
) -> Starlette:
    """The designer with the plugins' routes, resources and pages, as ``ivrflow serve`` builds it,
    and the given users (name → roles) with ``password``."""
    auth = AuthSettings(hasher=FAST_HASHER)
    app = create_app(
        engine,
        auth=auth,
        media_dir=media_dir,
        test_call_scale=0.01,
        placeholder_delay_s=0.0,
        extra_routes=plugins.routes,
        resources=plugins.resources,
        pages=plugins.pages,
    )
    accounts = Users(engine, auth)
    for name, roles in users.items():
        accounts.create(name, password, list(roles), actor="test")
    return app


class ApiTestClient:
    """A browser signed in as ``username`` (None: signed out): cookies, and the CSRF token on
    every write."""

    def __init__(self, app: Starlette, username: str | None, password: str = PASSWORD) -> None:
        self.http = TestClient(app, base_url="http://designer.test")
        self.csrf = ""
        if username is not None:
            response = self.http.post(
                "/api/login", json={"username": username, "password": password}
            )
            assert response.status_code == 200, response.text
            self.csrf = response.json()["csrf_token"]

    def get(self, url: str, **kw: Any) -> Any:
        return self.http.get(url, **kw)

    def send(self, method: str, url: str, body: Any = None) -> Any:
        headers = {"X-CSRF-Token": self.csrf}
        content = None
        if body is not None:
            content = json.dumps(body, ensure_ascii=False).encode()
            headers["Content-Type"] = "application/json"
        return self.http.request(method, url, content=content, headers=headers)

    def close(self) -> None:
        self.http.close()


def api_route(app: Starlette, method: str, url: str) -> Any:
    """The API endpoint of ``app`` that answers ``method url`` (the query is ignored), or
    None: routes made with :func:`designer.web.api` only, never the browser pages."""
    scope = {"type": "http", "method": method, "path": urlsplit(url).path, "root_path": ""}
    for route in app.routes:
        match, _ = route.matches(scope)
        if match is Match.FULL and hasattr(getattr(route, "endpoint", None), "spec"):
            return route
    return None


def unresolved_page_urls(
    app: Starlette,
    page: PluginPage,
    row: Mapping[str, Any],
    form: Mapping[str, Any] | None = None,
) -> list[str]:
    """The requests of ``page`` no API route of ``app`` answers (``[]``: all resolve): its
    list, its create form (``{field}`` filled from ``form``) and every action on ``row``, as
    the designer's browser makes them; each as ``"METHOD url"``."""
    wanted = [("GET", page.list_url)]
    if page.create is not None:
        wanted.append((page.create.method, fill_template(page.create.url, form or {})))
    wanted += [(a.method, fill_template(a.url, row)) for a in page.actions]
    return [f"{m} {u}" for m, u in wanted if api_route(app, m, u) is None]


def form_errors(schema: Mapping[str, Any], data: Any) -> list[str]:
    """What is wrong with ``data`` for a page's form ``schema`` (JSON Schema 2020-12, formats
    checked): ``[]`` when the form would accept it."""
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(
        dict(schema), format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(data)
    ]
