"""MCP tool configuration from a tool's metadata (reference §23 ``toolConfigurationFromMetadata``).

A tool may describe how it should look as an MCP tool under ``metadata["mcp"]``: ``title``, ``description``,
``schema`` (input JSON Schema), ``outputSchema``, ``annotations``, ``execution`` and ``meta``. Annotations get
``readOnlyHint: true`` when the tool is read-only, unless the metadata sets the hint itself (an explicit
``false`` is kept).

Example:
    >>> from armorer_ray import tool
    >>> lookup = tool(name="lookup", description="Look up.", read_only=True,
    ...               metadata={"mcp": {"title": "Lookup", "annotations": {"openWorldHint": False}}})(lambda key: key)
    >>> config = tool_configuration_from_metadata(lookup)
    >>> config.title, config.annotations
    ('Lookup', {'openWorldHint': False, 'readOnlyHint': True})
    >>> tool_configuration_from_metadata(tool(name="plain", description="P.")(lambda: 1)) is None
    True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, JsonValue

from armorer_ray.tools import Tool

__all__ = ["McpToolConfiguration", "tool_configuration_from_metadata"]


class McpToolConfiguration(BaseModel):
    """How a tool is presented over MCP; every field overrides what the tool itself would give."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    title: str | None = None
    description: str | None = None
    schema_: dict[str, JsonValue] | None = None
    output_schema: dict[str, JsonValue] | None = None
    annotations: dict[str, JsonValue] | None = None
    execution: dict[str, JsonValue] | None = None
    meta: dict[str, JsonValue] | None = None


def _mapping(value: Any) -> dict[str, JsonValue] | None:
    return dict(value) if isinstance(value, Mapping) else None


def tool_configuration_from_metadata(tool: Tool) -> McpToolConfiguration | None:
    """The MCP configuration ``metadata["mcp"]`` declares, or None when it is absent or not a mapping.

    Args:
        tool: The tool.

    Returns:
        The configuration; fields of the wrong type are left out.
    """
    raw = tool.metadata.get("mcp")
    if not isinstance(raw, Mapping):
        return None
    annotations = _mapping(raw.get("annotations"))
    if tool.risk.read_only and (annotations is None or "readOnlyHint" not in annotations):
        annotations = {**(annotations or {}), "readOnlyHint": True}
    text = {key: raw[key] for key in ("title", "description") if isinstance(raw.get(key), str)}
    return McpToolConfiguration(
        **text, schema_=_mapping(raw.get("schema")), output_schema=_mapping(raw.get("outputSchema")),
        annotations=annotations, execution=_mapping(raw.get("execution")), meta=_mapping(raw.get("meta")),
    )
