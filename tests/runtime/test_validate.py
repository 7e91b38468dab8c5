"""The validator reports every problem at once, each located and bilingual."""

from __future__ import annotations

import json

import pytest
from support.nodes import flow, make_registry, node

from runtime.document import load_flow_bytes
from runtime.library import MemoryLibrary
from runtime.problems import Severity
from runtime.validate import validate, validate_text

REGISTRY = make_registry()


def check(doc, **kw):
    return validate(doc, registry=REGISTRY, **kw)


def codes(result):
    return sorted((p.code, p.node or p.pointer) for p in result.problems)


def good_nodes():
    return {
        "start": node("core.start", {"next": "hi"}),
        "hi": node("core.play", {"next": "bye"}, prompts=["hello"]),
        "bye": node("core.hangup"),
    }


def test_a_good_flow_is_valid_and_builds_a_runnable_flow():
    result = check(flow(good_nodes(), settings={"fallback": "bye"}))
    assert result.ok
    assert result.problems == []
    assert result.flow.start == "start"
    assert result.flow.nodes["hi"].exits == {"next": "bye"}
    assert result.flow.nodes["hi"].config["barge_in"] is False  # schema default applied


def test_every_problem_is_reported_at_once_with_zh_and_en():
    nodes = good_nodes()
    nodes["hi"]["exits"] = {}  # unwired
    nodes["ghost"] = node("test.nope")  # unknown type
    nodes["bye2"] = node("core.play", {"next": "nowhere"}, prompts=["missing"])
    result = check(flow(nodes))
    got = codes(result)
    assert ("exit.unwired", "hi") in got
    assert ("node.unknown_type", "ghost") in got
    assert ("exit.unknown_target", "bye2") in got
    assert ("prompt.missing", "bye2") in got
    assert ("node.unreachable", "bye2") in got
    assert ("settings.no_fallback", "/settings") in got
    for p in result.problems:
        assert p.message_zh and p.message_en and p.message_zh != p.message_en
    assert not result.ok and result.flow is None


def test_problem_pointers_are_precise():
    nodes = good_nodes()
    nodes["hi"]["exits"] = {"next": "zzz"}
    result = check(flow(nodes, settings={"fallback": "bye"}))
    problem = next(p for p in result.problems if p.code == "exit.unknown_target")
    assert problem.pointer == "/nodes/hi/exits/next"
    assert problem.node == "hi"
    assert problem.severity is Severity.ERROR


def test_unknown_type_suggests_the_closest_installed_one():
    nodes = good_nodes()
    nodes["hi"]["type"] = "core.plya"
    result = check(flow(nodes, settings={"fallback": "bye"}))
    problem = next(p for p in result.problems if p.code == "node.unknown_type")
    assert "core.play" in problem.message_en and "core.play" in problem.message_zh


def test_config_is_checked_against_the_node_schema():
    nodes = good_nodes()
    nodes["hi"]["config"] = {"prompts": [], "barge_in": "yes"}
    result = check(flow(nodes, settings={"fallback": "bye"}))
    pointers = {p.pointer for p in result.problems if p.code == "config.invalid"}
    assert pointers == {"/nodes/hi/config/prompts", "/nodes/hi/config/barge_in"}


def test_start_node_rules():
    nodes = good_nodes()
    del nodes["start"]
    assert ("flow.no_start", "/nodes") in codes(check(flow(nodes)))
    nodes = good_nodes()
    nodes["start2"] = node("core.start", {"next": "bye"})
    assert ("flow.many_starts", "start2") in codes(check(flow(nodes)))


def test_optional_error_exit_needs_a_fallback():
    nodes = good_nodes()
    nodes["hi"] = node("test.fail", {"next": "bye"})
    result = check(flow(nodes))
    assert ("exit.unwired", "hi") in codes(result)
    result = check(flow(nodes, settings={"fallback": "bye"}))
    assert result.ok


def test_loop_without_input_is_an_error_but_a_menu_loop_is_not():
    nodes = good_nodes()
    nodes["hi"]["exits"] = {"next": "step"}
    nodes["step"] = node("test.step", {"next": "hi"})
    result = check(flow(nodes, settings={"fallback": "bye"}))
    loop = [p for p in result.problems if p.code == "flow.loop_without_input"]
    assert len(loop) == 1
    assert "hi → step → hi" in loop[0].message_en
    # the same loop through a node that waits for the caller is fine
    nodes["step"] = node("test.ask", {"1": "hi", "2": "bye", "timeout": "bye"})
    assert check(flow(nodes, settings={"fallback": "bye"})).ok


def test_no_way_out_is_a_warning():
    nodes = {
        "start": node("core.start", {"next": "ask"}),
        "ask": node("test.ask", {"1": "ask", "2": "ask", "timeout": "ask"}),
        "bye": node("core.hangup"),
    }
    result = check(flow(nodes, settings={"fallback": "bye"}))
    assert result.ok
    assert ("node.no_way_out", "ask") in codes(result)


def test_stale_exit_is_a_warning_and_is_not_used():
    nodes = good_nodes()
    nodes["hi"]["exits"]["3"] = "bye"
    result = check(flow(nodes, settings={"fallback": "bye"}))
    assert result.ok
    assert ("exit.undeclared", "hi") in codes(result)
    assert "3" not in result.flow.nodes["hi"].exits


def test_variables_read_never_set_and_undeclared_writes():
    nodes = good_nodes()
    nodes["hi"] = node("test.set", {"next": "bye"}, variable="note", value="x")
    result = check(flow(nodes, settings={"fallback": "bye"}))
    assert ("variable.undeclared", "hi") in codes(result)
    nodes["hi"]["config"]["variable"] = "caller"
    assert ("variable.read_only", "hi") in codes(check(flow(nodes)))


def test_fallback_and_timezone_settings_are_checked():
    result = check(flow(good_nodes(), settings={"fallback": "nope", "timezone": "Mars/Base"}))
    assert ("settings.fallback_missing", "/settings/fallback") in codes(result)
    assert ("settings.timezone", "/settings/timezone") in codes(result)


def test_version_too_new():
    nodes = good_nodes()
    nodes["hi"]["version"] = 7
    assert ("node.version_too_new", "hi") in codes(check(flow(nodes)))


def test_node_limit_is_reported_in_plain_words():
    nodes = {f"n{i}": node("test.step", {"next": f"n{i + 1}"}) for i in range(2001)}
    result = check(flow(nodes))
    problem = next(p for p in result.problems if p.code == "schema.maxProperties")
    assert "2,001" in problem.message_en and "2,000" in problem.message_en
    assert "2,001 个节点" in problem.message_zh


def test_not_an_object():
    result = check([1, 2])
    assert codes(result) == [("flow.not_object", "")]


def test_many_problems_are_capped():
    nodes = {f"n{i}": node("test.step", {"next": "x"}) for i in range(600)}
    result = check(flow(nodes))
    assert len(result.problems) <= 501
    assert any(p.code == "flow.too_many_problems" for p in result.problems)


def test_line_numbers_from_text_and_duplicate_ids():
    doc = flow(good_nodes(), settings={"fallback": "bye"})
    text = json.dumps(doc, indent=2)
    text = text.replace(
        '"bye": {', '"bye": {"type": "core.hangup", "version": 1},\n    "bye": {', 1
    )
    source = load_flow_bytes(text.encode(), name="f.json")
    result = validate_text(source, registry=REGISTRY)
    dup = next(p for p in result.problems if p.code == "json.duplicate_key")
    assert dup.line is not None and "bye" in dup.message_en
    assert not result.ok
    doc["nodes"]["hi"]["exits"]["next"] = "zzz"
    source = load_flow_bytes(json.dumps(doc, indent=2).encode())
    problem = next(
        p
        for p in validate_text(source, registry=REGISTRY).problems
        if p.code == "exit.unknown_target"
    )
    line = json.dumps(doc, indent=2).splitlines()[problem.line - 1]
    assert '"next": "zzz"' in line


def test_subflow_missing_and_cycles():
    registry = REGISTRY
    library = MemoryLibrary(registry=registry)

    def calling(flow_id, target):
        return flow(
            {
                "start": node("core.start", {"next": "c"}),
                "c": node("test.call", {"next": "bye"}, flow=target),
                "bye": node("core.hangup"),
            },
            id=flow_id,
            settings={"fallback": "bye"},
        )

    library.add(calling("a", "b"))
    library.add(calling("b", "a"))
    result = validate(calling("a", "b"), registry=registry, library=library)
    assert any(p.code == "subflow.cycle" for p in result.problems)
    result = validate(calling("c", "nope"), registry=registry, library=library)
    assert any(p.code == "subflow.missing" for p in result.problems)
    result = validate(calling("a", "a"), registry=registry, library=library)
    assert any(p.code == "subflow.cycle" for p in result.problems)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.update(schema_version=2),
        lambda d: d.update(id="Bad Id!"),
        lambda d: d["nodes"].update({"bad id": node("test.step")}),
        lambda d: d["nodes"]["hi"].update(exits={"next": 5}),
        lambda d: d.update(extra=True),
        lambda d: d.pop("name"),
        lambda d: d.update(settings={"step_cap": 0}),
        lambda d: d.update(variables={"1x": {}}),
    ],
)
def test_schema_errors_are_reported_not_raised(mutate):
    doc = flow(good_nodes(), settings={"fallback": "bye"})
    mutate(doc)
    result = check(doc)
    assert not result.ok
    assert any(p.code.startswith("schema.") for p in result.problems)


def test_subflow_outcomes_are_checked_against_the_child():
    library = MemoryLibrary()
    library.add(
        flow(
            {
                "start": node("core.start", {"next": "ask"}, answer=False),
                "ask": node(
                    "core.menu",
                    {"1": "ok", "2": "locked", "timeout": "ok", "invalid": "ok"},
                    prompts=["hello"],
                    options=[{"key": "1"}, {"key": "2"}],
                ),
                "ok": node("core.return", outcome="ok"),
                "locked": node("core.return", outcome="locked"),
            },
            id="child",
            settings={"fallback": "ok"},
        )
    )
    parent = flow(
        {
            "start": node("core.start", {"next": "sub"}),
            "sub": node(
                "core.subflow",
                {"ok": "bye", "failed": "bye", "error": "bye"},
                flow="child",
                outcomes=["ok", "failed"],
            ),
            "bye": node("core.hangup"),
        },
        id="parent",
        settings={"fallback": "bye"},
    )
    result = validate(parent, library=library)
    assert result.ok
    got = {(p.code, p.message_en.split("'")[3]) for p in result.problems}
    assert got == {
        ("subflow.unhandled_outcome", "locked"),
        ("subflow.outcome_never_returned", "failed"),
    }
