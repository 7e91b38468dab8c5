"""The callback.register node: its exits (registered, already, invalid_number, error) on
SQLite and PostgreSQL, a number from a variable, masking in the trace, no database, a
database that does not answer in time, the simulator, validation, and its entry point."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest
from ivrflow_callback.node import CallbackRegister
from ivrflow_callback.plugin import setup
from ivrflow_callback.store import CallbackStore, requests_table
from sqlalchemy import insert

from nodes.plugins import PluginHost
from nodes.registry import load_registry
from runtime.simulator import simulate
from runtime.testing import run_node
from runtime.validate import validate

NOW = datetime(2026, 7, 1, 10, 0, tzinfo=UTC)


async def _register(store, caller="13912345678", at=NOW, **config):
    return await run_node(
        CallbackRegister, config, caller=caller, at=at, resources={"callback": store}
    )


async def test_a_new_number_is_registered(store):
    run = await _register(store, "+86 139-1234-5678", reason="queue_timeout", queue="fund")
    assert run.exit == "registered"
    [event] = run.events
    assert event["event"] == "callback" and event["result"] == "registered"
    assert event["phone"] == "*******5678" and event["attempts"] == 1
    [request] = store.search()[1]
    assert (request.phone, request.reason, request.queue, request.status) == (
        "13912345678",
        "queue_timeout",
        "fund",
        "pending",
    )
    assert request.requested_at == NOW and request.call_id == run.call.call_id
    assert request.flow == "test" and request.note == ""
    assert event["id"] == request.id


async def test_a_pending_number_is_not_registered_twice(store):
    first = await _register(store, reason="after_hours")
    later = NOW + timedelta(minutes=20)
    again = await _register(store, "013912345678", at=later, reason="queue_timeout")
    third = await _register(store, at=later + timedelta(minutes=5))
    assert (first.exit, again.exit, third.exit) == ("registered", "already", "already")
    assert again.events[0]["id"] == first.events[0]["id"]
    total, [request] = store.search()
    assert total == 1
    # the first request is kept: its place in the list, its reason; the tries are counted
    assert (request.requested_at, request.reason, request.attempts) == (NOW, "after_hours", 3)
    assert request.last_requested_at == later + timedelta(minutes=5)
    assert third.events[0]["attempts"] == 3


async def test_after_the_callback_the_number_can_register_again(store):
    first = await _register(store)
    store.finish(first.events[0]["id"], "done", actor="agent7", at=NOW + timedelta(hours=1))
    again = await _register(store, at=NOW + timedelta(hours=2))
    assert again.exit == "registered"
    assert [r.status for r in store.search(status=None)[1]] == ["pending", "done"]


async def test_the_number_and_a_note_from_variables(store):
    config = {"phone": "{{callback_number}}", "note": "业务：{{service}}"}
    run = await run_node(
        CallbackRegister,
        config,
        caller="anonymous",
        at=NOW,
        vars={"callback_number": "0571-8888-1234", "service": "贷款"},
        resources={"callback": store},
    )
    assert run.exit == "registered"
    [request] = store.search()[1]
    assert (request.phone, request.note) == ("057188881234", "业务：贷款")


@pytest.mark.parametrize(
    ("caller", "why"),
    [
        ("", "empty"),
        ("anonymous", "withheld"),
        ("unknown", "withheld"),
        ("139abc45678", "not_digits"),
        ("abcdefgh", "not_digits"),
        ("1391234567", "length"),
        ("95533", "length"),
    ],
)
async def test_invalid_numbers_are_not_registered(store, caller, why):
    run = await _register(store, caller)
    assert run.exit == "invalid_number"
    [event] = run.events
    assert event["event"] == "callback_invalid_number" and event["why"] == why
    if len(caller) > 4:
        assert caller not in str(event) and event["phone"].endswith(caller[-4:])
    assert store.search(status=None)[0] == 0


async def test_the_full_number_is_not_in_the_trace(store):
    run = await _register(store, "13912345678")
    assert "13912345678" not in str(run.events)


@pytest.mark.parametrize("resources", [{}, {"callback": CallbackStore(None)}])
async def test_no_database_takes_the_error_exit(resources):
    run = await run_node(CallbackRegister, {}, caller="13912345678", at=NOW, resources=resources)
    assert run.exit == "error"
    [event] = run.events
    assert event["event"] == "callback_error" and event["phone"] == "*******5678"
    assert "13912345678" not in str(event)


async def test_without_a_database_the_plugin_gives_an_unavailable_store():
    store = setup(PluginHost(engine=None, environ={})).resources["callback"]
    assert not store.available
    run = await _register(store)
    assert run.exit == "error" and "database" in run.events[0]["reason"]


async def test_a_database_that_hangs_takes_the_error_exit_promptly(hanging_store):
    started = time.monotonic()
    run = await _register(hanging_store, timeout_ms=200)
    elapsed = time.monotonic() - started
    assert run.exit == "error"
    assert 0.15 <= elapsed < 1.5
    assert hanging_store.entered.is_set() and not hanging_store.left.is_set()
    [event] = run.events
    assert event["reason"] == "timeout after 200 ms"
    assert event["reason_zh"] == "数据库 200 毫秒内未响应"


async def test_a_locked_database_takes_the_error_exit_and_writes_nothing_late(engine, store):
    """Another transaction holds a pending request for the number (uncommitted): the insert
    waits for it. The caller waits timeout_ms, and the database gives up too (PostgreSQL's
    statement timeout, SQLite's busy timeout), so nothing is written after the caller left."""
    blocker = engine.connect()
    try:
        blocker.execute(
            insert(requests_table).values(
                phone="13912345678",
                call_id="other",
                flow="other",
                reason="caller_request",
                note="",
                status="pending",
                attempts=1,
                requested_at=NOW,
                last_requested_at=NOW,
            )
        )
        started = time.monotonic()
        run = await _register(store, timeout_ms=300)
        elapsed = time.monotonic() - started
        assert run.exit == "error", run.events
        assert elapsed < 2.0
        await asyncio.sleep(0.5)  # the worker thread has given up by now (database-side timeout)
    finally:
        blocker.rollback()
        blocker.close()
    await asyncio.sleep(0.3)  # a worker thread still waiting would now insert
    assert store.search(status=None)[0] == 0
    assert (await _register(store)).exit == "registered"  # and the store works afterwards


async def test_a_failing_database_error_is_masked(store):
    class Broken(CallbackStore):
        def register_sync(self, phone, **kwargs):
            raise ConnectionError(f"server closed the connection while storing {phone}")

    run = await _register(Broken(store.engine))
    assert run.exit == "error"
    assert "*******5678" in run.events[0]["reason"] and "13912345678" not in str(run.events)


def _registry():
    return load_registry(include_entry_points=False, extra=[CallbackRegister])


@pytest.mark.parametrize(
    ("caller", "path", "heard"),
    [
        ("13912345678", ["start", "register", "registered_node", "bye"], "已为您登记"),
        ("anonymous", ["start", "register", "invalid_node", "bye"], "无法识别"),
    ],
)
async def test_in_the_simulator(store, callback_flow, caller, path, heard):
    result = validate(callback_flow(reason="after_hours"), registry=_registry())
    assert result.ok, [p.message_en for p in result.problems]
    trace, channel = await simulate(
        result.flow, caller=caller, at=NOW, resources={"callback": store}
    )
    assert [s.node for s in trace.steps] == path
    assert heard in " ".join(h.text for h in channel.heard if h.text)


async def test_in_the_simulator_without_a_database_the_caller_hears_the_apology(callback_flow):
    result = validate(callback_flow(), registry=_registry())
    trace, channel = await simulate(result.flow, caller="13912345678", at=NOW, resources={})
    assert [s.node for s in trace.steps] == ["start", "register", "sorry_node", "bye"]
    assert "系统繁忙" in " ".join(h.text for h in channel.heard if h.text)


def test_validation_of_the_config(callback_flow):
    bad = callback_flow(reason="Queue Timeout", timeout_ms=9000, queue="bad queue", phone="")
    problems = validate(bad, registry=_registry()).problems
    assert {p.pointer for p in problems} >= {
        "/nodes/register/config/reason",
        "/nodes/register/config/timeout_ms",
        "/nodes/register/config/queue",
        "/nodes/register/config/phone",
    }
    unwired = callback_flow()
    del unwired["nodes"]["register"]["exits"]["already"]
    result = validate(unwired, registry=_registry())
    assert not result.ok and any("already" in p.message_en for p in result.problems)


def test_the_node_is_described_for_the_designer():
    described = CallbackRegister.describe()
    assert described["type"] == "callback.register" and described["version"] == 1
    assert described["title"] == {"zh": "登记回拨", "en": "Register a callback"}
    assert described["exits"] == ["registered", "already", "invalid_number", "error"]
    defaults = CallbackRegister.with_defaults({})
    assert defaults == {
        "phone": "{{caller}}",
        "reason": "caller_request",
        "note": "",
        "timeout_ms": 2000,
    }
    title = CallbackRegister.exit_title("invalid_number")
    assert title == {"zh": "号码无效", "en": "Invalid number"}


def test_installed_through_its_entry_point():
    registry = load_registry()
    assert registry.get("callback.register") is CallbackRegister
    assert registry.providers["callback.register"].startswith("ivrflow-callback ")
