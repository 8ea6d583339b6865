"""AWS Bedrock Converse API: ``toolConfig`` specs, ``toolUse`` parsing and ``toolResult`` blocks.

Example:
    >>> from armorer_ray import tool
    >>> @tool
    ... def add(a: int) -> int:
    ...     "Add."
    ...     return a
    >>> to_bedrock([add])["tools"][0]["toolSpec"]["inputSchema"]["json"]["required"]
    ['a']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from armorer_ray.adapters._inputs import AdapterInput, as_mapping, result_list, without_dialect
from armorer_ray.adapters.naming import Mapper, names_for, resolve_call
from armorer_ray.json_values import to_json_compatible
from armorer_ray.results import ToolCall, ToolResult

__all__ = ["format_tool_results", "parse_tool_calls", "to_bedrock"]


def to_bedrock(source: AdapterInput, naming: Literal["auto", "safe-id"] = "auto") -> dict[str, Any]:
    """A Converse ``toolConfig``: ``{"tools": [{"toolSpec": {name, description, inputSchema: {json}}}]}``."""
    defs, _, names = names_for(source, naming)
    return {"tools": [{"toolSpec": {"name": names.name(d["id"]), "description": d["description"],
                                    "inputSchema": {"json": without_dialect(d["schema"])}}} for d in defs]}


def parse_tool_calls(content: Any, mapper: Mapper = None) -> list[ToolCall]:
    """`ToolCall` objects from a Converse answer: the response, its ``message``, or the message's content."""
    if isinstance(content, Mapping):
        content = (content.get("output") or {}).get("message", content).get("content")
    if not isinstance(content, list):
        return []
    uses = [as_mapping(block).get("toolUse") for block in content]
    return [resolve_call(mapper, use.get("toolUseId"), str(use.get("name", "")), use.get("input"))
            for use in uses if isinstance(use, Mapping)]


def format_tool_results(results: ToolResult | Sequence[ToolResult]) -> dict[str, Any]:
    """A ``user`` message with one ``toolResult`` block per result (``status: error`` on failures)."""
    blocks = []
    for r in result_list(results):
        content = to_json_compatible(r.content)
        if isinstance(content, str):
            body: dict[str, Any] = {"text": content}
        elif isinstance(content, dict):
            body = {"json": content}
        else:  # Converse's json block is a document: wrap lists and scalars
            body = {"json": {"result": content}}
        block: dict[str, Any] = {"toolUseId": r.call_id, "content": [body],
                                 "status": "error" if r.outcome == "error" else "success"}
        blocks.append({"toolResult": block})
    return {"role": "user", "content": blocks}
