"""`AdmissionController`: a global concurrency limit with a bounded priority queue and load shedding."""

from __future__ import annotations

import asyncio
import bisect
import itertools
import math
import sys
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict

from armorer_ray.errors import ConfigError, ToolError
from armorer_ray.results import ToolCall, ToolResult

if TYPE_CHECKING:
    from armorer_ray.context import CallContext
    from armorer_ray.middleware.base import Next

if sys.version_info >= (3, 11):
    from asyncio import timeout as _deadline
else:  # pragma: no cover - Python 3.10 only
    from async_timeout import timeout as _deadline

__all__ = ["AdmissionController", "AdmissionStats"]

_Verdict = Literal["admitted", "shed"]

# Controllers whose slot the current call holds. Calls a running call makes through the toolbox (a composed
# tool's steps, a tool calling tools) inherit this context and run inside their parent's slot: making them
# queue for a slot of their own could deadlock, every slot held by a parent waiting for its children.
_held: ContextVar[tuple[AdmissionController, ...]] = ContextVar("armorer_admission_held", default=())


class AdmissionStats(BaseModel):
    """A snapshot of an `AdmissionController`.

    Attributes:
        in_flight: Calls running inside the controller now.
        queued: Calls waiting for a slot now.
        admitted: Calls admitted so far.
        shed: Calls refused with ``BACKPRESSURE`` so far (queue full, evicted, or waited too long).

    Example:
        >>> AdmissionStats(in_flight=2, queued=5, admitted=40, shed=1).queued
        5
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    in_flight: int
    queued: int
    admitted: int
    shed: int


@dataclass(order=True, slots=True)
class _Waiter:
    rank: tuple[int, int]  # (priority, -arrival): the queue's last item runs next, its first is shed first
    future: asyncio.Future[_Verdict] = field(compare=False)


class AdmissionController:
    """Bound the calls running at once across every tool it wraps; queue the rest by priority; shed past a bound.

    Put one instance in a toolbox's middleware (or in several toolboxes' on one event loop) for a global
    limit. A call runs at once while fewer than ``max_concurrency`` run; otherwise it waits in a queue ordered
    by ``ToolCall.priority`` (higher first, first come first served within a priority). When ``max_queued``
    calls already wait, the newcomer is shed, unless it outranks the lowest-priority waiter, which is then shed
    in its place: a full queue keeps the most important work. A shed call, or one that waited longer than
    ``max_wait_s``, gets a ``transient`` error coded ``BACKPRESSURE`` at once, and a ``backpressure`` event.
    Cancelling a waiting call frees its place. Calls that a running call makes through the toolbox (the steps of
    a composed tool, say) run inside their parent's slot rather than queue for their own, which could deadlock.

    Args:
        max_concurrency: Calls allowed to run at once.
        max_queued: Calls allowed to wait (0: never queue, shed as soon as all slots are busy).
        max_wait_s: Longest a call may wait for a slot (None: as long as it takes).

    Raises:
        ConfigError: for a non-positive ``max_concurrency``, a negative ``max_queued`` or ``max_wait_s``.

    Example:
        >>> import asyncio
        >>> from armorer_ray import Toolbox, ToolCall
        >>> from armorer_ray.testing import mock_tool
        >>> admission = AdmissionController(max_concurrency=1, max_queued=1)
        >>> box = Toolbox([mock_tool("work", delay_s=0.05)], middleware=[admission])
        >>> async def three_at_once():
        ...     return await box.execute([ToolCall(name="work") for _ in range(3)])
        >>> [r.error.code if r.error else r.outcome for r in asyncio.run(three_at_once())]
        ['success', 'success', 'BACKPRESSURE']
        >>> admission.stats().shed
        1
    """

    __slots__ = ("_admitted", "_arrivals", "_queue", "_running", "_shed", "max_concurrency", "max_queued",
                 "max_wait_s")

    def __init__(self, max_concurrency: int, *, max_queued: int = 1_000, max_wait_s: float | None = None) -> None:
        if not isinstance(max_concurrency, int) or max_concurrency < 1:
            raise ConfigError(f"AdmissionController max_concurrency must be an integer >= 1, got {max_concurrency!r}")
        if not isinstance(max_queued, int) or max_queued < 0:
            raise ConfigError(f"AdmissionController max_queued must be an integer >= 0, got {max_queued!r}")
        if max_wait_s is not None and not (max_wait_s >= 0 and math.isfinite(max_wait_s)):
            raise ConfigError(f"AdmissionController max_wait_s must be a finite number >= 0, got {max_wait_s!r}")
        self.max_concurrency, self.max_queued, self.max_wait_s = max_concurrency, max_queued, max_wait_s
        self._running = 0
        self._queue: list[_Waiter] = []  # sorted by rank, ascending
        self._arrivals = itertools.count()
        self._admitted = 0
        self._shed = 0

    def stats(self) -> AdmissionStats:
        """Running and queued calls now, admitted and shed calls so far.

        Example:
            >>> AdmissionController(4).stats().in_flight
            0
        """
        return AdmissionStats(in_flight=self._running, queued=len(self._queue), admitted=self._admitted,
                              shed=self._shed)

    async def __call__(self, call: ToolCall, ctx: CallContext, next: Next) -> ToolResult:
        """Run the call when a slot is free, after waiting for one, or refuse it.

        Args:
            call: The call; ``call.priority`` orders the queue.
            ctx: Its context.
            next: The inner layers.

        Returns:
            The inner result, or a ``BACKPRESSURE`` error result.
        """
        held = _held.get()
        if self in held:
            return await next(call, ctx)
        if self._running < self.max_concurrency:
            self._running += 1  # a free slot means an empty queue: releases hand slots to waiters first
        else:
            refusal = await self._wait_for_slot(call, ctx)
            if refusal is not None:
                return refusal
        self._admitted += 1
        token = _held.set((*held, self))
        try:
            return await next(call, ctx)
        finally:
            _held.reset(token)
            self._release()

    async def _wait_for_slot(self, call: ToolCall, ctx: CallContext) -> ToolResult | None:
        queue = self._queue
        rank = (call.priority, -next(self._arrivals))
        if len(queue) >= self.max_queued:
            if not queue or queue[0].rank > rank:
                return self._refuse(call, ctx, "the queue is full")
            queue.pop(0).future.set_result("shed")  # the lowest-ranked waiter makes room for this call
        waiter = _Waiter(rank, asyncio.get_running_loop().create_future())
        bisect.insort(queue, waiter)
        try:
            async with _deadline(self.max_wait_s):
                verdict = await waiter.future
        except BaseException as exc:
            if waiter.future.done() and not waiter.future.cancelled() and waiter.future.result() == "admitted":
                self._release()  # a slot was handed over just as this caller gave up: pass it on
            else:
                self._drop(waiter)
            if isinstance(exc, TimeoutError | asyncio.TimeoutError):
                return self._refuse(call, ctx, f"no slot within {self.max_wait_s:g}s")
            raise
        if verdict == "shed":
            return self._refuse(call, ctx, "a call of higher priority took its place in the queue")
        return None

    def _drop(self, waiter: _Waiter) -> None:
        index = bisect.bisect_left(self._queue, waiter)
        if index < len(self._queue) and self._queue[index] is waiter:
            del self._queue[index]
        if not waiter.future.done():
            waiter.future.cancel()

    def _release(self) -> None:
        queue = self._queue
        while queue:
            waiter = queue.pop()
            if not waiter.future.done():
                waiter.future.set_result("admitted")  # the slot passes straight to the best waiter
                return
        self._running -= 1

    def _refuse(self, call: ToolCall, ctx: CallContext, reason: str) -> ToolResult:
        self._shed += 1
        tool = ctx.tool
        details = {"reason": reason, "in_flight": self._running, "queued": len(self._queue),
                   "max_queued": self.max_queued}
        ctx.emit("admission.shed", details)
        error = ToolError.of("transient", f'Overloaded: call to "{tool.name}" was shed because {reason}; retry later.',
                             code="BACKPRESSURE", details=details)  # type: ignore[arg-type]  # ints and str are JSON values; mypy infers dict[str, object]
        return ToolResult.failure(call.id, tool.name, error, tool_id=tool.id, dry_run=ctx.dry_run)
