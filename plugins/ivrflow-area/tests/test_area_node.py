"""The area.route node: exits from the seeded and edited table, inline prefixes, unknown
numbers, the variable, computed exits and validation, and the simulator."""

from __future__ import annotations

import pytest
from ivrflow_area.node import AreaRoute
from ivrflow_area.store import AreaStore

from nodes.registry import load_registry
from runtime.simulator import simulate
from runtime.testing import run_node
from runtime.validate import validate

CONFIG = {"regions": ["shenzhen", "guangzhou"]}


@pytest.mark.parametrize(
    ("caller", "exit_", "region"),
    [
        ("075583210000", "shenzhen", "shenzhen"),  # landline area code (seeded)
        ("13923701234", "shenzhen", "shenzhen"),  # mobile segment 1392370 (seeded)
        ("+86 135-0020-1234", "guangzhou", "guangzhou"),
        ("01065123456", "other", "beijing"),  # a known region without its own exit
        ("02987654321", "other", ""),  # not in the table
        ("anonymous", "unknown", ""),
        ("", "unknown", ""),
    ],
)
async def test_exits_from_the_seeded_table(store, caller, exit_, region):
    run = await run_node(AreaRoute, CONFIG, caller=caller, resources={"area": store})
    assert run.exit == exit_
    assert run.vars["region"] == region
    [event] = run.events
    assert event["event"] == "area" and event["exit"] == exit_


async def test_an_admins_change_reaches_calls(store):
    resources = {"area": store}
    assert (await run_node(AreaRoute, CONFIG, caller="02787654321", resources=resources)).exit == (
        "other"
    )
    store.put("027", "guangzhou", "test", actor="admin")  # invalidates this process's cache
    run = await run_node(AreaRoute, CONFIG, caller="02787654321", resources=resources)
    assert run.exit == "guangzhou"
    store.delete("0755")
    run = await run_node(AreaRoute, CONFIG, caller="075583210000", resources=resources)
    assert run.exit == "other"


async def test_inline_prefixes_and_local_numbers_without_a_database():
    config = {**CONFIG, "prefixes": {"0755": "shenzhen", "1391000": "guangzhou"}}
    resources = {"area": AreaStore(None)}
    run = await run_node(AreaRoute, config, caller="075512345678", resources=resources)
    assert run.exit == "shenzhen"
    assert {"event": "area_table_unavailable"} in run.events
    run = await run_node(AreaRoute, config, caller="13910001234")
    assert run.exit == "guangzhou"
    run = await run_node(AreaRoute, {**config, "local_region": "shenzhen"}, caller="83210000")
    assert run.exit == "shenzhen"
    run = await run_node(AreaRoute, {**config, "use_table": False}, caller="01065123456")
    assert run.exit == "other"


async def test_inline_prefixes_take_precedence(store):
    config = {**CONFIG, "prefixes": {"0755": "guangzhou"}}
    run = await run_node(AreaRoute, config, caller="075583210000", resources={"area": store})
    assert run.exit == "guangzhou"


async def test_an_unreadable_table_raises_for_the_error_exit(engine, plugins):
    broken = AreaStore(engine)
    broken._engine = lambda: (_ for _ in ()).throw(RuntimeError("down"))
    with pytest.raises(RuntimeError):
        await run_node(AreaRoute, CONFIG, caller="075583210000", resources={"area": broken})


def _registry():
    return load_registry(include_entry_points=False, extra=[AreaRoute])


@pytest.mark.parametrize(
    ("caller", "path_node"),
    [
        ("075583210000", "shenzhen_node"),
        ("13500201234", "guangzhou_node"),
        ("01065123456", "other_node"),
        ("anonymous", "unknown_node"),
    ],
)
async def test_in_the_simulator(area_flow, store, caller, path_node):
    result = validate(area_flow(), registry=_registry())
    assert result.ok, [p.message_en for p in result.problems]
    assert result.problems == []
    trace, _ = await simulate(result.flow, caller=caller, resources={"area": store})
    assert [s.node for s in trace.steps] == ["start", "route", path_node, "bye"]


def test_exits_are_computed_from_the_regions(area_flow):
    config = AreaRoute.with_defaults({"regions": ["wuhan", "shenzhen"]})
    assert AreaRoute.exits_for(config) == ("wuhan", "shenzhen", "other", "unknown", "error")
    assert AreaRoute.computed_exits()
    flow = area_flow()
    del flow["nodes"]["route"]["exits"]["guangzhou"]
    result = validate(flow, registry=_registry())
    assert "guangzhou" in " ".join(p.message_en for p in result.problems)


def test_validation_of_regions(area_flow):
    result = validate(area_flow({"regions": ["shenzhen", "other"]}), registry=_registry())
    assert ("area.reserved_region", "/nodes/route/config/regions/1") in [
        (p.code, p.pointer) for p in result.problems
    ]
    for bad in ({"regions": ["Shen Zhen"]}, {"prefixes": {"12": "x"}}, {"regions": []}):
        result = validate(area_flow(bad), registry=_registry())
        assert "config.invalid" in [p.code for p in result.errors], bad


def test_installed_through_its_entry_point():
    registry = load_registry()
    assert registry.get("area.route") is AreaRoute
    assert registry.providers["area.route"].startswith("ivrflow-area ")
