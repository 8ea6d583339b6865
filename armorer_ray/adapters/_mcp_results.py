"""MCP results: a `ToolResult` as the SDK's ``CallToolResult``, errors and pauses kept apart from successes."""

from __future__ import annotations

import json
from typing import Any

from armorer_ray.adapters._mcp_client import RESUME_META_KEY
from armorer_ray.errors import MissingExtraError
from armorer_ray.results import ToolResult


def mcp_types() -> Any:
    try:
        import mcp.types as types
    except ImportError as exc:
        raise MissingExtraError("the MCP integration", "mcp") from exc
    return types


def _text(content: object) -> str:
    return content if isinstance(content, str) else json.dumps(content, indent=2, ensure_ascii=False, default=str)


def to_mcp_result(result: ToolResult) -> Any:
    """The MCP ``CallToolResult`` for a `ToolResult`.

    Errors are ``isError`` with the message as text and ``_meta.armorer`` holding ``code`` and ``category``
    (so an armorer client maps them back faithfully). A paused call that could not be asked about by
    elicitation is an error too (``code: APPROVAL_REQUIRED`` or ``INPUT_REQUIRED``), never a success: its
    text says what a person must do, and ``_meta.armorer.action`` carries the resume token for the client
    application (not the model). Objects are also given as ``structuredContent``.
    """
    types = mcp_types()
    if result.outcome == "error":
        error = result.error
        message = error.message if error else str(result.content)
        meta = {"armorer": {"code": error.code, "category": error.category, "retryable": error.retryable}} \
            if error else None
        return types.CallToolResult(content=[types.TextContent(type="text", text=message)], is_error=True,
                                    _meta=meta)
    if result.outcome == "action_required":
        action = result.action.model_dump(by_alias=True) if result.action else None
        kind = result.action.type if result.action else "approval"
        code = "APPROVAL_REQUIRED" if kind == "approval" else "INPUT_REQUIRED"
        text = (f"{result.content} This call is paused: it needs {'approval' if kind == 'approval' else 'input'} "
                "from a person, and this MCP client cannot answer elicitation requests. The client application "
                f"finds the resume token in this result's _meta.armorer.action.resume_token; once a person has "
                f"decided, it calls the tool again with _meta {{\"{RESUME_META_KEY}\": <token>}}.")
        return types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=True,
                                    _meta={"armorer": {"code": code, "category": "permission", "action": action}})
    content = result.content
    if content is None:
        return types.CallToolResult(content=[])
    structured = content if isinstance(content, dict) else None
    return types.CallToolResult(content=[types.TextContent(type="text", text=_text(content))],
                                structured_content=structured)
