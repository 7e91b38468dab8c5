"""The runtime service end to end: a fake Asterisk calls in over FastAGI, the published 12329
flow runs on its plugins (the demo fund system, lists, hours, area routing, appointments,
SMS, callbacks, survey), call records land in SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

import pytest
from sqlalchemy import text
from support.fake_asterisk import FakeCall, Fault, Hangup, QueueOutcome
from support.hotline import DEMO, OPEN, hotline_plugins, publish_12329

from runtime.clock import FrozenClock
from runtime.service import RuntimeService, entry_of
from runtime.store.publishing import publish
from runtime.store.records import list_calls


@contextlib.asynccontextmanager
async def running(engine, environ=None, **options):
    """The 12329 example published and a runtime serving it with the plugins' resources."""
    await asyncio.to_thread(publish_12329, engine)
    with hotline_plugins(engine, environ) as plugins:
        options.setdefault("clock", FrozenClock(OPEN))
        options.setdefault("drain_s", 2)
        service = RuntimeService(engine, port=0, resources=plugins.resources, **options)
        await service.start()
        try:
            yield service, plugins
        finally:
            await service.close()


@pytest.fixture
async def hotline(engine):
    # entry_cache_s=0: a publish reaches the very next call (tests publish mid-test)
    async with running(engine, entry_cache_s=0) as (service, plugins):
        yield service, plugins


async def records(engine, service=None):
    """The call records, once every call the service took has ended and been written."""
    if service is not None:
        for _ in range(200):
            if service.server.active == 0 and service.calls_finished == service.calls_started:
                break
            await asyncio.sleep(0.02)
        await service.records.flush()
    return await asyncio.to_thread(list_calls, engine)


async def call(service, **kw) -> object:
    kw.setdefault("timeout", 20)
    return await FakeCall(service.port, **kw).run()


def played(result) -> list[str]:
    return [name.rsplit("/", 1)[-1] for name in result.played]


async def test_personal_account_branch_over_agi(hotline, engine):
    service, _ = hotline
    keys = f"11{DEMO.ACCOUNT}#{DEMO.PIN}2"
    result = await call(service, keys=[keys, "hangup"])
    assert result.error is None and result.anomalies == []
    heard = played(result)
    assert heard[:2] == ["welcome", "main_menu"]
    assert "balance_intro" in heard and "after_query" in heard
    # the amounts are said through the number prompt set: 一万二千三百四十五元六角七分
    said = [n for n in result.played if "/say/zh/" in n]
    assert [n.rsplit("/", 1)[-1] for n in said[:5]] == ["1", "wan", "2", "qian", "3"]
    await service.records.flush()
    [record] = await records(engine)
    assert record["outcome"] == "hangup" and record["outcome_node"] == "main_menu"
    assert record["flow_id"] == "12329-main" and record["flow_version"] == 1
    assert record["caller"] == "13800138000" and record["answered_at"] is not None
    assert record["call_id"] == result.env["agi_uniqueid"]
    assert record["linkedid"] == result.env["agi_uniqueid"]  # read after the call, dead channel

    def dump() -> str:
        with engine.connect() as conn:
            return str(conn.execute(text("SELECT * FROM call_record")).fetchall())

    stored = await asyncio.to_thread(dump)
    assert DEMO.PIN not in stored and DEMO.ACCOUNT not in stored


@pytest.mark.parametrize(
    ("keys", "queue", "expect"),
    [
        (
            "0",
            "ANSWERED",
            # the 2 typed during the survey's introduction answers the question (type-ahead)
            ["welcome", "main_menu", "queue_wait", "survey_intro", "survey_thanks"],
        ),
        ("9", "TIMEOUT", ["queue_wait", "queue_busy", "callback_ok", "goodbye"]),
        # * pressed during the policy announcement interrupts it and acts at the menu (type-ahead)
        ("43*", None, ["guide_menu", "policy_loan", "main_menu"]),
        ("*", None, ["welcome", "main_menu", "main_menu"]),
    ],
)
async def test_main_menu_branches_over_agi(hotline, engine, keys, queue, expect):
    service, plugins = hotline
    after = {"0": "2", "9": "2"}.get(keys, "")
    # no hang-up in the script: the flow runs to its own goodbye when the keys run out
    result = await call(service, keys=keys + after, queue=QueueOutcome(queue) if queue else None)
    assert result.hung_up_by == "runtime"
    heard = played(result)
    assert all(name in heard for name in expect), heard
    it = iter(heard)
    assert all(name in it for name in expect), heard  # in this order
    if queue:
        [(_, data)] = [e for e in result.execs if e[0] == "Queue"]
        # 13800138000 is a Beijing number: not local, so the remote consultation group
        assert data.split(",")[0] == {"0": "consult_remote", "9": "complaints"}[keys]
        assert result.variables["__IVR_CATEGORY"] in ("consult", "complaint")
        assert result.variables["__IVR_REGION"] == {"0": "beijing", "9": ""}[keys]
        assert result.variables.get("QUEUE_PRIO") == "0"
    if queue == "ANSWERED":  # the survey's answer is stored with the call, agent and queue
        survey = plugins.resources["survey"]
        assert await asyncio.to_thread(survey.flush)
        [answer] = await asyncio.to_thread(survey.answers, result.env["agi_uniqueid"])
        assert (answer["score"], answer["queue"]) == (2, "consult_remote")
        assert answer["agent"]
    if queue == "TIMEOUT":  # the caller asked for a call back
        total, [request] = plugins.resources["callback"].search(status="pending")
        assert (total, request.phone, request.reason) == (1, "13800138000", "queue_timeout")


async def test_fund_system_down_still_reaches_an_agent(engine):
    environ = {"IVRFLOW_FUND_URL": "http://127.0.0.1:9/api"}  # connection refused
    async with running(engine, environ) as (service, _):
        result = await call(
            service,
            keys=[f"11{DEMO.ACCOUNT}#{DEMO.PIN}0", "hangup"],
            queue=QueueOutcome("ANSWERED"),
        )
    heard = played(result)
    assert "system_busy" in heard and "queue_wait" in heard
    [record] = await records(engine)
    assert record["queue"] == "consult_remote"


@pytest.mark.parametrize(
    ("hangup", "node"),
    [
        (Hangup.during_command("STREAM FILE", 1), "welcome"),  # play
        (Hangup.during_command("STREAM FILE", 2), "main_menu"),  # menu prompt
        (Hangup.during_command("WAIT FOR DIGIT", 1), "auth_account"),  # a plugin's input
        (Hangup.during_command("EXEC Queue"), "consult_remote"),  # queue (in a sub-flow)
        (Hangup.during_command("STREAM FILE", 9), "say_balance"),  # say (number prompt set)
        (Hangup.during_command("EXEC VoiceMail"), "leave_voicemail"),  # voicemail
    ],
)
async def test_a_hangup_inside_each_kind_of_node_is_recorded(hotline, engine, hangup, node):
    service, _ = hotline
    keys = {
        "consult_remote": "0",
        "welcome": "",
        "main_menu": "",
        "say_balance": f"11{DEMO.ACCOUNT}#{DEMO.PIN}",
        "leave_voicemail": "01",
    }.get(node, "11")
    queue = QueueOutcome("TIMEOUT") if node == "leave_voicemail" else None
    result = await call(service, keys=keys, hangup=hangup, queue=queue)
    assert result.hung_up_by == "caller"
    await service.records.flush()
    [record] = await records(engine)
    assert record["outcome"] == "hangup"
    assert record["outcome_node"] == node
    assert service.server.active == 0


async def test_hangup_during_a_slow_fund_system_cancels_the_lookup(engine):
    from aiohttp import web

    async def slow(request):
        await asyncio.sleep(5)
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/api/auth", slow)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        environ = {"IVRFLOW_FUND_URL": f"http://127.0.0.1:{port}/api"}
        async with running(engine, environ) as (service, _):
            started = asyncio.get_running_loop().time()
            keys = f"11{DEMO.ACCOUNT}#{DEMO.PIN}"
            result = await call(service, keys=keys, hangup=Hangup.when_idle(300))
            assert asyncio.get_running_loop().time() - started < 2.9  # not the 3 s timeout
            [record] = await records(engine, service)  # once the call has ended and is written
    finally:
        await runner.cleanup()
    assert result.hung_up_by == "caller"
    assert (record["outcome"], record["outcome_node"]) == ("hangup", "auth_account")


async def test_unknown_entry_returns_the_call_to_the_dialplan(hotline, engine):
    service, _ = hotline
    result = await call(service, entry="99999")
    assert result.variables.get("IVRFLOW_STATUS") == "NOENTRY"
    assert result.played == []
    await service.records.flush()
    [record] = await records(engine)
    assert record["outcome"] == "no_entry" and record["entry"] == "99999"


async def test_a_call_keeps_its_version_when_another_is_published(hotline, engine):
    service, _ = hotline
    slow_call = asyncio.ensure_future(
        call(service, keys=[("4", 300), "hangup"], playback_ms=100, time_scale=1.0)
    )
    await asyncio.sleep(0.15)

    def new_welcome(doc):
        doc["prompts"]["welcome"]["text"]["zh-CN"] = "新版欢迎语。"
        doc["nodes"]["welcome"]["config"]["prompts"] = ["welcome", "main_menu"]

    assert await asyncio.to_thread(publish_12329, engine, edit=new_welcome) == 2
    first = await slow_call
    second = await call(service, keys=["hangup"])
    await service.records.flush()
    by_id = {r["call_id"]: r for r in await records(engine)}
    assert by_id[first.env["agi_uniqueid"]]["flow_version"] == 1
    assert by_id[second.env["agi_uniqueid"]]["flow_version"] == 2


def test_entry_comes_from_the_agi_path():
    assert entry_of({"agi_network_script": "12329"}) == "12329"
    assert entry_of({"agi_network_script": "/12329?lang=en"}) == "12329"
    assert entry_of({"agi_request": "agi://127.0.0.1:4573/hotline"}) == "hotline"
    assert entry_of({}) == ""


@pytest.mark.parametrize(("status", "outcome"), [("ANSWERED", "answered"), ("TIMEOUT", "timeout")])
async def test_queue_legs_from_ami_events_are_recorded(engine, status, outcome):
    from sqlmodel import Session, select
    from support.fake_asterisk import AmiUser, FakeAmi

    from runtime.ami import AmiClient
    from runtime.store.models import QueueLeg

    def all_legs() -> list[QueueLeg]:
        with Session(engine) as session:
            return list(session.exec(select(QueueLeg)).all())

    # least privilege, as examples/asterisk/manager.conf: read call,agent; write originate
    users = {"ivrflow": AmiUser("s3cret", read="call,agent", write="originate")}
    async with FakeAmi(users=users) as fake_ami:
        client = AmiClient("127.0.0.1", fake_ami.port, "ivrflow", "s3cret")
        async with running(engine, ami=client) as (service, _):
            await client.wait_connected()
            result = await call(
                service, keys="0", queue=QueueOutcome(status, hold_s=7), ami=fake_ami
            )
            assert result.error is None
            for _ in range(100):  # the leg completes shortly after the queue events
                await service.records.flush()
                legs = await asyncio.to_thread(all_legs)
                if legs:
                    break
                await asyncio.sleep(0.05)
    [leg] = legs
    assert leg.queue == "consult_remote" and leg.outcome == outcome
    assert leg.uniqueid == result.env["agi_uniqueid"]
    if outcome == "answered":
        assert leg.agent and leg.hold_s == 7


async def test_calls_still_running_after_the_drain_deadline_are_recorded_as_aborted(engine):
    await asyncio.to_thread(publish_12329, engine)
    with hotline_plugins(engine) as plugins:
        service = RuntimeService(
            engine, port=0, resources=plugins.resources, clock=FrozenClock(OPEN), drain_s=0.2
        )
        await service.start()
        active = asyncio.ensure_future(call(service, keys="", playback_ms=1500, time_scale=1.0))
        await asyncio.sleep(0.3)
        await service.close()
        result = await active
    assert result.closed_by == "runtime"
    [record] = await records(engine)
    assert record["outcome"] == "aborted"
    assert "shut down" in record["outcome_detail"]


@pytest.mark.parametrize(
    ("fault", "outcomes"),
    [
        (Fault.rst(), {"hangup"}),
        (Fault.half_line(), {"hangup"}),
        (Fault.close(), {"hangup"}),
        (Fault.garbage(), {"completed", "hangup"}),
        (Fault.error_503(), {"completed", "hangup"}),
        (Fault.usage(), {"completed", "hangup"}),
        (Fault.hangup_before(), {"hangup"}),
        (Fault.hangup_before(wording="old"), {"hangup"}),
        (Fault.hangup_after(), {"hangup", "completed"}),
        (
            Fault.raw(b"511 Command Not Permitted on a dead channel or intercept routine\n"),
            {"hangup"},
        ),
    ],
    ids=lambda v: v.kind if isinstance(v, Fault) else None,
)
async def test_broken_asterisk_replies_end_in_a_defined_state(hotline, engine, fault, outcomes):
    service, _ = hotline
    # the fault hits the reply to the main menu's prompt (the second STREAM FILE)
    await call(service, keys="", faults={("STREAM FILE", 2): fault}, timeout=15)
    [record] = await records(engine, service)
    assert record["outcome"] in outcomes, record
    assert service.server.active == 0


async def test_a_slow_one_byte_per_second_reply_times_out_cleanly(engine):
    async with running(engine, drain_s=1, command_timeout_s=0.5) as (service, _):
        started = asyncio.get_running_loop().time()
        # ANSWER is not media: its reply is due at once (STREAM FILE may play for minutes)
        result = await call(service, faults={("ANSWER", 1): Fault.slow(0.5)}, timeout=15)
        took = asyncio.get_running_loop().time() - started
    assert result.closed_by == "runtime"
    assert took < 4  # the 13-byte reply would take 6.5 s: the runtime gave up after 0.5 s
    [record] = await records(engine)
    assert record["outcome"] in ("hangup", "error"), record


async def test_entries_are_looked_up_at_most_once_per_cache_period(engine, monkeypatch):
    import runtime.service as service_module

    lookups = []
    real = service_module.entry_version

    def counting(engine_, entry):
        lookups.append(entry)
        return real(engine_, entry)

    monkeypatch.setattr(service_module, "entry_version", counting)
    async with running(engine, entry_cache_s=60) as (service, _):
        for _ in range(3):
            await call(service, keys=["hangup"])
        await call(service, entry="99999")
    assert lookups == ["12329", "99999"]
    assert [r["outcome"] for r in await records(engine)].count("hangup") == 3


@pytest.mark.parametrize(
    ("keys", "path"),
    [
        (
            f"22{DEMO.ID_CARD}{DEMO.PIN}2",
            ["auth_loan", "loan_lookup", "say_loan_due", "after_loan"],
        ),
        (
            f"3{DEMO.UNIT}#{DEMO.UNIT_PIN}2",
            ["auth_unit", "unit_lookup", "unit_normal", "after_unit"],
        ),
        ("5111111", ["appointment", "to_main", "main_menu"]),
    ],
    ids=["2-loan", "3-employer", "5-appointment"],
)
async def test_more_main_menu_branches_over_agi(hotline, engine, keys, path):
    from sqlmodel import Session, select

    from runtime.store.models import CallRecord

    service, plugins = hotline
    result = await call(service, keys=keys + "*")
    assert result.error is None
    await records(engine, service)

    def steps() -> list[str]:
        with Session(engine) as session:
            [record] = session.exec(select(CallRecord)).all()
            return [s["node"] for s in record.trace["steps"] if s.get("depth", 0) == 0]

    nodes = await asyncio.to_thread(steps)
    it = iter(nodes)
    assert all(node in it for node in path), nodes  # in this order
    if keys.startswith("5"):  # booked: B01, the first working day offered, the first slot
        [booking] = await plugins.resources["fund"].bookings("13800138000", from_day=OPEN.date())
        assert (booking.branch_id, booking.service) == ("B01", "loan_application")
        assert booking.day.isoformat() == "2026-10-10"  # a Saturday worked for National Day
        assert booking.start.isoformat(timespec="minutes") == "09:00"
        said = "".join(n.rsplit("/", 1)[-1] for n in result.played if "/say/zh/" in n)
        assert booking.code in said  # the confirmation code, digit by digit


@pytest.mark.parametrize(
    ("example", "hangup", "node"),
    [
        ("record", Hangup.during_command("RECORD FILE"), "record_complaint"),
        ("transfer_number", Hangup.during_command("EXEC Dial"), "to_branch"),
    ],
)
async def test_hangup_during_recording_and_dialling(engine, example, hangup, node):
    """Record and dial are not in the 12329 flow: the per-node examples run on the runtime."""
    folder = Path(__file__).parents[2] / "examples" / "nodes"
    document = json.loads((folder / f"{example}.json").read_text("utf-8"))
    await asyncio.to_thread(publish, engine, document, entry="node-example")
    service = RuntimeService(engine, port=0, clock=FrozenClock(OPEN), drain_s=2)
    await service.start()
    try:
        result = await call(service, entry="node-example", hangup=hangup)
    finally:
        await service.close()
    assert result.hung_up_by == "caller"
    [record] = await records(engine)
    assert (record["outcome"], record["outcome_node"]) == ("hangup", node)


async def test_lists_over_agi_blocked_callers_hear_a_message_and_vips_queue_first(engine):
    from support.hotline import BLOCKED, VIP

    async with running(engine) as (service, _):
        blocked = await call(service, caller=BLOCKED)
        vip = await call(service, caller=VIP, keys="0#", queue=QueueOutcome("ANSWERED"))
    assert played(blocked) == ["blocked"] and blocked.hung_up_by == "runtime"
    assert blocked.execs == [] or all(app != "Queue" for app, _ in blocked.execs)
    assert vip.variables.get("QUEUE_PRIO") == "5"
    [(_, data)] = [e for e in vip.execs if e[0] == "Queue"]
    assert data.split(",")[0] == "consult_remote"


async def test_after_hours_callback_and_cancelling_an_appointment_over_agi(engine):
    from support.hotline import CLOSED

    async with running(engine, clock=FrozenClock(CLOSED)) as (service, plugins):
        # after hours: 7 registers a callback for the caller's number
        result = await call(service, keys="7")
        assert "closed_notice" in played(result) and "callback_ok" in played(result)
        total, [request] = plugins.resources["callback"].search(status="pending")
        assert (total, request.reason) == (1, "after_hours")
        # self-service still works after hours: book, then look the booking up and cancel it
        await call(service, keys="5111111")
        fund = plugins.resources["fund"]
        [booking] = await fund.bookings("13800138000", from_day=CLOSED.date())
        result = await call(service, keys="521")
        assert "fund_appt_found" in played(result) and "fund_appt_cancelled" in played(result)
        assert await fund.bookings("13800138000", from_day=CLOSED.date()) == []
        outbox = plugins.resources["sms"]
        assert await asyncio.to_thread(outbox.flush)
        texts = [m["text"] for m in await asyncio.to_thread(outbox.messages)]
        assert len(texts) == 2 and all(booking.code in t or "取消" in t for t in texts)


async def test_a_returning_caller_rings_the_agent_who_served_them_first(engine):
    """Brief §3.7: consultation queues of the 12329 agent sub-flow have the sticky agent on —
    the second call of a caller served by PJSIP/8001 asks for that phone's state, dials it,
    and the agent answers without the queue; the survey still follows."""
    from support.fake_asterisk import DialOutcome

    state = 'GET FULL VARIABLE "${DEVICE_STATE(PJSIP/8001)}"'
    async with running(engine) as (service, plugins):
        first = await call(
            service,
            keys="0#",
            queue=QueueOutcome("ANSWERED", agent="Agent 8001", interface="PJSIP/8001"),
        )
        assert state not in first.lines  # no agent served this caller before
        await records(engine, service)
        again = await call(
            service,
            keys="05",
            devices={"PJSIP/8001": "NOT_INUSE"},
            dial=DialOutcome("ANSWER", ring_s=3, talk_s=60),
        )
        assert state in again.lines
        assert [app for app, _ in again.execs] == ["Dial"]  # the agent answered: no Queue
        assert "survey_thanks" in played(again)
        newest = (await records(engine, service))[0]
        assert (newest["agent_interface"], newest["agent_sticky"]) == ("PJSIP/8001", True)
        survey = plugins.resources["survey"]
        assert await asyncio.to_thread(survey.flush)
        [answer] = await asyncio.to_thread(survey.answers, again.env["agi_uniqueid"])
        assert answer["score"] == 5 and answer["queue"] == "consult_remote"
