"""The plugin's start-up: ``setup(host)`` is the ``ivrflow.plugins`` entry point.

It migrates the plugin's table (its own alembic revision and version table,
``alembic_version_callback``), makes the :class:`~ivrflow_callback.store.CallbackStore` that
nodes find as ``call.resources["callback"]``, and the designer routes staff use. Without a
database the store is there but unavailable: ``callback.register`` then takes ``error``.
"""

from __future__ import annotations

from pathlib import Path

from ivrflow_callback.node import RESOURCE
from ivrflow_callback.store import CallbackStore
from nodes.plugins import PluginHost, PluginParts

__all__ = ["MIGRATIONS", "NAME", "setup"]

NAME = "callback"
MIGRATIONS = Path(__file__).with_name("migrations")


def setup(host: PluginHost) -> PluginParts:
    store = CallbackStore(host.engine)
    if host.engine is None:
        return PluginParts(resources={RESOURCE: store})
    host.migrate(NAME, MIGRATIONS)
    from ivrflow_callback.api import make_routes  # the designer's modules only when needed

    return PluginParts(resources={RESOURCE: store}, routes=make_routes(store))
