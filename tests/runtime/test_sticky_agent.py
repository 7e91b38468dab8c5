"""Sticky agent end to end: the runtime service, a fake Asterisk 22 on real sockets, call
records on SQLite and PostgreSQL. A caller answered by an agent calls again and is offered to
that agent first (DEVICE_STATE, then Dial), else queued as usual."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from sqlmodel import Session, col, select
from support.fake_asterisk import (
    AmiQueueMember,
    AmiUser,
    DialOutcome,
    FakeAmi,
    FakeCall,
    Hangup,
    QueueOutcome,
)

from runtime.ami import AmiClient
from runtime.history import AGENT_HISTORY, AgentRef
from runtime.service import RuntimeService
from runtime.store.history import CallRecordHistory
from runtime.store.models import CallRecord
from runtime.store.publishing import publish
from runtime.store.records import list_calls

CALLER = "13900001111"
DEVICE_STATE = 'GET FULL VARIABLE "${DEVICE_STATE(PJSIP/8001)}"'


def sticky_flow(**sticky: Any) -> dict[str, Any]:
    queue_exits = {e: "bye" for e in ("completed", "timeout", "unavailable", "error")}
    return {
        "schema_version": 1,
        "id": "sticky",
        "name": "sticky agent",
        "prompts": {},
        "nodes": {
            "start": {"type": "core.start", "version": 1, "config": {}, "exits": {"next": "q"}},
            "q": {
                "type": "core.transfer_queue",
                "version": 1,
                "config": {
                    "queue": "consult",
                    "caller_data": {"CALLER": "{{caller}}"},
                    "agent_variable": "agent",
                    "sticky_agent": {"enabled": True, **sticky},
                },
                "exits": queue_exits,
            },
            "bye": {"type": "core.hangup", "version": 1, "config": {}, "exits": {}},
        },
    }


@contextlib.asynccontextmanager
async def serving(engine, **sticky: Any):
    await asyncio.to_thread(publish, engine, sticky_flow(**sticky), entry="12329")
    service = RuntimeService(engine, port=0, drain_s=2, entry_cache_s=0)
    await service.start()
    try:
        yield service
    finally:
        await service.close()


async def settled(service: RuntimeService, engine) -> list[dict[str, Any]]:
    for _ in range(200):
        if service.server.active == 0 and service.calls_finished == service.calls_started:
            break
        await asyncio.sleep(0.02)
    await service.records.flush()
    return await asyncio.to_thread(list_calls, engine)


async def call(service: RuntimeService, **kw: Any):
    kw.setdefault("caller", CALLER)
    kw.setdefault("timeout", 20)
    return await FakeCall(service.port, **kw).run()


def apps(result) -> list[str]:
    return [app for app, _ in result.execs]


async def first_call_answered_by_8001(service: RuntimeService, engine) -> None:
    first = await call(
        service, queue=QueueOutcome("ANSWERED", agent="Agent 8001", interface="PJSIP/8001")
    )
    assert first.error is None and first.anomalies == []
    assert DEVICE_STATE not in first.lines and apps(first) == ["Queue"]  # no history yet
    [record] = await settled(service, engine)
    assert (record["agent_name"], record["agent_interface"], record["agent_sticky"]) == (
        "Agent 8001",
        "PJSIP/8001",
        False,
    )


async def test_a_returning_caller_is_dialled_to_their_agent_first(engine):
    async with serving(engine) as service:
        assert isinstance(service.resources[AGENT_HISTORY], CallRecordHistory)
        await first_call_answered_by_8001(service, engine)
        again = await call(
            service,
            devices={"PJSIP/8001": "NOT_INUSE"},
            dial=DialOutcome("ANSWER", ring_s=4, talk_s=80),
        )
        assert again.error is None and again.anomalies == []
        asked = again.lines.index(DEVICE_STATE)
        dial = next(i for i, c in enumerate(again.commands) if c.app == "Dial")
        assert asked < dial
        # caller data is on the channel before the agent rings (inherited by their channel)
        ivr = next(i for i, c in enumerate(again.commands) if "__IVR_CALLER" in c.line)
        assert ivr < dial
        assert again.execs == [
            ("Dial", "PJSIP/8001,15,gb(ivrflow-agent-predial^s^1)U(ivrflow-agent-connect)")
        ]  # answered by the agent: no Queue at all
        records = await settled(service, engine)
        newest = records[0]
        assert (newest["agent_name"], newest["agent_interface"], newest["agent_sticky"]) == (
            "Agent 8001",
            "PJSIP/8001",
            True,
        )
        assert newest["queue"] == "consult"


@pytest.mark.parametrize(
    ("state", "dial", "dialled"),
    [
        ("INUSE", None, False),
        ("UNAVAILABLE", None, False),
        ("NOT_INUSE", "NOANSWER", True),
        ("NOT_INUSE", "BUSY", True),
        ("NOT_INUSE", "CHANUNAVAIL", True),
    ],
)
async def test_a_busy_or_silent_agent_leaves_the_caller_to_the_queue(engine, state, dial, dialled):
    async with serving(engine, ring_s=20) as service:
        await first_call_answered_by_8001(service, engine)
        again = await call(
            service,
            devices={"PJSIP/8001": state},
            dial=dial,
            queue=QueueOutcome("ANSWERED", agent="Agent 8002", interface="PJSIP/8002"),
        )
        assert again.error is None and again.anomalies == []
        assert DEVICE_STATE in again.lines
        assert apps(again) == (["Dial", "Queue"] if dialled else ["Queue"])
        if dialled:
            assert again.execs[0][1].startswith("PJSIP/8001,20,")
        newest = (await settled(service, engine))[0]
        assert (newest["agent_interface"], newest["agent_sticky"]) == ("PJSIP/8002", False)


async def test_the_caller_hanging_up_while_the_agent_rings(engine):
    async with serving(engine) as service:
        await first_call_answered_by_8001(service, engine)
        again = await call(
            service,
            devices={"PJSIP/8001": "NOT_INUSE"},
            dial=DialOutcome("ANSWER"),
            hangup=Hangup.during_command("EXEC Dial"),
        )
        assert again.hung_up_by == "caller" and apps(again) == ["Dial"]
        newest = (await settled(service, engine))[0]
        assert newest["outcome"] == "hangup" and newest["agent_interface"] == ""


async def test_the_caller_hanging_up_while_talking_to_the_sticky_agent_keeps_the_agent(engine):
    async with serving(engine) as service:
        await first_call_answered_by_8001(service, engine)
        again = await call(
            service,
            devices={"PJSIP/8001": "NOT_INUSE"},
            dial=DialOutcome("ANSWER", ended_by="caller"),
        )
        assert again.hung_up_by == "caller" and apps(again) == ["Dial"]
        newest = (await settled(service, engine))[0]
        assert newest["outcome"] == "hangup"
        assert (newest["agent_interface"], newest["agent_sticky"]) == ("PJSIP/8001", True)


async def test_the_caller_hanging_up_after_a_queue_agent_answered_keeps_the_agent(engine):
    async with serving(engine) as service:
        result = await call(
            service,
            queue=QueueOutcome(
                "ANSWERED", agent="Agent 8003", interface="PJSIP/8003", ended_by="caller"
            ),
        )
        assert result.hung_up_by == "caller"
        [record] = await settled(service, engine)
        assert (record["agent_name"], record["agent_interface"]) == ("Agent 8003", "PJSIP/8003")
        history = CallRecordHistory(engine)
        found = await history.last_agent(CALLER, since=record["started_at"])
        assert isinstance(found, AgentRef) and found.interface == "PJSIP/8003"


async def test_other_callers_are_not_routed_to_someone_elses_agent(engine):
    async with serving(engine) as service:
        await first_call_answered_by_8001(service, engine)
        other = await call(service, caller="13700002222", devices={"PJSIP/8001": "NOT_INUSE"})
        assert DEVICE_STATE not in other.lines and apps(other) == ["Queue"]


async def test_a_resource_given_by_the_deployment_is_kept(engine):
    class Mine:
        async def last_agent(self, caller, *, since):
            return None

    mine = Mine()
    service = RuntimeService(engine, port=0, resources={AGENT_HISTORY: mine})
    assert service.resources[AGENT_HISTORY] is mine


# -- the queue's member state (AMI) -----------------------------------------------------------
# A direct Dial bypasses the queue's rules; with AMI the runtime knows who is a member of the
# target queue and who is paused (QueueStatus at login + QueueMember* events), and skips them.

AMI_USERS = {"ivrflow": AmiUser("s3cret", read="call,agent", write="originate")}


def member_queues(**consult: Any) -> dict[str, list[AmiQueueMember]]:
    return {
        "consult": [
            AmiQueueMember("Agent 8001", "PJSIP/8001", **consult),
            AmiQueueMember("Agent 8002", "PJSIP/8002"),
        ],
        "complaints": [AmiQueueMember("Agent 8001", "PJSIP/8001")],
    }


@contextlib.asynccontextmanager
async def serving_with_ami(engine, fake_ami: FakeAmi):
    await asyncio.to_thread(publish, engine, sticky_flow(), entry="12329")
    client = AmiClient(
        "127.0.0.1", fake_ami.port, "ivrflow", "s3cret", reconnect_backoff=(0.05, 0.2)
    )
    service = RuntimeService(engine, port=0, drain_s=2, entry_cache_s=0, ami=client)
    await service.start()
    try:
        assert service.queue_members is not None
        for _ in range(300):
            if service.queue_members.available:
                break
            await asyncio.sleep(0.01)
        assert service.queue_members.available
        yield service
    finally:
        await service.close()


def queue_result(engine) -> dict[str, Any]:
    """The ``queue_result`` trace event of the newest call."""
    with Session(engine) as session:
        record = session.exec(
            select(CallRecord).order_by(col(CallRecord.started_at).desc())
        ).first()
    assert record is not None
    events = [e for s in record.trace["steps"] for e in s.get("events", [])]
    [found] = [e for e in events if e["event"] == "queue_result"]
    return found


ANSWERED_BY_8002 = QueueOutcome("ANSWERED", agent="Agent 8002", interface="PJSIP/8002")


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ("paused before", "paused"),  # paused in the QueueStatus snapshot
        ("paused by event", "paused"),  # QueueMemberPause while the runtime runs
        ("removed by event", "not_member"),  # logged out: QueueMemberRemoved
        ("other queue only", "not_member"),  # served the caller in complaints, not consult
    ],
)
async def test_a_paused_or_non_member_sticky_agent_is_skipped(engine, change, why):
    consult = {"paused": True, "paused_reason": "break"} if change == "paused before" else {}
    queues = member_queues(**consult)
    if change == "other queue only":
        queues["consult"] = queues["consult"][1:]
    async with (
        FakeAmi(users=AMI_USERS, queues=queues) as fake_ami,
        serving_with_ami(engine, fake_ami) as service,
    ):
        await first_call_answered_by_8001(service, engine)
        view = service.queue_members
        assert view is not None
        if change == "paused by event":
            assert await fake_ami.pause_member("PJSIP/8001", queue="consult", reason="wrap-up")
        elif change == "removed by event":
            assert await fake_ami.remove_member("consult", "PJSIP/8001")
        for _ in range(300):
            if view.check("consult", "PJSIP/8001") == why:
                break
            await asyncio.sleep(0.01)
        assert view.check("complaints", "PJSIP/8001") == "member"  # other queue untouched
        again = await call(service, devices={"PJSIP/8001": "NOT_INUSE"}, queue=ANSWERED_BY_8002)
        assert again.error is None and again.anomalies == []
        assert DEVICE_STATE not in again.lines and apps(again) == ["Queue"]
        newest = (await settled(service, engine))[0]
        assert (newest["agent_interface"], newest["agent_sticky"]) == ("PJSIP/8002", False)
        assert queue_result(engine)["sticky_skipped"] == why


async def test_a_member_who_is_not_paused_is_dialled(engine):
    async with (
        FakeAmi(users=AMI_USERS, queues=member_queues(paused=True)) as fake_ami,
        serving_with_ami(engine, fake_ami) as service,
    ):
        await first_call_answered_by_8001(service, engine)
        view = service.queue_members
        assert view is not None and view.check("consult", "PJSIP/8001") == "paused"
        await fake_ami.pause_member("PJSIP/8001", paused=False)  # back from the break
        for _ in range(300):
            if view.check("consult", "PJSIP/8001") == "member":
                break
            await asyncio.sleep(0.01)
        again = await call(
            service, devices={"PJSIP/8001": "NOT_INUSE"}, dial=DialOutcome("ANSWER", talk_s=30)
        )
        assert again.error is None and again.anomalies == []
        assert DEVICE_STATE in again.lines and apps(again) == ["Dial"]
        newest = (await settled(service, engine))[0]
        assert (newest["agent_interface"], newest["agent_sticky"]) == ("PJSIP/8001", True)
        assert "sticky_skipped" not in queue_result(engine)


async def test_a_member_whose_device_is_busy_is_still_not_dialled(engine):
    async with (
        FakeAmi(users=AMI_USERS, queues=member_queues()) as fake_ami,
        serving_with_ami(engine, fake_ami) as service,
    ):
        await first_call_answered_by_8001(service, engine)
        again = await call(service, devices={"PJSIP/8001": "INUSE"}, queue=ANSWERED_BY_8002)
        assert DEVICE_STATE in again.lines and apps(again) == ["Queue"]
        await settled(service, engine)
        assert queue_result(engine)["sticky_skipped"] == "not_free"


async def test_with_ami_down_only_the_device_state_decides(engine):
    # paused in Asterisk, but the runtime has lost AMI: it cannot know, so it behaves as
    # without AMI (DEVICE_STATE, then Dial)
    async with (
        FakeAmi(users=AMI_USERS, queues=member_queues(paused=True)) as fake_ami,
        serving_with_ami(engine, fake_ami) as service,
    ):
        await first_call_answered_by_8001(service, engine)
        view = service.queue_members
        assert view is not None and view.check("consult", "PJSIP/8001") == "paused"
        await fake_ami.stop()
        for _ in range(300):
            if not view.available:
                break
            await asyncio.sleep(0.01)
        assert view.check("consult", "PJSIP/8001") == "unknown"
        again = await call(
            service, devices={"PJSIP/8001": "NOT_INUSE"}, dial=DialOutcome("ANSWER", talk_s=30)
        )
        assert DEVICE_STATE in again.lines and apps(again) == ["Dial"]
        newest = (await settled(service, engine))[0]
        assert (newest["agent_interface"], newest["agent_sticky"]) == ("PJSIP/8001", True)


async def test_without_ami_only_the_device_state_decides(engine):
    async with serving(engine) as service:
        assert service.ami is None and service.queue_members is None
        await first_call_answered_by_8001(service, engine)
        again = await call(
            service, devices={"PJSIP/8001": "NOT_INUSE"}, dial=DialOutcome("ANSWER", talk_s=30)
        )
        assert DEVICE_STATE in again.lines and apps(again) == ["Dial"]
