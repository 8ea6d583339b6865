"""Cohere Chat v2: function tools, and results as ``role: tool`` messages with document content.

Example:
    >>> from armorer_ray import tool
    >>> @tool
    ... def search(query: str) -> list[str]:
    ...     "Search."
    ...     return [query]
    >>> to_cohere([search])[0]["function"]["parameters"]["required"]
    ['query']
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from armorer_ray.adapters._inputs import AdapterInput, result_list, shaped, without_dialect
from armorer_ray.results import ToolResult

__all__ = ["format_tool_results", "to_cohere"]


def to_cohere(source: AdapterInput) -> Any:
    """Cohere v2 tool definitions (``tool_calls`` come back in the OpenAI shape: use its ``parse_tool_calls``)."""
    return shaped(source, lambda d: {"type": "function", "function": {
        "name": d["name"], "description": d["description"], "parameters": without_dialect(d["schema"])}})


def format_tool_results(results: ToolResult | Sequence[ToolResult]) -> list[dict[str, Any]]:
    """``role: tool`` messages whose content is one document holding the result (or the error)."""
    out = []
    for r in result_list(results):
        data = {"error": r.content} if r.outcome == "error" else {"result": r.content}
        out.append({"role": "tool", "tool_call_id": r.call_id,
                    "content": [{"type": "document", "document": {"data": json.dumps(data, default=str)}}]})
    return out
