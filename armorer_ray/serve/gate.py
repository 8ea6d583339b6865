"""The door every request but ``/healthz`` passes: authenticate, rate-limit, cap the body, then set the caller.

All of it happens before a byte of the body is parsed: a request without credentials, over its principal's
rate, or announcing (or streaming) more than ``max_body_bytes`` is answered here and never reaches a route.
"""

from __future__ import annotations

import json
import math

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from armorer_ray.errors import ToolError
from armorer_ray.results import Caller
from armorer_ray.serve.auth import Authenticator
from armorer_ray.serve.caller import reset_caller, set_caller
from armorer_ray.serve.limits import DoorLimiter, RateLimiter, RequestLimits

__all__ = ["Gate", "error_body", "principal_key"]

OPEN_PATHS = frozenset({"/healthz"})
TRACE_HEADERS = ("traceparent", "tracestate")


def error_body(error: ToolError) -> bytes:
    """The JSON body of a refused request: ``{"error": <ToolError>}``."""
    return json.dumps({"error": error.model_dump(mode="json")}).encode()


class BodyTooLarge(Exception):
    """The body streamed past the limit (the request did not announce its length, or lied about it)."""


class Gate:
    """ASGI middleware: authentication, rate limit and body cap in front of ``app``.

    Args:
        app: The routes (and the MCP endpoint) behind the door.
        authenticator: Maps headers to a principal; None from it refuses the request with 401.
        limits: Body size and rate.
        limiter: The rate limiter (None: a bucket in this process built from ``limits``; the Serve replica passes
            a shared one, tests one with a fake clock).
    """

    def __init__(self, app: ASGIApp, authenticator: Authenticator, limits: RequestLimits,
                 limiter: DoorLimiter | None = None) -> None:
        self.app = app
        self.authenticator = authenticator
        self.limits = limits
        self.limiter: DoorLimiter | None = limiter
        if limiter is None and limits.rate_per_s:
            self.limiter = RateLimiter(limits.rate_per_s, limits.burst)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":  # no route takes one; refuse before anything could accept it
            await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] != "http" or _route_path(scope) in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        principal = await self.authenticator.authenticate(headers)
        if principal is None:
            await _refuse(send, 401, ToolError.of("permission", "missing or invalid credentials: send "
                                                  "'Authorization: Bearer <token>'", code="UNAUTHENTICATED"),
                          {"www-authenticate": "Bearer"})
            return
        if self.limiter is not None:
            wait_s = await self.limiter.admit(principal_key(principal.tenant_id, principal.user_id))
            if wait_s > 0:
                error = ToolError.of("transient", f"too many requests; retry in {wait_s:.2f}s", code="RATE_LIMITED",
                                     details={"retry_after_s": wait_s})
                await _refuse(send, 429, error, {"retry-after": str(max(1, math.ceil(wait_s)))})
                return
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limits.max_body_bytes):
            await _refuse_too_large(send, self.limits.max_body_bytes)
            return
        caller = Caller(tenant_id=principal.tenant_id, user_id=principal.user_id,
                        session_id=headers.get("x-session-id") or None, priority=principal.max_priority,
                        trace_context={name: headers[name] for name in TRACE_HEADERS if name in headers})
        token = set_caller(caller)
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, _bounded(receive, self.limits.max_body_bytes), watch)
        except BodyTooLarge:
            if not started:
                await _refuse_too_large(send, self.limits.max_body_bytes)
        finally:
            reset_caller(token)


def principal_key(tenant_id: str | None, user_id: str | None) -> str:
    """One bucket key per principal; JSON keeps ``("a:b", None)`` and ``("a", "b")`` apart."""
    return json.dumps([tenant_id, user_id])


def _route_path(scope: Scope) -> str:
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root):] if root and path.startswith(root) else path


def _bounded(receive: Receive, limit: int) -> Receive:
    seen = 0

    async def bounded() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge
        return message

    return bounded


async def _refuse_too_large(send: Send, limit: int) -> None:
    await _refuse(send, 413, ToolError.of("validation", f"request body is larger than {limit} bytes",
                                          code="REQUEST_TOO_LARGE"))


async def _refuse(send: Send, status: int, error: ToolError, extra: dict[str, str] | None = None) -> None:
    body = error_body(error)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(key.encode(), value.encode()) for key, value in (extra or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
