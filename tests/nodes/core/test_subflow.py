"""core.subflow: runs a child flow from a library, maps its outcome to an exit, copies outputs."""

from __future__ import annotations

from typing import Any

import pytest

from nodes.api import Reference
from nodes.core.subflow import Subflow
from runtime.library import MemoryLibrary
from runtime.simulator import simulate
from runtime.testing import NodeRun, run_node
from runtime.trace import MASK
from runtime.validate import validate


def node(type_: str, config: dict[str, Any] | None = None, **exits: str) -> dict[str, Any]:
    return {"type": type_, "version": 1, "config": config or {}, "exits": exits}


def document(flow_id: str, nodes: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "id": flow_id,
        "name": flow_id,
        "prompts": {
            "checking": {"text": {"zh-CN": "正在验证"}},
            "sorry": {"text": {"zh-CN": "系统繁忙"}},
            "thanks": {"text": {"zh-CN": "谢谢"}},
        },
        "nodes": nodes,
        **extra,
    }


# auth: start → play "checking" → branch on the pin → return ok / failed.
# account_no is computed from the input login; the pin (an input) is secret in the child.
AUTH = document(
    "auth",
    {
        "start": node("core.start", {"answer": False}, next="say"),
        "say": node("core.play", {"prompts": ["checking"]}, next="compute"),
        "compute": node(
            "core.set_variable",
            {
                "assignments": [
                    {"variable": "account_no", "expression": 'concat("A", login)'},
                    {"variable": "next_n", "expression": "n + 1"},
                ]
            },
            next="check",
        ),
        "check": node(
            "core.branch",
            {"rules": [{"exit": "good", "when": 'pin == "123456"'}]},
            good="ok",
            default="failed",
        ),
        "ok": node("core.return", {"outcome": "ok"}),
        "failed": node("core.return", {"outcome": "failed"}),
    },
    variables={
        "login": {},
        "pin": {"secret": True},
        "n": {"type": "number", "default": 0},
        "account_no": {},
        "next_n": {"type": "number"},
    },
    settings={"fallback": "failed"},
)

# simple: start → return (default outcome "done")
SIMPLE = document(
    "simple",
    {"start": node("core.start", {"answer": False}, next="ret"), "ret": node("core.return")},
)

# odd: returns an outcome nobody expects
ODD = document(
    "odd",
    {
        "start": node("core.start", {"answer": False}, next="ret"),
        "ret": node("core.return", {"outcome": "surprise"}),
    },
)


@pytest.fixture
def library() -> MemoryLibrary:
    lib = MemoryLibrary({"auth": AUTH, "simple": SIMPLE, "odd": ODD})
    for flow_id in ("auth", "simple", "odd"):
        assert lib.get(flow_id) is not None, validate(lib.documents[flow_id]).problems
    return lib


AUTH_CONFIG: dict[str, Any] = {
    "flow": "auth",
    "inputs": {"login": "{{login_id}}", "pin": "{{entered_pin}}", "n": "{{count}}"},
    "outputs": {"account": "account_no", "n_after": "next_n", "pin_back": "pin"},
    "outcomes": ["ok", "failed"],
}


async def auth(library: MemoryLibrary, pin: str, **kw: Any) -> NodeRun:
    return await run_node(
        Subflow,
        AUTH_CONFIG,
        library=library,
        variables={"entered_pin": {"secret": True}},
        vars={"login_id": "880012", "entered_pin": pin, "count": 41},
        **kw,
    )


# -- description and config ----------------------------------------------------------------


def test_defaults_and_exits() -> None:
    config = Subflow.with_defaults({"flow": "auth"})
    assert config == {"flow": "auth", "inputs": {}, "outputs": {}, "outcomes": ["done"]}
    assert Subflow.exits_for(config) == ("done", "error")
    assert Subflow.exits_for(AUTH_CONFIG) == ("ok", "failed", "error")
    assert Subflow.exit_title("done") == {"zh": "完成", "en": "Done"}
    assert Subflow.optional_exits == frozenset({"error"})


@pytest.mark.parametrize(
    "config",
    [
        {},
        {"flow": "Auth"},
        {"flow": "auth", "outcomes": []},
        {"flow": "auth", "outcomes": ["ok", "ok"]},
        {"flow": "auth", "outcomes": ["error"]},
        {"flow": "auth", "outcomes": ["a b"]},
        {"flow": "auth", "outcomes": [f"o{i}" for i in range(17)]},
        {"flow": "auth", "inputs": {"9x": "a"}},
        {"flow": "auth", "outputs": {"x": "not valid"}},
    ],
)
def test_schema_rejects(config: dict[str, Any]) -> None:
    assert Subflow.config_errors(config)


def test_references() -> None:
    refs = Subflow.references(Subflow.with_defaults(AUTH_CONFIG))
    assert Reference("flow", "/flow", "auth") in refs
    assert Reference("template", "/inputs/login", "{{login_id}}") in refs
    assert Reference("variable-out", "/outputs/account", "account") in refs
    assert Reference("variable-out", "/outputs/pin_back", "pin_back") in refs
    # the child's variable names are the child's business: not reported as reads here
    assert not [r for r in refs if r.value in ("account_no", "next_n", "pin")]


# -- running -----------------------------------------------------------------------------


async def test_outcome_ok_and_outputs_copied(library: MemoryLibrary) -> None:
    run = await auth(library, "123456")
    assert run.exit == "ok"
    assert run.vars["account"] == "A880012"
    assert run.vars["n_after"] == 42  # a single-placeholder input keeps its type (int 41)
    assert [h.prompts for h in run.heard if h.kind == "play"] == [["checking"]]
    assert {"event": "subflow", "flow": "auth", "outcome": "ok"} in run.events


async def test_other_outcome(library: MemoryLibrary) -> None:
    run = await auth(library, "000000")
    assert run.exit == "failed"
    assert run.vars["account"] == "A880012"


async def test_secret_output_stays_secret(library: MemoryLibrary) -> None:
    run = await auth(library, "123456")
    assert run.vars["pin_back"] == "123456"
    assert run.call.is_secret("pin_back")
    assert run.vars_changed["pin_back"] == MASK
    assert not run.call.is_secret("account")
    assert run.vars_changed["account"] == "A880012"


async def test_default_outcome_done(library: MemoryLibrary) -> None:
    run = await run_node(Subflow, {"flow": "simple"}, library=library)
    assert run.exit == "done"


async def test_unexpected_outcome_takes_error(library: MemoryLibrary) -> None:
    run = await run_node(Subflow, {"flow": "odd", "outputs": {"x": "nothing"}}, library=library)
    assert run.exit == "error"
    assert {
        "event": "subflow_unexpected_outcome",
        "flow": "odd",
        "outcome": "surprise",
        "expected": ["done"],
    } in run.events
    # outputs are still copied; a child variable that does not exist gives null
    assert run.vars["x"] is None
    assert {"event": "subflow_output_missing", "variable": "x", "child": "nothing"} in run.events


async def test_missing_flow_raises_for_the_interpreter(library: MemoryLibrary) -> None:
    with pytest.raises(LookupError, match="nowhere"):
        await run_node(Subflow, {"flow": "nowhere"}, library=library)


async def test_no_library_raises() -> None:
    with pytest.raises(LookupError):
        await run_node(Subflow, {"flow": "auth"})


# -- through the interpreter ---------------------------------------------------------------


def _parent(flow_id: str, **sub_exits: str) -> dict[str, Any]:
    return document(
        "main",
        {
            "start": node("core.start", next="sub"),
            "sub": node(
                "core.subflow",
                {"flow": flow_id, "outputs": {"acct": "account_no"}, "outcomes": ["ok", "failed"]},
                **sub_exits,
            ),
            "thanks": node("core.play", {"prompts": ["thanks"]}, next="end"),
            "sorry": node("core.play", {"prompts": ["sorry"]}, next="end"),
            "end": node("core.hangup"),
        },
        variables={"acct": {}},
    )


async def test_outcomes_are_exits_in_a_real_call(library: MemoryLibrary) -> None:
    doc = _parent("auth", ok="thanks", failed="sorry", error="sorry")
    result = validate(doc, library=library)
    assert result.ok, [p.to_json() for p in result.errors]
    assert result.flow is not None
    trace, channel = await simulate(result.flow, library=library)
    assert [s.node for s in trace.steps if s.flow == "main"] == ["start", "sub", "sorry", "end"]
    sub_step = next(s for s in trace.steps if s.node == "sub")
    # no inputs: the child's pin is null, so its branch takes "default" → return "failed"
    assert sub_step.exit == "failed"
    check = next(s for s in trace.steps if s.node == "check")
    assert check.exit == "default"
    assert sub_step.vars_changed == {"acct": "A"}
    assert [h.prompts for h in channel.heard if h.kind == "play"] == [["checking"], ["sorry"]]
    assert [s.depth for s in trace.steps if s.flow == "auth"] == [1] * 5


async def test_missing_flow_takes_error_exit_in_a_real_call() -> None:
    doc = _parent("gone", ok="thanks", failed="thanks", error="sorry")
    result = validate(doc)  # no library: the validator cannot check the sub-flow
    assert result.flow is not None
    trace, channel = await simulate(result.flow, library=MemoryLibrary())
    sub_step = next(s for s in trace.steps if s.node == "sub")
    assert sub_step.exit == "error"
    assert sub_step.error is not None and "gone" in sub_step.error
    assert [h.prompts for h in channel.heard if h.kind == "play"] == [["sorry"]]


def test_validator_reports_a_missing_sub_flow(library: MemoryLibrary) -> None:
    doc = _parent("gone", ok="thanks", failed="thanks", error="sorry")
    codes = [(p.code, p.pointer) for p in validate(doc, library=library).errors]
    assert ("subflow.missing", "/nodes/sub/config/flow") in codes


async def test_sub_flow_that_hangs_up_ends_the_call() -> None:
    bye = document(
        "bye",
        {"start": node("core.start", next="h"), "h": node("core.hangup", {"prompts": ["thanks"]})},
    )
    lib = MemoryLibrary({"bye": bye})
    doc = _parent("bye", ok="thanks", failed="thanks", error="sorry")
    flow = validate(doc, library=lib).flow
    assert flow is not None
    trace, channel = await simulate(flow, library=lib)
    assert [h.prompts for h in channel.heard if h.kind == "play"] == [["thanks"]]
    assert trace.outcome is not None and trace.outcome.kind == "completed"
