"""The interpreter's rules: exits, errors, timeouts, hangups, caps, secrets, sub-flows."""

from __future__ import annotations

import asyncio

import pytest
from support.nodes import Hang, Step, flow, make_registry, node

from runtime.interpreter import Interpreter
from runtime.library import MemoryLibrary
from runtime.simulator import SimulatedChannel, simulate
from runtime.validate import validate

REGISTRY = make_registry()


def build(doc, library=None):
    result = validate(doc, registry=REGISTRY, library=library)
    assert result.flow is not None, [p.render() for p in result.errors]
    return result.flow


async def run(doc, keys="", **kw):
    library = kw.pop("library", None)
    return await simulate(build(doc, library), keys, library=library, **kw)


def linear(*middle, fallback=None):
    nodes = {"start": node("core.start", {"next": middle[0][0] if middle else "bye"})}
    for i, (node_id, spec) in enumerate(middle):
        nxt = middle[i + 1][0] if i + 1 < len(middle) else "bye"
        nodes[node_id] = {**spec, "exits": {"next": nxt, **spec.get("exits", {})}}
    nodes["bye"] = node("core.hangup")
    if fallback:
        nodes.update(fallback)
    return nodes


async def test_walks_exits_and_records_every_step():
    doc = flow(linear(("a", node("test.step")), ("hi", node("core.play", prompts=["hello"]))))
    trace, channel = await run(doc)
    assert trace.path == ["start", "a", "hi", "bye"]
    assert [s.exit for s in trace.steps] == ["next", "next", "next", None]
    assert trace.outcome.kind == "completed"
    assert channel.answered and channel.hung_up_by_flow
    assert trace.steps[2].events[0] == {"event": "play", "prompts": ["hello"], "text": "你好"}


async def test_error_takes_the_error_exit_and_records_the_reason():
    nodes = linear(("f", node("test.fail", {"error": "sorry"})))
    nodes["sorry"] = node("core.hangup")
    trace, _ = await run(flow(nodes, settings={"fallback": "sorry"}))
    assert trace.path == ["start", "f", "sorry"]
    assert trace.steps[1].exit == "error"
    assert "ConnectionError: backend down" in trace.steps[1].error


async def test_error_without_error_exit_goes_to_fallback():
    nodes = linear(("f", node("test.fail_plain")))
    nodes["busy"] = node("core.play", {"next": "bye"}, prompts=["hello"])
    trace, _ = await run(flow(nodes, settings={"fallback": "busy"}))
    assert trace.path == ["start", "f", "busy", "bye"]
    assert trace.steps[1].events[-1]["event"] == "fallback"
    assert trace.outcome.kind == "completed"


async def test_error_without_any_fallback_ends_the_call_politely():
    doc = flow(linear(("f", node("test.fail_plain"))))
    trace, channel = await run(doc)
    assert trace.outcome.kind == "error"
    assert trace.outcome.node == "f"
    assert "RuntimeError: boom" in trace.outcome.detail
    assert channel.hung_up_by_flow  # never an open silent line


async def test_node_timeout_takes_the_timeout_exit():
    nodes = linear(("s", node("test.slow", {"timeout": "bye"})))
    trace, _ = await run(flow(nodes, settings={"fallback": "bye"}))
    assert trace.steps[1].exit == "timeout"
    assert "longer than 0.05 s" in trace.steps[1].error
    assert trace.steps[1].duration_ms < 2000


async def test_caller_hangup_cancels_a_busy_node():
    Hang.cancelled.clear()
    doc = flow(linear(("h", node("test.hang"))))
    channel = SimulatedChannel("")
    task = asyncio.ensure_future(simulate(build(doc), channel=channel))
    await asyncio.sleep(0.05)
    channel.caller_hangs_up()
    trace, _ = await asyncio.wait_for(task, 2)
    assert trace.outcome.kind == "hangup"
    assert trace.outcome.node == "h"
    assert Hang.cancelled == [True]
    assert not channel.hung_up_by_flow  # nobody to hang up on


async def test_hangup_while_waiting_for_input():
    nodes = {
        "start": node("core.start", {"next": "ask"}),
        "ask": node("test.ask", {"1": "bye", "2": "bye", "timeout": "bye"}),
        "bye": node("core.hangup"),
    }
    trace, _ = await run(flow(nodes), keys="h")
    assert trace.outcome.kind == "hangup"
    assert trace.outcome.node == "ask"


async def test_repeat_cap_stops_a_caller_driven_loop():
    nodes = {
        "start": node("core.start", {"next": "ask"}),
        "ask": node("test.ask", {"1": "ask", "2": "bye", "timeout": "bye"}),
        "bye": node("core.hangup"),
    }
    trace, channel = await run(flow(nodes, settings={"repeat_cap": 3}), keys="1 1 1 1 1 1")
    assert trace.outcome.kind == "repeat_cap"
    assert trace.path.count("ask") == 4  # the fourth visit is refused
    assert channel.hung_up_by_flow


async def test_step_cap_goes_to_fallback_once_with_a_grace_budget():
    nodes = {
        "start": node("core.start", {"next": "ask"}),
        "ask": node("test.ask", {"1": "a", "2": "bye", "timeout": "bye"}),
        "a": node("test.step", {"next": "ask"}),
        "bye": node("core.hangup"),
        "busy": node("core.play", {"next": "bye"}, prompts=["hello"]),
    }
    settings = {"step_cap": 5, "repeat_cap": 100, "fallback": "busy"}
    trace, _ = await run(flow(nodes, settings=settings), keys="1 1 1 1 1")
    assert trace.path[-2:] == ["busy", "bye"]
    assert trace.outcome.kind == "completed"
    capped = [s for s in trace.steps if s.error and "step cap" in s.error]
    assert len(capped) == 1


async def test_unknown_exit_returned_by_node_goes_to_fallback():
    nodes = linear(fallback={"busy": node("core.hangup")})
    nodes["start"]["exits"]["next"] = "x"
    nodes["x"] = node("test.exit", {"a": "bye", "b": "bye"}, exit="zzz")
    trace, _ = await run(flow(nodes, settings={"fallback": "busy"}))
    assert trace.path == ["start", "x", "busy"]
    assert "unknown exit 'zzz'" in trace.steps[1].error


async def test_secret_variables_are_masked_everywhere_in_the_trace():
    nodes = linear(("s", node("test.set", variable="pin", value="246810")))
    doc = flow(nodes, variables={"pin": {"secret": True}})
    trace, _ = await run(doc)
    text = str(trace.to_json())
    assert "246810" not in text
    assert trace.steps[1].vars_changed == {"pin": "******"}
    assert trace.steps[1].events == [{"event": "echo", "text": "value is ******"}]


async def test_system_variables_and_overrides():
    nodes = linear(("s", node("test.set", variable="note", value="x")))
    doc = flow(nodes, variables={"note": {"default": "d"}, "region": {"default": "sz"}})
    channel = SimulatedChannel("", caller="075512345678", called="12329")
    trace, _ = await simulate(build(doc), channel=channel, variables={"region": "gz"})
    assert trace.caller == "075512345678"
    assert trace.steps[1].vars_changed == {"note": "x"}


async def test_subflow_runs_in_its_own_scope_and_returns():
    library = MemoryLibrary(registry=REGISTRY)
    child = flow(
        {
            "start": node("core.start", {"next": "hi"}, answer=False),
            "hi": node("core.play", {"next": "bye"}, prompts=["hello"]),
            "bye": node("core.hangup"),
        },
        id="child",
    )
    library.add(child)
    flow_obj = library.get("child")
    assert flow_obj is not None
    trace, _ = await simulate(flow_obj, library=library)
    assert trace.path == ["start", "hi", "bye"]


@pytest.mark.parametrize("keys", ["", "-", "9"])
async def test_input_node_paths(keys):
    nodes = {
        "start": node("core.start", {"next": "ask"}),
        "ask": node("test.ask", {"1": "bye", "2": "bye", "timeout": "bye"}),
        "bye": node("core.hangup"),
    }
    trace, _ = await run(flow(nodes), keys=keys)
    if keys == "":
        assert trace.outcome.kind == "hangup"  # the script ran out: the caller hangs up
    else:
        assert trace.steps[1].exit == "timeout"
        assert trace.outcome.kind == "completed"


async def test_caller_hangup_inside_a_subflow_ends_the_whole_call():
    library = MemoryLibrary(registry=REGISTRY)
    library.add(
        flow(
            {
                "start": node("core.start", {"next": "ask"}, answer=False),
                "ask": node("test.ask", {"1": "bye", "2": "bye", "timeout": "bye"}),
                "bye": node("core.hangup"),
            },
            id="child",
        )
    )
    parent = flow(
        {
            "start": node("core.start", {"next": "sub"}),
            "sub": node("test.call", {"next": "bye", "error": "sorry"}, flow="child"),
            "sorry": node("core.hangup"),
            "bye": node("core.hangup"),
        },
        id="parent",
    )
    library.add(parent)
    trace, _ = await simulate(library.get("parent"), "h", library=library)
    assert trace.outcome.kind == "hangup"
    assert trace.outcome.node == "ask"
    assert "sorry" not in trace.path
    # a sub-flow that hangs up itself ends the call too (no return to the parent)
    trace, _ = await simulate(library.get("parent"), "1", library=library)
    assert trace.outcome.kind == "completed"
    assert trace.path == ["start", "sub", "start", "ask", "bye"]


class BargingChannel(SimulatedChannel):
    """The caller presses keys while prompts play (barge-in)."""

    def __init__(self, barge: list[str], keys: str = "") -> None:
        super().__init__(keys)
        self.barge = list(barge)

    async def play(self, prompts, *, barge_in=True):
        await super().play(prompts, barge_in=barge_in)
        return self.barge.pop(0) if barge_in and self.barge else None


async def test_a_key_that_interrupts_a_prompt_acts_at_the_next_input():
    nodes = {
        "start": node("core.start", {"next": "hi"}),
        "hi": node("core.play", {"next": "ask"}, prompts=["hello"], barge_in=True),
        "ask": node("test.ask", {"1": "bye", "2": "bye", "timeout": "bye"}),
        "bye": node("core.hangup"),
    }
    channel = BargingChannel(["2"])
    trace, _ = await simulate(build(flow(nodes)), channel=channel)
    assert [(s.node, s.exit) for s in trace.steps] == [
        ("start", "next"),
        ("hi", "next"),
        ("ask", "2"),
        ("bye", None),
    ]
    events = [e["event"] for e in trace.steps[2].events]
    assert events == ["typeahead", "collect"]  # no prompt replayed, no key asked for
    assert channel.specs == []


async def test_typeahead_starts_a_multi_digit_entry():
    from runtime.call import CollectSpec
    from runtime.testing import run_node

    run = await run_node(Step, {}, keys="234#")
    call = run.call
    call._state.typeahead = "1"  # pressed during the announcement before the entry
    spec = CollectSpec(min_digits=1, max_digits=8, terminator="#", inter_digit_timeout_ms=2500)
    result = await call.collect(["hello"], spec)
    assert (result.digits, result.ended_by) == ("1234", "terminator")
    [asked] = run.channel.specs
    assert asked.max_digits == 7 and asked.first_timeout_ms == 2500  # the rest of the entry
    assert not any(h.kind == "play" for h in run.heard)  # the prompt is skipped


async def test_hangup_cancels_a_busy_node_inside_a_subflow():
    library = MemoryLibrary(registry=REGISTRY)
    library.add(
        flow(
            {
                "start": node("core.start", {"next": "h"}, answer=False),
                "h": node("test.hang", {"next": "bye"}),
                "bye": node("core.hangup"),
            },
            id="busy-child",
        )
    )
    library.add(
        flow(
            {
                "start": node("core.start", {"next": "sub"}),
                "sub": node("test.call", {"next": "bye", "error": "bye"}, flow="busy-child"),
                "bye": node("core.hangup"),
            },
            id="parent2",
        )
    )
    Hang.cancelled.clear()
    channel = SimulatedChannel("")
    task = asyncio.ensure_future(simulate(library.get("parent2"), channel=channel, library=library))
    await asyncio.sleep(0.05)
    channel.caller_hangs_up()
    trace, _ = await asyncio.wait_for(task, 2)
    assert (trace.outcome.kind, trace.outcome.node) == ("hangup", "h")
    assert Hang.cancelled == [True]


async def test_stopping_the_call_is_not_mistaken_for_a_hangup():
    Hang.cancelled.clear()
    doc = flow(linear(("h", node("test.hang"))))
    task = asyncio.ensure_future(simulate(build(doc)))
    await asyncio.sleep(0.05)
    task.cancel()  # the runtime shutting down past its drain deadline
    with pytest.raises(asyncio.CancelledError):
        await task
    assert Hang.cancelled == [True]


async def test_step_observer_sees_every_step_as_it_begins_sub_flows_included(caplog):
    library = MemoryLibrary(registry=REGISTRY)
    library.add(
        flow(
            {
                "start": node("core.start", {"next": "s"}, answer=False),
                "s": node("test.set", {"next": "bye"}, variable="pin", value="246810"),
                "bye": node("core.hangup"),
            },
            id="obs-child",
            variables={"pin": {"secret": True}},
        )
    )
    library.add(
        flow(
            {
                "start": node("core.start", {"next": "sub"}),
                "sub": node("test.call", {"next": "bye", "error": "bye"}, flow="obs-child"),
                "bye": node("core.hangup"),
            },
            id="obs-parent",
        )
    )
    seen = []

    def observer(call, step):
        assert step.exit is None and step is call._state.trace.steps[-1]  # not run yet
        seen.append((call.flow.id, step.index, step.node, step.depth, call.vars.get("pin")))
        if step.node == "bye":
            raise RuntimeError("observer bug")  # logged; the call goes on

    interpreter = Interpreter(library=library)
    channel = SimulatedChannel("")
    trace = await interpreter.run(library.get("obs-parent"), channel, on_step=observer)
    assert seen == [
        ("obs-parent", 1, "start", 0, None),
        ("obs-parent", 2, "sub", 0, None),
        ("obs-child", 3, "start", 1, None),
        ("obs-child", 4, "s", 1, None),
        ("obs-child", 5, "bye", 1, "246810"),
    ]
    assert trace.outcome.kind == "completed"
    assert "step observer failed at node bye" in caplog.text
    # without an observer nothing changes
    plain = await Interpreter(library=library).run(library.get("obs-parent"), SimulatedChannel(""))
    assert plain.path == trace.path


async def test_a_prompt_with_variables_is_rendered_for_the_call_and_marked_dynamic():
    from nodes.core.play import Play
    from runtime.call import Prompt
    from runtime.testing import make_flow

    seen: list[Prompt] = []

    class Recorder(SimulatedChannel):
        async def play(self, prompts, *, barge_in=True):
            seen.extend(prompts)
            return await super().play(prompts, barge_in=barge_in)

    flow = make_flow(
        Play,
        {"prompts": ["greet", "plain"]},
        prompts={
            "greet": {"text": {"zh-CN": "您好，{{name}}先生"}},
            "plain": {"text": {"zh-CN": "欢迎"}},
        },
        variables={"name": {"type": "string", "default": "王"}},
    )
    await Interpreter().run(flow, Recorder(""))
    assert [(p.id, p.text, p.dynamic) for p in seen] == [
        ("greet", "您好，王先生", True),
        ("plain", "欢迎", False),
    ]
