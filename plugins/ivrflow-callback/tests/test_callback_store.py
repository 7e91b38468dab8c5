"""The plugin's table (its own alembic revision and version table, the partial unique index)
and the store on SQLite and PostgreSQL: one pending request per number even when two calls
register at the same moment from two processes, finishing requests, and the search."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from ivrflow_callback.plugin import MIGRATIONS, setup
from ivrflow_callback.store import (
    CallbackStore,
    CallbackUnavailable,
    NotPending,
    metadata,
    requests_table,
)
from sqlalchemy import insert, inspect
from sqlalchemy.exc import IntegrityError

from nodes.plugins import PluginHost
from runtime.store.db import make_engine
from runtime.store.migrate import plugin_revision

NOW = datetime(2026, 7, 1, 2, 0, tzinfo=UTC)


def _plugin_objects(obj, name, type_, reflected, compare_to) -> bool:
    table = obj if type_ == "table" else getattr(obj, "table", None)
    return table is not None and table.name.startswith("callback_")


def test_the_plugin_owns_its_table_and_version_table(engine, plugins):
    tables = set(inspect(engine).get_table_names())
    assert {"callback_request", "alembic_version_callback"} <= tables
    assert plugin_revision(engine, "callback") == "callback_0001"
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_object": _plugin_objects}
        )
        assert compare_metadata(context, metadata) == []
    indexes = {i["name"]: i for i in inspect(engine).get_indexes("callback_request")}
    assert indexes["uq_callback_request_pending_phone"]["unique"]


def test_setting_up_again_is_a_no_op(engine, store):
    store.register_sync("13912345678", at=NOW)
    again = setup(PluginHost(engine=engine, environ={}))
    assert [r.phone for r in again.resources["callback"].search()[1]] == ["13912345678"]
    assert PluginHost(engine=engine).migrate("callback", MIGRATIONS) == "callback_0001"


def _row(phone: str, status: str) -> dict:
    return {
        "phone": phone,
        "call_id": "c",
        "flow": "f",
        "reason": "caller_request",
        "note": "",
        "status": status,
        "attempts": 1,
        "requested_at": NOW,
        "last_requested_at": NOW,
    }


def test_the_database_refuses_a_second_pending_request(engine, store):
    with engine.begin() as conn:
        conn.execute(insert(requests_table).values(**_row("13912345678", "pending")))
        conn.execute(insert(requests_table).values(**_row("13912345678", "done")))
        conn.execute(insert(requests_table).values(**_row("13912345678", "done")))
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(insert(requests_table).values(**_row("13912345678", "pending")))
    assert store.search(status=None)[0] == 3


def _race(stores: list[CallbackStore], phone: str) -> list[object]:
    """Every store registers ``phone`` in its own thread, released together."""
    barrier = threading.Barrier(len(stores))
    results: list[object] = []

    def register(target: CallbackStore, call_id: str) -> None:
        barrier.wait(5)
        try:
            results.append(target.register_sync(phone, call_id=call_id, at=NOW))
        except Exception as exc:  # recorded, asserted by the caller
            results.append(exc)

    threads = [
        threading.Thread(target=register, args=(target, f"call-{i}"))
        for i, target in enumerate(stores)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert not any(thread.is_alive() for thread in threads)
    return results


def test_concurrent_registrations_of_a_number_make_one_request(engine, store):
    """Two calls from the same number register at the same moment, through two engines (as
    two runtime processes would): one is registered, the other finds it — every round."""
    rounds = 8
    other_engine = make_engine(engine.url.render_as_string(hide_password=False), create=False)
    other = CallbackStore(other_engine)
    try:
        for round_ in range(rounds):
            phone = f"1391234{round_:04d}"
            results = _race([store, other], phone)
            assert sorted(r.created for r in results) == [False, True], results  # type: ignore[attr-defined]
            total, [request] = store.search(phone=phone)
            assert total == 1 and request.attempts == 2
            assert {r.request.id for r in results} == {request.id}  # type: ignore[attr-defined]
    finally:
        other_engine.dispose()
    assert store.search()[0] == rounds


async def test_concurrent_async_registrations_in_one_process(store):
    done = await asyncio.gather(*(store.register("13800138000", at=NOW) for _ in range(6)))
    assert sum(r.created for r in done) == 1
    total, [request] = store.search()
    assert total == 1 and request.attempts == 6


def test_finish_done_and_cancel(store):
    first = store.register_sync("13912345678", reason="after_hours", at=NOW).request
    second = store.register_sync("01088881234", at=NOW + timedelta(minutes=1)).request
    later = NOW + timedelta(hours=1)
    done = store.finish(first.id, "done", actor="agent7", result="已解答", at=later)
    assert (done.status, done.handled_by, done.handled_at, done.result) == (
        "done",
        "agent7",
        later,
        "已解答",
    )
    assert store.get(first.id) == done
    with pytest.raises(NotPending) as caught:
        store.finish(first.id, "cancelled", actor="agent8")
    assert caught.value.request.handled_by == "agent7"
    cancelled = store.finish(second.id, "cancelled", actor="admin", at=later)
    assert cancelled.status == "cancelled" and cancelled.result == ""
    assert store.finish(9999, "done") is None
    with pytest.raises(ValueError, match="done or cancelled"):
        store.finish(second.id, "pending")
    assert store.search() == (0, [])


def test_search_filters_and_pages(store):
    phones = ["13912345678", "13800001111", "057188881234", "13700005678"]
    for i, phone in enumerate(phones):
        store.register_sync(
            phone,
            reason="after_hours" if i % 2 else "queue_timeout",
            queue="loans" if i == 3 else None,
            at=NOW + timedelta(hours=i),
        )
    store.finish(store.search(phone="13800001111")[1][0].id, "done", actor="agent7")
    total, page = store.search(status=None)
    assert total == 4 and [r.phone for r in page] == phones[::-1]  # newest first
    assert [r.phone for r in store.search()[1]] == ["13700005678", "057188881234", "13912345678"]
    assert [r.phone for r in store.search(phone="5678")[1]] == ["13700005678", "13912345678"]
    assert store.search(reason="after_hours")[0] == 1
    assert store.search(status=None, reason="after_hours")[0] == 2
    assert [r.phone for r in store.search(queue="loans")[1]] == ["13700005678"]
    assert [r.phone for r in store.search(status="done", handled_by="agent7")[1]] == ["13800001111"]
    window = store.search(since=NOW + timedelta(hours=1), until=NOW + timedelta(hours=3))
    assert [r.phone for r in window[1]] == ["057188881234"]
    total, page = store.search(status=None, limit=2, offset=1)
    assert total == 4 and [r.phone for r in page] == ["057188881234", "13800001111"]
    with pytest.raises(ValueError, match="digits"):
        store.search(phone="13%")


def test_without_a_database_the_store_is_unavailable():
    store = setup(PluginHost(engine=None, environ={})).resources["callback"]
    assert not store.available
    with pytest.raises(CallbackUnavailable):
        asyncio.run(store.register("13912345678", at=NOW))
    with pytest.raises(CallbackUnavailable):
        store.search()
