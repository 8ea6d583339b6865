"""Every provider export and the MCP listing tell the model a tool is deprecated and name its replacement."""

from __future__ import annotations

import json
from typing import Any

import pytest

from armorer_ray import Lifecycle, Toolbox, tool
from armorer_ray.adapters.anthropic import to_anthropic
from armorer_ray.adapters.bedrock import to_bedrock
from armorer_ray.adapters.cohere import to_cohere
from armorer_ray.adapters.gemini import to_gemini
from armorer_ray.adapters.mistral import to_mistral
from armorer_ray.adapters.openai import to_openai

NOTICE = "(Deprecated: use default:search@2.0.0 instead.)"


def toolbox() -> Toolbox:
    old = tool(name="find", description="Find a customer.", version="1.0.0",
               lifecycle=Lifecycle(deprecated=True, replaced_by="default:search@2.0.0"))(lambda q: q)
    new = tool(name="search", description="Search customers.", version="2.0.0")(lambda q: q)
    return Toolbox([old, new])


EXPORTS: dict[str, Any] = {
    "openai-chat": lambda box: to_openai(box),
    "openai-responses": lambda box: to_openai(box, api="responses"),
    "anthropic": to_anthropic,
    "gemini": to_gemini,
    "bedrock": to_bedrock,
    "mistral": to_mistral,
    "cohere": to_cohere,
}


@pytest.mark.parametrize("provider", sorted(EXPORTS))
def test_every_export_marks_the_deprecated_tool_only(provider: str) -> None:
    exported = json.dumps(EXPORTS[provider](toolbox()), default=str)
    assert exported.count(NOTICE) == 1
    assert "Find a customer. " + NOTICE in exported and "Search customers." in exported


async def test_the_mcp_listing_marks_the_deprecated_tool() -> None:
    pytest.importorskip("mcp", reason="pip install 'armorer-ray[mcp]'")
    from mcp import Client

    from armorer_ray.adapters.mcp import create_mcp_server

    async with Client(create_mcp_server(toolbox())) as client:
        listed = {t.name: t.description for t in (await client.list_tools()).tools}
    assert listed == {"find": "Find a customer. " + NOTICE, "search": "Search customers."}
