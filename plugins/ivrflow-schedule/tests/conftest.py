"""Fixtures of the schedule plugin's tests (self-contained, as a plugin outside ivrflow's
repository would have them): a migrated database, the plugin set up on it, a designer app with
its routes, signed-in clients, and a small flow using ``schedule.route``.

Helpers are fixtures (``at``, ``hours``, ``routing_flow``), not imports: with
``--import-mode=importlib`` a test module cannot import this conftest by name (``conftest``
would be ivrflow's own)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from ivrflow_schedule.plugin import setup

from designer.testing import ApiTestClient, designer_with_plugins
from nodes.plugins import PluginHost, Plugins, load_plugins
from runtime.pytest_fixtures import engine  # noqa: F401  (a fixture)

SHANGHAI = ZoneInfo("Asia/Shanghai")
WORKDAYS = ("mon", "tue", "wed", "thu", "fri")
HOURS = {
    "timezone": "Asia/Shanghai",
    "weekly": {day: ["08:30-12:00", "13:30-17:30"] for day in WORKDAYS},
}


def _at(text_: str, tz: ZoneInfo | str = SHANGHAI) -> datetime:
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    return datetime.fromisoformat(text_).replace(tzinfo=zone)


@pytest.fixture
def at():
    """``at("2026-02-16 10:00")``: an aware instant (Beijing time unless a zone is given)."""
    return _at


@pytest.fixture
def hours() -> dict[str, Any]:
    """Mon–Fri 08:30–12:00 and 13:30–17:30, Beijing time, PRC holidays (a fresh copy)."""
    return json.loads(json.dumps(HOURS))


@pytest.fixture
def routing_flow():
    """``routing_flow(hours_or_name)``: a flow document routing through schedule.route."""
    return _routing_flow


@pytest.fixture
def plugins(engine) -> Plugins:
    """The plugin set up on the database, exactly as ``ivrflow serve`` does."""
    loaded = load_plugins(
        PluginHost(engine=engine, environ={}), include_entry_points=False, extra={"schedule": setup}
    )
    assert loaded.problems == []
    return loaded


@pytest.fixture
def store(plugins):
    return plugins.resources["schedule"]


@pytest.fixture
def app(engine, plugins, tmp_path):
    """The designer with the plugin's routes and resources, as ``ivrflow serve`` builds it."""
    return designer_with_plugins(
        engine,
        plugins,
        tmp_path / "media",
        {"admin": ["admin"], "ed": ["editor"], "viewer": ["viewer"]},
    )


@pytest.fixture
def clients(app) -> Iterator[dict[str, ApiTestClient]]:
    made = {name: ApiTestClient(app, name) for name in ("admin", "ed", "viewer")}
    made["anon"] = ApiTestClient(app, None)
    yield made
    for client in made.values():
        client.close()


def _routing_flow(schedule: dict[str, Any] | str = HOURS, flow_id: str = "hours") -> dict:
    """Welcome → schedule.route → one prompt per exit → hang up."""
    config: dict[str, Any] = (
        {"schedule": schedule} if isinstance(schedule, str) else {"hours": schedule}
    )
    config["reason_variable"] = "why"

    def play(prompt: str) -> dict[str, Any]:
        return {
            "type": "core.play",
            "version": 1,
            "config": {"prompts": [prompt]},
            "exits": {"next": "bye"},
        }

    return {
        "schema_version": 1,
        "id": flow_id,
        "name": "工作时间",
        "languages": ["zh-CN"],
        "variables": {"why": {"type": "string", "default": ""}},
        "prompts": {
            "open": {"text": {"zh-CN": "您好，人工服务时间。"}},
            "closed": {"text": {"zh-CN": "现在是下班时间。"}},
            "holiday": {"text": {"zh-CN": "节假日休息。"}},
            "busy": {"text": {"zh-CN": "系统繁忙。"}},
        },
        "settings": {"fallback": "busy_node"},
        "nodes": {
            "start": {"type": "core.start", "version": 1, "exits": {"next": "route"}},
            "route": {
                "type": "schedule.route",
                "version": 1,
                "config": config,
                "exits": {
                    "open": "open_node",
                    "closed": "closed_node",
                    "holiday": "holiday_node",
                    "error": "busy_node",
                },
            },
            "open_node": play("open"),
            "closed_node": play("closed"),
            "holiday_node": play("holiday"),
            "busy_node": play("busy"),
            "bye": {"type": "core.hangup", "version": 1},
        },
    }
