"""Anthropic Messages API: tool definitions (``ToolParam``), ``tool_use`` parsing and ``tool_result`` blocks.

Example:
    >>> from armorer_ray import tool
    >>> @tool
    ... def add(a: int, b: int = 0) -> int:
    ...     "Add."
    ...     return a + b
    >>> to_anthropic(add)["input_schema"]["required"]
    ['a']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from armorer_ray.adapters._inputs import AdapterInput, as_mapping, result_list
from armorer_ray.adapters.naming import Mapper, names_for, resolve_call
from armorer_ray.adapters.openai import content_text
from armorer_ray.results import ToolCall, ToolResult

__all__ = ["format_tool_results", "parse_tool_calls", "to_anthropic"]


def _input_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    input_schema: dict[str, Any] = {"type": "object", "properties": schema.get("properties", {})}
    for key in ("required", "additionalProperties", "$defs"):
        if key in schema:
            input_schema[key] = schema[key]
    return input_schema


def to_anthropic(source: AdapterInput, naming: Literal["auto", "safe-id"] = "auto") -> Any:
    """Anthropic tool definitions: one for a single tool, a list for a list or toolbox.

    Names are unique and provider-safe (`armorer_ray.adapters.naming.ToolNames`): map answers back with the
    `ToolNames` of the same tools.
    """
    defs, single, names = names_for(source, naming)
    out = [{"name": names.name(d["id"]), "description": d["description"], "input_schema": _input_schema(d["schema"])}
           for d in defs]
    return out[0] if single else out


def parse_tool_calls(content: Any, mapper: Mapper = None) -> list[ToolCall]:
    """`ToolCall` objects from the ``tool_use`` blocks of an assistant message (a ``Message`` or its content).

    Example:
        >>> parse_tool_calls([{"type": "text", "text": "hi"},
        ...                   {"type": "tool_use", "id": "tu1", "name": "add", "input": {"a": 1}}])[0].id
        'tu1'
    """
    if not isinstance(content, list):
        content = getattr(content, "content", None) or as_mapping(content).get("content")
    if not isinstance(content, list):
        return []
    blocks = [as_mapping(block) for block in content]
    return [resolve_call(mapper, data.get("id"), str(data.get("name", "")), data.get("input"))
            for data in blocks if data.get("type") == "tool_use"]


def format_tool_results(results: ToolResult | Sequence[ToolResult]) -> dict[str, Any]:
    """One ``user`` message with a ``tool_result`` block per result (``is_error`` on failures)."""
    blocks = []
    for r in result_list(results):
        block: dict[str, Any] = {"type": "tool_result", "tool_use_id": r.call_id, "content": content_text(r)}
        if r.outcome == "error":
            block["is_error"] = True
        blocks.append(block)
    return {"role": "user", "content": blocks}
