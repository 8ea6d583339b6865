"""Model Context Protocol: serve a toolbox as an MCP server, and use an MCP server's tools as `Tool` objects.

Both directions go through the pipeline: the server answers ``tools/call`` with `Toolbox.execute`, and imported
tools call the remote server from inside their body, so local policy, validation and middleware still apply.
Needs the ``mcp`` extra (the official SDK, 2.x): ``pip install 'armorer-ray[mcp]'``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from armorer_ray.errors import MissingExtraError, ToolFailure
from armorer_ray.results import ToolCall, ToolResult
from armorer_ray.tools import Tool

if TYPE_CHECKING:
    from armorer_ray.toolbox import Toolbox

__all__ = ["create_mcp_server", "from_mcp_tools", "model_from_json_schema", "to_mcp_result"]


def _types() -> Any:
    try:
        import mcp.types as types
    except ImportError as exc:
        raise MissingExtraError("the MCP integration", "mcp") from exc
    return types


def _annotations(types: Any, tool: Tool) -> Any:
    return types.ToolAnnotations(
        title=tool.title, readOnlyHint=tool.is_read_only, destructiveHint=tool.is_dangerous or tool.is_mutating,
        idempotentHint=tool.idempotent,
    )


def _schema(tool: Tool) -> dict[str, Any]:
    return {key: value for key, value in tool.json_schema.items() if key != "$schema"}


def to_mcp_result(result: ToolResult) -> Any:
    """The MCP ``CallToolResult`` for a `ToolResult`.

    Errors are ``isError`` with the error message; a paused call returns its reason as text and the action
    (with its resume token) in ``_meta``; objects are also given as ``structuredContent``.
    """
    types = _types()
    if result.outcome == "error":
        message = result.error.message if result.error else str(result.content)
        meta = {"armorer": {"code": result.error.code, "category": result.error.category}} if result.error else None
        return types.CallToolResult(content=[types.TextContent(type="text", text=message)], isError=True,
                                    _meta=meta)
    if result.outcome == "action_required":
        action = result.action.model_dump(by_alias=True) if result.action else None
        return types.CallToolResult(content=[types.TextContent(type="text", text=str(result.content))],
                                    _meta={"armorer": {"action": action}})
    content = result.content
    if content is None:
        return types.CallToolResult(content=[])
    text = content if isinstance(content, str) else json.dumps(content, indent=2, ensure_ascii=False, default=str)
    structured = content if isinstance(content, dict) else None
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)], structuredContent=structured)


def create_mcp_server(toolbox: Toolbox, *, name: str | None = None, version: str = "0.1.0") -> Any:
    """An MCP low-level ``Server`` exposing every tool of ``toolbox``.

    The tool list is read on every ``tools/list`` request, so tools registered later appear without a restart.
    Annotations carry the risk flags (``readOnlyHint``, ``destructiveHint``, ``idempotentHint``).

    Args:
        toolbox: The tools to serve.
        name: Server name (default: the toolbox's name).
        version: Server version.

    Returns:
        An ``mcp.server.Server``; run it with any MCP transport (stdio, streamable HTTP).

    Raises:
        MissingExtraError: without the ``mcp`` extra.
    """
    types = _types()
    from mcp.server import Server

    async def list_tools(ctx: Any, params: Any) -> Any:
        return types.ListToolsResult(tools=[
            types.Tool(name=t.name, title=t.title, description=t.description, inputSchema=_schema(t),
                       outputSchema=t.output_json_schema, annotations=_annotations(types, t))
            for t in toolbox.tools()
        ])

    async def call_tool(ctx: Any, params: Any) -> Any:
        request_id = getattr(ctx, "request_id", None)
        call = ToolCall(id=str(request_id) if request_id is not None else "", name=params.name,
                        arguments=params.arguments or {})
        return to_mcp_result(await toolbox.execute(call))

    return Server(name or toolbox.name, version=version, on_list_tools=list_tools, on_call_tool=call_tool)


_JSON_TYPES: Mapping[str, Any] = {"string": str, "integer": int, "number": float, "boolean": bool,
                                  "array": list, "object": dict, "null": type(None)}


def _annotation(schema: Mapping[str, Any]) -> Any:
    if schema.get("enum"):
        return Literal[tuple(schema["enum"])]
    if "const" in schema:
        return Literal[schema["const"]]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = tuple(_annotation(option) for option in schema[key])
            return options[0] if len(options) == 1 else _union(options)
    kind = schema.get("type")
    if isinstance(kind, list):
        return _union(tuple(_annotation({**schema, "type": k}) for k in kind))
    if kind == "array" and isinstance(schema.get("items"), Mapping):
        return list[_annotation(schema["items"])]  # type: ignore[misc]  # a run-time type built from a JSON schema
    return _JSON_TYPES.get(kind, Any) if isinstance(kind, str) else Any


def _union(options: tuple[Any, ...]) -> Any:
    out = options[0]
    for option in options[1:]:
        out = out | option
    return out


def model_from_json_schema(name: str, schema: Mapping[str, Any]) -> type[BaseModel]:
    """A permissive parameter model from an object JSON Schema (unknown keys allowed unless the schema forbids).

    Example:
        >>> model = model_from_json_schema("t", {"type": "object", "required": ["q"],
        ...     "properties": {"q": {"type": "string"}, "k": {"type": "integer", "default": 3}}})
        >>> model(q="x").k
        3
    """
    required = set(schema.get("required", ()))
    fields: dict[str, Any] = {}
    for key, prop in (schema.get("properties") or {}).items():
        prop = prop if isinstance(prop, Mapping) else {}
        default = ... if key in required else prop.get("default")
        fields[key] = (_annotation(prop), Field(default, description=prop.get("description")))
    extra: Literal["forbid", "allow"] = "forbid" if schema.get("additionalProperties") is False else "allow"
    return create_model(f"{name}_parameters", __config__=ConfigDict(extra=extra), **fields)


def _parse_result(name: str, result: Any) -> Any:
    texts = [block.text for block in (result.content or []) if getattr(block, "type", None) == "text"]
    if result.is_error:
        raise ToolFailure("; ".join(texts) or f"MCP tool {name!r} failed", code="MCP_TOOL_ERROR")
    if result.structured_content is not None:
        return result.structured_content
    if not result.content:
        return None
    if len(texts) != len(result.content):
        return [block.model_dump() for block in result.content]
    parsed = []
    for text in texts:
        try:
            parsed.append(json.loads(text))
        except ValueError:
            parsed.append(text)
    return parsed[0] if len(parsed) == 1 else parsed


def from_mcp_tools(client: Any, tools: Sequence[Any], *, namespace: str = "mcp") -> list[Tool]:
    """`Tool` objects that call an MCP server's tools through a connected client.

    Args:
        client: A connected MCP client with ``call_tool(name, arguments)`` (``mcp.Client`` or ``ClientSession``).
        tools: The server's ``types.Tool`` list (``(await client.list_tools()).tools``).
        namespace: Namespace for the imported tools.

    Returns:
        Tools whose schema, description and risk flags come from the MCP definitions; a remote
        ``isError`` becomes a ``MCP_TOOL_ERROR`` failure.
    """
    out = []
    for remote in tools:
        annotations = getattr(remote, "annotations", None)
        read_only = bool(annotations and annotations.read_only_hint)

        def make_body(tool_name: str) -> Any:
            async def body(**arguments: Any) -> Any:
                return _parse_result(tool_name, await client.call_tool(tool_name, arguments))

            return body

        out.append(Tool(
            make_body(remote.name), name=remote.name, namespace=namespace,
            description=remote.description or getattr(remote, "title", None) or remote.name,
            parameters=model_from_json_schema(remote.name, remote.input_schema or {}),
            # MCP's readOnlyHint defaults to false, meaning "may change its environment": treat as mutating.
            read_only=read_only, mutates=not read_only, extra_arguments="allow",
        ))
    return out
