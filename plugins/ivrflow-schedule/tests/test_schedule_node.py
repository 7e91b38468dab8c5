"""The schedule.route node: its exits with an inline and a named schedule, in a unit test
(runtime.testing) and in the simulator, its validation, and every failure taking a defined
exit."""

from __future__ import annotations

import json
from datetime import date

import ivrflow_schedule.node as node_module
import pytest
from ivrflow_schedule.calendar import default_calendar
from ivrflow_schedule.node import ScheduleRoute

from nodes.registry import load_registry
from runtime.simulator import simulate
from runtime.testing import run_node
from runtime.validate import validate

UNKNOWN = default_calendar().years()[1] + 1


@pytest.mark.parametrize(
    ("when", "exit_", "reason"),
    [
        ("2026-03-02 10:00", "open", "weekly"),
        ("2026-03-02 12:30", "closed", "weekly"),
        ("2026-02-16 10:00", "holiday", "holiday"),
        ("2026-02-28 10:00", "open", "makeup_workday"),
    ],
)
async def test_inline_schedule_exits(hours, at, when, exit_, reason):
    run = await run_node(ScheduleRoute, {"hours": hours, "reason_variable": "why"}, at=at(when))
    assert run.exit == exit_
    assert run.vars["why"] == reason
    [event] = [e for e in run.events if e["event"] == "schedule"]
    assert event["exit"] == exit_ and event["schedule"] == "(inline)"


async def test_the_trace_says_which_holiday(hours, at):
    run = await run_node(ScheduleRoute, {"hours": hours}, at=at("2026-02-17 09:00"))
    [event] = run.events
    assert event["holiday"] == "Spring Festival" and event["holiday_zh"] == "春节"
    assert event["day"] == "holiday" and event["local_time"] == "2026-02-17T09:00+08:00"


async def test_a_day_without_calendar_data_is_reported_and_takes_a_defined_exit(hours, at, caplog):
    run = await run_node(ScheduleRoute, {"hours": hours}, at=at(f"{UNKNOWN}-03-02 10:00"))
    assert run.exit in ("open", "closed")  # the weekly hours, by default
    kinds = [e["event"] for e in run.events]
    assert kinds == ["schedule", "calendar_unknown"]
    assert run.events[1]["year"] == UNKNOWN
    assert "has no holiday data" in caplog.text
    strict = await run_node(
        ScheduleRoute,
        {"hours": {**hours, "unknown_calendar": "error"}},
        at=at(f"{UNKNOWN}-03-02 10:00"),
    )
    assert strict.exit == "error"


async def test_named_schedule_from_the_store(store, hours, at):
    store.put("main", hours, actor="admin")
    resources = {"schedule": store}
    assert (
        await run_node(
            ScheduleRoute, {"schedule": "main"}, at=at("2026-03-02 10:00"), resources=resources
        )
    ).exit == "open"
    assert (
        await run_node(
            ScheduleRoute, {"schedule": "main"}, at=at("2026-02-16 10:00"), resources=resources
        )
    ).exit == "holiday"


async def test_unknown_schedule_or_no_database_take_error(store, hours, at):
    run = await run_node(
        ScheduleRoute,
        {"schedule": "nope"},
        at=at("2026-03-02 10:00"),
        resources={"schedule": store},
    )
    assert run.exit == "error"
    assert run.events[0]["event"] == "schedule_error" and "nope" in run.events[0]["reason"]
    for resources in ({}, {"schedule": type(store)(None)}):
        run = await run_node(
            ScheduleRoute, {"schedule": "main"}, at=at("2026-03-02 10:00"), resources=resources
        )
        assert run.exit == "error" and run.events[0]["event"] == "schedule_error"


async def test_closures_for_every_schedule_close_inline_schedules_too(store, hours, at):
    from ivrflow_schedule.evaluate import Override

    store.add_override(Override("closure", None, starts_at=at("2026-03-02 09:00")), actor="a")
    run = await run_node(
        ScheduleRoute, {"hours": hours}, at=at("2026-03-02 10:00"), resources={"schedule": store}
    )
    assert run.exit == "closed"
    assert run.events[0]["reason"] == "closure"


def _registry():
    return load_registry(include_entry_points=False, extra=[ScheduleRoute])


def _flow(routing_flow, *args):
    registry = _registry()
    result = validate(routing_flow(*args), registry=registry)
    return result, registry


@pytest.mark.parametrize(
    ("when", "path", "heard"),
    [
        ("2026-03-02 10:00", ["start", "route", "open_node", "bye"], "人工服务时间"),
        ("2026-03-02 20:00", ["start", "route", "closed_node", "bye"], "下班时间"),
        ("2026-02-18 10:00", ["start", "route", "holiday_node", "bye"], "节假日"),
        ("2026-02-14 10:00", ["start", "route", "open_node", "bye"], "人工服务时间"),
    ],
)
async def test_the_exits_in_the_simulator(routing_flow, at, when, path, heard):
    result, _ = _flow(routing_flow)
    assert result.ok, [p.message_en for p in result.problems]
    trace, channel = await simulate(result.flow, at=at(when))
    assert [s.node for s in trace.steps] == path
    assert heard in " ".join(h.text for h in channel.heard if h.text)
    assert trace.outcome.kind == "completed"


async def test_named_schedule_in_the_simulator(routing_flow, store, hours, at):
    result, _ = _flow(routing_flow, "main")
    assert result.ok
    trace, _ = await simulate(result.flow, at=at("2026-03-02 10:00"), resources={"schedule": store})
    assert [s.node for s in trace.steps][2] == "busy_node"  # no schedule "main" yet: error exit
    store.put("main", hours)
    trace, _ = await simulate(result.flow, at=at("2026-03-02 10:00"), resources={"schedule": store})
    assert [s.node for s in trace.steps][2] == "open_node"


def _problems(result):
    return sorted((p.severity.value, p.code, p.pointer) for p in result.problems)


def test_validation_reports_bad_schedules_at_their_field(routing_flow, hours):
    hours["weekly"]["mon"] = ["08:30-12:00", "11:00-13:00"]
    hours["weekly"]["tue"] = ["17:00-08:00"]
    hours["timezone"] = "Asia/Peking"
    result, _ = _flow(routing_flow, hours)
    base = "/nodes/route/config/hours"
    assert _problems(result) == [
        ("error", "schedule.range_order", f"{base}/weekly/tue/0"),
        ("error", "schedule.timezone", f"{base}/timezone"),
        ("warning", "schedule.range_overlap", f"{base}/weekly/mon"),
    ]
    assert not result.ok


def test_validation_wants_a_name_or_hours_not_both(routing_flow, hours):
    flow = routing_flow(hours)
    flow["nodes"]["route"]["config"]["schedule"] = "main"
    registry = _registry()
    result = validate(flow, registry=registry)
    assert ("error", "schedule.choose_one", "/nodes/route/config/schedule") in _problems(result)
    del flow["nodes"]["route"]["config"]["schedule"], flow["nodes"]["route"]["config"]["hours"]
    result = validate(flow, registry=registry)
    assert ("error", "schedule.choose_one", "/nodes/route/config") in _problems(result)
    flow["nodes"]["route"]["config"]["schedule"] = "Main Schedule!"
    result = validate(flow, registry=registry)
    assert [p.code for p in result.errors] == ["config.invalid"]


def test_validation_warns_when_the_coming_year_is_unknown(routing_flow, hours, monkeypatch):
    last = default_calendar().years()[1]
    monkeypatch.setattr(node_module, "today", lambda: date(last, 6, 1))
    result, _ = _flow(routing_flow, hours)
    assert result.problems == []
    monkeypatch.setattr(node_module, "today", lambda: date(last, 10, 15))
    for args in ((hours,), ("main",)):
        result, _ = _flow(routing_flow, *args)
        [warning] = result.warnings
        assert warning.code == "schedule.calendar_unknown" and result.ok
        assert str(last + 1) in warning.message_en and "chinese-calendar" in warning.message_zh
    result, _ = _flow(routing_flow, {**hours, "holidays": "none"})
    assert result.problems == []


def test_the_node_is_described_for_the_designer():
    described = ScheduleRoute.describe()
    assert described["exits"] == ["open", "closed", "holiday", "error"]
    assert described["exit_titles"]["holiday"] == {"zh": "节假日", "en": "Holiday"}
    assert described["optional_exits"] == ["error"]
    props = described["config_schema"]["properties"]
    assert set(props) == {"schedule", "hours", "reason_variable"}
    assert props["hours"]["properties"]["weekly"]["properties"]["mon"]["title"] == "周一 / Monday"


def test_installed_through_its_entry_point():
    registry = load_registry()
    assert registry.get("schedule.route") is ScheduleRoute
    assert registry.providers["schedule.route"].startswith("ivrflow-schedule ")


def test_ivrflow_simulate_with_and_without_a_database(tmp_path, store, hours, routing_flow, capsys):
    from nodes.registry import default_registry
    from runtime.cli import main

    engine = store.engine
    if engine.dialect.name != "sqlite":
        pytest.skip("the command line test needs one database only")
    default_registry.cache_clear()
    inline, named = tmp_path / "inline.json", tmp_path / "named.json"
    inline.write_text(json.dumps(routing_flow(hours), ensure_ascii=False), "utf-8")
    named.write_text(json.dumps(routing_flow("main", "named"), ensure_ascii=False), "utf-8")

    def walk(*args: str) -> list[str]:
        assert main(["simulate", *args, "--keys", "", "--json"]) == 0
        return [s["node"] for s in json.loads(capsys.readouterr().out)["steps"]]

    assert walk(str(inline), "--at", "2026-02-16 10:00")[2] == "holiday_node"
    assert walk(str(named), "--at", "2026-03-02 10:00")[2] == "busy_node"  # no database
    store.put("main", hours)
    url = str(engine.url)
    assert walk(str(named), "--at", "2026-03-02 10:00", "--database", url)[2] == "open_node"
    assert walk(str(named), "--at", "2026-03-02 20:00", "--database", url)[2] == "closed_node"
