"""Test helpers for code that extends the designer — plugins' API tests use them (a plugin
cannot import ivrflow's own ``tests/``): the designer with a plugin's routes and resources and
users of given roles, and a signed-in client that sends the CSRF token like the browser."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.testclient import TestClient

from designer.app import create_app
from designer.auth import AuthSettings, Users
from nodes.plugins import Plugins

__all__ = ["FAST_HASHER", "PASSWORD", "ApiTestClient", "designer_with_plugins"]

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
    """The designer with the plugins' routes and resources, as ``ivrflow serve`` builds it,
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
