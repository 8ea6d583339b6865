"""Google Gemini (``google-genai``): function declarations, ``functionCall`` parsing, ``functionResponse`` parts.

Gemini's ``Schema`` is a subset of JSON Schema: `armorer_ray.adapters._schemas.gemini_schema` inlines
``$ref``\\ s and rewrites what it lacks (exclusive bounds, ``const``, type lists). The toolbox still validates
every call against the full schema.

Example:
    >>> from armorer_ray import tool
    >>> @tool
    ... def add(a: int) -> int:
    ...     "Add."
    ...     return a
    >>> to_gemini_tool([add])["functionDeclarations"][0]["name"]
    'add'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from armorer_ray.adapters._inputs import AdapterInput, as_mapping, result_list
from armorer_ray.adapters._schemas import gemini_schema
from armorer_ray.adapters.naming import Mapper, ToolNames, names_for, resolve_call
from armorer_ray.json_values import to_json_compatible
from armorer_ray.results import ToolCall, ToolResult

__all__ = ["format_tool_results", "parse_tool_calls", "to_gemini", "to_gemini_tool"]


def _declaration(definition: Mapping[str, Any], name: str) -> dict[str, Any]:
    return {"name": name, "description": definition["description"],
            "parameters": gemini_schema(definition["schema"])}


def to_gemini(source: AdapterInput, naming: Literal["auto", "safe-id"] = "auto") -> Any:
    """Gemini function declarations: one for a single tool, a list for a list or toolbox."""
    defs, single, names = names_for(source, naming)
    out = [_declaration(d, names.name(d["id"])) for d in defs]
    return out[0] if single else out


def to_gemini_tool(source: AdapterInput, naming: Literal["auto", "safe-id"] = "auto") -> dict[str, Any]:
    """A Gemini ``Tool``: ``{"functionDeclarations": [...]}`` for every tool of ``source``."""
    declarations = to_gemini(source, naming)
    return {"functionDeclarations": declarations if isinstance(declarations, list) else [declarations]}


def _parts(source: Any) -> list[Mapping[str, Any]]:
    if isinstance(source, list):
        return [as_mapping(part) for part in source]
    data = as_mapping(source)
    if data.get("candidates"):  # a GenerateContentResponse: the first candidate's content
        data = as_mapping(data["candidates"][0]).get("content") or {}
    parts = as_mapping(data).get("parts") or []
    return [as_mapping(part) for part in parts]


def parse_tool_calls(source: Any, mapper: Mapper = None) -> list[ToolCall]:
    """`ToolCall` objects from the ``function_call`` parts of a response, a ``Content`` or a list of parts.

    Example:
        >>> parse_tool_calls([{"function_call": {"id": "g1", "name": "add", "args": {"a": 1}}}])[0].arguments
        {'a': 1}
    """
    calls = []
    for part in _parts(source):
        call = part.get("function_call") or part.get("functionCall")
        if call:
            data = as_mapping(call)
            calls.append(resolve_call(mapper, data.get("id"), str(data.get("name", "")), data.get("args")))
    return calls


def format_tool_results(results: ToolResult | Sequence[ToolResult], names: ToolNames | None = None
                        ) -> dict[str, Any]:
    """A ``user`` content with one ``functionResponse`` part per result (``output``, or ``error`` on failures).

    Args:
        results: The results to send back.
        names: The export's names, so each response carries the name the model called (default: tool names).
    """
    parts = []
    for r in result_list(results):
        name = names.name(r.tool_id) if names is not None and r.tool_id and r.tool_id in names.names else r.tool_name
        key = "error" if r.outcome == "error" else "output"
        parts.append({"functionResponse": {"id": r.call_id, "name": name,
                                           "response": {key: to_json_compatible(r.content)}}})
    return {"role": "user", "parts": parts}
