"""The fast path (jsonschema-rs) and the reference (jsonschema) agree on what is valid."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from nodes.registry import default_registry
from runtime.flow import flow_schema
from runtime.schemacheck import CompiledSchema

values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=False),
        st.text(max_size=10),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.sampled_from(["type", "version", "config", "exits", "prompts", "key", "x", "url"]),
            inner,
            max_size=4,
        ),
    ),
    max_leaves=16,
)

SCHEMAS = [flow_schema()] + [cls.config_schema for cls in default_registry()]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(range(len(SCHEMAS))), values)
def test_fast_and_reference_agree(index, instance):
    schema = SCHEMAS[index]
    reference_ok = Draft202012Validator(schema).is_valid(instance)
    compiled = CompiledSchema(schema)
    assert compiled.is_valid(instance) == reference_ok
    assert (next(compiled.iter_errors(instance), None) is None) == reference_ok


def test_unsupported_schema_falls_back_to_the_reference():
    # a look-behind: Python's re understands it; whatever jsonschema-rs makes of it, the
    # verdict must be the reference implementation's
    compiled = CompiledSchema({"type": "object", "properties": {"a": {"pattern": "(?<=x)y"}}})
    reference = Draft202012Validator(compiled.schema)
    for instance in ({"a": "y"}, {"a": "xy"}, {"a": "zz"}, {"a": 5}):
        assert compiled.is_valid(instance) == reference.is_valid(instance)
    assert list(compiled.iter_errors({"a": "zz"})) != []
