"""The plugin's start-up: ``setup(host)`` is the ``ivrflow.plugins`` entry point.

It migrates the plugin's table (its own alembic revisions and version table,
``alembic_version_survey``), makes the :class:`~ivrflow_survey.store.SurveyStore` that nodes
find as ``call.resources["survey"]`` (its writer thread flushes when the process stops — the
``close`` hook — and at interpreter exit), and the designer route of the summary. Without a
database the store is there but stores nothing (answers are only traced).
"""

from __future__ import annotations

import atexit
from pathlib import Path

from ivrflow_survey.node import RESOURCE
from ivrflow_survey.store import SurveyStore
from nodes.plugins import PluginHost, PluginParts

__all__ = ["MIGRATIONS", "NAME", "setup"]

NAME = "survey"
MIGRATIONS = Path(__file__).with_name("migrations")


def setup(host: PluginHost) -> PluginParts:
    """Test calls get a store without a database: their answers are traced, never counted in
    the summary."""
    test_calls = {RESOURCE: SurveyStore(None)}
    if host.engine is None:
        return PluginParts(resources={RESOURCE: SurveyStore(None)})
    host.migrate(NAME, MIGRATIONS)
    store = SurveyStore(host.engine)
    atexit.register(store.close, 5.0)
    from ivrflow_survey.api import make_routes  # the designer's modules only when needed

    return PluginParts(
        resources={RESOURCE: store},
        test_resources=test_calls,
        routes=make_routes(store),
        close=lambda: store.close(5.0),
    )
