"""The ingress as a plain ASGI app: ``/tools``, ``/call``, ``/batch``, ``/resume``, ``/healthz`` and MCP at ``/mcp``.

`create_http_app` is what each Ray Serve replica runs (`armorer_ray.serve.toolbox_app` wraps it); it is also a
Starlette app any ASGI server can run, which is how the tests drive it without Ray.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, JsonValue, ValidationError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from armorer_ray.errors import Conflict, ToolError
from armorer_ray.results import ToolResult
from armorer_ray.serve.auth import Authenticator
from armorer_ray.serve.caller import CallerToolbox, current_caller
from armorer_ray.serve.gate import Gate, error_body
from armorer_ray.serve.limits import DoorLimiter, RequestLimits
from armorer_ray.toolbox import Toolbox

__all__ = ["ResumeRequest", "create_http_app"]

ToolFormat = Literal["json", "openai", "mcp"]


class ResumeRequest(BaseModel):
    """Body of ``POST /resume``: a paused call's resume token and the decision."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    token: str
    approved: bool = True
    input: JsonValue = None
    reason: str | None = None


def create_http_app(toolbox: Toolbox, *, authenticator: Authenticator, limits: RequestLimits | None = None,
                    mcp: bool = True, limiter: DoorLimiter | None = None) -> Starlette:
    """The toolbox behind authenticated HTTP routes and (with ``mcp``) the MCP streamable-HTTP endpoint.

    Every route but ``/healthz`` passes the `Gate` first (401, 429 and 413 come from there). Calls from ``/call``,
    ``/batch`` and ``/mcp`` all run through one `CallerToolbox`, so they reach ``Toolbox.execute`` stamped with
    the authenticated tenant and user and the request's ``traceparent``. The app starts the toolbox when it
    starts and drains and stops it when it shuts down.

    Args:
        toolbox: The toolbox to serve.
        authenticator: Who may call; see `BearerTokens`.
        limits: Request size, batch length and rate.
        mcp: Also serve MCP at ``/mcp`` (needs the ``mcp`` extra).
        limiter: The per-principal rate limiter to use instead of a bucket in this process built from ``limits``
            (`toolbox_app` passes one shared by the deployment's replicas).

    Returns:
        A Starlette application.

    Raises:
        MissingExtraError: with ``mcp=True`` and no ``mcp`` extra.

    Example:
        >>> from armorer_ray.serve import BearerTokens, Principal
        >>> from armorer_ray.testing import mock_tool
        >>> app = create_http_app(Toolbox([mock_tool("ping")]), mcp=False,
        ...                       authenticator=BearerTokens({"a-long-enough-token": Principal(tenant_id="t")}))
        >>> sorted(route.path for route in app.routes)
        ['/batch', '/call', '/healthz', '/resume', '/tools']
    """
    limits = limits or RequestLimits()
    served = CallerToolbox(toolbox)
    routes = _Routes(toolbox, served, limits)
    table = [Route("/healthz", routes.healthz, methods=["GET"]), Route("/tools", routes.tools, methods=["GET"]),
             Route("/call", routes.call, methods=["POST"]), Route("/batch", routes.batch, methods=["POST"]),
             Route("/resume", routes.resume, methods=["POST"])]
    manager: Any = None
    if mcp:
        from armorer_ray.serve.mcp_endpoint import mcp_session_manager

        manager, endpoint = mcp_session_manager(served, limits.max_body_bytes)
        routes.mcp_server = manager.app
        table.append(Route("/mcp", endpoint, methods=["GET", "POST", "DELETE"]))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await toolbox.start()
        try:
            async with contextlib.AsyncExitStack() as stack:
                if manager is not None:
                    await stack.enter_async_context(manager.run())
                yield
        finally:
            await toolbox.drain(timeout_s=30.0)
            await toolbox.stop()

    return Starlette(routes=table, lifespan=lifespan,
                     middleware=[Middleware(Gate, authenticator=authenticator, limits=limits, limiter=limiter)])


def _json(body: object, status: int = 200) -> Response:
    return Response(json.dumps(body, ensure_ascii=False, default=str), status, media_type="application/json")


def _error(status: int, error: ToolError) -> Response:
    return Response(error_body(error), status, media_type="application/json")


def _bad_request(message: str, details: Any = None) -> Response:
    return _error(400, ToolError.of("validation", message, code="BAD_REQUEST", details=details))


class _Routes:
    def __init__(self, toolbox: Toolbox, served: CallerToolbox, limits: RequestLimits) -> None:
        self.toolbox = toolbox
        self.served = served
        self.limits = limits
        self.mcp_server: Any = None

    async def healthz(self, request: Request) -> Response:
        health = await self.toolbox.health()
        return _json(health.model_dump(), 200 if health.ok else 503)

    async def tools(self, request: Request) -> Response:
        shape = request.query_params.get("format", "json")
        if shape == "json":
            return _json(self.served.to_json())
        if shape == "openai":
            from armorer_ray.adapters import to_openai

            return _json(to_openai(self.served.tools()))
        if shape == "mcp" and self.mcp_server is not None:
            from armorer_ray.serve.mcp_endpoint import list_mcp_tools

            return _json(await list_mcp_tools(self.mcp_server))
        choices = "json, openai, mcp" if self.mcp_server is not None else "json, openai"
        return _bad_request(f"unknown format {shape!r}; choose from {choices}")

    async def call(self, request: Request) -> Response:
        options = self._options(request.query_params)
        if isinstance(options, Response):
            return options
        body = await _read_json(request)
        if isinstance(body, Response):
            return body
        if not isinstance(body, dict):
            return _bad_request("POST /call takes one ToolCall object: {\"name\": ..., \"arguments\": {...}}")
        try:
            result: ToolResult = await self.served.execute(body, **options)
        except ValidationError as exc:
            return _bad_request("the body is not a ToolCall", _issues(exc))
        return Response(result.model_dump_json(), media_type="application/json")

    async def batch(self, request: Request) -> Response:
        options = self._options(request.query_params)
        if isinstance(options, Response):
            return options
        mode = request.query_params.get("mode", "parallel")
        if mode not in ("parallel", "sequential"):
            return _bad_request(f"mode must be parallel or sequential, got {mode!r}")
        body = await _read_json(request)
        if isinstance(body, Response):
            return body
        calls = body.get("calls") if isinstance(body, dict) else body
        if not isinstance(calls, list) or not all(isinstance(item, dict) for item in calls):
            return _bad_request("POST /batch takes a list of ToolCall objects, or {\"calls\": [...]}")
        if len(calls) > self.limits.max_batch_calls:
            return _error(413, ToolError.of("validation", f"a batch holds at most {self.limits.max_batch_calls} "
                                            f"calls, got {len(calls)}", code="BATCH_TOO_LARGE"))
        try:
            results: list[ToolResult] = await self.served.execute(calls, mode=mode, **options)
        except ValidationError as exc:
            return _bad_request("a call is not a ToolCall", _issues(exc))
        body_text = "[" + ",".join(result.model_dump_json() for result in results) + "]"
        return Response(body_text, media_type="application/json")

    async def resume(self, request: Request) -> Response:
        body = await _read_json(request)
        if isinstance(body, Response):
            return body
        try:
            decision = ResumeRequest.model_validate(body)
        except ValidationError as exc:
            return _bad_request("POST /resume takes {\"token\": ..., \"approved\": true|false, \"input\": ...}",
                                _issues(exc))
        try:
            result = await self.served.resume(decision.token, approved=decision.approved, input=decision.input,
                                               by=current_caller().user_id, reason=decision.reason)
        except Conflict as exc:
            return _error(409, exc.to_tool_error())
        return Response(result.model_dump_json(), media_type="application/json")

    def _options(self, query: Mapping[str, str]) -> dict[str, Any] | Response:
        options: dict[str, Any] = {"dry_run": query.get("dry_run", "false").lower() in ("1", "true", "yes")}
        if "timeout_s" in query:
            try:
                timeout_s = float(query["timeout_s"])
            except ValueError:
                return _bad_request(f"timeout_s must be a number of seconds, got {query['timeout_s']!r}")
            if not 0 < timeout_s <= self.limits.max_timeout_s:
                return _bad_request(f"timeout_s must be in (0, {self.limits.max_timeout_s}], got {timeout_s}")
            options["timeout_s"] = timeout_s
        return options


def _issues(exc: ValidationError) -> Any:
    return json.loads(exc.json(include_url=False, include_context=False))


async def _read_json(request: Request) -> object:
    raw = await request.body()  # bounded by the Gate, which refuses bodies past max_body_bytes
    try:
        return cast(object, json.loads(raw))
    except ValueError as exc:
        return _bad_request(f"the body is not valid JSON: {exc}")
