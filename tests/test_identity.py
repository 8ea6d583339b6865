"""Tool ids: formatting, parsing, and version ordering."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from armorer_ray import ConfigError, ToolIdentity, format_tool_id, parse_tool_id
from armorer_ray.identity import compare_versions


def test_examples() -> None:
    assert format_tool_id(ToolIdentity(name="sum", version="1.0.0")) == "default:sum@1.0.0"
    assert parse_tool_id("sum") == ToolIdentity(name="sum")
    assert parse_tool_id("ns:name") == ToolIdentity(namespace="ns", name="name")
    with pytest.raises(ConfigError, match="must not be empty"):
        parse_tool_id("  ")
    with pytest.raises(ConfigError, match="must be a string"):
        parse_tool_id(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="requires a name"):
        ToolIdentity(name=" ")


part = st.text(min_size=1, max_size=20).filter(lambda s: s.strip() == s and s.strip())


@given(namespace=part, name=part, version=st.none() | part)
def test_format_then_parse_round_trips(namespace: str, name: str, version: str | None) -> None:
    identity = ToolIdentity(namespace=namespace, name=name, version=version)
    assert parse_tool_id(format_tool_id(identity)) == identity


@pytest.mark.parametrize(
    ("higher", "lower"),
    [
        ("1.0.0", "1.0.0-rc.1"),
        ("1.0.0-alpha", "1.0.0-alpha.1"),
        ("1.0.0-alpha.1", "1.0.0-alpha.beta"),
        ("1.0.0-alpha.2", "1.0.0-alpha.1"),
        ("1.0.0-alpha.gamma", "1.0.0-alpha.beta"),
        ("1.10.0", "1.9.9"),
        ("v2.0.0", "1.99.0"),
    ],
)
def test_semver_ordering(higher: str, lower: str) -> None:
    assert compare_versions(higher, lower) == 1
    assert compare_versions(lower, higher) == -1
