"""MCP streamable HTTP at ``/mcp``: the project's MCP server (`armorer_ray.adapters.mcp`) behind the SDK's
session manager, in stateless mode.

Stateless because Serve routes each HTTP request to any replica: a session opened on one replica would be
unknown to the next. Each request gets a fresh transport, and the server sees the toolbox through the
`CallerToolbox`, so MCP calls run as the authenticated caller exactly as ``POST /call`` does.
"""

from __future__ import annotations

from typing import Any, cast

from armorer_ray.adapters.mcp import create_mcp_server
from armorer_ray.errors import MissingExtraError
from armorer_ray.serve.caller import CallerToolbox
from armorer_ray.toolbox import Toolbox

__all__ = ["list_mcp_tools", "mcp_session_manager"]


def mcp_session_manager(served: CallerToolbox, max_body_bytes: int) -> tuple[Any, Any]:
    """The SDK's ``StreamableHTTPSessionManager`` over our MCP server, and the ASGI endpoint to route to it.

    Raises:
        MissingExtraError: without the ``mcp`` extra.
    """
    server = create_mcp_server(cast(Toolbox, served), name=served.inner.name)
    try:
        from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
    except ImportError as exc:  # pragma: no cover - create_mcp_server already checked the extra
        raise MissingExtraError("the MCP endpoint", "mcp") from exc
    manager = StreamableHTTPSessionManager(app=server, stateless=True, max_request_body_size=max_body_bytes)
    return manager, StreamableHTTPASGIApp(manager)


async def list_mcp_tools(server: Any) -> list[dict[str, Any]]:
    """What ``tools/list`` answers the current caller, as JSON: asked of ``server`` in-process, so ``GET /tools``
    in MCP shape can never disagree with the ``/mcp`` endpoint."""
    from mcp import Client

    async with Client(server) as client:
        listed = await client.list_tools()
    return [tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in listed.tools]
