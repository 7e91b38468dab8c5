"""The lists.check node: its exits in a unit test (runtime.testing) and in the simulator, the
anonymous and unavailable policies, the VIP priority reaching core.transfer_queue, and its
description and entry point."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from ivrflow_lists.node import ListsCheck

from nodes.registry import load_registry
from runtime.simulator import simulate
from runtime.testing import run_node
from runtime.validate import validate

NOW = datetime(2026, 7, 1, 10, 0, tzinfo=UTC)


class BrokenStore:
    available = True

    async def check(self, caller, now):
        raise ConnectionError("database down")


@pytest.fixture
def listed(store):
    store.add("block", "prefix", "170", reason="虚拟号段", at=NOW)
    store.add("allow", "exact", "17012345678", at=NOW)
    store.add("vip", "exact", "13912345678", reason="劳模", at=NOW)
    return store


@pytest.mark.parametrize(
    ("caller", "exit_", "priority"),
    [
        ("17000000000", "blocked", 0),
        ("+86 170-1234-5678", "allowed", 0),
        ("13912345678", "vip", 5),
        ("13800138000", "allowed", 0),
    ],
)
async def test_exits(listed, caller, exit_, priority):
    run = await run_node(ListsCheck, {}, caller=caller, at=NOW, resources={"lists": listed})
    assert run.exit == exit_
    assert run.vars["vip_priority"] == priority
    [event] = run.events
    assert event["event"] == "lists" and event["exit"] == exit_


async def test_the_trace_names_the_deciding_entry(listed):
    run = await run_node(ListsCheck, {}, caller="17000000001", at=NOW, resources={"lists": listed})
    entry = run.events[0]["entry"]
    assert (entry["list"], entry["value"], entry["reason"]) == ("block", "170", "虚拟号段")


async def test_vip_priority_and_variable_are_configurable(listed):
    config = {"priority_variable": "prio", "vip_priority": 9}
    run = await run_node(
        ListsCheck, config, caller="13912345678", at=NOW, resources={"lists": listed}
    )
    assert run.exit == "vip" and run.vars["prio"] == 9


@pytest.mark.parametrize(
    ("policy", "exit_"),
    [(None, "allowed"), ("allowed", "allowed"), ("blocked", "blocked"), ("anonymous", "anonymous")],
)
@pytest.mark.parametrize("caller", ["", "anonymous", "unknown", "abc"])
async def test_anonymous_callers_follow_the_policy(listed, policy, exit_, caller):
    config = {"on_anonymous": policy} if policy else {}
    run = await run_node(ListsCheck, config, caller=caller, at=NOW, resources={"lists": listed})
    assert run.exit == exit_
    assert run.events[0]["result"] == "anonymous"


@pytest.mark.parametrize(("policy", "exit_"), [(None, "allowed"), ("error", "error")])
@pytest.mark.parametrize("resources", [{}, {"lists": BrokenStore()}])
async def test_unavailable_lists_fail_open_unless_configured(policy, exit_, resources):
    config = {"on_unavailable": policy} if policy else {}
    run = await run_node(ListsCheck, config, caller="13912345678", at=NOW, resources=resources)
    assert run.exit == exit_
    [event] = run.events
    assert event["event"] == "lists_unavailable" and event["exit"] == exit_


async def test_no_database_fails_open(plugins):
    from ivrflow_lists.plugin import setup

    from nodes.plugins import PluginHost

    store = setup(PluginHost(engine=None, environ={})).resources["lists"]
    run = await run_node(ListsCheck, {}, caller="17000000000", at=NOW, resources={"lists": store})
    assert run.exit == "allowed" and "database" in run.events[0]["reason"]


def _registry():
    return load_registry(include_entry_points=False, extra=[ListsCheck])


@pytest.mark.parametrize(
    "case",
    [
        ("17000000000", ["start", "check", "blocked_node", "bye"], "限制呼入", None),
        ("17012345678", ["start", "check", "welcome_node", "queue", "bye"], "欢迎", 0),
        ("13912345678", ["start", "check", "vip_node", "queue", "bye"], "贵宾", 5),
        ("", ["start", "check", "anonymous_node", "bye"], "显示您的号码", None),
    ],
)
async def test_in_the_simulator_vip_raises_the_queue_priority(listed, screening_flow, case):
    caller, path, heard, priority = case
    result = validate(screening_flow(on_anonymous="anonymous"), registry=_registry())
    assert result.ok, [p.message_en for p in result.problems]
    trace, channel = await simulate(result.flow, caller=caller, at=NOW, resources={"lists": listed})
    assert [s.node for s in trace.steps] == path
    assert heard in " ".join(h.text for h in channel.heard if h.text)
    queued = [h.data["priority"] for h in channel.heard if h.kind == "queue"]
    assert queued == ([] if priority is None else [priority])


def test_validation_wants_the_anonymous_exit_only_when_configured(screening_flow):
    flow = screening_flow(on_anonymous="anonymous")
    del flow["nodes"]["check"]["exits"]["anonymous"]
    result = validate(flow, registry=_registry())
    assert not result.ok
    assert any("anonymous" in p.message_en for p in result.problems)
    assert validate(screening_flow(), registry=_registry()).ok
    bad = screening_flow(on_anonymous="maybe", vip_priority=11)
    assert {p.pointer for p in validate(bad, registry=_registry()).problems} >= {
        "/nodes/check/config/on_anonymous",
        "/nodes/check/config/vip_priority",
    }


def test_the_node_is_described_for_the_designer():
    described = ListsCheck.describe()
    assert described["exits_from_config"] is True
    assert ListsCheck.exits_for(ListsCheck.with_defaults({})) == (
        "blocked",
        "allowed",
        "vip",
        "error",
    )
    assert "anonymous" in ListsCheck.exits_for({"on_anonymous": "anonymous"})
    assert ListsCheck.exit_title("blocked") == {"zh": "黑名单", "en": "Blocked"}
    props = described["config_schema"]["properties"]
    assert set(props) == {"on_anonymous", "on_unavailable", "priority_variable", "vip_priority"}


def test_installed_through_its_entry_point():
    registry = load_registry()
    assert registry.get("lists.check") is ListsCheck
    assert registry.providers["lists.check"].startswith("ivrflow-lists ")
