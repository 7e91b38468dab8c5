"""Property tests: the validator and the loader never crash, whatever they are given."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nodes.registry import default_registry
from runtime.document import UnusableFlow, load_flow_bytes
from runtime.problems import Problem
from runtime.validate import ValidationResult, validate

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)

TYPES = [cls.type for cls in default_registry()] + ["core.nope", "x", ""]
node_ids = st.sampled_from(["start", "a", "b", "c", "bye", "zzz", "bad id", ""])
exit_names = st.sampled_from(["next", "error", "timeout", "1", "2", "*", "ok", "invalid", "x y"])


@st.composite
def flow_like(draw):
    nodes = {}
    for node_id in draw(st.lists(node_ids, min_size=0, max_size=6, unique=True)):
        nodes[node_id] = draw(
            st.fixed_dictionaries(
                {
                    "type": st.sampled_from(TYPES),
                    "version": st.one_of(st.integers(-1, 3), st.just("1")),
                },
                optional={
                    "config": st.one_of(
                        json_values,
                        st.fixed_dictionaries(
                            {},
                            optional={
                                "prompts": st.lists(st.text(max_size=6), max_size=3),
                                "options": st.lists(
                                    st.fixed_dictionaries({"key": st.text(max_size=2)}),
                                    max_size=3,
                                ),
                                "variable": st.text(max_size=6),
                                "rules": st.lists(
                                    st.fixed_dictionaries(
                                        {"exit": exit_names, "when": st.text(max_size=20)}
                                    ),
                                    max_size=3,
                                ),
                                "url": st.text(max_size=20),
                                "kind": st.text(max_size=8),
                                "value": json_values,
                            },
                        ),
                    ),
                    "exits": st.one_of(
                        st.dictionaries(exit_names, st.one_of(node_ids, st.none()), max_size=4),
                        json_values,
                    ),
                    "ui": json_values,
                },
            )
        )
    doc = {
        "schema_version": draw(st.sampled_from([1, 2, "1"])),
        "id": "f",
        "name": "n",
        "nodes": nodes,
    }
    if draw(st.booleans()):
        doc["settings"] = draw(
            st.fixed_dictionaries({}, optional={"fallback": node_ids, "step_cap": json_values})
        )
    if draw(st.booleans()):
        doc["variables"] = draw(st.dictionaries(st.text(max_size=5), json_values, max_size=3))
    if draw(st.booleans()):
        doc["prompts"] = draw(st.dictionaries(st.text(max_size=5), json_values, max_size=3))
    return doc


def well_formed(result: ValidationResult) -> None:
    assert isinstance(result, ValidationResult)
    for problem in result.problems:
        assert isinstance(problem, Problem)
        assert problem.code and problem.message_zh and problem.message_en
        assert problem.pointer == "" or problem.pointer.startswith("/")
    assert (result.flow is not None) == result.ok


@FUZZ
@given(json_values)
def test_any_json_value(value):
    well_formed(validate(value))


@FUZZ
@given(flow_like())
def test_flow_shaped_documents(doc):
    well_formed(validate(doc))


@FUZZ
@given(st.binary(max_size=300))
def test_any_bytes_either_load_or_are_unusable(raw):
    try:
        text = load_flow_bytes(raw)
    except UnusableFlow as exc:
        assert exc.problem.message_zh and exc.problem.message_en
    else:
        well_formed(validate(text.data))


@FUZZ
@given(flow_like())
def test_round_trip_through_text_gives_line_numbers(doc):
    raw = json.dumps(doc, indent=1).encode()
    source = load_flow_bytes(raw)
    from runtime.validate import validate_text

    result = validate_text(source)
    well_formed(result)
    for problem in result.problems:
        if problem.pointer:
            assert problem.line is not None
