"""The toolbox as the caller of the current HTTP request sees it: visible tools only, calls stamped as the caller.

The HTTP routes and the MCP server both run calls through one `CallerToolbox`, so a call reaches
``Toolbox.execute`` with the authenticated tenant and user and the request's trace context whichever door it
came in by. The caller travels in a context variable set by the ingress for the request; the MCP SDK runs its
handlers in tasks spawned from the request's task, which copy it.
"""

from __future__ import annotations

import contextvars
from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import Any

from armorer_ray.errors import ConfigError
from armorer_ray.results import Caller, ToolCall, ToolResult
from armorer_ray.toolbox import CallInput, Toolbox
from armorer_ray.tools import Tool

__all__ = ["CallerToolbox", "current_caller", "stamp"]

_caller: contextvars.ContextVar[Caller | None] = contextvars.ContextVar("armorer_serve_caller", default=None)


def current_caller() -> Caller:
    """The caller of the request being served.

    Raises:
        ConfigError: outside a request (the ingress sets it after authenticating).
    """
    caller = _caller.get()
    if caller is None:
        raise ConfigError("no authenticated caller: CallerToolbox is used outside an ingress request")
    return caller


def set_caller(caller: Caller) -> contextvars.Token[Caller | None]:
    """Make ``caller`` the current caller (the ingress does this per request); reset with the returned token."""
    return _caller.set(caller)


def reset_caller(token: contextvars.Token[Caller | None]) -> None:
    _caller.reset(token)


def stamp(item: CallInput, caller: Caller) -> ToolCall:
    """``item`` as a `ToolCall` made by ``caller``: its tenant and user replace whatever the body claimed,
    its priority is the lower of the two, and the request's trace context wins over the body's.

    Example:
        >>> call = stamp({"name": "x", "tenant_id": "evil", "priority": 9}, Caller(tenant_id="acme", priority=1))
        >>> call.tenant_id, call.priority
        ('acme', 1)
    """
    call = item if isinstance(item, ToolCall) else ToolCall.model_validate(item)
    return call.model_copy(update={
        "tenant_id": caller.tenant_id, "user_id": caller.user_id,
        "session_id": caller.session_id or call.session_id,
        "priority": min(call.priority, caller.priority),
        "trace_context": {**call.trace_context, **caller.trace_context},
    })


class CallerToolbox:
    """A `Toolbox` wrapper that lists and runs tools as `current_caller()`; everything else is the inner toolbox's.

    Args:
        inner: The served toolbox.
    """

    def __init__(self, inner: Toolbox) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def __repr__(self) -> str:
        return f"CallerToolbox({self.inner.name!r})"

    def tools(self) -> list[Tool]:
        """The tools the current caller may see (visibility rules such as `TenantAccess` decide).

        Outside a request (an MCP server reading the catalogue while it is built) this is every tool: listings
        answered to a caller always run inside the request, and calls are checked again when they run.
        """
        caller = _caller.get()
        if caller is None:
            return self.inner.tools()
        return [found for found in self.inner.tools() if self.inner.is_visible(found, caller)]

    def get_tool(self, name_or_id: str, *, caller: Caller | None = None) -> Tool | None:
        return self.inner.get_tool(name_or_id, caller=caller or current_caller())

    def to_json(self) -> list[dict[str, Any]]:
        shown = {found.id for found in self.tools()}
        return [definition for definition in self.inner.to_json() if definition["id"] in shown]

    async def execute(self, calls: CallInput | Sequence[CallInput], /, **options: Any) -> Any:
        """`Toolbox.execute` with each call stamped as the current caller (see `stamp`)."""
        caller = current_caller()
        if isinstance(calls, ToolCall | Mapping):
            return await self.inner.execute(stamp(calls, caller), **options)
        return await self.inner.execute([stamp(item, caller) for item in calls], **options)

    def stream(self, call: CallInput, /, **options: Any) -> AsyncGenerator[object, None]:
        return self.inner.stream(stamp(call, current_caller()), **options)

    async def resume(self, token: str, **options: Any) -> ToolResult:
        """`Toolbox.resume` as the current caller: a token resumes only for the tenant (and user) that paused it,
        and anyone else gets the answer an unknown token gets. The resumed call keeps its own tenant and user."""
        return await self.inner.resume(token, **{**options, "caller": current_caller()})
