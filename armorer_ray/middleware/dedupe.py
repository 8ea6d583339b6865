"""`Dedupe`: concurrent identical calls share one execution."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from armorer_ray.middleware.keys import KeyFunction, arguments_key
from armorer_ray.results import ToolCall, ToolResult

if TYPE_CHECKING:
    from armorer_ray.context import CallContext
    from armorer_ray.middleware.base import Next
    from armorer_ray.tools import Tool

__all__ = ["Dedupe", "dedupes_by_default"]


def dedupes_by_default(tool: Tool) -> bool:
    """The default rule: idempotent tools share executions, unless ``metadata={"dedupe": False}`` (or True).

    Args:
        tool: The tool a call is for.

    Returns:
        Whether concurrent identical calls of ``tool`` may share one execution.

    Example:
        >>> from armorer_ray.testing import mock_tool
        >>> dedupes_by_default(mock_tool("read", read_only=True)), dedupes_by_default(mock_tool("send"))
        (True, False)
        >>> dedupes_by_default(mock_tool("read", read_only=True, metadata={"dedupe": False}))
        False
    """
    flag = tool.metadata.get("dedupe")
    return flag if isinstance(flag, bool) else tool.idempotent


class _LeaderGone(Exception):
    """The caller running a shared execution was cancelled; a waiting caller takes over."""


class _Flight:
    """One execution in flight; ``future`` exists once a second caller waits for it."""

    __slots__ = ("future",)

    def __init__(self) -> None:
        self.future: asyncio.Future[ToolResult] | None = None


class Dedupe:
    """Collapse concurrent identical calls into one execution whose result every caller receives.

    Calls are identical when ``key`` gives the same string (by default: same tool id, tenant and canonical
    JSON arguments; dry runs never share with real runs). The first call runs the execution itself; callers
    that arrive while it runs wait for it, and each receives the result under its own ``call_id``. A waiting
    caller that is cancelled just stops waiting. If the first caller is cancelled, its execution stops with it
    and one of the waiting callers starts it again, so no caller ever sees another's cancellation (the default
    rule shares only idempotent tools, which may safely run again). Only in-flight calls are shared: put a
    `Cache` outside this layer to keep results afterwards. Joining callers emit a ``dedupe.joined`` event.

    Args:
        key: ``(call, ctx) -> str``; equal keys share an execution.
        should_dedupe: ``(tool) -> bool``; by default `dedupes_by_default` (idempotent tools only, since
            collapsing two identical "send email" calls into one would change what happens).

    Example:
        >>> import asyncio
        >>> from armorer_ray import Toolbox, ToolCall
        >>> from armorer_ray.testing import mock_tool
        >>> search = mock_tool("search", impl=lambda q: [q], delay_s=0.01, read_only=True)
        >>> box = Toolbox([search], middleware=[Dedupe()])
        >>> async def ask_five_times():
        ...     calls = [ToolCall(id=f"c{i}", name="search", arguments={"q": "ray"}) for i in range(5)]
        ...     return await asyncio.gather(*(box.execute(call) for call in calls))
        >>> results = asyncio.run(ask_five_times())
        >>> [r.call_id for r in results], len(search.calls)
        (['c0', 'c1', 'c2', 'c3', 'c4'], 1)
    """

    __slots__ = ("_flights", "key", "should_dedupe")

    def __init__(self, key: KeyFunction = arguments_key,
                 should_dedupe: Callable[[Tool], bool] = dedupes_by_default) -> None:
        self.key = key
        self.should_dedupe = should_dedupe
        self._flights: dict[str, _Flight] = {}

    @property
    def in_flight(self) -> int:
        """Distinct executions running now.

        Example:
            >>> Dedupe().in_flight
            0
        """
        return len(self._flights)

    async def __call__(self, call: ToolCall, ctx: CallContext, next: Next) -> ToolResult:
        """Join the running execution of an identical call, or run it.

        Args:
            call: The call.
            ctx: Its context.
            next: The inner layers.

        Returns:
            The shared result, carrying this call's ``call_id``.
        """
        if not self.should_dedupe(ctx.tool):
            return await next(call, ctx)
        key = self.key(call, ctx)
        if ctx.dry_run:
            key = "dry-run|" + key
        flights = self._flights
        while True:
            flight = flights.get(key)
            if flight is None:
                break
            ctx.emit("dedupe.joined", {"key": key})
            if flight.future is None:
                flight.future = asyncio.get_running_loop().create_future()
            try:
                # shield: a waiter's cancellation must not cancel the shared future under the others.
                result = await asyncio.shield(flight.future)
            except _LeaderGone:
                continue
            return result if result.call_id == call.id else result.replace(call_id=call.id)
        # The first caller runs the execution inline: a task per call would cost an event-loop turn (~40 µs) on
        # every call, shared or not; the future that waiters share is made only when the first one arrives.
        flight = flights[key] = _Flight()
        try:
            result = await next(call, ctx)
        except BaseException as exc:
            del flights[key]
            if flight.future is not None:
                flight.future.set_exception(_LeaderGone() if isinstance(exc, asyncio.CancelledError) else exc)
                flight.future.exception()  # retrieved: no "never retrieved" warning if every waiter left
            raise
        del flights[key]
        if flight.future is not None:
            flight.future.set_result(result)
        return result
