"""Suite-wide checks: no test may leave asyncio tasks or open sockets behind."""

from __future__ import annotations

import asyncio
import os
import stat
from datetime import date

import pytest
from sqlalchemy import Engine, text

from runtime.pytest_fixtures import engine  # noqa: F401  (a fixture)


def _open_sockets() -> set[str]:
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            if stat.S_ISSOCK(os.fstat(int(fd)).st_mode):
                found.add(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            continue
    return found


@pytest.fixture(autouse=True)
def calendar_today(monkeypatch):
    """Validation warns when chinese-calendar lacks data for the coming 92 days (from the
    schedule plugin's ``today()``); pin "today" to a day whose coming months it knows, so the
    suite does not change its mind as the real date moves. Tests of that warning set their own
    day."""
    import ivrflow_schedule.node as schedule_node

    monkeypatch.setattr(schedule_node, "today", lambda: date(2026, 9, 1))


@pytest.fixture(autouse=True)
def no_leaked_sockets():
    before = _open_sockets()
    yield
    leaked = _open_sockets() - before
    assert not leaked, f"test left sockets open: {sorted(leaked)}"


@pytest.fixture(autouse=True)
def no_leaked_tasks(request):
    """For async tests: after the test, inside its event loop, no task may still run."""
    if request.node.get_closest_marker("asyncio") is not None:
        request.getfixturevalue("_tasks_settled")


@pytest.fixture
async def _tasks_settled():
    yield
    current = asyncio.current_task()
    for _ in range(3):  # let cancelled tasks finish unwinding
        pending = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
        if not pending:
            return
        await asyncio.sleep(0)
    pytest.fail(f"test left asyncio tasks running: {pending}")


def reset_postgres(engine: Engine) -> None:
    """Drop everything (tables, alembic's version, trigger functions) in the test server."""
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
