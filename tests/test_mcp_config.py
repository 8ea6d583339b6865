"""``tool_configuration_from_metadata`` (reference §23)."""

from __future__ import annotations

from armorer_ray import tool
from armorer_ray.mcp_config import tool_configuration_from_metadata


def test_every_field_is_read_from_metadata_mcp() -> None:
    schema = {"type": "object", "properties": {"q": {"type": "string"}}}
    found = tool(name="t", description="T.", metadata={"mcp": {
        "title": "Title", "description": "Over MCP.", "schema": schema, "outputSchema": {"type": "object"},
        "annotations": {"destructiveHint": True}, "execution": {"taskSupport": "optional"}, "meta": {"k": 1},
    }})(lambda q: q)
    config = tool_configuration_from_metadata(found)
    assert config is not None
    assert (config.title, config.description, config.schema_, config.output_schema) == (
        "Title", "Over MCP.", schema, {"type": "object"})
    assert config.annotations == {"destructiveHint": True}  # not read-only: no hint added
    assert config.execution == {"taskSupport": "optional"} and config.meta == {"k": 1}


def test_read_only_adds_the_hint_unless_set_and_an_explicit_false_is_kept() -> None:
    added = tool(name="a", description="A.", metadata={"readOnly": True, "mcp": {}})(lambda: 1)
    kept = tool(name="b", description="B.", metadata={"readOnly": True, "mcp": {"annotations": {"readOnlyHint": False}}})(
        lambda: 1)
    assert tool_configuration_from_metadata(added).annotations == {"readOnlyHint": True}  # type: ignore[union-attr]
    assert tool_configuration_from_metadata(kept).annotations == {"readOnlyHint": False}  # type: ignore[union-attr]


def test_absent_or_invalid_configuration_gives_none_and_wrong_types_are_left_out() -> None:
    assert tool_configuration_from_metadata(tool(name="a", description="A.")(lambda: 1)) is None
    assert tool_configuration_from_metadata(tool(name="b", description="B.", metadata={"mcp": [1]})(lambda: 1)) is None
    odd = tool(name="c", description="C.", metadata={"mcp": {"title": 3, "schema": "x", "annotations": []}})(lambda: 1)
    config = tool_configuration_from_metadata(odd)
    assert config is not None and config.title is None and config.schema_ is None and config.annotations is None
