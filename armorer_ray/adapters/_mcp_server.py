"""A toolbox (or a view of one) served as an MCP server on the official SDK's low-level ``Server``.

Everything ends in the source's ``execute``: names come from `ToolNames` (unique and provider-safe), paused
calls are answered by MCP elicitation when the client supports it, progress events become progress
notifications, registrations become ``listChanged`` notifications, and a client's cancellation cancels the
call, which stops its body.
"""

from __future__ import annotations

import asyncio
import json
import threading
import weakref
from collections.abc import Mapping
from typing import Any

from armorer_ray.adapters._inputs import model_facing_description
from armorer_ray.adapters._mcp_client import RESUME_INPUT_META_KEY, RESUME_META_KEY
from armorer_ray.adapters._mcp_results import mcp_types, to_mcp_result
from armorer_ray.adapters.naming import ToolNames
from armorer_ray.errors import ArmorerError, MissingExtraError
from armorer_ray.events import Event
from armorer_ray.results import ToolCall, ToolResult
from armorer_ray.tools import Tool

_ELICIT_KEY = "armorer_approval"
_PRIMITIVES = {"string", "number", "integer", "boolean"}


def _schema(tool: Tool) -> dict[str, Any]:
    return {key: value for key, value in tool.json_schema.items() if key != "$schema"}


def _output_schema(tool: Tool) -> dict[str, Any] | None:
    # MCP output schemas describe structuredContent, which is always an object: other shapes are left out.
    schema = tool.output_json_schema
    if schema is None or schema.get("type") != "object":
        return None
    return {key: value for key, value in schema.items() if key != "$schema"}


def _elicitation_schema(result: ToolResult) -> dict[str, Any]:
    """A flat form schema (what MCP elicitation allows) for a paused call's question."""
    action = result.action
    asked = action.schema_ if action is not None else None
    if action is not None and action.type == "input" and isinstance(asked, Mapping):
        properties = asked.get("properties")
        if isinstance(properties, Mapping) and all(
                isinstance(p, Mapping) and p.get("type") in _PRIMITIVES for p in properties.values()):
            required = asked.get("required")
            return {"type": "object", "properties": dict(properties),
                    "required": list(required) if isinstance(required, list) else []}
    if action is not None and action.type == "input":
        return {"type": "object", "properties": {"value": {"type": "string", "description": "Your answer (JSON)."}},
                "required": ["value"]}
    return {"type": "object", "required": ["approve"], "properties": {
        "approve": {"type": "boolean", "title": "Approve", "description": str(result.content)}}}


class _Serving:
    """The state one MCP server keeps over its source: sessions to notify, the subscription bus."""

    def __init__(self, source: Any, naming: str) -> None:
        self.source = source
        self.box = getattr(source, "inner", source)  # a view's toolbox holds the events and the approvals
        self.naming = naming
        # One session per connection (sessions are made per request; any of them reaches the connection's
        # standalone channel). Kept until a notification to it fails, i.e. until the connection is gone.
        self.sessions: dict[int, Any] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self._names: tuple[tuple[tuple[str, str], ...], ToolNames] | None = None
        from mcp.server.subscriptions import InMemorySubscriptionBus

        self.bus = InMemorySubscriptionBus()
        # The toolbox may outlive this server: its listener holds the server's state weakly and then leaves.
        ref = weakref.ref(self)

        def changed(event: Event) -> None:
            serving = ref()
            if serving is None:
                stop()
            else:
                serving._changed(event)

        stop = self.box.events.on("tools.changed", changed)

    def names(self) -> tuple[list[Tool], ToolNames]:
        """The tools served now, and their names (recomputed only when the set of tools changes).

        Measured: naming 1000 tools takes ~15 ms, listing them ~1 ms; every call needs the names.
        """
        tools = list(self.source.tools())
        key = tuple((t.id, t.name) for t in tools)
        if self._names is None or self._names[0] != key:
            self._names = (key, ToolNames.from_ids(key, naming=self.naming))
        return tools, self._names[1]

    def remember(self, ctx: Any) -> None:
        self.loop = asyncio.get_running_loop()
        if ctx.session.can_send_request:  # handshake-era sessions get notifications pushed to them
            connection = getattr(ctx.session, "_connection", ctx.session)
            self.sessions[id(connection)] = ctx.session

    def _changed(self, event: Event) -> None:
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(lambda: loop.create_task(self._announce()))

    async def _announce(self) -> None:
        from mcp.server.subscriptions import ToolsListChanged

        await self.bus.publish(ToolsListChanged())
        for key, session in list(self.sessions.items()):
            try:
                await session.send_tool_list_changed()
            except Exception:  # a closed connection: forget it, the others still get the news
                self.sessions.pop(key, None)

    async def run_call(self, ctx: Any, call: ToolCall) -> ToolResult:
        """The call through the source's ``execute``, its progress events forwarded as MCP progress."""
        loop = asyncio.get_running_loop()
        loop_thread = threading.get_ident()
        queue: asyncio.Queue[Mapping[str, Any] | None] = asyncio.Queue()

        def on_progress(event: Event) -> None:
            owner = event.detail.get("call")
            if owner is None or owner.id != call.id:
                return
            if threading.get_ident() == loop_thread:
                queue.put_nowait(event.detail)
            else:  # emitted from a worker thread (sync bodies)
                loop.call_soon_threadsafe(queue.put_nowait, event.detail)

        async def forward() -> None:
            while (detail := await queue.get()) is not None:
                percent = detail.get("percent")
                await ctx.session.report_progress(float(percent) if percent is not None else 0.0,
                                                  100.0 if percent is not None else None, detail.get("message"))

        stop = self.box.events.on("progress", on_progress)
        forwarder = asyncio.create_task(forward())
        try:
            result: ToolResult = await self.source.execute(call)
        except BaseException:
            forwarder.cancel()
            raise
        finally:
            stop()
        await asyncio.sleep(0)  # let progress a worker thread handed over just before the end land in the queue
        queue.put_nowait(None)  # progress made before the result is sent before it
        await forwarder
        return result

    async def answer(self, ctx: Any, result: ToolResult) -> Any:
        """A paused call: asked by elicitation where the client can answer, else a structured error."""
        types = mcp_types()
        capabilities = ctx.session.client_capabilities
        if result.action is None or result.action.resume_token is None or capabilities is None \
                or capabilities.elicitation is None:
            return to_mcp_result(result)
        schema = _elicitation_schema(result)
        if ctx.session.can_send_request:  # handshake era: ask now, on this request's channel
            reply = await ctx.session.elicit_form(str(result.content), schema, related_request_id=ctx.request_id)
            return await self.decide(result.action.resume_token, result.action.type, reply)
        # 2026-07-28 era: no server-to-client requests; the client retries with the answer and this state.
        request = types.ElicitRequest(params=types.ElicitRequestFormParams(message=str(result.content),
                                                                           requested_schema=schema))
        return types.InputRequiredResult(input_requests={_ELICIT_KEY: request},
                                         request_state=f"{result.action.type}:{result.action.resume_token}")

    async def decide(self, token: str, kind: str, reply: Any) -> Any:
        """Resume the paused call as the client's elicitation answer says."""
        action = getattr(reply, "action", None) if not isinstance(reply, Mapping) else reply.get("action")
        content = (getattr(reply, "content", None) if not isinstance(reply, Mapping) else reply.get("content")) or {}
        if action != "accept" or (kind == "approval" and content.get("approve") is not True):
            return await self.resume(token, approved=False, reason=f"not approved (the MCP client answered {action!r})")
        given: Any = content
        if kind == "input" and set(content) == {"value"}:
            try:
                given = json.loads(content["value"])
            except (TypeError, ValueError):
                given = content["value"]
        return await self.resume(token, approved=True, given=given if kind == "input" else None)

    async def resume(self, token: str, *, approved: bool, given: Any = None, reason: str | None = None) -> Any:
        """`Toolbox.resume` of a paused call, as an MCP result (an unknown or used token is a ``conflict``)."""
        try:
            result = await self.box.resume(token, approved=approved, input=given, by="mcp-client", reason=reason)
        except ArmorerError as exc:
            return to_mcp_result(ToolResult.failure("", "", _error_of(exc)))
        return to_mcp_result(result)


def _error_of(exc: ArmorerError) -> Any:
    from armorer_ray.errors import classify_exception

    return classify_exception(exc)


def create_mcp_server(source: Any, *, name: str | None = None, version: str = "0.1.0",
                      naming: str = "auto") -> Any:
    """An MCP low-level ``Server`` exposing every tool of ``source`` (a `Toolbox` or a view such as `TenantView`).

    * Names are unique and provider-safe (`ToolNames`): two tools sharing a name are listed under their safe
      ids, and a call names one of them exactly.
    * The tool list is read on every ``tools/list``; registrations send ``notifications/tools/list_changed``
      (``listChanged`` is advertised), to handshake-era sessions and to 2026-07-28 ``subscriptions/listen``.
    * A paused call is asked about by elicitation when the client declares it (inline, or as an
      ``InputRequiredResult`` on 2026-07-28 connections), then resumed or rejected; otherwise the answer is an
      error with ``_meta.armorer.code`` ``APPROVAL_REQUIRED`` and the resume token, and a later call carrying
      ``_meta {"armorer/resume_token": token}`` resumes it.
    * ``ctx.progress(...)`` in a tool becomes progress notifications; a client's cancellation cancels the call,
      which stops the body.

    Args:
        source: The tools to serve.
        name: Server name (default: the toolbox's name).
        version: Server version.
        naming: ``auto`` or ``safe-id`` (see `ToolNames`).

    Returns:
        An ``mcp.server.Server``; run it over stdio or streamable HTTP (`serve_stdio`, `serve_http`).

    Raises:
        MissingExtraError: without the ``mcp`` extra.
    """
    types = mcp_types()
    from mcp.server import Server
    from mcp.server.lowlevel.server import NotificationOptions
    from mcp.server.subscriptions import ListenHandler

    serving = _Serving(source, naming)

    async def list_tools(ctx: Any, params: Any) -> Any:
        serving.remember(ctx)
        tools, names = serving.names()
        return types.ListToolsResult(tools=[
            types.Tool(name=names.name(t.id), title=t.title, input_schema=_schema(t),
                       description=model_facing_description(t.description, t.to_json().get("lifecycle")),
                       output_schema=_output_schema(t), annotations=types.ToolAnnotations(
                           title=t.title, read_only_hint=t.risk.read_only,
                           destructive_hint=t.risk.dangerous or t.risk.mutates, idempotent_hint=t.idempotent))
            for t in tools])

    async def call_tool(ctx: Any, params: Any) -> Any:
        serving.remember(ctx)
        _, names = serving.names()
        if params.request_state and params.input_responses and _ELICIT_KEY in params.input_responses:
            kind, _, state_token = params.request_state.partition(":")
            return await serving.decide(state_token, kind, params.input_responses[_ELICIT_KEY])
        meta = params.meta or {}
        token = meta.get(RESUME_META_KEY)
        if isinstance(token, str):  # a client application resuming a call a person decided on out of band
            return await serving.resume(token, approved=True, given=meta.get(RESUME_INPUT_META_KEY))
        call = ToolCall(name=names.tool_id(params.name), arguments=params.arguments or {})
        result = await serving.run_call(ctx, call)
        if result.outcome == "action_required":
            return await serving.answer(ctx, result)
        return to_mcp_result(result)

    class ArmorerServer(Server):
        # listChanged is advertised: the tool list follows registrations live.
        def create_initialization_options(self, notification_options: Any = None, *args: Any,
                                          **kwargs: Any) -> Any:
            options = notification_options or NotificationOptions(tools_changed=True)
            return super().create_initialization_options(options, *args, **kwargs)

    server_name = name or getattr(source, "name", None) or getattr(getattr(source, "inner", None), "name", None)
    listen = ListenHandler(serving.bus)

    async def subscriptions_listen(ctx: Any, params: Any) -> Any:
        serving.loop = asyncio.get_running_loop()  # so registrations made from now on reach this stream
        return await listen(ctx, params)

    return ArmorerServer(server_name or "armorer", version=version, on_list_tools=list_tools,
                         on_call_tool=call_tool, on_subscriptions_listen=subscriptions_listen)



async def serve_stdio(server: Any) -> None:
    """Run ``server`` over stdio until the client closes it."""
    from mcp.server.stdio import stdio_server

    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


def serve_http(server: Any, *, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve ``server`` over streamable HTTP at ``http://HOST:PORT/mcp`` (blocks; needs ``uvicorn``)."""
    try:
        import uvicorn
    except ModuleNotFoundError as exc:
        raise MissingExtraError("MCP over HTTP", "web") from exc
    uvicorn.run(server.streamable_http_app(host=host), host=host, port=port, log_level="warning")
