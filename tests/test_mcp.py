"""MCP: a toolbox served over the official SDK (in-process client), and remote tools imported back."""

from __future__ import annotations

import pytest

pytest.importorskip("mcp", reason="the MCP extra is not installed: pip install 'armorer-ray[mcp]'")

from mcp import Client

from armorer_ray import Decision, Toolbox, tool
from armorer_ray.adapters.mcp import create_mcp_server, from_mcp_tools


@tool(read_only=True)
def lookup(user_id: int) -> dict[str, object]:
    """Look up a user."""
    return {"id": user_id, "name": "Ada"}


@tool(mutates=True)
def wire(amount: int) -> str:
    """Wire money."""
    return f"sent {amount}"


def make_box() -> Toolbox:
    return Toolbox([lookup, wire], policy=lambda ctx: Decision.needs_approval("ask a human")
                   if ctx.tool.name == "wire" else None, name="bank")


async def test_server_lists_tools_with_risk_annotations_and_answers_calls() -> None:
    box = make_box()
    async with Client(create_mcp_server(box)) as client:
        listed = (await client.list_tools()).tools
        by_name = {t.name: t for t in listed}
        assert by_name["lookup"].annotations.read_only_hint is True
        assert by_name["wire"].annotations.destructive_hint is True
        assert by_name["lookup"].input_schema["required"] == ["user_id"]
        ok = await client.call_tool("lookup", {"user_id": 7})
        assert not ok.is_error and ok.structured_content == {"id": 7, "name": "Ada"}
        bad = await client.call_tool("lookup", {"user_id": "seven"})
        assert bad.is_error and "user_id" in bad.content[0].text
        paused = await client.call_tool("wire", {"amount": 5})
        assert paused.content[0].text == "ask a human"
        assert paused.meta["armorer"]["action"]["resume_token"]  # type: ignore[index]
        box.register(tool(name="late", description="Registered after start.")(lambda: "hi"))
        assert "late" in {t.name for t in (await client.list_tools()).tools}


async def test_remote_tools_become_local_tools_through_the_pipeline() -> None:
    async with Client(create_mcp_server(make_box())) as client:
        remote = from_mcp_tools(client, (await client.list_tools()).tools)
        local = Toolbox(remote, read_only=True)
        assert {t.id for t in local} == {"mcp:lookup", "mcp:wire"}
        found = await local.execute({"name": "lookup", "arguments": {"user_id": 3}})
        assert found.result == {"id": 3, "name": "Ada"}
        refused = await local.execute({"name": "wire", "arguments": {"amount": 1}})
        assert refused.error is not None and refused.error.code == "POLICY_DENIED"
        invalid = await local.execute({"name": "lookup", "arguments": {}})
        assert invalid.error is not None and invalid.error.category == "validation"
