"""Browser test calls: the session (events, keys, time-outs, limits) and the WebSocket protocol."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState
from support.nodes import flow, node

from designer.simulation import (
    MAX_BAD_MESSAGES,
    BadKeys,
    SimulationOptions,
    SimulationRefused,
    SimulationSession,
    flow_for_test_call,
    serve_simulation,
)
from nodes.api import Node
from nodes.core.hangup import Hangup
from nodes.core.start import Start
from nodes.registry import Registry, default_registry
from runtime.call import Call, DialStatus, QueueStatus, RecordStatus, VoicemailStatus
from runtime.flow import Flow
from runtime.library import DirectoryLibrary
from runtime.trace import MASK

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "nodes"
REGISTRY = default_registry()
FAST = {"timeout_scale": 0.001, "speech_scale": 0}

Event = dict[str, Any]


def example(name: str) -> Flow:
    document = json.loads((EXAMPLES / f"{name}.json").read_text("utf-8"))
    return flow_for_test_call(document, registry=REGISTRY, library=DirectoryLibrary(EXAMPLES))


def small_flow(nodes: dict[str, Any], **extra: Any) -> Flow:
    extra.setdefault(
        "prompts",
        {
            "hello": {"text": {"zh-CN": "你好", "en-US": "Hello"}},
            "long": {"text": {"zh-CN": "这是一段很长的提示。" * 5}},
            "pin": {"text": {"zh-CN": "请输入密码。"}},
            "menu": {"text": {"zh-CN": "请按一或二。"}},
            "bye": {"text": {"zh-CN": "再见。"}},
        },
    )
    return flow_for_test_call(flow(nodes, **extra), registry=REGISTRY)


def brief(event: Event) -> tuple[Any, ...]:
    """An event reduced to what the sequences below compare."""
    kind = event["type"]
    if kind == "vars":
        return ("vars", *event["changed"])
    if kind == "node":
        return ("node", event["node"])
    if kind == "prompt":
        first = event["prompts"][0]
        return ("prompt", first["id"] if first["kind"] == "prompt" else "say")
    if kind == "collected":
        return ("collected", event["digits"], event["ended_by"])
    if kind == "ignored":
        return ("ignored", event["count"])
    if kind in ("transfer", "dial", "voicemail", "record"):
        return (kind, event["status"])
    if kind == "end":
        return ("end", event["outcome"], event["node"], event["reason"])
    return (kind,)


async def drive(
    session: SimulationSession,
    answers: Sequence[str] = (),
    *,
    react: Callable[[Event, SimulationSession], None] | None = None,
    patience: float = 5.0,
) -> list[Event]:
    """Run the session to its end: at every ``input`` event take the next answer (digits to
    press, ``-`` to stay silent, ``h`` to hang up); return every event."""
    pending = list(answers)
    events: list[Event] = []
    stream = session.events()
    session.start()
    while True:
        event = await asyncio.wait_for(anext(stream), patience)
        events.append(event)
        if react is not None:
            react(event, session)
        if event["type"] == "input" and pending:
            answer = pending.pop(0)
            if answer == "h":
                session.hangup()
            elif answer != "-":
                session.press(answer)
        if event["type"] == "end":
            break
    await session.close()
    json.dumps(events)  # everything is JSON-serialisable
    return events


INITIAL_VARS = ("vars", "call_id", "called", "caller", "language", "last_error")


# -- the session ------------------------------------------------------------------------------


async def test_menu_walk_event_sequence():
    session = SimulationSession(example("menu"), call_id="web-1", **FAST)
    events = await drive(session, ["1"])
    assert [brief(e) for e in events] == [
        INITIAL_VARS,
        ("node", "start"),
        ("answer",),
        ("node", "main_menu"),
        ("prompt", "main_menu"),
        ("input",),
        ("collected", "1", "max"),
        ("node", "account_info"),
        ("prompt", "account_info"),
        ("node", "goodbye"),
        ("prompt", "goodbye"),
        ("end", "completed", "goodbye", "flow"),
    ]
    assert events[0]["vars"] == {
        "caller": "13800138000",
        "called": "12329",
        "call_id": "web-1",
        "last_error": None,
        "language": "zh-CN",
    }
    assert events[3] == {
        "type": "node",
        "node": "main_menu",
        "node_type": "core.menu",
        "label": "主菜单",
        "flow": "example-menu",
        "depth": 0,
        "step": 2,
    }
    text = "个人账户查询请按1，个人贷款查询请按2，服务网点地址请按3，重听请按星号键。"
    assert events[4] == {
        "type": "prompt",
        "node": "main_menu",
        "prompts": [
            {
                "id": "main_menu",
                "kind": "prompt",
                "text": text,
                "language": "zh-CN",
                "text_zh": text,
            }
        ],
        "text": text,
        "text_zh": text,
        "language": "zh-CN",
        "barge_in": True,
        "duration_ms": 0,
    }
    assert events[5] == {
        "type": "input",
        "node": "main_menu",
        "spec": {
            "min": 1,
            "max": 1,
            "terminator": None,
            "first_timeout_ms": 5000,
            "inter_digit_timeout_ms": 3000,
            "barge_in": True,
            "secret": False,
        },
        "typed": 0,
        "wait_ms": 5,
    }
    assert events[10]["barge_in"] is False  # core.hangup's goodbye cannot be interrupted
    end = events[-1]
    assert end["message_zh"] == "通话正常结束（节点 goodbye）"
    assert end["message_en"] == "call completed (node goodbye)"
    assert [s["node"] for s in end["trace"]["steps"]] == [
        "start",
        "main_menu",
        "account_info",
        "goodbye",
    ]
    assert end["trace"]["outcome"] == {"kind": "completed", "node": "goodbye", "detail": ""}
    assert session.channel.hung_up_by_flow


async def test_prompts_take_time_and_a_key_interrupts_them():
    # the menu prompt "plays" for about 7 s; a key during it is the answer (no input event)
    session = SimulationSession(example("menu"), timeout_scale=0.001, speech_scale=1)
    started = time.monotonic()

    def react(event: Event, session: SimulationSession) -> None:
        if event["type"] == "prompt" and event["node"] == "main_menu":
            assert 6000 < event["duration_ms"] < 9000
            session.press("2")
        if event["type"] == "prompt" and event["node"] == "loan_info":
            session.hangup()  # mid-prompt: no need to wait for it

    events = await drive(session, react=react)
    assert time.monotonic() - started < 2
    assert [brief(e) for e in events][3:] == [
        ("node", "main_menu"),
        ("prompt", "main_menu"),
        ("barge_in",),
        ("collected", "2", "max"),
        ("node", "loan_info"),
        ("prompt", "loan_info"),
        ("end", "hangup", "loan_info", "caller"),
    ]


async def test_no_input_times_out_in_real_time_and_takes_the_timeout_path():
    session = SimulationSession(example("menu"), timeout_scale=0.01, speech_scale=0)
    stamps: dict[str, list[float]] = {"input": [], "collected": []}

    def react(event: Event, _: SimulationSession) -> None:
        if event["type"] in stamps:
            stamps[event["type"]].append(time.monotonic())

    events = await drive(session, ["-", "-", "-"], react=react)
    asking = [
        ("prompt", "main_menu"),
        ("input",),
        ("collected", "", "timeout"),
    ]
    assert [brief(e) for e in events] == [
        INITIAL_VARS,
        ("node", "start"),
        ("answer",),
        ("node", "main_menu"),
        *asking,
        ("prompt", "no_key"),
        *asking,
        ("prompt", "no_key"),
        *asking,
        ("node", "no_input_bye"),
        ("prompt", "no_input_bye"),
        ("end", "completed", "no_input_bye", "flow"),
    ]
    assert all(e["wait_ms"] == 50 for e in events if e["type"] == "input")
    waited = [b - a for a, b in zip(stamps["input"], stamps["collected"], strict=True)]
    assert all(w >= 0.045 for w in waited), waited  # 5 s × 0.01, really waited


async def test_caller_hangs_up_in_the_middle_of_a_prompt():
    doc_nodes = {
        "start": node("core.start", {"next": "hi"}),
        "hi": node("core.play", {"next": "bye"}, prompts=["long"], barge_in=False),
        "bye": node("core.hangup"),
    }
    session = SimulationSession(small_flow(doc_nodes), timeout_scale=1, speech_scale=1)

    def react(event: Event, session: SimulationSession) -> None:
        if event["type"] == "prompt":
            assert event["duration_ms"] > 10_000
            session.hangup()

    started = time.monotonic()
    events = await drive(session, react=react)
    assert time.monotonic() - started < 1
    assert [brief(e) for e in events] == [
        INITIAL_VARS,
        ("node", "start"),
        ("answer",),
        ("node", "hi"),
        ("prompt", "long"),
        ("end", "hangup", "hi", "caller"),
    ]
    assert events[-1]["message_zh"] == "来电者挂机（节点 hi）"
    assert events[-1]["message_en"] == "caller hung up (node hi)"
    assert not session.channel.hung_up_by_flow  # nobody left to hang up on
    session.press("1")  # after the end: ignored


async def test_secret_entry_is_masked_in_vars_collected_and_trace():
    session = SimulationSession(example("collect"), **FAST)
    events = await drive(session, ["12345678#", "135790"])
    assert [brief(e) for e in events] == [
        ("vars", "account_no", "call_id", "called", "caller", "language", "last_error", "pin"),
        ("node", "start"),
        ("answer",),
        ("node", "ask_account"),
        ("prompt", "enter_account"),
        ("input",),
        ("collected", "12345678", "terminator"),
        ("vars", "account_no"),
        ("node", "ask_pin"),
        ("prompt", "enter_pin"),
        ("input",),
        ("collected", "******", "max"),
        ("vars", "pin"),
        ("node", "readback_intro"),
        ("prompt", "account_readback"),
        ("node", "say_account"),
        ("prompt", "say"),
        ("node", "goodbye"),
        ("prompt", "goodbye"),
        ("end", "completed", "goodbye", "flow"),
    ]
    assert events[0]["vars"]["pin"] is None
    assert events[7]["vars"]["account_no"] == "12345678"
    assert events[10]["spec"]["secret"] is True
    assert events[12]["vars"]["pin"] == MASK
    assert "135790" not in json.dumps(events)
    said = events[16]
    assert said["text"] == "一二三四五六七八"
    assert {p["kind"] for p in said["prompts"]} == {"say"}


async def test_sub_flow_steps_and_variables_carry_their_flow_and_depth():
    session = SimulationSession(example("subflow"), library=DirectoryLibrary(EXAMPLES), **FAST)
    events = await drive(session, ["110101199001011234"])
    nodes = [(e["flow"], e["depth"], e["node"]) for e in events if e["type"] == "node"]
    parent, child = "example-subflow", "example-subflow-child"
    assert nodes == [
        (parent, 0, "start"),
        (parent, 0, "collect_identity"),
        (child, 1, "start"),
        (child, 1, "by_scope"),
        (child, 1, "ask_idcard"),
        (child, 1, "ret_ok"),
        (parent, 0, "verified"),
        (parent, 0, "goodbye"),
    ]
    variables = [(e["flow"], e["depth"], e["changed"]) for e in events if e["type"] == "vars"]
    assert variables[1:] == [
        (
            child,
            1,
            [
                "call_id",
                "called",
                "caller",
                "language",
                "last_error",
                "login_id",
                "scope",
                "unit_account",
            ],
        ),
        (child, 1, ["login_id"]),  # collected in the child…
        (parent, 0, ["login_id"]),  # …handed back to the parent (unit_account: still "")
    ]
    shown = [e["vars"]["login_id"] for e in events if e["type"] == "vars"]
    assert shown == [None, None, MASK, MASK]
    assert "110101199001011234" not in json.dumps(events)
    assert brief(events[-1]) == ("end", "completed", "goodbye", "flow")


async def test_keys_during_a_prompt_that_cannot_be_interrupted_are_ignored():
    doc_nodes = {
        "start": node("core.start", {"next": "ask"}),
        "ask": node(
            "core.collect",
            {"ok": "bye", "timeout": "bye", "invalid": "bye"},
            prompts=["pin"],
            variable="pin",
            min_digits=4,
            max_digits=4,
            secret=True,
            barge_in=False,
        ),
        "bye": node("core.hangup"),
    }
    session = SimulationSession(
        small_flow(doc_nodes, variables={"pin": {"secret": True}}),
        timeout_scale=0.01,
        speech_scale=0.2,
    )

    def react(event: Event, session: SimulationSession) -> None:
        if event["type"] == "prompt" and event["node"] == "ask":
            session.press("99")  # too early: the prompt is still playing

    events = await drive(session, ["2468"], react=react)
    assert [brief(e) for e in events][4:] == [
        ("prompt", "pin"),
        ("ignored", 2),
        ("input",),
        ("collected", "****", "max"),
        ("vars", "pin"),
        ("node", "bye"),
        ("end", "completed", "bye", "flow"),
    ]
    assert events[5]["message_en"].startswith("This prompt cannot be interrupted")
    assert events[8]["vars"]["pin"] == MASK


async def test_type_ahead_keys_fill_the_next_entry_but_not_past_a_fixed_prompt():
    session = SimulationSession(example("collect"), timeout_scale=1, speech_scale=0)
    session.press("00012345#135790")  # typed before the call even asks
    started = time.monotonic()
    events = await drive(session, ["246802"])
    assert time.monotonic() - started < 1
    assert [brief(e) for e in events][3:13] == [
        ("node", "ask_account"),
        ("prompt", "enter_account"),
        ("barge_in",),  # the first key typed ahead interrupts the prompt…
        ("collected", "00012345", "terminator"),  # …and the rest complete the entry
        ("vars", "account_no"),
        ("node", "ask_pin"),
        ("prompt", "enter_pin"),  # may not be interrupted: what was typed ahead is dropped
        ("ignored", 6),
        ("input",),
        ("collected", "******", "max"),
    ]
    assert brief(events[-1]) == ("end", "completed", "goodbye", "flow")


@pytest.mark.parametrize(
    ("at", "notice"),
    [
        ("2026-10-01 10:00", "holiday_notice"),  # National Day
        ("2026-10-10 10:00", "weekend_notice"),  # Saturday
        ("2026-10-09 10:00", "open_notice"),  # Friday, office hours
        ("2026-10-09 20:00", "closed_notice"),
    ],
)
async def test_the_time_override_decides_time_of_day_routing(at, notice):
    flow_obj = example("branch")
    options = SimulationOptions.from_message({"type": "start", "at": at}, timezone="Asia/Shanghai")
    events = await drive(SimulationSession(flow_obj, options=options, **FAST))
    assert [e["node"] for e in events if e["type"] == "node"] == [
        "start",
        "route",
        notice,
        "goodbye",
    ]
    date, clock = at.split()
    assert events[-1]["trace"]["started_at"].startswith(f"{date}T{clock}:00")


async def test_variable_overrides_and_caller_number():
    options = SimulationOptions.from_message(
        {"caller": "075512345678", "variables": {"vip_level": 5}, "at": "2026-10-09 20:00"}
    )
    events = await drive(SimulationSession(example("branch"), options=options, **FAST))
    assert events[0]["vars"]["caller"] == "075512345678"
    assert events[0]["vars"]["vip_level"] == 5
    assert ("node", "vip_notice") in [brief(e) for e in events]


@pytest.mark.parametrize(
    ("name", "option", "value", "event", "then"),
    [
        ("transfer_queue", "queue", "timeout", "transfer", "queue_timeout"),
        ("transfer_number", "dial", "busy", "dial", "line_busy"),
        ("voicemail", "voicemail", "completed", "voicemail", "thanks"),
        ("record", "record", "no_audio", "record", "no_voice"),
    ],
)
async def test_telephony_outcomes_are_chosen_at_start(name, option, value, event, then):
    options = SimulationOptions.from_message({option: value})
    events = await drive(SimulationSession(example(name), options=options, **FAST))
    kinds = [brief(e) for e in events]
    assert (event, value) in kinds
    assert kinds[-1] == ("end", "completed", then, "flow")
    [sent] = [e for e in events if e["type"] == event]
    assert sent["node"] in [e["node"] for e in events if e["type"] == "node"]


async def test_idle_timeout_ends_the_call():
    session = SimulationSession(
        example("menu"), timeout_scale=1, speech_scale=0, idle_timeout_s=0.1
    )
    started = time.monotonic()
    events = await drive(session)
    assert 0.09 < time.monotonic() - started < 1
    end = events[-1]
    assert brief(end) == ("end", "hangup", "main_menu", "idle")
    assert end["message_zh"] == "测试呼叫长时间没有操作，已自动结束。"
    assert end["message_en"] == "The test call was idle for too long and has been ended."
    assert [brief(e) for e in events][-3:-1] == [("prompt", "main_menu"), ("input",)]


async def test_key_presses_keep_an_idle_session_alive():
    doc_nodes = {
        "start": node("core.start", {"next": "ask"}),
        "ask": node(
            "core.collect",
            {"ok": "bye", "timeout": "bye", "invalid": "bye"},
            variable="digits",
            max_digits=30,
            terminator="",
        ),
        "bye": node("core.hangup"),
    }
    session = SimulationSession(
        small_flow(doc_nodes, variables={"digits": {}}),
        timeout_scale=1,
        idle_timeout_s=0.4,
    )
    session.start()
    started = time.monotonic()
    for _ in range(6):
        await asyncio.sleep(0.1)
        assert session.running
        session.press("5")
    end = await asyncio.wait_for(session.wait(), 2)
    assert time.monotonic() - started > 0.6 + 0.4
    assert (end["outcome"], end["node"], end["reason"]) == ("hangup", "ask", "idle")
    await session.close()


async def test_max_duration_ends_the_call_even_when_the_caller_is_busy():
    session = SimulationSession(
        example("collect"), timeout_scale=1, max_duration_s=0.25, idle_timeout_s=10
    )
    session.start()
    started = time.monotonic()
    while session.running:
        session.press("1")
        await asyncio.sleep(0.02)
    assert 0.2 < time.monotonic() - started < 1
    end = await session.wait()
    assert (end["outcome"], end["reason"]) == ("hangup", "max_duration")
    assert end["message_en"] == "The test call reached its maximum duration and has been ended."
    await session.close()


async def test_close_ends_a_running_call_and_the_event_stream():
    session = SimulationSession(example("menu"), timeout_scale=1, speech_scale=0)
    stream = session.events()
    session.start()
    seen = []
    while not seen or seen[-1]["type"] != "input":
        seen.append(await asyncio.wait_for(anext(stream), 2))
    await session.close()
    rest = [event async for event in stream]
    assert [brief(e) for e in rest] == [("end", "hangup", "main_menu", "closed")]
    assert session.end_event is rest[-1] and not session.running
    await session.close()  # twice is fine


async def test_close_before_start_and_context_manager():
    session = SimulationSession(example("menu"), **FAST)
    await session.close()
    assert [brief(e) for e in [e async for e in session.events()]] == [
        ("end", "hangup", None, "closed")
    ]
    async with SimulationSession(example("menu"), timeout_scale=1) as running:
        await asyncio.sleep(0.01)
        assert running.running
    assert running.end_event is not None and running.reason == "closed"


class Stubborn(Node):
    """Ignores the first cancellation (a badly written plugin busy with a back end)."""

    type = "test.stubborn"
    title = {"zh": "测试", "en": "Test"}
    description = {"zh": "测试", "en": "Test"}
    exits = ("next",)

    async def run(self, call: Call, config: dict[str, Any]) -> str:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            await asyncio.sleep(30)
        return "next"


async def test_a_node_that_ignores_the_hang_up_is_cancelled_after_the_grace():
    registry = Registry()
    for cls in (Start, Hangup, Stubborn):
        registry.register(cls)
    doc = flow(
        {
            "start": node("core.start", {"next": "busy"}),
            "busy": node("test.stubborn", {"next": "bye"}),
            "bye": node("core.hangup"),
        }
    )
    session = SimulationSession(
        flow_for_test_call(doc, registry=registry), stop_grace_s=0.05, **FAST
    )
    events = await drive(
        session, react=lambda e, s: s.hangup() if brief(e) == ("node", "busy") else None
    )
    assert brief(events[-1]) == ("end", "hangup", "busy", "caller")
    assert events[-1]["detail"] == "test call stopped"


async def test_press_checks_the_keys():
    session = SimulationSession(example("menu"), **FAST)
    for bad in ("", "12a", "1 2", "1" * 65, 5, None):
        with pytest.raises(BadKeys) as info:
            session.press(bad)  # type: ignore[arg-type]
        assert info.value.to_event()["code"] == "bad_digits"
        assert "0-9" in info.value.message_zh and "0-9" in info.value.message_en
    session.press("0123456789*#")
    await session.close()


async def test_events_to_a_sink():
    got: list[Event] = []

    async def sink(event: Event) -> None:
        got.append(event)

    session = SimulationSession(example("menu"), sink=sink, **FAST)
    session.start()
    session.press("3")
    end = await asyncio.wait_for(session.wait(), 2)
    await session.close()
    assert got[-1] is end
    assert ("node", "branch_info") in [brief(e) for e in got]


async def test_a_failing_sink_hangs_the_call_up():
    async def sink(event: Event) -> None:
        raise ConnectionResetError("browser gone")

    session = SimulationSession(example("menu"), sink=sink, timeout_scale=1)
    session.start()
    end = await asyncio.wait_for(session.wait(), 2)
    await session.close()
    assert (end["outcome"], end["reason"]) == ("hangup", "disconnected")


def test_start_options_are_checked():
    options = SimulationOptions.from_message(
        {
            "type": "start",
            "caller": "13912345678",
            "called": "12329",
            "at": "2026-10-01T10:00:00+08:00",
            "variables": {"region": "sz"},
            "queue": "unavailable",
            "dial": "no_answer",
            "record": "error",
            "voicemail": "error",
        }
    )
    assert options.caller == "13912345678"
    assert options.at is not None and options.at.isoformat() == "2026-10-01T10:00:00+08:00"
    assert options.queue_status is QueueStatus.UNAVAILABLE
    assert options.dial_status is DialStatus.NO_ANSWER
    assert options.record_status is RecordStatus.ERROR
    assert options.voicemail_status is VoicemailStatus.ERROR
    assert SimulationOptions.from_message({"caller": None}) == SimulationOptions()
    for bad in (
        {"caller": "1380013800a"},
        {"called": 12329},
        {"at": "yesterday"},
        {"at": 5},
        {"variables": [1]},
        {"variables": {"caller": "1"}},
        {"variables": {"bad name": 1}},
        {"queue": "maybe"},
    ):
        with pytest.raises(SimulationRefused) as info:
            SimulationOptions.from_message(bad)
        event = info.value.to_event()
        assert event["code"] == "bad_options" and event["message_zh"] and event["message_en"]


def test_invalid_flows_are_refused_with_every_problem():
    doc = flow({"start": node("core.start", {"next": "nowhere"})})
    with pytest.raises(SimulationRefused) as info:
        flow_for_test_call(doc)
    event = info.value.to_event()
    assert event["type"] == "error" and event["code"] == "refused"
    assert event["problems"] and all("message_en" in p for p in event["problems"])
    assert "error" in event["message_en"] and "错误" in event["message_zh"]
    plain = SimulationRefused("草稿不存在。", "No such draft.").to_event()
    assert (plain["message_zh"], plain["message_en"], plain["problems"]) == (
        "草稿不存在。",
        "No such draft.",
        [],
    )


# -- the WebSocket protocol ---------------------------------------------------------------------


def ws_app(start) -> Starlette:
    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        await serve_simulation(websocket, start)

    return Starlette(routes=[WebSocketRoute("/sim", endpoint)])


def starter(sessions: list[SimulationSession] | None = None, **session_options: Any):
    async def start(message: dict[str, Any]) -> SimulationSession:
        document = json.loads((EXAMPLES / f"{message.get('flow', 'menu')}.json").read_text())
        flow_obj = flow_for_test_call(document, registry=REGISTRY)
        options = SimulationOptions.from_message(message, timezone=flow_obj.settings.timezone)
        session = SimulationSession(flow_obj, options=options, **session_options)
        if sessions is not None:
            sessions.append(session)
        return session

    return start


def receive_until(ws, kind: str) -> list[Event]:
    events = []
    while not events or events[-1]["type"] != kind:
        events.append(ws.receive_json())
    return events


def test_websocket_start_keys_end():
    app = ws_app(starter(timeout_scale=1, speech_scale=0))
    with TestClient(app) as client, client.websocket_connect("/sim") as ws:
        ws.send_json({"type": "start", "caller": "13912345678"})
        first = receive_until(ws, "input")
        assert first[0]["type"] == "vars" and first[0]["vars"]["caller"] == "13912345678"
        assert [brief(e) for e in first[1:]] == [
            ("node", "start"),
            ("answer",),
            ("node", "main_menu"),
            ("prompt", "main_menu"),
            ("input",),
        ]
        ws.send_json({"type": "keys", "digits": "2"})
        rest = receive_until(ws, "end")
        assert [brief(e) for e in rest] == [
            ("collected", "2", "max"),
            ("node", "loan_info"),
            ("prompt", "loan_info"),
            ("node", "goodbye"),
            ("prompt", "goodbye"),
            ("end", "completed", "goodbye", "flow"),
        ]
        assert rest[-1]["trace"]["caller"] == "13912345678"
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 1000


def test_websocket_hangup_message():
    with (
        TestClient(ws_app(starter(timeout_scale=1, speech_scale=0))) as client,
        client.websocket_connect("/sim") as ws,
    ):
        ws.send_json({"type": "start"})
        receive_until(ws, "input")
        ws.send_json({"type": "hangup"})
        assert brief(receive_until(ws, "end")[-1]) == ("end", "hangup", "main_menu", "caller")
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 1000


def test_websocket_refused_start():
    async def start(message: dict[str, Any]) -> SimulationSession:
        return SimulationSession(flow_for_test_call(flow({"start": node("core.start")})))

    with TestClient(ws_app(start)) as client, client.websocket_connect("/sim") as ws:
        ws.send_json({"type": "start"})
        error = ws.receive_json()
        assert error["type"] == "error" and error["code"] == "refused"
        assert error["message_zh"] and error["message_en"] and error["problems"]
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 1008


def test_websocket_bad_start_options_and_start_failures():
    with TestClient(ws_app(starter())) as client:
        with client.websocket_connect("/sim") as ws:
            ws.send_json({"type": "start", "at": "someday"})
            error = ws.receive_json()
            assert (error["type"], error["code"]) == ("error", "bad_options")
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_json()
            assert closed.value.code == 1008
        with client.websocket_connect("/sim") as ws:
            ws.send_json({"type": "start", "flow": "no-such-flow"})  # start() itself fails
            error = ws.receive_json()
            assert (error["type"], error["code"]) == ("error", "internal")
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_json()
            assert closed.value.code == 1011


def test_websocket_malformed_messages_do_not_end_the_call():
    app = ws_app(starter(timeout_scale=1, speech_scale=0))
    with TestClient(app) as client, client.websocket_connect("/sim") as ws:
        ws.send_text("not json")
        assert ws.receive_json()["code"] == "bad_json"
        ws.send_json({"type": "keys", "digits": "1"})
        assert ws.receive_json()["code"] == "not_started"
        ws.send_json({"type": "start"})
        receive_until(ws, "input")
        sent: list[tuple[Callable[[], None], str]] = [
            (lambda: ws.send_text("{"), "bad_json"),
            (lambda: ws.send_text("[1, 2]"), "bad_message"),
            (lambda: ws.send_text("[" * 3000 + "]" * 3000), "too_large"),
            (lambda: ws.send_text("[" * 2000 + "]" * 2000), "bad_json"),  # too deep
            (lambda: ws.send_json({"type": "dance"}), "unknown_type"),
            (lambda: ws.send_json({"type": "keys", "digits": "12a"}), "bad_digits"),
            (lambda: ws.send_json({"type": "keys"}), "bad_digits"),
            (lambda: ws.send_json({"type": "keys", "digits": "1" * 5000}), "too_large"),
            (lambda: ws.send_bytes(b'{"type": "keys", "digits": "1"}'), "binary"),
            (lambda: ws.send_json({"type": "start"}), "already_started"),
        ]
        for send, code in sent:
            send()
            error = ws.receive_json()
            assert (error["type"], error["code"]) == ("error", code)
            assert error["message_zh"] and error["message_en"]
        ws.send_json({"type": "keys", "digits": "3"})
        rest = receive_until(ws, "end")
        assert ("node", "branch_info") in [brief(e) for e in rest]
        assert brief(rest[-1]) == ("end", "completed", "goodbye", "flow")


def test_websocket_too_many_malformed_messages_close_the_connection():
    sessions: list[SimulationSession] = []
    app = ws_app(starter(sessions, timeout_scale=1, speech_scale=0))
    with TestClient(app) as client, client.websocket_connect("/sim") as ws:
        ws.send_json({"type": "start"})
        receive_until(ws, "input")
        for _ in range(MAX_BAD_MESSAGES - 1):
            ws.send_text("?")
            assert ws.receive_json()["code"] == "bad_json"
        ws.send_text("?")
        assert ws.receive_json()["code"] == "too_many_errors"
        end = receive_until(ws, "end")[-1]
        assert (end["outcome"], end["reason"]) == ("hangup", "bad_messages")
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 1008
    assert sessions[0].ended and not sessions[0].running


class FakeWebSocket:
    """Just enough of Starlette's WebSocket to drive serve_simulation in the test's loop."""

    def __init__(self) -> None:
        self.incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.sent: list[Event] = []
        self.closed: int | None = None
        self.application_state = WebSocketState.CONNECTED
        self.client_state = WebSocketState.CONNECTED
        self.fail_sends = False
        self._sent = asyncio.Event()

    def client_sends(self, message: Event) -> None:
        self.incoming.put_nowait({"type": "websocket.receive", "text": json.dumps(message)})

    def client_leaves(self) -> None:
        self.incoming.put_nowait({"type": "websocket.disconnect", "code": 1001})

    async def receive(self) -> dict[str, Any]:
        message = await self.incoming.get()
        if message["type"] == "websocket.disconnect":
            self.client_state = WebSocketState.DISCONNECTED
        return message

    async def send_json(self, data: Any) -> None:
        if self.fail_sends or self.client_state == WebSocketState.DISCONNECTED:
            raise WebSocketDisconnect(1006)
        self.sent.append(json.loads(json.dumps(data)))
        self._sent.set()

    async def close(self, code: int = 1000) -> None:
        self.closed = code
        self.application_state = WebSocketState.DISCONNECTED

    async def wait_for(self, kind: str) -> None:
        while not any(e["type"] == kind for e in self.sent):
            self._sent.clear()
            await self._sent.wait()


async def test_client_disconnect_hangs_the_session_up_and_cleans_up():
    sessions: list[SimulationSession] = []
    ws = FakeWebSocket()
    server = asyncio.create_task(
        serve_simulation(ws, starter(sessions, timeout_scale=1, speech_scale=0))  # type: ignore[arg-type]
    )
    ws.client_sends({"type": "start"})
    await asyncio.wait_for(ws.wait_for("input"), 2)
    ws.client_leaves()
    await asyncio.wait_for(server, 2)
    [session] = sessions
    assert session.end_event is not None
    assert (session.end_event["outcome"], session.reason) == ("hangup", "disconnected")
    assert ws.closed is None  # nobody to close it for
    assert not any(e["type"] == "end" for e in ws.sent)


async def test_a_send_failure_counts_as_a_disconnect():
    sessions: list[SimulationSession] = []
    ws = FakeWebSocket()
    server = asyncio.create_task(
        serve_simulation(ws, starter(sessions, timeout_scale=1, speech_scale=0))  # type: ignore[arg-type]
    )
    ws.fail_sends = True  # the connection breaks as the first event goes out
    ws.client_sends({"type": "start"})
    await asyncio.wait_for(server, 2)  # ends without the client saying goodbye
    assert sessions[0].reason == "disconnected"
    assert sessions[0].end_event is not None and not sessions[0].running
    assert ws.sent == [] and ws.closed is None


async def test_the_server_stopping_closes_the_session():
    sessions: list[SimulationSession] = []
    ws = FakeWebSocket()
    server = asyncio.create_task(
        serve_simulation(ws, starter(sessions, timeout_scale=1, speech_scale=0))  # type: ignore[arg-type]
    )
    ws.client_sends({"type": "start"})
    await asyncio.wait_for(ws.wait_for("input"), 2)
    server.cancel()
    with pytest.raises(asyncio.CancelledError):
        await server
    assert sessions[0].ended and not sessions[0].running
    assert sessions[0].reason == "closed"


async def test_no_start_message_in_time():
    ws = FakeWebSocket()
    await asyncio.wait_for(serve_simulation(ws, starter(), start_timeout_s=0.05), 2)  # type: ignore[arg-type]
    assert [e["code"] for e in ws.sent] == ["start_timeout"]
    assert ws.closed == 1008
