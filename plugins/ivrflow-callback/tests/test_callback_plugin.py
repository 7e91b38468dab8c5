"""The plugin is found and set up through its entry points, as ``ivrflow serve`` does: the
``callback`` resource and the designer routes with a database, an unavailable store and no
routes without one."""

from __future__ import annotations

from importlib.metadata import entry_points

from ivrflow_callback.plugin import setup
from ivrflow_callback.store import CallbackStore

from nodes.plugins import PluginHost, load_plugins

ROUTES = {
    "/api/callbacks",
    "/api/callbacks/{request_id:int}",
    "/api/callbacks/{request_id:int}/done",
    "/api/callbacks/{request_id:int}/cancel",
}


def _close(loaded) -> None:
    close = getattr(loaded, "close", None)  # newer ivrflow: plugins' close hooks
    if close is not None:
        close()


def test_the_entry_point_names_the_setup_function():
    [ep] = [e for e in entry_points(group="ivrflow.plugins") if e.name == "callback"]
    assert ep.load() is setup
    assert ep.dist is not None and ep.dist.name == "ivrflow-callback"


def test_loaded_with_every_installed_plugin():
    loaded = load_plugins(PluginHost(engine=None, environ={}))
    try:
        assert loaded.names["callback"].startswith("ivrflow-callback ")
        assert not [p for p in loaded.problems if "callback" in p.provider]
        store = loaded.resources["callback"]
        assert isinstance(store, CallbackStore) and not store.available
        assert loaded.resource_providers["callback"] == loaded.names["callback"]
    finally:
        _close(loaded)


def test_loaded_through_its_entry_point_on_a_database(engine):
    [ep] = [e for e in entry_points(group="ivrflow.plugins") if e.name == "callback"]
    loaded = load_plugins(
        PluginHost(engine=engine, environ={}),
        include_entry_points=False,
        extra={"callback": ep.load()},
    )
    try:
        assert loaded.problems == []
        store = loaded.resources["callback"]
        assert store.available and store.engine is engine
        assert {route.path for route in loaded.routes} == ROUTES
    finally:
        _close(loaded)
