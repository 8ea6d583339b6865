"""Key functions: the fast canonical form agrees with canonical_json on every JSON value."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import JsonValue

from armorer_ray import CallContext, EventHub, ToolCall
from armorer_ray.cancellation import AbortSignal
from armorer_ray.json_values import canonical_json
from armorer_ray.middleware import arguments_key, per_tenant, per_tool, per_user
from armorer_ray.testing import mock_tool

LOOKUP = mock_tool("lookup")

json_objects = st.dictionaries(
    st.text(max_size=6),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
        lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
        max_leaves=20,
    ),
    max_size=5,
)


def context(call: ToolCall) -> CallContext:
    return CallContext(call, LOOKUP, None, {}, AbortSignal(), EventHub())


@settings(max_examples=100, deadline=None)
@given(json_objects)
def test_arguments_key_is_the_canonical_json_of_the_arguments(arguments: dict[str, JsonValue]) -> None:
    call = ToolCall(name="lookup", arguments=arguments)
    assert arguments_key(call, context(call)) == f"default:lookup||{canonical_json(arguments)}"


def test_arguments_that_are_not_plain_json_take_the_general_path() -> None:
    import datetime

    call = ToolCall(name="lookup", arguments={"when": datetime.date(2024, 1, 2), "tags": {"a"}})
    assert arguments_key(call, context(call)) == 'default:lookup||{"tags":["a"],"when":"2024-01-02"}'


def test_partition_keys() -> None:
    call = ToolCall(name="lookup", tenant_id="acme", user_id="ada")
    ctx = context(call)
    assert (per_tool(call, ctx), per_tenant(call, ctx), per_user(call, ctx)) == ("default:lookup", "acme", "acme/ada")
    anonymous = ToolCall(name="lookup")
    assert (per_tenant(anonymous, ctx), per_user(anonymous, ctx)) == ("-", "-/-")
