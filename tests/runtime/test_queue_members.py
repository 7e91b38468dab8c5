"""The queue member view (runtime.queue_members) against the fake Asterisk's AMI on a real
socket: the QueueStatus snapshot at every login, the member events as they arrive, and when
the view refuses to answer (AMI down, no snapshot on this connection, unknown queue)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

import pytest
from support.fake_asterisk import AmiQueueMember, AmiUser, FakeAmi

from runtime.ami import AmiClient, AmiEvent
from runtime.queue_members import QueueMemberView

USERS = {"ivrflow": AmiUser("s3cret", read="call,agent", write="originate")}  # manager.conf


def queues() -> dict[str, list]:
    return {
        "consult": [
            AmiQueueMember("Agent 8001", "PJSIP/8001"),
            AmiQueueMember("Agent 8002", "PJSIP/8002", paused=True, paused_reason="lunch"),
        ],
        "complaints": [("Agent 8003", "PJSIP/8003")],
        "empty": [],
    }


async def until(condition: Callable[[], bool], within: float = 3.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {condition}")
        await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def watching(fake: FakeAmi, **options):
    view = QueueMemberView(**{"retry_s": 0.1, **options.pop("view", {})})
    client = AmiClient(
        "127.0.0.1", fake.port, "ivrflow", "s3cret", reconnect_backoff=(0.05, 0.2), **options
    )
    view.attach(client)
    await view.start()
    try:
        await client.start()
        await until(lambda: view.available)
        yield view, client
    finally:
        await view.close()
        await client.close()


def status_actions(fake: FakeAmi) -> int:
    return sum(1 for m in fake.actions if m.action == "QueueStatus")


async def test_the_snapshot_at_login_gives_members_and_pauses():
    async with FakeAmi(users=USERS, queues=queues()) as fake, watching(fake) as (view, _):
        assert status_actions(fake) == 1
        assert view.check("consult", "PJSIP/8001") == "member"
        assert view.check("consult", "pjsip/8002") == "paused"  # app_queue: strcasecmp
        assert view.check("consult", "PJSIP/8003") == "not_member"
        assert view.check("complaints", "PJSIP/8003") == "member"
        assert view.check("empty", "PJSIP/8001") == "not_member"  # known, without members
        assert view.check("no-such-queue", "PJSIP/8001") == "unknown"
        member = view.member("Consult", "PJSIP/8002")
        assert member is not None
        assert (member.name, member.state_interface, member.status, member.in_call) == (
            "Agent 8002",
            "PJSIP/8002",
            1,
            False,
        )
        assert (member.paused, member.paused_reason) == (True, "lunch")


async def test_member_events_change_the_view_as_they_arrive():
    async with FakeAmi(users=USERS, queues=queues()) as fake, watching(fake) as (view, _):
        assert await fake.pause_member("PJSIP/8001", reason="wrap-up") == 1
        await until(lambda: view.check("consult", "PJSIP/8001") == "paused")
        assert view.member("consult", "PJSIP/8001").paused_reason == "wrap-up"
        await fake.pause_member("PJSIP/8002", paused=False, queue="consult")
        await until(lambda: view.check("consult", "PJSIP/8002") == "member")
        await fake.remove_member("consult", "PJSIP/8002")
        await until(lambda: view.check("consult", "PJSIP/8002") == "not_member")
        assert await fake.add_member("consult", "PJSIP/8003", "Agent 8003")
        await until(lambda: view.check("consult", "PJSIP/8003") == "member")
        assert view.check("complaints", "PJSIP/8003") == "member"  # still there too
        await fake.set_member_status("PJSIP/8003", 2, in_call=True)
        await until(lambda: view.member("consult", "PJSIP/8003").status == 2)
        assert view.member("complaints", "PJSIP/8003").in_call
        assert view.events == 6  # consult and complaints each got a QueueMemberStatus
        assert status_actions(fake) == 1  # events alone: no new snapshot


async def test_events_for_another_queue_leave_the_target_queue_alone():
    async with FakeAmi(users=USERS, queues=queues()) as fake, watching(fake) as (view, _):
        assert await fake.add_member("complaints", "PJSIP/8001", "Agent 8001")
        await fake.pause_member("PJSIP/8001", queue="complaints", reason="training")
        await until(lambda: view.check("complaints", "PJSIP/8001") == "paused")
        assert view.check("consult", "PJSIP/8001") == "member"
        await fake.remove_member("complaints", "PJSIP/8001")
        await until(lambda: view.check("complaints", "PJSIP/8001") == "not_member")
        assert view.check("consult", "PJSIP/8001") == "member"


async def test_a_reconnect_takes_a_new_snapshot_and_the_view_is_unknown_meanwhile():
    async with FakeAmi(users=USERS, queues=queues()) as fake, watching(fake) as (view, client):
        await fake.stop()
        await until(lambda: not client.connected)
        assert not view.available
        assert view.check("consult", "PJSIP/8002") == "unknown"
        # changes made while the runtime could not hear them
        fake.find_member("consult", "PJSIP/8002").paused = False
        fake.queues["consult"].remove(fake.find_member("consult", "PJSIP/8001"))
        await fake.start()  # same port
        await until(lambda: view.available)
        assert status_actions(fake) == 2
        assert view.check("consult", "PJSIP/8002") == "member"
        assert view.check("consult", "PJSIP/8001") == "not_member"


async def test_static_members_changed_without_events_are_caught_by_the_periodic_refresh():
    # a queues.conf reload changes static members without any QueueMember* event
    async with (
        FakeAmi(users=USERS, queues=queues()) as fake,
        watching(fake, view={"refresh_interval_s": 0.05}) as (view, _),
    ):
        fake.queues["consult"].append(AmiQueueMember("Agent 8009", "PJSIP/8009"))
        await until(lambda: view.check("consult", "PJSIP/8009") == "member")
        fake.queues["consult"] = []
        await until(lambda: view.check("consult", "PJSIP/8009") == "not_member")
        assert view.available and status_actions(fake) >= 3


def listed(queue: str, interface: str, *, paused: bool) -> AmiEvent:
    return AmiEvent(
        "QueueMember",
        {"Queue": queue, "Name": interface, "Location": interface, "Paused": str(int(paused))},
    )


def paused_event(queue: str, interface: str, paused: bool, at: float) -> AmiEvent:
    headers = {"Queue": queue, "MemberName": interface, "Interface": interface}
    return AmiEvent("QueueMemberPause", headers | {"Paused": str(int(paused))}, received_at=at)


@pytest.mark.parametrize(
    ("event_at", "paused"),
    [
        (99.0, False),  # the event is older than the QueueStatus request: the snapshot wins
        (101.0, True),  # received after the request: it may be newer than the snapshot
    ],
)
async def test_an_event_newer_than_the_snapshot_request_is_not_overwritten(event_at, paused):
    view = QueueMemberView()
    await view.handle_event(paused_event("consult", "PJSIP/8001", True, event_at))
    view.apply_status(
        [
            AmiEvent("QueueParams", {"Queue": "consult"}),
            listed("consult", "PJSIP/8001", paused=False),
            AmiEvent("QueueStatusComplete", {"EventList": "Complete", "ListItems": "2"}),
        ],
        sent_at=100.0,
    )
    assert view.member("consult", "PJSIP/8001").paused is paused


async def test_a_removal_received_after_the_request_is_not_undone_by_the_snapshot():
    view = QueueMemberView()
    removed = paused_event("consult", "PJSIP/8001", False, 101.0)
    removed.name = "QueueMemberRemoved"
    await view.handle_event(removed)
    view.apply_status(
        [
            AmiEvent("QueueParams", {"Queue": "consult"}),
            listed("consult", "PJSIP/8001", paused=False),
        ],
        sent_at=100.0,
    )
    assert view.member("consult", "PJSIP/8001") is None
    assert view.check("consult", "PJSIP/8001") == "unknown"  # no AMI client: never trusted


async def test_a_refused_queue_status_leaves_the_view_unknown(caplog):
    async with FakeAmi(users=USERS, queues=queues()) as fake:
        original = fake._a_queuestatus

        async def refuse(s, msg):
            return await fake._error(s, msg, "Permission denied")

        fake._a_queuestatus = refuse
        client = AmiClient("127.0.0.1", fake.port, "ivrflow", "s3cret")
        view = QueueMemberView(retry_s=0.05)
        view.attach(client)
        await view.start()
        try:
            await client.start()
            await until(lambda: view.refresh_failures >= 2)
            assert not view.available
            assert view.check("consult", "PJSIP/8002") == "unknown"
            fake._a_queuestatus = original  # a later retry succeeds
            await until(lambda: view.available)
            assert view.check("consult", "PJSIP/8002") == "paused"
        finally:
            await view.close()
            await client.close()
    assert "QueueStatus: unusable answer (Permission denied" in caplog.text


async def test_login_hooks_are_plain_functions_and_a_failing_one_does_not_stop_the_login(caplog):
    async with FakeAmi(users=USERS, queues=queues()) as fake:
        client = AmiClient("127.0.0.1", fake.port, "ivrflow", "s3cret")

        async def coroutine_hook() -> None:
            pass

        with pytest.raises(TypeError):
            client.on_login(coroutine_hook)
        calls: list[str] = []

        def broken() -> None:
            calls.append("broken")
            raise RuntimeError("hook bug")

        client.on_login(broken)
        client.on_login(lambda: calls.append("second"))
        await client.start()
        try:
            assert client.connected and calls == ["broken", "second"]
        finally:
            await client.close()
    assert "AMI login hook" in caplog.text and "hook bug" in caplog.text
