"""Sending calls to replicas and getting exactly one result back for each, whatever happens to the replica.

A call on a replica that dies is retried elsewhere only when its tool is idempotent; otherwise it ends with a
``transient`` ``REPLICA_DIED`` result and is never run again. Batches go out in chunks, one actor round trip
each, and come back as a stream, so results that arrived before a replica died are kept and only the calls still
running are in doubt.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import ray
from ray.exceptions import ActorDiedError

from armorer_ray.actors._private.outcomes import (
    cancelled_result,
    classify_ray_failure,
    failed_result,
    refused_result,
    replica_died_result,
)
from armorer_ray.actors._private.replica import CallOptions
from armorer_ray.actors._private.router import Refusal, ReplicaSlot, Router
from armorer_ray.actors._private.wire import PackedResult, pack_call, unpack_result
from armorer_ray.cancellation import AbortSignal, cancellation_message
from armorer_ray.results import ToolCall, ToolResult

__all__ = ["Counters", "Dispatcher"]


@dataclass(slots=True)
class Counters:
    """What happened to calls after admission (per handle)."""

    failovers: int = 0
    replica_died: int = 0
    cancelled: int = 0


class PausedCalls:
    """Which replica holds each call paused for approval (bounded): `Deployment.resume` goes back there."""

    def __init__(self, limit: int = 10_000) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self._where: OrderedDict[str, ReplicaSlot] = OrderedDict()

    def note(self, result: ToolResult, grant: ReplicaSlot) -> ToolResult:
        """Remember where ``result`` was paused, if it was; returns it."""
        if result.action is not None and result.action.resume_token:
            with self._lock:
                self._where[result.action.resume_token] = grant
                if len(self._where) > self._limit:
                    self._where.popitem(last=False)
        return result

    def take(self, token: str) -> ReplicaSlot | None:
        """The replica holding ``token`` (forgotten now), or None when this handle did not see it paused."""
        with self._lock:
            return self._where.pop(token, None)


@dataclass(frozen=True, slots=True)
class _Chunk:
    indexes: list[int]
    attempt: int
    failed_on: frozenset[str] = frozenset()  # replica lives (slot keys) the calls were lost on: retries go elsewhere


class Dispatcher:
    """Runs calls through a `Router` onto replicas.

    Args:
        router: Admission and replica choice.
        is_idempotent: Whether a call name may safely run again (from the deployment's tool catalogue).
        settings: ``() -> (batch_size, failover_attempts)``, read per call (they arrive with the first snapshot).
    """

    def __init__(self, router: Router, is_idempotent: Callable[[str], bool],
                 settings: Callable[[], tuple[int, int]]) -> None:
        self.router = router
        self.is_idempotent = is_idempotent
        self.settings = settings
        self.counters = Counters()
        self.paused = PausedCalls()
        self._unsent = 0  # batch calls not yet handed to the router (the rest of the backlog is its queue)
        self._unsent_lock = threading.Lock()

    @property
    def backlog(self) -> int:
        """Calls of this handle not on a replica yet: queued in the router, or batch calls not yet sent."""
        return self.router.stats().queued + self._unsent

    def _count_unsent(self, delta: int) -> None:
        with self._unsent_lock:
            self._unsent += delta

    # -- one call --------------------------------------------------------------------------------------

    async def run_one(self, call: ToolCall, options: CallOptions | None, signal: AbortSignal | None, *,
                      attempt: int = 0, failed_on: frozenset[str] = frozenset()) -> ToolResult:
        """Run one call, failing over idempotent calls whose replica died.

        ``attempt`` and ``failed_on`` carry on a failover begun elsewhere (a submitted call whose replica died):
        the failovers already spent, and the replica lives (`ReplicaSlot.key`) not to wait for again.
        """
        while True:
            if signal is not None and signal.aborted:
                return self._cancelled(call, signal)
            grant = await self.router.acquire(1, call.priority, failed_on)
            if isinstance(grant, Refusal):
                return refused_result(call, grant)
            try:
                ref = grant.actor.call.remote(pack_call(call), options)
                return self.paused.note(unpack_result(await _await_cancellable(ref, signal)), grant)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                kind = classify_ray_failure(exc)
                if kind == "cancelled":
                    return self._cancelled(call, signal)
                if kind == "failed":
                    return failed_result(call, exc)
                self.router.mark_failed(grant, dead=isinstance(exc, ActorDiedError))
                if not self._may_retry(call, attempt):
                    self.counters.replica_died += 1
                    return replica_died_result(call, grant.replica_id, type(exc).__name__, self._spent(call, attempt))
                attempt += 1
                failed_on = failed_on | {grant.key}
                self.counters.failovers += 1
            finally:
                self.router.release(grant, 1)

    def _may_retry(self, call: ToolCall, attempt: int) -> bool:
        return attempt < self.settings()[1] and self.is_idempotent(call.name)

    def _spent(self, call: ToolCall, attempt: int) -> int | None:
        # Why a lost call is not retried, for its message: its failovers spent, or None (not idempotent).
        return attempt if self.is_idempotent(call.name) else None

    def _cancelled(self, call: ToolCall, signal: AbortSignal | None) -> ToolResult:
        self.counters.cancelled += 1
        reason = cancellation_message(signal.reason) if signal is not None and signal.aborted else "Cancelled"
        return cancelled_result(call, reason)

    # -- batches ---------------------------------------------------------------------------------------

    async def run_many(self, calls: Sequence[ToolCall], options: CallOptions | None,
                       signal: AbortSignal | None) -> list[ToolResult]:
        """Run a batch in chunks (higher priorities first) and return results in input order."""
        results: list[ToolResult | None] = [None] * len(calls)
        order = deque(sorted(range(len(calls)), key=lambda i: -calls[i].priority))  # stable: FIFO within a priority
        pending: deque[_Chunk] = deque()
        running: set[asyncio.Task[list[_Chunk]]] = set()
        self._count_unsent(len(calls))
        unsent = len(calls)
        try:
            while True:
                for task in [t for t in running if t.done()]:
                    running.discard(task)
                    retries = task.result()  # retries of idempotent calls from a lost replica
                    pending.extend(retries)
                    added = sum(len(chunk.indexes) for chunk in retries)
                    self._count_unsent(added)
                    unsent += added
                if not pending and order:
                    # Cut the next chunk only now: an attached handle learns batch_size with its first snapshot.
                    size = max(1, self.settings()[0])
                    pending.append(_Chunk([order.popleft() for _ in range(min(size, len(order)))], 0))
                if not pending:
                    if not running:
                        break
                    await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                    continue
                chunk = pending.popleft()
                self._count_unsent(-len(chunk.indexes))  # from here it waits in the router's queue, or runs
                unsent -= len(chunk.indexes)
                if signal is not None and signal.aborted:
                    for i in chunk.indexes:
                        results[i] = self._cancelled(calls[i], signal)
                    continue
                priority = max(calls[i].priority for i in chunk.indexes)
                # Only this chunk waits in the queue: a batch holds at most one queued chunk, never all of them.
                grant = await self.router.acquire(len(chunk.indexes), priority, chunk.failed_on)
                if isinstance(grant, Refusal):
                    for i in chunk.indexes:
                        results[i] = refused_result(calls[i], grant)
                    continue
                running.add(asyncio.ensure_future(self._run_chunk(grant, chunk, calls, results, options, signal)))
        except BaseException:
            for task in running:
                task.cancel()
            raise
        finally:
            self._count_unsent(-unsent)
        return [result for result in results if result is not None]

    async def _run_chunk(self, grant: ReplicaSlot, chunk: _Chunk, calls: Sequence[ToolCall],
                         results: list[ToolResult | None], options: CallOptions | None,
                         signal: AbortSignal | None) -> list[_Chunk]:
        indexes = chunk.indexes
        stream = grant.actor.call_stream.remote([pack_call(calls[i]) for i in indexes], options)
        remove = signal.add_listener(lambda _: ray.cancel(stream)) if signal is not None else None
        arrived: set[int] = set()
        released = 0
        try:
            async for item in stream:
                group: list[tuple[int, PackedResult]] = await item
                for local, packed in group:
                    results[indexes[local]] = self.paused.note(unpack_result(packed), grant)
                    arrived.add(local)
                self.router.release(grant, len(group))  # free room as results arrive, not at the chunk's end
                released += len(group)
        except asyncio.CancelledError:
            ray.cancel(stream)
            raise
        except Exception as exc:
            return self._settle_chunk(grant, chunk, calls, results, arrived, exc, signal)
        finally:
            self.router.release(grant, len(indexes) - released)
            if remove is not None:
                remove()
        return []

    def _settle_chunk(self, grant: ReplicaSlot, chunk: _Chunk, calls: Sequence[ToolCall],
                      results: list[ToolResult | None], arrived: set[int], exc: Exception,
                      signal: AbortSignal | None) -> list[_Chunk]:
        kind = classify_ray_failure(exc)
        missing = [i for local, i in enumerate(chunk.indexes) if local not in arrived]
        if kind == "cancelled":
            for i in missing:
                results[i] = self._cancelled(calls[i], signal)
            return []
        if kind == "failed":
            for i in missing:
                results[i] = failed_result(calls[i], exc)
            return []
        self.router.mark_failed(grant, dead=isinstance(exc, ActorDiedError))
        retry = []
        for i in missing:
            if self._may_retry(calls[i], chunk.attempt):
                retry.append(i)
            else:
                self.counters.replica_died += 1
                results[i] = replica_died_result(calls[i], grant.replica_id, type(exc).__name__,
                                                 self._spent(calls[i], chunk.attempt))
        self.counters.failovers += len(retry)
        return [_Chunk(retry, chunk.attempt + 1, chunk.failed_on | {grant.key})] if retry else []


async def _await_cancellable(ref: Any, signal: AbortSignal | None) -> Any:
    remove = signal.add_listener(lambda _: ray.cancel(ref)) if signal is not None else None
    try:
        return await ref
    except asyncio.CancelledError:
        ray.cancel(ref)  # the caller gave up: free the replica too, and stop the tool body there
        raise
    finally:
        if remove is not None:
            remove()
