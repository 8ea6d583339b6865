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

from armorer_ray._sync import run_sync
from armorer_ray.actors._private.outcomes import (
    cancelled_result,
    classify_ray_failure,
    failed_result,
    refused_result,
    replica_died_result,
)
from armorer_ray.actors._private.router import Refusal, ReplicaSlot, Router
from armorer_ray.actors._private.wire import WireOptions, pack_call, pack_options, unpack_result
from armorer_ray.cancellation import AbortSignal, cancellation_message
from armorer_ray.pipeline import CallOptions
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

    # -- one call ---------------------------------------------------------------------------------------

    def run_one_now(self, call: ToolCall, options: CallOptions) -> ToolResult | None:
        """Run one call from sync code without an event loop when a replica has room right now: one actor call and
        a blocking wait, as a hand-written ``ray.get(actor.method.remote(...))`` does.

        Returns:
            The result, or None when nothing was sent because the call must wait (every replica full, calls
            queued, or a refusal): then `run_one` takes it. A call whose replica died is failed over here too.
        """
        grant = self.router.try_acquire(1)
        if grant is None:
            return None
        try:
            ref = grant.actor.call.remote(pack_call(call), pack_options(options))
            try:
                packed = ray.get(ref)
            except Exception:
                raise  # the call's own failure: settled below
            except BaseException:
                ray.cancel(ref)  # interrupted (Ctrl-C, or Ray cancelling this task): stop the body too
                raise
            return self.paused.note(unpack_result(packed), grant)
        except Exception as exc:
            settled = self._after_failure(call, grant, exc, 0, options.signal)
            if settled is not None:
                return settled
        finally:
            self.router.release(grant, 1)
        self.counters.failovers += 1
        return run_sync(self.run_one(call, options, attempt=1, failed_on=frozenset({grant.key})), "deployment.execute")

    async def run_one(self, call: ToolCall, options: CallOptions, *, attempt: int = 0,
                      failed_on: frozenset[str] = frozenset()) -> ToolResult:
        """Run one call, failing over idempotent calls whose replica died.

        ``attempt`` and ``failed_on`` carry on a failover begun elsewhere (a sync call, or a submitted call whose
        replica died): the failovers already spent, and the replica lives (`ReplicaSlot.key`) not to wait for again.
        """
        signal = options.signal
        wire = pack_options(options)
        while True:
            if signal is not None and signal.aborted:
                return self._cancelled(call, signal)
            free = None if failed_on else self.router.try_acquire(1)  # a replica with room: no await needed
            grant = free if free is not None else await self.router.acquire(1, call.priority, failed_on)
            if isinstance(grant, Refusal):
                return refused_result(call, grant)
            try:
                ref = grant.actor.call.remote(pack_call(call), wire)
                if signal is None:
                    try:
                        packed = await ref
                    except asyncio.CancelledError:
                        ray.cancel(ref)  # the caller gave up: free the replica too, and stop the tool body there
                        raise
                else:
                    packed = await _await_cancellable(ref, signal)
                return self.paused.note(unpack_result(packed), grant)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                settled = self._after_failure(call, grant, exc, attempt, signal)
                if settled is not None:
                    return settled
                attempt += 1
                failed_on = failed_on | {grant.key}
                self.counters.failovers += 1
            finally:
                self.router.release(grant, 1)

    def _after_failure(self, call: ToolCall, grant: ReplicaSlot, exc: Exception, attempt: int,
                       signal: AbortSignal | None) -> ToolResult | None:
        # The call's one result after its remote task raised, or None when it may run again elsewhere.
        kind = classify_ray_failure(exc)
        if kind == "cancelled":
            return self._cancelled(call, signal)
        if kind == "failed":
            return failed_result(call, exc)
        self.router.mark_failed(grant, dead=isinstance(exc, ActorDiedError))
        if not self._may_retry(call, attempt):
            self.counters.replica_died += 1
            return replica_died_result(call, grant.replica_id, type(exc).__name__, self._spent(call, attempt))
        return None

    def _spent(self, call: ToolCall, attempt: int) -> int | None:
        # Why a lost call is not retried, for its message: its failovers spent, or None (not idempotent).
        return attempt if self.is_idempotent(call.name) else None

    def _may_retry(self, call: ToolCall, attempt: int) -> bool:
        return attempt < self.settings()[1] and self.is_idempotent(call.name)

    def _cancelled(self, call: ToolCall, signal: AbortSignal | None) -> ToolResult:
        self.counters.cancelled += 1
        reason = cancellation_message(signal.reason) if signal is not None and signal.aborted else "Cancelled"
        return cancelled_result(call, reason)

    # -- batches ---------------------------------------------------------------------------------------

    async def run_many(self, calls: Sequence[ToolCall], options: CallOptions) -> list[ToolResult]:
        """Run a batch in chunks (higher priorities first) and return results in input order."""
        signal = options.signal
        wire = pack_options(options)
        results: list[ToolResult | None] = [None] * len(calls)
        priorities = {call.priority for call in calls}
        order: Sequence[int] = range(len(calls))
        if len(priorities) > 1:
            order = sorted(order, key=lambda i: -calls[i].priority)  # stable: FIFO within a priority
        cut = 0  # calls of `order` cut into chunks so far
        pending: deque[_Chunk] = deque()  # retries of idempotent calls from a lost replica
        running: set[asyncio.Task[list[_Chunk]]] = set()
        self._count_unsent(len(calls))
        unsent = len(calls)
        try:
            while True:
                for task in [t for t in running if t.done()]:
                    running.discard(task)
                    retries = task.result()
                    pending.extend(retries)
                    added = sum(len(chunk.indexes) for chunk in retries)
                    self._count_unsent(added)
                    unsent += added
                if not pending and cut < len(order):
                    # Cut the next chunk only now: an attached handle learns batch_size with its first snapshot.
                    size = max(1, self.settings()[0])
                    pending.append(_Chunk(list(order[cut:cut + size]), 0))
                    cut += size
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
                priority = calls[chunk.indexes[0]].priority  # chunks keep `order`: the first call ranks highest
                # A replica with room, else one that can queue this chunk behind the one it runs (so it never idles
                # for a round trip between chunks), else wait: a batch holds at most one chunk in the handle's queue.
                weight = len(chunk.indexes)
                ready = (self.router.try_acquire(weight) if not chunk.failed_on else None) or \
                    self.router.try_acquire_ahead(weight, chunk.failed_on)
                grant = ready if ready is not None else await self.router.acquire(weight, priority, chunk.failed_on)
                if isinstance(grant, Refusal):
                    for i in chunk.indexes:
                        results[i] = refused_result(calls[i], grant)
                    continue
                running.add(asyncio.ensure_future(self._run_chunk(grant, chunk, calls, results, wire, signal)))
        except BaseException:
            for task in running:
                task.cancel()
            raise
        finally:
            self._count_unsent(-unsent)
        return [result for result in results if result is not None]

    async def _run_chunk(self, grant: ReplicaSlot, chunk: _Chunk, calls: Sequence[ToolCall],
                         results: list[ToolResult | None], wire: WireOptions,
                         signal: AbortSignal | None) -> list[_Chunk]:
        indexes = chunk.indexes
        stream = grant.actor.call_stream.remote([pack_call(calls[i]) for i in indexes], wire)
        remove = signal.add_listener(lambda _: ray.cancel(stream)) if signal is not None else None
        released = 0
        try:
            async for item in stream:
                group: list[list[Any]] = await item
                for local, packed in group:
                    result = unpack_result(packed)
                    if result.action is not None:
                        self.paused.note(result, grant)
                    results[indexes[local]] = result
                self.router.release(grant, len(group))  # free room as results arrive, not at the chunk's end
                released += len(group)
        except asyncio.CancelledError:
            ray.cancel(stream)
            raise
        except Exception as exc:
            return self._settle_chunk(grant, chunk, calls, results, exc, signal)
        finally:
            self.router.release(grant, len(indexes) - released)
            if remove is not None:
                remove()
        return []

    def _settle_chunk(self, grant: ReplicaSlot, chunk: _Chunk, calls: Sequence[ToolCall],
                      results: list[ToolResult | None], exc: Exception, signal: AbortSignal | None) -> list[_Chunk]:
        kind = classify_ray_failure(exc)
        missing = [i for i in chunk.indexes if results[i] is None]  # a call is in one chunk at a time
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
