"""The plugin's start-up: ``setup(host)`` is the ``ivrflow.plugins`` entry point.

It migrates the plugin's tables (its own alembic revisions and version table,
``alembic_version_schedule``), makes the :class:`~ivrflow_schedule.store.ScheduleStore` that
nodes find as ``call.resources["schedule"]``, and the designer routes that manage it. Without
a database (``ivrflow simulate`` without ``--database``) the store is there but empty-handed:
inline schedules work, named ones take the node's error exit.
"""

from __future__ import annotations

from pathlib import Path

from ivrflow_schedule.node import RESOURCE
from ivrflow_schedule.store import ScheduleStore
from nodes.plugins import PluginHost, PluginParts

__all__ = ["MIGRATIONS", "NAME", "setup"]

NAME = "schedule"
MIGRATIONS = Path(__file__).with_name("migrations")


def setup(host: PluginHost) -> PluginParts:
    store = ScheduleStore(host.engine)
    if host.engine is None:
        return PluginParts(resources={RESOURCE: store})
    host.migrate(NAME, MIGRATIONS)
    from ivrflow_schedule.api import make_routes  # the designer's modules only when needed

    return PluginParts(resources={RESOURCE: store}, routes=make_routes(store))
