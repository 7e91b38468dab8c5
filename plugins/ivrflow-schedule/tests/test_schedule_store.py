"""The plugin's tables: its own alembic revisions and version table, and the store of named
schedules and overrides on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from ivrflow_schedule.evaluate import Override
from ivrflow_schedule.model import ScheduleError, TimeRange
from ivrflow_schedule.plugin import MIGRATIONS, setup
from ivrflow_schedule.store import UnknownSchedule, metadata
from sqlalchemy import inspect

from nodes.plugins import PluginHost
from runtime.store.migrate import plugin_revision


def test_the_plugin_owns_its_tables_and_version_table(engine, plugins):
    tables = set(inspect(engine).get_table_names())
    assert {"schedule_schedule", "schedule_override", "alembic_version_schedule"} <= tables
    assert plugin_revision(engine, "schedule") == "schedule_0001"
    # ivrflow's own version table is untouched by the plugin
    with engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() != "schedule_0001"
        # the migrated tables are exactly the plugin's metadata
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_object": _plugin_objects}
        )
        assert compare_metadata(context, metadata) == []


def _plugin_objects(obj, name, type_, reflected, compare_to) -> bool:
    table = obj if type_ == "table" else getattr(obj, "table", None)
    return table is not None and table.name.startswith("schedule_")


def test_setting_up_again_is_a_no_op(engine, plugins, store, hours):
    store.put("main", hours)
    again = setup(PluginHost(engine=engine, environ={}))
    assert again.resources["schedule"].get("main") is not None
    assert PluginHost(engine=engine).migrate("schedule", MIGRATIONS) == "schedule_0001"


def test_put_get_list_and_revisions(store, hours):
    stored, created = store.put("main", {**hours, "title": "主时间表"}, actor="admin")
    assert created and stored.revision == 1 and stored.schedule.title == "主时间表"
    hours["weekly"]["sat"] = ["09:00-12:00", "11:00-12:30"]
    stored, created = store.put("main", hours, actor="boss")
    assert not created and stored.revision == 2
    assert [w.code for w in stored.warnings] == ["schedule.range_overlap"]
    got = store.get("main")
    assert got.revision == 2 and got.updated_by == "boss"
    assert got.schedule.weekly["sat"] == (TimeRange(540, 750),)  # stored merged
    assert [s["name"] for s in store.list()] == ["main"]
    assert store.get("other") is None


@pytest.mark.parametrize(
    ("name", "definition", "code"),
    [
        ("Main!", None, "schedule.name"),
        ("main", {"weekly": {"mon": ["12:00-08:00"]}}, "schedule.range_order"),
        ("main", {"weekly": {}, "timezone": "Nowhere/City"}, "schedule.timezone"),
    ],
)
def test_bad_schedules_are_refused(store, hours, name, definition, code):
    with pytest.raises(ScheduleError) as caught:
        store.put(name, definition or hours)
    assert code in [i.code for i in caught.value.issues]
    assert store.list() == []


def test_overrides_and_deleting_a_schedule_removes_its_own(store, hours, at):
    store.put("main", hours)
    store.put("branch", hours)
    closure = store.add_override(
        Override("closure", None, starts_at=at("2026-07-01 14:00"), note="台风"), actor="a"
    )
    special = store.add_override(
        Override("hours", "main", day=date(2026, 12, 31), hours=(TimeRange(510, 900),))
    )
    store.add_override(Override("closed", "branch", day=date(2026, 7, 15)))
    assert closure.starts_at.isoformat() == "2026-07-01T06:00:00+00:00"  # stored in UTC
    assert [o.id for o in store.overrides(schedule="main")] == [closure.id, special.id]
    assert len(store.overrides()) == 3
    assert [o.id for o in store.overrides(since=date(2027, 1, 1))] == [closure.id]
    assert [o.kind for o in store.overrides(schedule="main", include_general=False)] == ["hours"]
    with pytest.raises(UnknownSchedule):
        store.add_override(Override("closed", "nope", day=date(2026, 7, 15)))
    assert store.delete("branch") and not store.delete("branch")
    assert [o.schedule for o in store.overrides()] == [None, "main"]
    assert store.delete_override(closure.id) and not store.delete_override(closure.id)
    assert store.get_override(special.id).hours == (TimeRange(510, 900),)


def test_calls_read_through_a_short_cache(store, hours):
    store.cache_s = 60
    store.put("main", hours)
    schedule, overrides = asyncio.run(store.resolve("main"))
    assert schedule.name == "main" and overrides == []
    with pytest.raises(UnknownSchedule):
        asyncio.run(store.resolve("other"))
    # another process's change is seen when the cache expires; this store's own at once
    other = type(store)(store.engine)
    other.put("other", hours)
    with pytest.raises(UnknownSchedule):
        asyncio.run(store.resolve("other"))
    store.invalidate()
    assert asyncio.run(store.resolve("other"))[0].name == "other"


def test_a_database_outage_keeps_the_last_schedules(store, hours, caplog):
    store.cache_s = 0
    store.put("main", hours)
    assert asyncio.run(store.resolve("main"))[0].name == "main"

    def down():
        raise ConnectionError("database unreachable")

    store._load = down  # the next reload fails
    assert asyncio.run(store.resolve("main"))[0].name == "main"
    assert "using the last ones read" in caplog.text
    fresh = type(store)(store.engine)
    fresh._load = down
    with pytest.raises(ConnectionError):  # nothing read yet: the node takes its error exit
        asyncio.run(fresh.resolve("main"))
