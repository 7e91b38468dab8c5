"""Fixtures of the lists plugin's tests (self-contained, as a plugin outside ivrflow's
repository would have them): a migrated database, the plugin set up on it, a designer app with
its routes, signed-in clients, and a flow using ``lists.check``.

Helpers are fixtures (``screening_flow``), not imports: with ``--import-mode=importlib`` a test
module cannot import this conftest by name (``conftest`` would be ivrflow's own)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from ivrflow_lists.plugin import setup

from designer.testing import ApiTestClient, designer_with_plugins
from nodes.plugins import PluginHost, Plugins, load_plugins
from runtime.pytest_fixtures import engine  # noqa: F401  (a fixture)


@pytest.fixture
def plugins(engine) -> Plugins:
    """The plugin set up on the database, exactly as ``ivrflow serve`` does."""
    loaded = load_plugins(
        PluginHost(engine=engine, environ={}), include_entry_points=False, extra={"lists": setup}
    )
    assert loaded.problems == []
    return loaded


@pytest.fixture
def store(plugins):
    return plugins.resources["lists"]


@pytest.fixture
def app(engine, plugins, tmp_path):
    """The designer with the plugin's routes and resources, as ``ivrflow serve`` builds it."""
    return designer_with_plugins(
        engine,
        plugins,
        tmp_path / "media",
        {
            "admin": ["admin"],
            "ops": ["operator"],
            "pub": ["publisher"],
            "ed": ["editor"],
            "viewer": ["viewer"],
        },
    )


@pytest.fixture
def clients(app) -> Iterator[dict[str, ApiTestClient]]:
    made = {name: ApiTestClient(app, name) for name in ("admin", "ops", "pub", "ed", "viewer")}
    made["anon"] = ApiTestClient(app, None)
    yield made
    for client in made.values():
        client.close()


@pytest.fixture
def screening_flow():
    """``screening_flow(**config)``: start → lists.check → one prompt per exit; VIPs and
    allowed callers go on to core.transfer_queue with the priority variable."""
    return _screening_flow


def _screening_flow(**config: Any) -> dict[str, Any]:
    def play(prompt: str, then: str = "bye") -> dict[str, Any]:
        return {
            "type": "core.play",
            "version": 1,
            "config": {"prompts": [prompt]},
            "exits": {"next": then},
        }

    exits = {
        "blocked": "blocked_node",
        "allowed": "welcome_node",
        "vip": "vip_node",
        "error": "busy_node",
    }
    if config.get("on_anonymous") == "anonymous":
        exits["anonymous"] = "anonymous_node"
    return {
        "schema_version": 1,
        "id": "screening",
        "name": "黑白名单",
        "languages": ["zh-CN"],
        "variables": {"vip_priority": {"type": "number", "default": 0}},
        "prompts": {
            "blocked": {"text": {"zh-CN": "您的号码已被限制呼入。"}},
            "welcome": {"text": {"zh-CN": "您好，欢迎致电12329。"}},
            "vip": {"text": {"zh-CN": "尊敬的贵宾，您好。"}},
            "anonymous": {"text": {"zh-CN": "请显示您的号码后再拨。"}},
            "busy": {"text": {"zh-CN": "系统繁忙。"}},
        },
        "settings": {"fallback": "busy_node"},
        "nodes": {
            "start": {"type": "core.start", "version": 1, "exits": {"next": "check"}},
            "check": {"type": "lists.check", "version": 1, "config": config, "exits": exits},
            "blocked_node": play("blocked"),
            "welcome_node": play("welcome", "queue"),
            "vip_node": play("vip", "queue"),
            "anonymous_node": play("anonymous"),
            "busy_node": play("busy"),
            "queue": {
                "type": "core.transfer_queue",
                "version": 1,
                "config": {"queue": "general", "priority_variable": "vip_priority"},
                "exits": {
                    "completed": "bye",
                    "timeout": "bye",
                    "unavailable": "bye",
                    "error": "bye",
                },
            },
            "bye": {"type": "core.hangup", "version": 1},
        },
    }
