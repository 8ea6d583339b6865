"""`Dedupe`: concurrent identical calls share one execution."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from dataclasses import dataclass
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


@dataclass(slots=True)
class _Flight:
    task: asyncio.Future[ToolResult]
    waiters: int = 0


class Dedupe:
    """Collapse concurrent identical calls into one execution whose result every caller receives.

    Calls are identical when ``key`` gives the same string (by default: same tool id, tenant and canonical
    JSON arguments; dry runs never share with real runs). The first call starts the execution in its own task;
    callers that arrive while it runs wait for it, and each receives the result under its own ``call_id``. A
    caller that is cancelled stops waiting; the execution is cancelled only when no caller is left. Only
    in-flight calls are shared: put a `Cache` outside this layer to keep results afterwards. Deduplicated
    callers emit a ``dedupe-joined`` event.

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
        """Join the running execution of an identical call, or start one.

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
        flight = self._flights.get(key)
        if flight is None:
            # The execution runs in its own task so that the first caller's cancellation cannot fail the others.
            flight = _Flight(asyncio.ensure_future(next(call, ctx)))
            self._flights[key] = flight
            flight.task.add_done_callback(functools.partial(self._landed, key, flight))
        else:
            ctx.emit("dedupe-joined", {"key": key})
        flight.waiters += 1
        try:
            result = await asyncio.shield(flight.task)
        except asyncio.CancelledError:
            flight.waiters -= 1
            if flight.waiters == 0:
                flight.task.cancel()
                self._land(key, flight)  # a caller arriving now starts afresh rather than join a cancelled run
            raise
        flight.waiters -= 1
        return result if result.call_id == call.id else result.replace(call_id=call.id)

    def _landed(self, key: str, flight: _Flight, _task: object) -> None:
        self._land(key, flight)

    def _land(self, key: str, flight: _Flight) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]
