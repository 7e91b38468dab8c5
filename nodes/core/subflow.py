"""``core.subflow`` — run another flow on this call, then continue by how it returned.

A sub-flow is a reusable piece (authenticate the caller, read an account…) that ends at a
``core.return`` node naming an *outcome*. This node's exits are the outcomes it expects plus
``error``::

    inputs:   {"login_type": "{{id_kind}}"}      child variable ← template (parent variables)
    outputs:  {"account": "account_no"}          parent variable ← child variable
    outcomes: ["ok", "failed"]                   → exits ok, failed, error

Inputs are rendered with :func:`runtime.template.render_value` (a value that is exactly one
placeholder keeps its type). Outputs are copied back whatever the outcome; a child variable
that is secret stays secret in the parent. An outcome not listed takes ``error``, and so does
a sub-flow that is missing, invalid or nested too deeply (the interpreter maps the exception).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from nodes.api import Node, Reference
from runtime.call import Call
from runtime.template import render_value

VARIABLE_NAME = "^[A-Za-z_][A-Za-z0-9_]{0,63}$"
OUTCOME_NAME = "^[A-Za-z0-9_-]{1,32}$"


def _token(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


class Subflow(Node):
    type = "core.subflow"
    version = 1
    title: ClassVar[dict[str, str]] = {"zh": "子流程", "en": "Sub-flow"}
    description: ClassVar[dict[str, str]] = {
        "zh": "调用另一个流程（如“身份验证”），按它返回的结果选择出口；可传入参数、取回变量。",
        "en": "Runs another flow (e.g. 'authenticate') and takes the exit named by how it "
        "returned; passes values in and copies variables back.",
    }
    category = "flow"
    config_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["flow"],
        "properties": {
            "flow": {
                "type": "string",
                "title": "子流程 / Flow",
                "pattern": "^[a-z0-9][a-z0-9_.-]{0,63}$",
                "x-ivrflow": "flow",
            },
            "inputs": {
                "type": "object",
                "title": "传入参数 / Inputs",
                "description": "子流程变量名 → 值（可用 {{变量}}）。 "
                "Sub-flow variable → value (may use {{variable}}).",
                "maxProperties": 50,
                "propertyNames": {"pattern": VARIABLE_NAME},
                "additionalProperties": {
                    "type": "string",
                    "maxLength": 2000,
                    "x-ivrflow": "template",
                },
                "default": {},
            },
            "outputs": {
                "type": "object",
                "title": "取回变量 / Outputs",
                "description": "本流程变量 → 子流程变量名。 "
                "Variable of this flow → variable of the sub-flow.",
                "maxProperties": 50,
                "propertyNames": {"pattern": VARIABLE_NAME},
                "additionalProperties": {"type": "string", "pattern": VARIABLE_NAME},
                "default": {},
            },
            "outcomes": {
                "type": "array",
                "title": "返回结果（出口） / Outcomes (exits)",
                "description": "子流程“返回”节点可能给出的结果。 "
                "What the sub-flow's return nodes may say.",
                "minItems": 1,
                "maxItems": 16,
                "uniqueItems": True,
                "items": {"type": "string", "pattern": OUTCOME_NAME, "not": {"const": "error"}},
                "default": ["done"],
            },
        },
    }
    exits = ("done", "error")
    exit_titles: ClassVar[dict[str, dict[str, str]]] = {"done": {"zh": "完成", "en": "Done"}}

    @classmethod
    def exits_for(cls, config: Mapping[str, Any]) -> tuple[str, ...]:
        return (*config.get("outcomes", ("done",)), "error")

    @classmethod
    def references(cls, config: Mapping[str, Any]) -> list[Reference]:
        refs = super().references(config)
        for key in config.get("outputs", {}):
            refs.append(Reference("variable-out", f"/outputs/{_token(key)}", key))
        return refs

    async def run(self, call: Call, config: dict[str, Any]) -> str:
        inputs = {name: render_value(tpl, call.vars) for name, tpl in config["inputs"].items()}
        result = await call.subflow(config["flow"], inputs)
        for parent_name, child_name in config["outputs"].items():
            if child_name not in result.outputs:
                call.note("subflow_output_missing", variable=parent_name, child=child_name)
            if child_name in result.secret:
                call.mark_secret(parent_name)  # before the value reaches the trace
            call.vars[parent_name] = result.outputs.get(child_name)
        if result.outcome in config["outcomes"]:
            call.note("subflow", flow=config["flow"], outcome=result.outcome)
            return result.outcome
        call.note(
            "subflow_unexpected_outcome",
            flow=config["flow"],
            outcome=result.outcome,
            expected=list(config["outcomes"]),
        )
        return "error"
