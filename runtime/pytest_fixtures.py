"""Pytest fixtures for ivrflow's own tests and for plugins' tests (needs pytest, which the
``dev`` extra brings). Import them into a ``conftest.py``::

    from runtime.pytest_fixtures import engine  # noqa: F401  (a fixture)

``engine``: a fresh, migrated ivrflow database for each test, once on SQLite (WAL, a file) and
once on PostgreSQL when ``IVRFLOW_TEST_POSTGRES_URL`` names a throwaway server (``./test``
starts one; the PostgreSQL run is skipped otherwise).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from runtime.testing import make_test_engine

__all__ = ["engine"]


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path) -> Iterator[Engine]:
    """ivrflow's database, migrated: SQLite, and PostgreSQL when IVRFLOW_TEST_POSTGRES_URL
    names a throwaway server (./test starts one)."""
    made = make_test_engine(request.param, tmp_path)
    if made is None:
        pytest.skip("IVRFLOW_TEST_POSTGRES_URL is not set (./test starts a server)")
    yield made
    made.dispose()
