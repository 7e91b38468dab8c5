"""Test helpers for the designer API: an app on a test database with a cheap password hash,
and a client that signs in and sends the CSRF token like the browser does."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.testclient import TestClient

from designer.app import create_app
from designer.auth import AuthSettings, Users
from designer.testing import FAST_HASHER, PASSWORD

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def auth_settings(**overrides: Any) -> AuthSettings:
    return AuthSettings(hasher=FAST_HASHER, **overrides)


def make_app(engine: Engine, **kw: Any) -> Starlette:
    kw.setdefault("auth", auth_settings())
    kw.setdefault("placeholder_delay_s", 0.0)
    if "media_dir" not in kw:  # never the repository's var/
        kw["media_dir"] = tempfile.mkdtemp(prefix="ivrflow-test-media-")
    return create_app(engine, **kw)


def add_user(app: Starlette, username: str, *roles: str, password: str = PASSWORD) -> None:
    users: Users = app.state.services.users
    users.create(username, password, list(roles), actor="test")


class ApiClient:
    """A signed-in browser: cookie jar plus the CSRF header on writes."""

    def __init__(self, app: Starlette, username: str | None = None, password: str = PASSWORD):
        self.http = TestClient(app, base_url="http://designer.test")
        self.csrf = ""
        if username is not None:
            response = self.login(username, password)
            assert response.status_code == 200, response.text

    def login(self, username: str, password: str = PASSWORD) -> Any:
        response = self.http.post("/api/login", json={"username": username, "password": password})
        if response.status_code == 200:
            self.csrf = response.json()["csrf_token"]
        return response

    def _headers(self, headers: dict[str, str] | None) -> dict[str, str]:
        return {"X-CSRF-Token": self.csrf, **(headers or {})}

    def get(self, url: str, **kw: Any) -> Any:
        return self.http.get(url, **kw)

    def post(
        self, url: str, json_body: Any = None, *, headers: dict[str, str] | None = None, **kw: Any
    ) -> Any:
        if json_body is not None:
            kw["content"] = json.dumps(json_body, ensure_ascii=False).encode()
            headers = {"Content-Type": "application/json", **(headers or {})}
        return self.http.post(url, headers=self._headers(headers), **kw)

    def put(
        self, url: str, json_body: Any = None, *, headers: dict[str, str] | None = None, **kw: Any
    ) -> Any:
        if json_body is not None:
            kw["content"] = json.dumps(json_body, ensure_ascii=False).encode()
            headers = {"Content-Type": "application/json", **(headers or {})}
        return self.http.put(url, headers=self._headers(headers), **kw)

    def patch(self, url: str, json_body: Any, **kw: Any) -> Any:
        return self.http.patch(url, json=json_body, headers=self._headers(None), **kw)

    def delete(self, url: str, **kw: Any) -> Any:
        return self.http.delete(url, headers=self._headers(None), **kw)

    def close(self) -> None:
        self.http.close()


def example(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / "12329" / name).read_text(encoding="utf-8"))


def tiny_flow(flow_id: str = "tiny", *, key2: str = "bye") -> dict[str, Any]:
    """A valid flow: a menu with keys 1 and 2 (1 → thanks, 2 → ``key2``), then goodbye."""
    return {
        "schema_version": 1,
        "id": flow_id,
        "name": "小菜单",
        "languages": ["zh-CN"],
        "prompts": {
            "menu": {"text": {"zh-CN": "请按1或2。"}},
            "thanks": {"text": {"zh-CN": "谢谢。"}},
            "other": {"text": {"zh-CN": "另一个分支。"}},
            "busy": {"text": {"zh-CN": "系统繁忙。"}},
        },
        "settings": {"fallback": "busy"},
        "nodes": {
            "start": {"type": "core.start", "version": 1, "config": {}, "exits": {"next": "menu"}},
            "menu": {
                "type": "core.menu",
                "version": 1,
                "label": "主菜单",
                "config": {"prompts": ["menu"], "options": [{"key": "1"}, {"key": "2"}]},
                "exits": {"1": "thanks", "2": key2, "timeout": "bye", "invalid": "bye"},
            },
            "thanks": {
                "type": "core.play",
                "version": 1,
                "label": "致谢",
                "config": {"prompts": ["thanks"]},
                "exits": {"next": "bye"},
            },
            "other": {
                "type": "core.play",
                "version": 1,
                "label": "另一个",
                "config": {"prompts": ["other"]},
                "exits": {"next": "bye"},
            },
            "busy": {
                "type": "core.play",
                "version": 1,
                "config": {"prompts": ["busy"]},
                "exits": {"next": "bye"},
            },
            "bye": {"type": "core.hangup", "version": 1, "config": {}, "exits": {}},
        },
    }
