"""The plugin's table (its own alembic revision and version table) and the store on SQLite and
PostgreSQL: adding, refusing, deleting, expiry, and the decision across the three lists."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from ivrflow_lists.plugin import MIGRATIONS, setup
from ivrflow_lists.store import DuplicateEntry, EntryError, ListsStore, ListsUnavailable, metadata
from sqlalchemy import inspect

from nodes.plugins import PluginHost
from runtime.store.migrate import plugin_revision

NOW = datetime(2026, 7, 1, 2, 0, tzinfo=UTC)


def _plugin_objects(obj, name, type_, reflected, compare_to) -> bool:
    table = obj if type_ == "table" else getattr(obj, "table", None)
    return table is not None and table.name.startswith("lists_")


def test_the_plugin_owns_its_table_and_version_table(engine, plugins):
    tables = set(inspect(engine).get_table_names())
    assert {"lists_entry", "alembic_version_lists"} <= tables
    assert plugin_revision(engine, "lists") == "lists_0001"
    with engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() != "lists_0001"
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_object": _plugin_objects}
        )
        assert compare_metadata(context, metadata) == []


def test_setting_up_again_is_a_no_op(engine, store):
    store.add("block", "exact", "13912345678", at=NOW)
    again = setup(PluginHost(engine=engine, environ={}))
    assert [e.value for e in again.resources["lists"].entries()] == ["13912345678"]
    assert PluginHost(engine=engine).migrate("lists", MIGRATIONS) == "lists_0001"


def test_add_list_get_delete(store):
    entry = store.add(
        "block",
        "exact",
        "+86 139-1234-5678",
        reason="骚扰电话",
        actor="admin",
        expires_at=NOW + timedelta(days=30),
        at=NOW,
    )
    assert entry.value == "13912345678" and entry.created_by == "admin"
    got = store.get(entry.id)
    assert got == entry
    assert got.expires_at == NOW + timedelta(days=30) and got.created_at == NOW
    store.add("vip", "prefix", "0571", at=NOW)
    assert [e.list for e in store.entries()] == ["block", "vip"]
    assert [e.value for e in store.entries("vip")] == ["0571"]
    assert store.entries(now=NOW + timedelta(days=31))[0].list == "vip"  # block entry expired
    assert store.delete(entry.id) and not store.delete(entry.id)
    assert store.get(entry.id) is None


def test_bad_and_duplicate_entries_are_refused(store):
    with pytest.raises(EntryError) as caught:
        store.add("grey", "pattern", "13[0-9]", expires_at=NOW - timedelta(days=1), at=NOW)
    assert [i.code for i in caught.value.issues] == [
        "lists.unknown",
        "lists.pattern_char",
        "lists.expired",
    ]
    store.add("block", "exact", "13912345678", at=NOW)
    with pytest.raises(DuplicateEntry):
        store.add("block", "exact", "+8613912345678", at=NOW)
    store.add("allow", "exact", "13912345678", at=NOW)  # the same number on another list is fine
    assert len(store.entries()) == 2


@pytest.mark.parametrize(
    ("caller", "result", "deciding"),
    [
        ("13912345678", "allowed", "allow"),  # blocked by prefix, allowed by exact
        ("13900000000", "blocked", "block"),
        ("+86 137 0000 1111", "vip", "vip"),  # VIP overrides the block prefix 13
        ("18800000000", "allowed", None),
        ("", "anonymous", None),
        ("anonymous", "anonymous", None),
    ],
)
def test_the_decision_across_lists(store, caller, result, deciding):
    store.add("block", "prefix", "13", at=NOW)
    store.add("block", "prefix", "139", reason="号段", at=NOW)
    store.add("allow", "exact", "13912345678", at=NOW)
    store.add("vip", "pattern", "137????1111", at=NOW)
    decision = asyncio.run(store.check(caller, NOW))
    assert decision.result == result
    assert (decision.entry.list if decision.entry else None) == deciding
    if result == "blocked":
        assert decision.entry.value == "139" and decision.entry.reason == "号段"


def test_calls_read_through_a_short_cache(store):
    store.cache_s = 60
    assert asyncio.run(store.check("13912345678", NOW)).result == "allowed"
    store.add("block", "exact", "13912345678", at=NOW)  # through the store: at once
    assert asyncio.run(store.check("13912345678", NOW)).result == "blocked"
    other = ListsStore(store.engine, cache_s=60)  # another process
    assert asyncio.run(other.check("13800000000", NOW)).result == "allowed"
    store.add("block", "exact", "13800000000", at=NOW)
    assert asyncio.run(other.check("13800000000", NOW)).result == "allowed"  # cached
    other.cache_s = 0
    assert asyncio.run(other.check("13800000000", NOW)).result == "blocked"


def test_without_a_database_the_store_is_unavailable():
    store = setup(PluginHost(engine=None, environ={})).resources["lists"]
    assert not store.available
    with pytest.raises(ListsUnavailable):
        asyncio.run(store.check("13912345678", NOW))
