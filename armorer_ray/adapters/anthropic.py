"""Anthropic Messages API tool definitions, ``tool_use`` parsing and ``tool_result`` blocks.

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

import json
from collections.abc import Mapping, Sequence
from typing import Any

from armorer_ray.adapters._inputs import AdapterInput, as_mapping, loose_call, result_list, shaped
from armorer_ray.results import ToolCall, ToolResult

__all__ = ["format_tool_results", "parse_tool_calls", "to_anthropic"]


def _tool(definition: Mapping[str, Any]) -> dict[str, Any]:
    schema = definition["schema"]
    input_schema: dict[str, Any] = {"type": "object", "properties": schema.get("properties", {})}
    for key in ("required", "additionalProperties", "$defs"):
        if key in schema:
            input_schema[key] = schema[key]
    return {"name": definition["name"], "description": definition["description"], "input_schema": input_schema}


def to_anthropic(source: AdapterInput) -> Any:
    """Anthropic tool definitions: one for a single tool, a list for a list or toolbox."""
    return shaped(source, _tool)


def parse_tool_calls(content: Any) -> list[ToolCall]:
    """`ToolCall` objects from the ``tool_use`` blocks of an assistant message's content.

    Example:
        >>> parse_tool_calls([{"type": "text", "text": "hi"},
        ...                   {"type": "tool_use", "id": "tu1", "name": "add", "input": {"a": 1}}])[0].id
        'tu1'
    """
    if not isinstance(content, list):
        return []
    blocks = [as_mapping(block) for block in content]
    return [loose_call(data.get("id"), str(data.get("name", "")), data.get("input"))
            for data in blocks if data.get("type") == "tool_use"]


def format_tool_results(results: ToolResult | Sequence[ToolResult]) -> dict[str, Any]:
    """One ``user`` message with a ``tool_result`` block per result (``is_error`` on failures)."""
    blocks = []
    for r in result_list(results):
        text = r.content if isinstance(r.content, str) else json.dumps(r.content, ensure_ascii=False, default=str)
        block: dict[str, Any] = {"type": "tool_result", "tool_use_id": r.call_id, "content": text}
        if r.outcome == "error":
            block["is_error"] = True
        blocks.append(block)
    return {"role": "user", "content": blocks}
