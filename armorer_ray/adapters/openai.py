"""OpenAI (Chat Completions / Responses function tools): definitions, call parsing, result messages.

Example:
    >>> from armorer_ray import tool
    >>> @tool(namespace="ns", version="1.0.0")
    ... def mutate(x: int) -> int:
    ...     "Mutate."
    ...     return x
    >>> spec = to_openai(mutate, naming="safe-id")
    >>> spec["function"]["name"], spec["function"]["parameters"]["required"]
    ('ns_mutate_1_0_0', ['x'])
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal, overload

from armorer_ray.adapters._inputs import (
    AdapterInput,
    as_mapping,
    definitions,
    loose_call,
    result_list,
    shaped,
    without_dialect,
)
from armorer_ray.results import ToolCall, ToolResult

__all__ = ["create_name_mapper", "format_tool_results", "map_to_openai_name", "parse_tool_calls", "to_openai"]

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def map_to_openai_name(tool_id: str) -> str:
    """A tool id as an OpenAI-safe function name (``[A-Za-z0-9_-]``, at most 64 characters).

    Example:
        >>> map_to_openai_name("ns:mut@1.0.0")
        'ns_mut_1_0_0'
    """
    return _UNSAFE.sub("_", tool_id)[:64]


def _function(definition: Mapping[str, Any], naming: str) -> dict[str, Any]:
    name = map_to_openai_name(definition["id"]) if naming == "safe-id" else definition["name"]
    return {"type": "function", "function": {"name": name, "description": definition["description"],
                                             "parameters": without_dialect(definition["schema"]), "strict": True}}


@overload
def to_openai(source: Sequence[Any], naming: Literal["default", "safe-id"] = "default") -> list[dict[str, Any]]: ...
@overload
def to_openai(source: Any, naming: Literal["default", "safe-id"] = "default") -> Any: ...


def to_openai(source: AdapterInput, naming: Literal["default", "safe-id"] = "default") -> Any:
    """OpenAI function-tool definitions: one for a single tool, a list for a list or toolbox.

    Args:
        source: A tool, a serialised definition, a list of either, or a toolbox.
        naming: ``default`` uses tool names; ``safe-id`` uses `map_to_openai_name` of the id (unique across
            namespaces and versions; map back with `create_name_mapper`).
    """
    return shaped(source, lambda definition: _function(definition, naming))


def create_name_mapper(tools: Iterable[Any]) -> Callable[[str], str]:
    """A function from ``safe-id`` names back to tool ids (unknown names pass through unchanged)."""
    defs, _ = definitions(list(tools) if not hasattr(tools, "tools") else tools)
    table = {map_to_openai_name(d["id"]): d["id"] for d in defs}
    return lambda name: table.get(name, name)


def parse_tool_calls(tool_calls: Any, mapper: Callable[[str], str] | None = None) -> list[ToolCall]:
    """`ToolCall` objects from an OpenAI message's ``tool_calls`` (dicts or SDK objects).

    Arguments that are not valid JSON become ``{}`` here; an object argument text is parsed.

    Example:
        >>> parse_tool_calls([{"id": "c1", "type": "function",
        ...                    "function": {"name": "add", "arguments": '{"a": 1}'}}])[0].arguments
        {'a': 1}
    """
    if not isinstance(tool_calls, list):
        return []
    calls = []
    for item in tool_calls:
        data = as_mapping(item)
        function = data.get("function") or {}
        name = str(function.get("name", ""))
        try:
            arguments = json.loads(function.get("arguments") or "{}")
        except (TypeError, ValueError):
            arguments = {}
        except RecursionError:  # hostile nesting: the toolbox refuses the text itself, as a validation error
            arguments = function.get("arguments")
        calls.append(loose_call(data.get("id"), mapper(name) if mapper else name, arguments))
    return calls


def _content_text(result: ToolResult) -> str:
    content = result.content
    if isinstance(content, str):
        return content
    if content is None:
        return "null"
    try:
        return json.dumps(content, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(content)


def format_tool_results(results: ToolResult | Sequence[ToolResult]) -> list[dict[str, str]]:
    """``role: tool`` messages answering each call (errors carry their message, which tells the model why).

    Example:
        >>> format_tool_results(ToolResult(call_id="c1", tool_name="add", outcome="success", content=3))
        [{'role': 'tool', 'tool_call_id': 'c1', 'content': '3'}]
    """
    return [{"role": "tool", "tool_call_id": r.call_id, "content": _content_text(r)} for r in result_list(results)]
