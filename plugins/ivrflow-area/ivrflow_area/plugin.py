"""The plugin's start-up: migrate ``area_prefix`` (seeded with a small sample on creation),
make the :class:`~ivrflow_area.store.AreaStore` that nodes find as
``call.resources["area"]``, and the designer routes that edit it."""

from __future__ import annotations

from pathlib import Path

from ivrflow_area.node import RESOURCE
from ivrflow_area.store import AreaStore
from nodes.plugins import PluginHost, PluginParts

__all__ = ["MIGRATIONS", "NAME", "setup"]

NAME = "area"
MIGRATIONS = Path(__file__).with_name("migrations")


def setup(host: PluginHost) -> PluginParts:
    store = AreaStore(host.engine)
    if host.engine is None:
        return PluginParts(resources={RESOURCE: store})
    host.migrate(NAME, MIGRATIONS)
    from ivrflow_area.api import make_routes  # the designer's modules only when needed

    return PluginParts(resources={RESOURCE: store}, routes=make_routes(store))
