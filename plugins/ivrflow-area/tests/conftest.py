"""Fixtures of the area plugin's tests (self-contained): a migrated database, the plugin set
up on it, a designer app with its routes and signed-in clients, and a flow using
``area.route``. Helpers are fixtures (``area_flow``), not imports (``--import-mode=importlib``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from ivrflow_area.plugin import setup

from designer.testing import ApiTestClient, designer_with_plugins
from nodes.plugins import PluginHost, Plugins, load_plugins
from runtime.pytest_fixtures import engine  # noqa: F401  (a fixture)


@pytest.fixture
def plugins(engine) -> Plugins:
    loaded = load_plugins(
        PluginHost(engine=engine, environ={}), include_entry_points=False, extra={"area": setup}
    )
    assert loaded.problems == []
    return loaded


@pytest.fixture
def store(plugins):
    return plugins.resources["area"]


def _area_flow(config: dict[str, Any] | None = None) -> dict[str, Any]:
    """area.route → one prompt per region exit, other, unknown → hang up."""
    node_config = {"regions": ["shenzhen", "guangzhou"], **(config or {})}

    def play(prompt: str) -> dict[str, Any]:
        return {
            "type": "core.play",
            "version": 1,
            "config": {"prompts": [prompt]},
            "exits": {"next": "bye"},
        }

    names = ("shenzhen", "guangzhou", "other", "unknown", "busy")
    return {
        "schema_version": 1,
        "id": "area-demo",
        "name": "地区路由",
        "languages": ["zh-CN"],
        "variables": {"region": {"type": "string", "default": ""}},
        "prompts": {n: {"text": {"zh-CN": n}} for n in names},
        "settings": {"fallback": "busy_node"},
        "nodes": {
            "start": {"type": "core.start", "version": 1, "exits": {"next": "route"}},
            "route": {
                "type": "area.route",
                "version": 1,
                "config": node_config,
                "exits": {
                    "shenzhen": "shenzhen_node",
                    "guangzhou": "guangzhou_node",
                    "other": "other_node",
                    "unknown": "unknown_node",
                    "error": "busy_node",
                },
            },
            **{f"{n}_node": play(n) for n in names},
            "bye": {"type": "core.hangup", "version": 1},
        },
    }


@pytest.fixture
def area_flow():
    """``area_flow(config_overrides)``: a flow document routing through area.route."""
    return _area_flow


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
