"""Node classes are checked when they are defined; every mistake is listed at once."""

from __future__ import annotations

import pytest

from nodes.api import Node, NodeDefinitionError, apply_defaults

T = {"zh": "测试", "en": "Test"}


def define(**attrs):
    namespace = {"title": T, "description": T, "exits": ("next",)}

    async def run(self, call, config):
        return "next"

    namespace["run"] = run
    namespace.update(attrs)
    return type("Custom", (Node,), namespace)


def test_a_good_node_is_accepted_and_described():
    cls = define(
        type="acme.lookup",
        version=2,
        category="integration",
        config_schema={
            "type": "object",
            "properties": {"url": {"type": "string", "default": "http://x"}},
        },
        exits=("ok", "error"),
    )
    info = cls.describe()
    assert info["type"] == "acme.lookup" and info["version"] == 2
    assert info["exits"] == ["ok", "error"]
    assert info["exit_titles"]["error"] == {"zh": "出错", "en": "Error"}
    assert cls.with_defaults({}) == {"url": "http://x"}


def test_every_problem_is_listed():
    with pytest.raises(NodeDefinitionError) as info:
        define(
            type="NoNamespace",
            version=0,
            title={"zh": ""},
            category="nope",
            config_schema={"type": "array"},
            exits=("bad exit!", "bad exit!"),
            timeout_s=0,
        )
    text = str(info.value)
    for fragment in (
        "namespaced",
        "version must be an integer",
        "title must be",
        "category must be one of",
        'must have "type": "object"',
        "exit name 'bad exit!'",
        "exit names must be unique",
        "timeout_s",
    ):
        assert fragment in text, fragment


def test_run_must_be_async_with_the_right_signature():
    def run(self, call, config):
        return "next"

    with pytest.raises(NodeDefinitionError, match="async def run"):
        define(type="acme.sync", run=run)

    async def run2(self, call):
        return "next"

    with pytest.raises(NodeDefinitionError, match=r"run must take \(self, call, config\)"):
        define(type="acme.args", run=run2)


def test_invalid_schema_and_unknown_annotation():
    with pytest.raises(NodeDefinitionError, match="not valid JSON Schema"):
        define(type="acme.schema", config_schema={"type": "object", "properties": 5})
    with pytest.raises(NodeDefinitionError, match="unknown x-ivrflow annotation 'promptt'"):
        define(
            type="acme.annot",
            config_schema={
                "type": "object",
                "properties": {"p": {"type": "string", "x-ivrflow": "promptt"}},
            },
        )


def test_terminal_nodes_have_no_exits_and_others_need_some():
    with pytest.raises(NodeDefinitionError, match="a terminal node has no exits"):
        define(type="acme.end", terminal=True)
    with pytest.raises(NodeDefinitionError, match="needs exits"):
        define(type="acme.noexit", exits=())


def test_references_follow_annotations():
    cls = define(
        type="acme.refs",
        config_schema={
            "type": "object",
            "properties": {
                "prompts": {"type": "array", "items": {"type": "string", "x-ivrflow": "prompt"}},
                "map": {
                    "type": "object",
                    "additionalProperties": {"type": "string", "x-ivrflow": "template"},
                },
                "out": {"type": "string", "x-ivrflow": "variable-out"},
            },
        },
    )
    refs = cls.references({"prompts": ["a", "b"], "map": {"k/x": "{{v}}"}, "out": "res"})
    assert [(r.kind, r.pointer, r.value) for r in refs] == [
        ("prompt", "/prompts/0", "a"),
        ("prompt", "/prompts/1", "b"),
        ("template", "/map/k~1x", "{{v}}"),
        ("variable-out", "/out", "res"),
    ]


def test_apply_defaults_is_recursive_and_pure():
    schema = {
        "type": "object",
        "properties": {
            "a": {"type": "integer", "default": 1},
            "items": {
                "type": "array",
                "items": {"type": "object", "properties": {"k": {"default": "x"}}},
            },
            "nested": {"type": "object", "default": {}, "properties": {"d": {"default": [1]}}},
        },
    }
    given = {"items": [{}, {"k": "y"}]}
    out = apply_defaults(schema, given)
    assert out == {"a": 1, "items": [{"k": "x"}, {"k": "y"}], "nested": {"d": [1]}}
    assert given == {"items": [{}, {"k": "y"}]}
    out["nested"]["d"].append(2)
    assert schema["properties"]["nested"]["properties"]["d"]["default"] == [1]
