"""Model Context Protocol: serve a toolbox as an MCP server, and use an MCP server's tools as `Tool` objects.

Both directions go through the pipeline: the server answers ``tools/call`` with the toolbox's ``execute``, and
imported tools call the remote server from inside their body, so local policy, validation and middleware still
apply. Needs the ``mcp`` extra (the official SDK, 2.x): ``pip install 'armorer-ray[mcp]'``.

The server (`create_mcp_server`) lists unique provider-safe names, asks for approvals by elicitation (or
answers with a structured ``APPROVAL_REQUIRED`` error carrying the resume token), forwards progress, sends
``listChanged`` notifications and stops a body its client cancels. `serve_stdio` and `serve_http` run it;
``armorer mcp TARGET [--http PORT]`` does so from the shell. `from_mcp_tools` imports a server's tools with
their full schemas and faithful errors and pauses.
"""

from __future__ import annotations

from armorer_ray.adapters._mcp_client import (
    RESUME_INPUT_META_KEY,
    RESUME_META_KEY,
    from_mcp_tools,
    model_from_json_schema,
)
from armorer_ray.adapters._mcp_results import to_mcp_result
from armorer_ray.adapters._mcp_server import create_mcp_server, serve_http, serve_stdio

__all__ = ["RESUME_INPUT_META_KEY", "RESUME_META_KEY", "create_mcp_server", "from_mcp_tools",
           "model_from_json_schema", "serve_http", "serve_stdio", "to_mcp_result"]
