"""OpenAI (and Azure OpenAI) function tools: definitions, call parsing, result messages.

Two API shapes: Chat Completions (``{"type": "function", "function": {...}}``, the SDK's
``ChatCompletionFunctionToolParam``) and Responses (flat ``{"type": "function", "name", ...}``, the SDK's
``FunctionToolParam``). Azure OpenAI takes the same shapes through the same SDK.

``strict: true`` is set only when the schema can be made strict (see `armorer_ray.adapters._schemas`): optional
properties are then required and nullable, and `parse_tool_calls` with the export's `ToolNames` removes the
``null`` placeholders before the toolbox validates the call.

Example:
    >>> from armorer_ray import tool
    >>> @tool(namespace="ns", version="1.0.0")
    ... def mutate(x: int, note: str = "") -> int:
    ...     "Mutate."
    ...     return x
    >>> spec = to_openai(mutate)
    >>> spec["function"]["name"], spec["function"]["strict"], spec["function"]["parameters"]["required"]
    ('mutate', True, ['note', 'x'])
    >>> to_openai(mutate, api="responses")["name"]
    'mutate'
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from armorer_ray.adapters._inputs import AdapterInput, as_mapping, result_list, without_dialect
from armorer_ray.adapters._schemas import openai_strict
from armorer_ray.adapters.naming import Mapper, ToolNames, names_for, resolve_call, safe_name
from armorer_ray.results import ToolCall, ToolResult

__all__ = ["create_name_mapper", "format_tool_results", "map_to_openai_name", "parse_tool_calls", "to_openai"]

Naming = Literal["auto", "default", "safe-id"]
Api = Literal["chat", "responses"]


def map_to_openai_name(tool_id: str) -> str:
    """A tool id as an OpenAI-safe function name (``[A-Za-z0-9_-]``, at most 64 characters).

    Example:
        >>> map_to_openai_name("ns:mut@1.0.0")
        'ns_mut_1_0_0'
    """
    return safe_name(tool_id)


def function_parts(definition: Mapping[str, Any], name: str, strict: bool) -> dict[str, Any]:
    """Name, description, parameters and ``strict`` of one function tool (shared with Mistral and Cohere)."""
    parameters = without_dialect(definition["schema"])
    strict_parameters = openai_strict(parameters) if strict else None
    return {"name": name, "description": definition["description"],
            "parameters": strict_parameters if strict_parameters is not None else parameters,
            "strict": strict_parameters is not None}


def to_openai(source: AdapterInput, naming: Naming = "auto", *, api: Api = "chat", strict: bool = True) -> Any:
    """OpenAI function-tool definitions: one for a single tool, a list for a list or toolbox.

    Args:
        source: A tool, a serialised definition, a list of either, or a toolbox.
        naming: ``auto`` (``default`` is the same): bare names where unique in ``source``, else safe ids
            (`ToolNames`); ``safe-id``: always the safe id. Map answers back with `create_name_mapper`.
        api: ``chat`` for Chat Completions, ``responses`` for the Responses API.
        strict: Ask for strict mode where the schema allows it (False: never).

    Raises:
        ConfigError: when ``source`` is not a tool, definition, list of them or toolbox.
    """
    defs, single, names = names_for(source, "safe-id" if naming == "safe-id" else "auto")
    out = []
    for d in defs:
        parts = function_parts(d, names.name(d["id"]), strict)
        out.append({"type": "function", **parts} if api == "responses" else {"type": "function", "function": parts})
    return out[0] if single else out


def create_name_mapper(tools: Iterable[Any] | AdapterInput, naming: Naming = "auto") -> ToolNames:
    """The `ToolNames` of an export: call it with a provider name to get the tool id back.

    Pass the same tools (and ``naming``) as to the export. Unknown names pass through unchanged.
    """
    source = tools if hasattr(tools, "tools") or isinstance(tools, Mapping) else list(tools)
    return ToolNames.of(source, naming="safe-id" if naming == "safe-id" else "auto")


def _arguments(text: object) -> object:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text) if text.strip() else {}
    except (ValueError, RecursionError):
        # Kept as sent: the toolbox answers with a validation error saying the JSON is invalid or truncated
        # (or, for hostile nesting, refuses the text itself).
        return text


def _items(source: Any) -> list[Mapping[str, Any]]:
    data = source if isinstance(source, list) else None
    if data is None:
        mapping = as_mapping(source)
        data = mapping.get("tool_calls") or mapping.get("output") or []
    return [as_mapping(item) for item in data] if isinstance(data, list) else []


def parse_tool_calls(tool_calls: Any, mapper: Mapper = None) -> list[ToolCall]:
    """`ToolCall` objects from an OpenAI answer, as dicts or SDK objects.

    Accepts a Chat Completions message (or its ``tool_calls``) and a Responses ``Response`` (or its ``output``
    items; only ``function_call`` items are calls). Argument text that is not valid JSON (a truncated answer)
    is kept, and the toolbox answers it with a validation error saying so.

    Args:
        tool_calls: The calls, or the message / response holding them.
        mapper: The export's `ToolNames` (from `create_name_mapper`), or any function from name to tool id.

    Example:
        >>> parse_tool_calls([{"id": "c1", "type": "function",
        ...                    "function": {"name": "add", "arguments": '{"a": 1}'}}])[0].arguments
        {'a': 1}
        >>> parse_tool_calls([{"type": "function_call", "call_id": "c2", "name": "add", "arguments": "{}"}])[0].id
        'c2'
    """
    calls = []
    for data in _items(tool_calls):
        if data.get("type") == "function_call":  # Responses API output item
            call_id, name, text = data.get("call_id"), data.get("name"), data.get("arguments")
        elif isinstance(data.get("function"), Mapping):
            function = data["function"]
            call_id, name, text = data.get("id"), function.get("name"), function.get("arguments")
        else:
            continue
        calls.append(resolve_call(mapper, call_id, str(name or ""), _arguments(text)))
    return calls


def content_text(result: ToolResult) -> str:
    """A result's content as the text a model reads (JSON for anything but a string)."""
    content = result.content
    if isinstance(content, str):
        return content
    if content is None:
        return "null"
    try:
        return json.dumps(content, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(content)


def format_tool_results(results: ToolResult | Sequence[ToolResult], *, api: Api = "chat") -> list[dict[str, str]]:
    """The messages answering each call: ``role: tool`` (chat) or ``function_call_output`` items (responses).

    Errors carry their message, which tells the model what to fix.

    Example:
        >>> format_tool_results(ToolResult(call_id="c1", tool_name="add", outcome="success", content=3))
        [{'role': 'tool', 'tool_call_id': 'c1', 'content': '3'}]
    """
    if api == "responses":
        return [{"type": "function_call_output", "call_id": r.call_id, "output": content_text(r)}
                for r in result_list(results)]
    return [{"role": "tool", "tool_call_id": r.call_id, "content": content_text(r)} for r in result_list(results)]


