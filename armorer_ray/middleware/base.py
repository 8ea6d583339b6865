"""The middleware protocol and the one function that composes layers into a handler."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from armorer_ray.results import ToolCall, ToolResult

if TYPE_CHECKING:
    from armorer_ray.context import CallContext

__all__ = ["Middleware", "Next", "chain"]

Next = Callable[[ToolCall, "CallContext"], Awaitable[ToolResult]]


@runtime_checkable
class Middleware(Protocol):
    """A layer around execution: call ``await next(call, ctx)`` to go inward, or return a result yourself."""

    async def __call__(self, call: ToolCall, ctx: CallContext, next: Next) -> ToolResult:
        """Handle the call."""
        ...


def chain(layers: Sequence[Middleware], handler: Next) -> Next:
    """Compose ``layers`` around ``handler``; ``layers[0]`` is the outermost.

    Example:
        >>> import asyncio
        >>> async def inner(call, ctx):
        ...     return ToolResult(call_id=call.id, tool_name=call.name, outcome="success", result=[])
        >>> async def mark(call, ctx, next):
        ...     result = await next(call, ctx)
        ...     return result.replace(result=[*result.result, "outer"])
        >>> asyncio.run(chain([mark], inner)(ToolCall(name="t"), None)).result
        ['outer']
    """
    for layer in reversed(layers):
        handler = _bind(layer, handler)
    return handler


def _bind(layer: Middleware, inner: Next) -> Next:
    def bound(call: ToolCall, ctx: CallContext) -> Awaitable[ToolResult]:
        return layer(call, ctx, inner)

    return bound
