"""Inspection: compact, model-friendly summaries of tools and toolboxes."""

from __future__ import annotations

import typing
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from armorer_ray.tools import Tool

__all__ = ["DetailLevel", "SchemaSummary", "ToolInspection", "ToolboxInspection", "inspect_tool", "inspect_toolbox"]

DetailLevel = Literal["summary", "standard", "full"]


class SchemaSummary(BaseModel):
    """Parameter names, and at ``full`` detail a simplified type per name (``str?`` for optional...)."""

    model_config = ConfigDict(frozen=True)

    keys: list[str]
    shape: dict[str, str] | None = None


class MetadataFlags(BaseModel):
    """What the metadata says at a glance."""

    model_config = ConfigDict(frozen=True)

    has_custom_metadata: bool
    capabilities: list[str] | None = None
    effort: str | float | None = None


class ToolInspection(BaseModel):
    """One tool, summarised."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    description: str
    tags: list[str]
    risk: dict[str, Any]
    schema_: SchemaSummary | None = None
    metadata: MetadataFlags | None = None


class ToolboxInspection(BaseModel):
    """A toolbox, summarised: counts and each tool."""

    model_config = ConfigDict(frozen=True)

    detail_level: DetailLevel
    counts: dict[str, int]
    tools: list[ToolInspection]


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = list(typing.get_args(annotation))
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        non_none = [a for a in args if a is not type(None)]
        inner = " | ".join(_type_name(a) for a in non_none)
        return f"{inner} | null" if len(non_none) < len(args) else inner
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin is not None:
        inner = ", ".join(_type_name(a) for a in args)
        return f"{getattr(origin, '__name__', str(origin))}[{inner}]"
    return getattr(annotation, "__name__", str(annotation))


def inspect_tool(tool: Tool, level: DetailLevel = "standard") -> ToolInspection:
    """Summarise a tool at ``summary``, ``standard`` or ``full`` detail.

    Example:
        >>> from armorer_ray import tool
        >>> @tool(metadata={"capabilities": ["search"], "effort": "low"})
        ... def find(query: str, limit: int | None = None) -> list[str]:
        ...     "Find documents."
        ...     return []
        >>> info = inspect_tool(find, "full")
        >>> info.schema_.shape, info.metadata.capabilities
        ({'query': 'str', 'limit': 'int | null?'}, ['search'])
    """
    base = {
        "id": tool.id, "name": tool.name, "description": tool.description, "tags": list(tool.tags),
        "risk": tool.risk.model_dump(exclude_defaults=True),
    }
    if level == "summary":
        return ToolInspection(**base)
    fields = tool.parameters.model_fields
    shape = None
    if level == "full":
        shape = {
            name: _type_name(info.annotation) + ("" if info.is_required() else "?") for name, info in fields.items()
        }
    capabilities = tool.metadata.get("capabilities")
    effort = tool.metadata.get("effort")
    flags = MetadataFlags(
        has_custom_metadata=bool(tool.metadata),
        capabilities=[c for c in capabilities if isinstance(c, str)] if isinstance(capabilities, list) else None,
        effort=effort if isinstance(effort, str | int | float) and not isinstance(effort, bool) else None,
    )
    return ToolInspection(**base, schema_=SchemaSummary(keys=list(fields), shape=shape), metadata=flags)


def inspect_toolbox(tools: Iterable[Tool], level: DetailLevel = "standard") -> ToolboxInspection:
    """Summarise many tools (a `Toolbox` or any iterable of tools).

    Example:
        >>> from armorer_ray import Toolbox, tool
        >>> inspect_toolbox(Toolbox([tool(name="x", description="X.", tags=["a"])(lambda: 1)])).counts
        {'total': 1, 'with_tags': 1, 'with_metadata': 0}
    """
    items = [inspect_tool(t, level) for t in tools]
    source = list(tools) if not isinstance(tools, list) else tools
    return ToolboxInspection(
        detail_level=level,
        counts={
            "total": len(items),
            "with_tags": sum(1 for t in items if t.tags),
            "with_metadata": sum(1 for t in source if t.metadata),
        },
        tools=items,
    )
