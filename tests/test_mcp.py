"""MCP on the official SDK: a toolbox served in-process and as a real subprocess (stdio and streamable HTTP),
and remote tools imported back with their schemas, errors and pauses."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

pytest.importorskip("mcp", reason="the MCP extra is not installed: pip install 'armorer-ray[mcp]'")

import mcp.types as types
from mcp import Client, StdioServerParameters

from armorer_ray import CallContext, Decision, Toolbox, tool
from armorer_ray.adapters.mcp import RESUME_META_KEY, create_mcp_server, from_mcp_tools
from armorer_ray.tenancy import TenantView

ROOT = Path(__file__).resolve().parents[1]


@tool(read_only=True, namespace="crm")
def lookup(user_id: int) -> dict[str, object]:
    """Look up a user."""
    return {"id": user_id, "name": "Ada"}


@tool(read_only=True, namespace="erp")
def lookup_item(code: str) -> str:
    """Look up an item."""
    return f"item {code}"


@tool(mutates=True)
def wire(amount: int) -> str:
    """Wire money."""
    return f"sent {amount}"


def make_box() -> Toolbox:
    return Toolbox([lookup, lookup_item.replace(name="lookup"), wire],
                   policy=lambda ctx: Decision.needs_approval("ask a human") if ctx.tool.name == "wire" else None,
                   name="bank")


async def accept(ctx: Any, params: Any) -> types.ElicitResult:
    return types.ElicitResult(action="accept", content={"approve": True})


async def decline(ctx: Any, params: Any) -> types.ElicitResult:
    return types.ElicitResult(action="decline")


async def test_server_lists_unique_names_with_risk_annotations_and_answers_calls() -> None:
    box = make_box()
    async with Client(create_mcp_server(box)) as client:
        listed = (await client.list_tools()).tools
        names = [t.name for t in listed]
        assert sorted(names) == ["crm_lookup", "erp_lookup", "wire"]  # never 'lookup' twice
        by_name = {t.name: t for t in listed}
        assert by_name["crm_lookup"].annotations.read_only_hint is True
        assert by_name["wire"].annotations.destructive_hint is True
        assert by_name["crm_lookup"].input_schema["required"] == ["user_id"]
        ok = await client.call_tool("crm_lookup", {"user_id": 7})
        assert not ok.is_error and ok.structured_content == {"id": 7, "name": "Ada"}
        assert (await client.call_tool("erp_lookup", {"code": "A"})).content[0].text == "item A"
        bad = await client.call_tool("crm_lookup", {"user_id": "seven"})
        assert bad.is_error and "user_id" in bad.content[0].text
        assert bad.meta["armorer"]["category"] == "validation"  # type: ignore[index]
        ambiguous = await client.call_tool("lookup", {"user_id": 1})
        assert ambiguous.is_error and "ambiguous" in ambiguous.content[0].text


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_approval_by_elicitation_resumes_or_rejects_the_call(mode: str) -> None:
    box = make_box()
    async with Client(create_mcp_server(box), elicitation_callback=accept, mode=mode) as client:  # type: ignore[arg-type]
        approved = await client.call_tool("wire", {"amount": 5})
        assert not approved.is_error and approved.content[0].text == "sent 5"
    async with Client(create_mcp_server(box), elicitation_callback=decline, mode=mode) as client:  # type: ignore[arg-type]
        refused = await client.call_tool("wire", {"amount": 5})
        assert refused.is_error and refused.meta["armorer"]["code"] == "APPROVAL_REJECTED"  # type: ignore[index]


async def test_without_elicitation_a_pause_is_a_structured_error_and_meta_resumes_it() -> None:
    async with Client(create_mcp_server(make_box())) as client:
        paused = await client.call_tool("wire", {"amount": 9})
        assert paused.is_error, "a paused call must never look like a success"
        armorer = paused.meta["armorer"]  # type: ignore[index]
        assert armorer["code"] == "APPROVAL_REQUIRED" and "ask a human" in paused.content[0].text
        token = armorer["action"]["resume_token"]
        assert token not in paused.content[0].text  # the token is for the client application, not the model
        resumed = await client.call_tool("wire", {"amount": 9}, meta={RESUME_META_KEY: token})
        assert not resumed.is_error and resumed.content[0].text == "sent 9"
        again = await client.call_tool("wire", {"amount": 9}, meta={RESUME_META_KEY: token})
        assert again.is_error and again.meta["armorer"]["category"] == "conflict"  # type: ignore[index]


@tool
async def crunch(ctx: CallContext) -> str:
    """Crunch (async body, on the event loop)."""
    ctx.progress(25, "a quarter")
    ctx.progress(100, "done")
    return "ok"


@tool(name="crunch")
def crunch_in_a_thread(ctx: CallContext) -> str:
    """Crunch (sync body, in a worker thread)."""
    ctx.progress(25, "a quarter")
    ctx.progress(100, "done")
    return "ok"


@pytest.mark.parametrize("crunch", [crunch, crunch_in_a_thread])
async def test_progress_events_become_progress_notifications(crunch: Any) -> None:
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    async with Client(create_mcp_server(Toolbox([crunch]))) as client:
        result = await client.call_tool("crunch", {}, progress_callback=on_progress)
    assert result.content[0].text == "ok"
    assert seen == [(25.0, 100.0, "a quarter"), (100.0, 100.0, "done")]


async def test_registrations_send_list_changed_to_handshake_sessions() -> None:
    box = make_box()
    changed = anyio.Event()

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            changed.set()

    async with Client(create_mcp_server(box), message_handler=on_message, mode="legacy") as client:
        assert client.server_capabilities.tools.list_changed is True  # type: ignore[union-attr]
        await client.list_tools()
        box.register(tool(name="late", description="Registered after start.")(lambda: "hi"))
        with anyio.fail_after(30):
            await changed.wait()
        assert "late" in {t.name for t in (await client.list_tools()).tools}


async def test_registrations_reach_2026_listen_subscriptions() -> None:
    box = make_box()
    async with Client(create_mcp_server(box)) as client:
        async with client.listen(tools_list_changed=True) as subscription:
            box.register(tool(name="later", description="Registered later.")(lambda: "hi"))
            with anyio.fail_after(30):
                async for _event in subscription:
                    break
        assert "later" in {t.name for t in (await client.list_tools()).tools}


async def test_client_cancellation_stops_the_tool_body() -> None:
    started, stopped = asyncio.Event(), asyncio.Event()  # the in-process server runs on this loop

    @tool
    async def slow() -> str:
        """Wait a long time."""
        started.set()
        try:
            await asyncio.sleep(3600)
        finally:
            stopped.set()
        return "never"

    async with Client(create_mcp_server(Toolbox([slow]))) as client:
        async with anyio.create_task_group() as group:
            group.start_soon(client.call_tool, "slow", {})
            with anyio.fail_after(30):
                await started.wait()
            group.cancel_scope.cancel()
        with anyio.fail_after(30):
            await stopped.wait()


async def test_a_view_is_served_without_a_name() -> None:
    view = TenantView(make_box(), "acme")
    async with Client(create_mcp_server(view)) as client:
        assert "crm_lookup" in {t.name for t in (await client.list_tools()).tools}


# -- against a real server process ------------------------------------------------------------------------------


def _server_command(*extra: str) -> tuple[str, list[str], dict[str, str]]:
    script = Path(sys.executable).with_name("armorer")
    command, args = (str(script), []) if script.exists() else (sys.executable, ["-m", "armorer_ray.cli"])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return command, [*args, "mcp", "tests.mcp_target:build", *extra], env


async def test_remote_tools_over_stdio_keep_schemas_errors_and_pauses() -> None:
    command, args, env = _server_command()
    params = StdioServerParameters(command=command, args=args, env=env, cwd=str(ROOT))
    async with Client(params) as client:
        local = Toolbox(from_mcp_tools(client, (await client.list_tools()).tools))
        assert local.get_tool("search").json_schema["properties"]["limit"]["maximum"] == 50
        found = await local.execute({"name": "search", "arguments": {"query": "x", "limit": 7}})
        assert found.result == {"query": "x", "limit": 7}
        too_many = await local.execute({"name": "search", "arguments": {"query": "x", "limit": 80}})
        assert too_many.error is not None and too_many.error.category == "validation"
        assert "maximum of 50" in too_many.error.message
        missing = await local.execute({"name": "fetch", "arguments": {"record_id": 2}})
        assert missing.error is not None and missing.error.category == "not_found"
        flaky = await local.execute({"name": "flaky"})
        assert flaky.error is not None and flaky.error.category == "transient" and flaky.error.retryable
        assert flaky.error.code == "UPSTREAM_503"
        paused = await local.execute({"name": "wire", "arguments": {"amount": 3}})
        assert paused.outcome == "action_required" and paused.action is not None
        assert "a person must approve" in paused.action.message
        resumed = await local.resume(paused.action.resume_token)  # type: ignore[arg-type]
        assert resumed.outcome == "success" and resumed.result == "sent 3"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_armorer_mcp_serves_streamable_http() -> None:
    import subprocess
    import time

    port = _free_port()
    command, args, env = _server_command("--http", str(port))
    process = subprocess.Popen([command, *args], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)

    async def check() -> tuple[set[str], Any]:
        async with Client(f"http://127.0.0.1:{port}/mcp") as client:
            names = {t.name for t in (await client.list_tools()).tools}
            return names, (await client.call_tool("search", {"query": "q"})).structured_content

    try:
        deadline = time.monotonic() + 120  # bounded wait for the server process to listen
        while True:
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                assert time.monotonic() < deadline, "armorer mcp --http never listened"
                time.sleep(0.2)
        names, structured = anyio.run(check)
        assert names == {"search", "fetch", "flaky", "wire"}
        assert structured == {"query": "q", "limit": 5}
    finally:
        process.terminate()
        process.wait(timeout=30)


async def test_json_rpc_errors_of_any_server_map_to_our_categories() -> None:
    from mcp.server import Server
    from mcp.shared.exceptions import MCPError

    remote_tools = [types.Tool(name=name, input_schema={"type": "object"}) for name in ("gone", "odd", "plain")]

    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=remote_tools)

    async def call_tool(ctx: Any, params: Any) -> types.CallToolResult:
        if params.name == "gone":
            raise MCPError(-32602, "Unknown tool: gone")
        if params.name == "odd":
            raise MCPError(-32602, "argument 'x' is odd")
        return types.CallToolResult(content=[types.TextContent(type="text", text="it broke")], is_error=True)

    async with Client(Server("plain", on_list_tools=list_tools, on_call_tool=call_tool)) as client:
        local = Toolbox(from_mcp_tools(client, (await client.list_tools()).tools))
        gone, odd, plain = [await local.execute({"name": name}) for name in ("gone", "odd", "plain")]
    assert gone.error is not None and gone.error.category == "not_found"
    assert odd.error is not None and odd.error.category == "validation"
    assert plain.error is not None and plain.error.code == "MCP_TOOL_ERROR" and "it broke" in plain.error.message


async def test_only_object_output_schemas_are_advertised() -> None:
    @tool
    def names() -> list[str]:
        """Some names."""
        return ["a", "b"]

    async with Client(create_mcp_server(Toolbox([names, lookup]))) as client:
        listed = {t.name: t for t in (await client.list_tools()).tools}
        assert listed["names"].output_schema is None
        result = await client.call_tool("names", {})
        assert not result.is_error and result.structured_content is None and '"a"' in result.content[0].text
