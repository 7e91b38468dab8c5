"""The plugin's start-up: ``setup(host)`` is the ``ivrflow.plugins`` entry point.

It migrates the plugin's table (its own alembic revisions and version table,
``alembic_version_lists``), makes the :class:`~ivrflow_lists.store.ListsStore` that nodes find
as ``call.resources["lists"]``, and the designer routes that manage it. Without a database the
store is there but unavailable: ``lists.check`` then follows its ``on_unavailable`` policy.
"""

from __future__ import annotations

from pathlib import Path

from ivrflow_lists.node import RESOURCE
from ivrflow_lists.store import ListsStore
from nodes.plugins import PluginHost, PluginParts

__all__ = ["MIGRATIONS", "NAME", "setup"]

NAME = "lists"
MIGRATIONS = Path(__file__).with_name("migrations")


def setup(host: PluginHost) -> PluginParts:
    store = ListsStore(host.engine)
    if host.engine is None:
        return PluginParts(resources={RESOURCE: store})
    host.migrate(NAME, MIGRATIONS)
    from ivrflow_lists.api import make_routes  # the designer's modules only when needed

    return PluginParts(resources={RESOURCE: store}, routes=make_routes(store))
