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
from typing import Any

from armorer_ray.adapters._inputs import AdapterInput, definitions, loose_call, result_list, without_dialect
from armorer_ray.json_values import to_json_compatible
from armorer_ray.results import ToolCall, ToolResult

__all__ = ["format_tool_results", "parse_tool_calls", "to_bedrock"]


def to_bedrock(source: AdapterInput) -> dict[str, Any]:
    """A Converse ``toolConfig``: ``{"tools": [{"toolSpec": {name, description, inputSchema: {json}}}]}``."""
    defs, _ = definitions(source)
    return {"tools": [{"toolSpec": {"name": d["name"], "description": d["description"],
                                    "inputSchema": {"json": without_dialect(d["schema"])}}} for d in defs]}


def parse_tool_calls(content: Any) -> list[ToolCall]:
    """`ToolCall` objects from the ``toolUse`` blocks of a Converse assistant message's content."""
    if not isinstance(content, list):
        return []
    uses = [block.get("toolUse") if isinstance(block, Mapping) else None for block in content]
    return [loose_call(use.get("toolUseId"), str(use.get("name", "")), use.get("input"))
            for use in uses if isinstance(use, Mapping)]


def format_tool_results(results: ToolResult | Sequence[ToolResult]) -> dict[str, Any]:
    """A ``user`` message with one ``toolResult`` block per result (``status: error`` on failures)."""
    blocks = []
    for r in result_list(results):
        content = r.content
        body = {"text": content} if isinstance(content, str) else {"json": to_json_compatible(content)}
        block: dict[str, Any] = {"toolUseId": r.call_id, "content": [body]}
        if r.outcome == "error":
            block["status"] = "error"
        blocks.append({"toolResult": block})
    return {"role": "user", "content": blocks}
