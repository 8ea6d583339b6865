"""An MCP server's tools as local `Tool` objects: full schemas, faithful errors, remote pauses as local pauses."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema as cs

from armorer_ray.context import CallContext
from armorer_ray.errors import (
    ActionRequired,
    Cancelled,
    Conflict,
    Denied,
    InvalidArguments,
    NotFound,
    TimedOut,
    ToolFailure,
    Transient,
)
from armorer_ray.tools import Tool

RESUME_META_KEY = "armorer/resume_token"
RESUME_INPUT_META_KEY = "armorer/resume_input"

_FAILURES: Mapping[str, type[ToolFailure]] = {
    "validation": InvalidArguments, "permission": Denied, "not_found": NotFound, "conflict": Conflict,
    "transient": Transient, "timeout": TimedOut, "cancelled": Cancelled}
# JSON-RPC error codes a server answers tools/call with: unknown tool or bad params (-32602), missing method.
_RPC_NOT_FOUND = {-32601}
_RPC_INVALID = {-32602}

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


def _problems(validator: Any, data: object) -> list[str]:
    out = []
    for error in sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path)):
        where = ".".join(str(part) for part in error.absolute_path) or "(root)"
        out.append(f"{where}: {error.message}")
    return out


def model_from_json_schema(name: str, schema: Mapping[str, Any]) -> type[BaseModel]:
    """A parameter model that validates with the whole JSON Schema and exports it unchanged.

    Fields are typed from the properties (so values arrive as Python types), every constraint of the schema
    (bounds, patterns, nested objects, ``$ref``...) is checked by ``jsonschema``, and the model's JSON Schema is
    the one given, so exports show a remote tool exactly as its server described it.

    Example:
        >>> model = model_from_json_schema("t", {"type": "object", "required": ["q"], "properties": {
        ...     "q": {"type": "string"}, "k": {"type": "integer", "default": 3, "maximum": 50}}})
        >>> model(q="x").k, model.model_json_schema()["properties"]["k"]["maximum"]
        (3, 50)
        >>> from pydantic import ValidationError
        >>> try:
        ...     model.model_validate({"q": "x", "k": 80})
        ... except ValidationError as exc:
        ...     print(exc.errors()[0]["msg"])
        Value error, k: 80 is greater than the maximum of 50
    """
    from jsonschema import Draft202012Validator  # type: ignore[import-untyped]  # jsonschema ships no type hints

    exported = {key: value for key, value in schema.items() if key != "$schema"}
    exported.setdefault("type", "object")
    validator = Draft202012Validator(exported)
    required = set(schema.get("required", ()))
    fields: dict[str, Any] = {}
    for key, prop in (schema.get("properties") or {}).items():
        prop = prop if isinstance(prop, Mapping) else {}
        default = ... if key in required else prop.get("default")
        fields[key] = (_annotation(prop), Field(default, description=prop.get("description")))
    extra: Literal["forbid", "allow"] = "forbid" if schema.get("additionalProperties") is False else "allow"

    class RemoteParameters(BaseModel):
        @model_validator(mode="before")
        @classmethod
        def _whole_schema(cls, data: Any) -> Any:
            if isinstance(data, Mapping):
                problems = _problems(validator, dict(data))
                if problems:
                    raise ValueError("; ".join(problems))
            return data

        @classmethod
        def __get_pydantic_json_schema__(cls, core: cs.CoreSchema, handler: Any) -> JsonSchemaValue:
            copied: dict[str, Any] = json.loads(json.dumps(exported))
            return copied

    model: type[BaseModel] = create_model(f"{name}_parameters", __base__=RemoteParameters, **fields)
    model.model_config = ConfigDict(extra=extra)
    model.model_rebuild(force=True)
    return model


def remote_failure(name: str, result: Any) -> BaseException:
    """The local exception for a remote ``isError`` result: our categories when the server says them."""
    texts = [block.text for block in (result.content or []) if getattr(block, "type", None) == "text"]
    message = "; ".join(texts) or f"MCP tool {name!r} failed"
    meta = (getattr(result, "meta", None) or {}).get("armorer") or {}
    action = meta.get("action")
    if meta.get("code") in ("APPROVAL_REQUIRED", "INPUT_REQUIRED") and isinstance(action, Mapping):
        kind: Literal["approval", "input"] = "input" if action.get("type") == "input" else "approval"
        pause = ActionRequired(str(action.get("message") or message), kind=kind, schema=action.get("schema"))
        pause.remote_token = action.get("resume_token")  # type: ignore[attr-defined]  # an attribute the client sets on the pause it raises
        return pause
    failure = _FAILURES.get(str(meta.get("category")), ToolFailure)
    code = str(meta["code"]) if meta.get("code") else "MCP_TOOL_ERROR"
    retryable = meta.get("retryable") if isinstance(meta.get("retryable"), bool) else None
    return failure(message, code=code, retryable=retryable)


def _parse_result(name: str, result: Any) -> Any:
    if result.is_error:
        raise remote_failure(name, result)
    if result.structured_content is not None:
        return result.structured_content
    if not result.content:
        return None
    texts = [block.text for block in result.content if getattr(block, "type", None) == "text"]
    if len(texts) != len(result.content):
        return [block.model_dump() for block in result.content]
    parsed = []
    for text in texts:
        try:
            parsed.append(json.loads(text))
        except ValueError:
            parsed.append(text)
    return parsed[0] if len(parsed) == 1 else parsed


def _rpc_failure(name: str, exc: Exception) -> BaseException:
    code = getattr(getattr(exc, "error", None), "code", None)
    text = str(exc).lower()
    # MCP answers a call to an unknown tool with -32602 (invalid params): its message says which it is.
    if code in _RPC_NOT_FOUND or (code in _RPC_INVALID and ("unknown tool" in text or "not found" in text)):
        return NotFound(f"MCP server has no tool {name!r}: {exc}", code="MCP_TOOL_NOT_FOUND")
    if code in _RPC_INVALID:
        return InvalidArguments(f"MCP server refused the call to {name!r}: {exc}", code="MCP_INVALID_PARAMS")
    if isinstance(exc, OSError | ConnectionError | TimeoutError):
        return Transient(f"MCP server unreachable calling {name!r}: {exc}", code="MCP_UNAVAILABLE")
    return ToolFailure(f"MCP call to {name!r} failed: {exc}", code="MCP_ERROR")


def from_mcp_tools(client: Any, tools: Sequence[Any], *, namespace: str = "mcp") -> list[Tool]:
    """`Tool` objects that call an MCP server's tools through a connected client.

    Each tool keeps the remote input schema whole (validated locally with ``jsonschema``, exported unchanged).
    Remote errors keep their meaning: an armorer server's ``_meta.armorer`` category and code become the same
    local `ToolFailure`; JSON-RPC "unknown method" becomes ``not_found``, invalid params ``validation``, a lost
    connection ``transient``; other ``isError`` results are ``MCP_TOOL_ERROR``. A remote pause (an
    ``APPROVAL_REQUIRED`` answer) pauses the local call (``action_required``); `Toolbox.resume` then resumes
    the remote call with its token.

    Args:
        client: A connected MCP client with ``call_tool(name, arguments, meta=...)`` (``mcp.Client``).
        tools: The server's ``types.Tool`` list (``(await client.list_tools()).tools``).
        namespace: Namespace for the imported tools.

    Returns:
        Tools whose schema, description and risk flags come from the MCP definitions.
    """
    out = []
    for remote in tools:
        annotations = getattr(remote, "annotations", None)
        read_only = bool(annotations and annotations.read_only_hint)
        out.append(Tool(
            _remote_body(client, remote.name), name=remote.name, namespace=namespace,
            description=remote.description or getattr(remote, "title", None) or remote.name,
            parameters=model_from_json_schema(remote.name, remote.input_schema or {}),
            # MCP's readOnlyHint defaults to false, meaning "may change its environment": treat as mutating.
            read_only=read_only, mutates=not read_only, extra_arguments="allow",
        ))
    return out


def _remote_body(client: Any, tool_name: str) -> Any:
    remote_tokens: dict[str, str] = {}  # local call id -> the remote's resume token, while the call is paused

    async def body(ctx: CallContext, **arguments: Any) -> Any:
        meta: dict[str, Any] | None = None
        token = remote_tokens.pop(ctx.call.id, None)
        if token is not None and ctx.approval is not None and ctx.approval.granted:
            meta = {RESUME_META_KEY: token}
            if ctx.approval.input is not None:
                meta[RESUME_INPUT_META_KEY] = ctx.approval.input
        try:
            result = await client.call_tool(tool_name, arguments, meta=meta) if meta else \
                await client.call_tool(tool_name, arguments)
        except Exception as exc:  # JSON-RPC errors and transport failures, mapped to our categories
            raise _rpc_failure(tool_name, exc) from exc
        try:
            return _parse_result(tool_name, result)
        except ActionRequired as pause:
            remote = getattr(pause, "remote_token", None)
            if isinstance(remote, str):
                remote_tokens[ctx.call.id] = remote
            raise

    return body
