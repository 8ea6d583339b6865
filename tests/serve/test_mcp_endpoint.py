"""MCP streamable HTTP at /mcp, driven by the official MCP client over a real socket."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.serve.conftest import ADA, BOB, TOKENS, Served, bearer

mcp = pytest.importorskip("mcp")
httpx2 = pytest.importorskip("httpx2")


def client(url: str, headers: dict[str, str]) -> Any:
    from mcp.client.streamable_http import streamable_http_client

    transport = streamable_http_client(f"{url}/mcp", http_client=httpx2.AsyncClient(headers=headers, timeout=60))
    return mcp.Client(transport)


async def test_mcp_lists_the_tenants_tools_and_calls_them_as_the_tenant(served: Served) -> None:
    headers = {**bearer(ADA), "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    async with client(served.url, headers) as session:
        listed = await session.list_tools()
        assert sorted(t.name for t in listed.tools) == ["add", "whoami", "wire"]
        added = await session.call_tool("add", {"a": 2, "b": 3})
        assert not added.is_error and added.content[0].text == "5"
        who = await session.call_tool("whoami", {})
    assert json.loads(who.content[0].text) == {
        "tenant": "acme", "user": "ada", "session": None, "priority": 0,
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}


async def test_mcp_hides_and_refuses_tools_outside_the_tenants_grant(served: Served) -> None:
    async with client(served.url, bearer(BOB)) as session:
        listed = await session.list_tools()
        assert sorted(t.name for t in listed.tools) == ["add", "whoami"]
        refused = await session.call_tool("wire", {"amount": 5})
    assert refused.is_error


async def test_mcp_without_credentials_is_refused(served: Served) -> None:
    import httpx

    with pytest.raises(BaseException):  # the SDK reports the refused request as an error (inside task groups)
        async with client(served.url, {}) as session:
            await session.list_tools()
    ping = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    async with httpx.AsyncClient() as plain:
        raw = await plain.post(f"{served.url}/mcp", json=ping,
                               headers={"accept": "application/json, text/event-stream"})
    assert raw.status_code == 401 and raw.json()["error"]["code"] == "UNAUTHENTICATED"


async def test_get_tools_in_mcp_shape_matches_the_mcp_endpoint(served: Served) -> None:
    import httpx

    for token in TOKENS:
        async with client(served.url, bearer(token)) as session:
            listed = await session.list_tools()
        async with httpx.AsyncClient() as plain:
            over_http = (await plain.get(f"{served.url}/tools", params={"format": "mcp"},
                                         headers=bearer(token))).json()
        assert over_http == [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in listed.tools]
