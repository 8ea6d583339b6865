"""`Fallback`: when a tool fails in a chosen way, answer with another tool, run through the same toolbox."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from armorer_ray.errors import ConfigError, ErrorCategory
from armorer_ray.results import Caller, ToolCall, ToolResult

if TYPE_CHECKING:
    from armorer_ray.context import CallContext
    from armorer_ray.middleware.base import Next

__all__ = ["Fallback"]

_DEFAULT_ON: frozenset[ErrorCategory] = frozenset({"transient", "timeout", "internal"})

# Tool ids on the current fallback path. A fallback runs through toolbox.execute, which may reach this layer
# again (a -> b -> a); the context variable follows that nested call and stops the loop.
_path: ContextVar[tuple[str, ...]] = ContextVar("armorer_fallback_path", default=())


class Fallback:
    """On a failure in ``on``, run the fallback tool with the same arguments through ``ctx.toolbox``.

    The fallback goes through the whole pipeline of the toolbox (validation, policy, middleware), never
    around it, so a fallback can be rate-limited or denied like any call. When it succeeds its result is
    returned under the original ``call_id``, and a ``fallback`` event names both tools; when it fails too, the
    original failure is returned (it says what went wrong first) and ``fallback.failed`` is emitted. A tool
    with no fallback route passes through untouched, and a route that leads back to a tool already on the
    current fallback path is not followed. Place it outside an `AdmissionController`, so that the failed call
    has given its slot back before the fallback asks for one.

    Args:
        to: The fallback tool's name or id for every tool this layer wraps, or a mapping from a tool's name or
            id to its fallback's.
        on: Error categories that trigger the fallback.
        arguments: ``(call) -> arguments`` for the fallback (default: the original arguments).

    Raises:
        ConfigError: for an empty ``on`` or an empty route.

    Example:
        >>> from armorer_ray import Toolbox, ToolCall, Transient
        >>> from armorer_ray.testing import mock_tool
        >>> live = mock_tool("live_price", outcomes=[Transient("exchange down")])
        >>> cached = mock_tool("cached_price", impl=lambda symbol: {"symbol": symbol, "stale": True})
        >>> box = Toolbox([live.replace(middleware=[Fallback("cached_price")]), cached])
        >>> result = box.execute_sync(ToolCall(id="c1", name="live_price", arguments={"symbol": "ACME"}))
        >>> result.call_id, result.tool_name, result.result
        ('c1', 'cached_price', {'symbol': 'ACME', 'stale': True})
    """

    __slots__ = ("arguments", "on", "routes")

    def __init__(self, to: str | Mapping[str, str], *, on: Collection[ErrorCategory] = _DEFAULT_ON,
                 arguments: Callable[[ToolCall], Any] | None = None) -> None:
        routes = {"*": to} if isinstance(to, str) else dict(to)
        if not routes or not all(isinstance(target, str) and target for target in routes.values()):
            raise ConfigError(f"Fallback needs a tool name, or a mapping to tool names, got {to!r}")
        if not on:
            raise ConfigError("Fallback needs at least one error category in on=")
        self.routes = routes
        self.on = frozenset(on)
        self.arguments = arguments

    def route(self, tool_name: str, tool_id: str) -> str | None:
        """The fallback for a tool, by id, then name, then the catch-all.

        Example:
            >>> Fallback({"search": "search_cache"}).route("search", "default:search")
            'search_cache'
        """
        routes = self.routes
        return routes.get(tool_id) or routes.get(tool_name) or routes.get("*")

    async def __call__(self, call: ToolCall, ctx: CallContext, next: Next) -> ToolResult:
        """Run the call; on a chosen failure, run its fallback through the toolbox.

        Args:
            call: The call.
            ctx: Its context.
            next: The inner layers.

        Returns:
            The call's own result, the fallback's successful result (under this call's id), or the original
            failure when the fallback failed too.
        """
        result = await next(call, ctx)
        error = result.error
        if error is None or error.category not in self.on or ctx.toolbox is None:
            return result
        tool = ctx.tool
        target = self.route(tool.name, tool.id)
        path = _path.get()
        if target is None or target in (tool.id, tool.name) or target in path:
            return result
        arguments = self.arguments(call) if self.arguments is not None else call.arguments
        fallback_call = Caller.of(call).make_call(target, arguments, id=call.id)
        token = _path.set((*path, tool.id, tool.name))
        try:
            answer = await ctx.toolbox.execute(fallback_call, dry_run=ctx.dry_run)
        finally:
            _path.reset(token)
        if answer.outcome != "success":
            ctx.emit("fallback.failed", {"fallback": target, "error": error, "fallback_error": answer.error})
            return result
        ctx.emit("fallback.used", {"fallback": target, "error": error})
        return answer
