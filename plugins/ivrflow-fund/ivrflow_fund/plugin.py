"""The plugin's start-up: ``setup(host)`` is the ``ivrflow.plugins`` entry point.

It chooses the fund system nodes find as ``call.resources["fund"]``:

* ``IVRFLOW_FUND_URL`` set (and ``IVRFLOW_FUND_DEMO`` not ``1``): the
  :class:`~ivrflow_fund.http.HttpFundBackend` (credentials from ``IVRFLOW_FUND_TOKEN``;
  timeout and breaker settings in :mod:`ivrflow_fund.http`);
* otherwise the :class:`~ivrflow_fund.demo.DemoFundBackend`: the plugin's own tables in
  ivrflow's database (migrated with its alembic revisions, version table
  ``alembic_version_fund``) seeded once with demo data — or, in a process without a database
  (``ivrflow simulate`` without ``--database``), a private in-memory database.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.pool import StaticPool

from ivrflow_fund.backend import FundBackend
from ivrflow_fund.demo import DemoFundBackend, seed_demo
from ivrflow_fund.dryrun import DryRunFund
from ivrflow_fund.http import HttpFundBackend
from nodes.plugins import PluginHost, PluginParts

__all__ = ["MIGRATIONS", "NAME", "RESOURCE", "make_backend", "setup"]

NAME = "fund"
RESOURCE = "fund"
MIGRATIONS = Path(__file__).with_name("migrations")

log = logging.getLogger("ivrflow.fund")


def make_backend(host: PluginHost) -> FundBackend:
    environ = host.environ
    if host.engine is not None:
        host.migrate(NAME, MIGRATIONS)  # the tables exist whichever system is configured
    url = environ.get("IVRFLOW_FUND_URL", "").strip()
    if url and environ.get("IVRFLOW_FUND_DEMO", "") != "1":
        backend = HttpFundBackend.from_environ({**environ, "IVRFLOW_FUND_URL": url})
        log.info("fund plugin: fund system at %s", backend.base_url)
        return backend
    engine, private = host.engine, host.engine is None
    if engine is None:  # a throw-away demo database for this process
        engine = create_engine(
            "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
        )
        PluginHost(engine=engine, environ={}).migrate(NAME, MIGRATIONS)
    seed_demo(engine)
    log.warning("fund plugin: using the DEMO fund system (no IVRFLOW_FUND_URL configured)")
    return DemoFundBackend(engine, serialise=private)


def setup(host: PluginHost) -> PluginParts:
    """Test calls read the same fund system but never book or cancel in it
    (:class:`~ivrflow_fund.dryrun.DryRunFund`)."""
    backend = make_backend(host)
    return PluginParts(
        resources={RESOURCE: backend}, test_resources={RESOURCE: DryRunFund(backend)}
    )
