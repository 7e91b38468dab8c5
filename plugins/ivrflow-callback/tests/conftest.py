"""Fixtures of the callback plugin's tests (self-contained, as a plugin outside ivrflow's
repository would have them): a migrated database, the plugin set up on it, a designer app with
its routes, signed-in clients, a store that hangs, and a flow using ``callback.register``.

Helpers are fixtures (``callback_flow``), not imports: with ``--import-mode=importlib`` a test
module cannot import this conftest by name (``conftest`` would be ivrflow's own)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from ivrflow_callback.plugin import setup
from ivrflow_callback.store import CallbackStore

from designer.testing import ApiTestClient, designer_with_plugins
from nodes.plugins import PluginHost, Plugins, load_plugins
from runtime.pytest_fixtures import engine  # noqa: F401  (a fixture)


@pytest.fixture
def plugins(engine) -> Plugins:
    """The plugin set up on the database, exactly as ``ivrflow serve`` does."""
    loaded = load_plugins(
        PluginHost(engine=engine, environ={}),
        include_entry_points=False,
        extra={"callback": setup},
    )
    assert loaded.problems == []
    return loaded


@pytest.fixture
def store(plugins) -> CallbackStore:
    return plugins.resources["callback"]


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


class HangingStore(CallbackStore):
    """A store whose database never answers: ``register_sync`` (run in a worker thread by
    the real ``register``) blocks on ``gate`` until the fixture's teardown opens it."""

    def __init__(self) -> None:
        super().__init__(None)
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.left = threading.Event()

    def _engine(self) -> Any:
        return object()  # "available": the hang is in the database, not a missing one

    def register_sync(self, phone: str, **kwargs: Any) -> Any:
        self.entered.set()
        try:
            self.gate.wait(30)
            raise ConnectionError("the database answered too late")
        finally:
            self.left.set()


@pytest.fixture
async def hanging_store() -> AsyncIterator[HangingStore]:
    """Async, so that its teardown runs before the test's event loop closes (closing waits
    for the loop's worker threads, the hung one included)."""
    hanging = HangingStore()
    yield hanging
    hanging.gate.set()  # release the worker thread
    assert await asyncio.to_thread(hanging.left.wait, 5), "the worker thread did not finish"


@pytest.fixture
def callback_flow():
    """``callback_flow(**config)``: start → callback.register → one prompt per exit."""
    return _callback_flow


def _callback_flow(**config: Any) -> dict[str, Any]:
    def play(prompt: str) -> dict[str, Any]:
        return {
            "type": "core.play",
            "version": 1,
            "config": {"prompts": [prompt]},
            "exits": {"next": "bye"},
        }

    return {
        "schema_version": 1,
        "id": "callback-demo",
        "name": "回拨登记",
        "languages": ["zh-CN"],
        "prompts": {
            "registered": {"text": {"zh-CN": "已为您登记回拨，我们将尽快与您联系。"}},
            "already": {"text": {"zh-CN": "您的号码已登记回拨，请耐心等待。"}},
            "invalid": {"text": {"zh-CN": "无法识别您的号码，请稍后再拨。"}},
            "sorry": {"text": {"zh-CN": "系统繁忙，请稍后再拨。"}},
        },
        "settings": {"fallback": "sorry_node"},
        "nodes": {
            "start": {"type": "core.start", "version": 1, "exits": {"next": "register"}},
            "register": {
                "type": "callback.register",
                "version": 1,
                "config": config,
                "exits": {
                    "registered": "registered_node",
                    "already": "already_node",
                    "invalid_number": "invalid_node",
                    "error": "sorry_node",
                },
            },
            "registered_node": play("registered"),
            "already_node": play("already"),
            "invalid_node": play("invalid"),
            "sorry_node": play("sorry"),
            "bye": {"type": "core.hangup", "version": 1},
        },
    }
