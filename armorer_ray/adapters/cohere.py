"""Cohere Chat v2: function tools, and results as ``role: tool`` messages with document content.

Cohere's ``tool_calls`` come back in the OpenAI shape: `armorer_ray.adapters.openai.parse_tool_calls` reads
them (dicts or ``cohere`` SDK objects).

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

from collections.abc import Sequence
from typing import Any, Literal

from armorer_ray.adapters._inputs import AdapterInput, result_list, without_dialect
from armorer_ray.adapters.naming import names_for
from armorer_ray.adapters.openai import parse_tool_calls  # Cohere's tool_calls have the OpenAI shape
from armorer_ray.json_values import to_json_compatible
from armorer_ray.results import ToolResult

__all__ = ["format_tool_results", "parse_tool_calls", "to_cohere"]


def to_cohere(source: AdapterInput, naming: Literal["auto", "safe-id"] = "auto") -> Any:
    """Cohere v2 tool definitions: one for a single tool, a list for a list or toolbox."""
    defs, single, names = names_for(source, naming)
    out = [{"type": "function", "function": {"name": names.name(d["id"]), "description": d["description"],
                                             "parameters": without_dialect(d["schema"])}} for d in defs]
    return out[0] if single else out


def format_tool_results(results: ToolResult | Sequence[ToolResult]) -> list[dict[str, Any]]:
    """``role: tool`` messages whose content is one document holding the result (or the error)."""
    out = []
    for r in result_list(results):
        data = {"error": r.content} if r.outcome == "error" else {"result": r.content}
        out.append({"role": "tool", "tool_call_id": r.call_id,
                    "content": [{"type": "document", "document": {"data": to_json_compatible(data)}}]})
    return out
