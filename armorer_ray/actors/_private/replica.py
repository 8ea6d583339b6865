"""`ToolboxActor`: the async Ray actor that hosts one toolbox and forwards every call to `Toolbox.execute`.

A thin shell: the toolbox is built here from its spec (pools open their connections here), started lazily by the
first method call of each actor life (so a replica Ray restarts runs ``on_start`` again, once), and every call
goes through the one pipeline. Control methods (probe, stats, shutdown) run in their own concurrency group, so a
replica saturated with calls still answers its supervisor.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import ray
from pydantic import JsonValue

from armorer_ray.actors._private.spec import Catalogue, ToolboxSpec
from armorer_ray.actors._private.wire import PackedCall, PackedResult, pack_result, unpack_call
from armorer_ray.context import Approval
from armorer_ray.errors import ToolFailure, classify_exception
from armorer_ray.lifecycle import Health
from armorer_ray.resources import PoolStats, ResourcePool
from armorer_ray.results import Caller, ToolCall, ToolResult
from armorer_ray.telemetry.analytics import Analytics
from armorer_ray.telemetry.propagation import remote_span
from armorer_ray.telemetry.stats import AnalyticsSnapshot

__all__ = ["CONTROL_GROUP", "CallOptions", "ReplicaActor", "ReplicaReport", "ToolboxActor"]

CONTROL_GROUP = "control"
CONTROL_CONCURRENCY = 4  # probe, report and shutdown never wait behind calls


@dataclass(frozen=True, slots=True)
class CallOptions:
    """Per-call options that travel with a call to the replica (picklable: plain values and an `Approval`)."""

    timeout_s: float | None = None
    dry_run: bool = False
    approval: Approval | None = None

    @classmethod
    def of(cls, timeout_s: float | None, dry_run: bool, approval: Approval | None) -> CallOptions | None:
        """The options to send, or None when every one is the default (nothing extra to pickle per call)."""
        if timeout_s is None and not dry_run and approval is None:
            return None
        return cls(timeout_s, dry_run, approval)


@dataclass(frozen=True, slots=True)
class ReplicaReport:
    """What a replica says about itself: identity of this actor life, counters, pools, tool catalogue."""

    replica_id: str
    life_id: str
    pid: int
    node_id: str
    in_flight: int
    completed: int
    failed: int
    catalogue: Catalogue
    pools: dict[str, PoolStats] = field(default_factory=dict)
    ongoing: int = 0  # calls this actor holds, running or waiting for a slot: the load autoscaling reads


class ToolboxActor:
    """Hosts a toolbox in a Ray actor (made into one by the controller with ``ray.remote``)."""

    def __init__(self, spec_blob: bytes, replica_id: str, max_concurrency: int, analytics: bool = False) -> None:
        spec: ToolboxSpec = ray.cloudpickle.loads(spec_blob)  # pickled by the driver, opened only here
        self._toolbox = spec.build()
        self._catalogue = Catalogue.of(self._toolbox)
        self._replica_id = replica_id
        self._life_id = uuid.uuid4().hex  # a new one per actor life: the supervisor counts Ray restarts by it
        self._gate = asyncio.Semaphore(max_concurrency)  # calls of batch chunks count one by one
        self._starting: asyncio.Task[None] | None = None
        self._started = False
        self._completed = 0
        self._failed = 0
        self._ongoing = 0
        # Opt-in: recording adds most of the pipeline's own cost again per call, which batched calls would feel.
        self._analytics = Analytics() if analytics else None
        if self._analytics is not None:
            self._analytics.attach(self._toolbox)

    # -- lifecycle -------------------------------------------------------------------------------------

    async def _ready(self) -> None:
        if self._starting is None:
            self._starting = asyncio.ensure_future(self._start())
        await asyncio.shield(self._starting)

    async def _start(self) -> None:
        for pool in self._toolbox.resources.values():  # pools first: on_start hooks may use them
            start = getattr(pool, "start", None)
            if start is not None and asyncio.iscoroutinefunction(start):
                await start()
        await self._toolbox.start()
        self._started = True

    @ray.method(concurrency_group=CONTROL_GROUP)
    async def start(self) -> ReplicaReport:
        """Run ``on_start`` hooks (once per actor life) and report; raises what a hook raised."""
        await self._ready()
        return self._report()

    @ray.method(concurrency_group=CONTROL_GROUP)
    async def probe(self, call: ToolCall | None, timeout_s: float) -> Health:
        """A health check through the pipeline (see `Toolbox.probe`); never raises."""
        try:
            await asyncio.wait_for(self._ready(), timeout_s)
        except Exception as exc:
            return Health(ok=False, detail=f"not started: {classify_exception(exc).message}")
        return await self._toolbox.probe(call, timeout_s=timeout_s)

    @ray.method(concurrency_group=CONTROL_GROUP)
    async def report(self) -> ReplicaReport:
        """Counters and pool stats of this actor life."""
        return self._report()

    @ray.method(concurrency_group=CONTROL_GROUP)
    async def analytics(self, reset: bool) -> AnalyticsSnapshot | None:
        """Call analytics of this actor life (since it started, or the last reset when ``reset``); None when off."""
        if self._analytics is None:
            return None
        return self._analytics.reset() if reset else self._analytics.snapshot()

    @ray.method(concurrency_group=CONTROL_GROUP)
    async def shutdown(self, drain: bool, timeout_s: float) -> None:
        """Drain (wait for calls in flight, run ``on_drain``) when asked, then stop: ``on_stop``, pools closed."""
        if drain:
            await self._toolbox.drain(timeout_s)
        await self._toolbox.stop()

    def _report(self) -> ReplicaReport:
        pools = {name: pool.stats() for name, pool in self._toolbox.resources.items()
                 if isinstance(pool, ResourcePool)}
        return ReplicaReport(self._replica_id, self._life_id, os.getpid(), ray.get_runtime_context().get_node_id(),
                             self._toolbox.in_flight, self._completed, self._failed, self._catalogue, pools,
                             self._ongoing)

    # -- calls -----------------------------------------------------------------------------------------

    async def execute(self, call: ToolCall, options: CallOptions | None = None) -> ToolResult:
        """Run one call through the toolbox's pipeline (the form behind ``Deployment.submit``)."""
        if not self._started:
            await self._ready()
        return await self._execute(call, options or _DEFAULT)

    async def stream(self, call: ToolCall, options: CallOptions | None,
                     max_buffered: int) -> AsyncIterator[object]:
        """One call's chunks as its body yields them, then its `ToolResult` (the form behind `Deployment.stream`)."""
        if not self._started:
            await self._ready()
        opts = options or _DEFAULT
        async with self._gate:
            async for item in self._toolbox.stream(call, timeout_s=opts.timeout_s, dry_run=opts.dry_run,
                                                   max_buffered=max_buffered):
                yield item

    async def call(self, packed: PackedCall, options: CallOptions | None = None) -> PackedResult:
        """`execute` with the call and result as tuples (the handle's own path: cheaper to pickle)."""
        if not self._started:
            await self._ready()
        return pack_result(await self._execute(unpack_call(packed), options or _DEFAULT))

    async def call_stream(self, packed: Sequence[PackedCall],
                          options: CallOptions | None = None) -> AsyncIterator[list[tuple[int, PackedResult]]]:
        """Run a chunk of calls concurrently, yielding ``(index, result)`` groups as they finish.

        Streaming matters when the replica dies: every result already yielded has reached the caller, so only
        calls still running are in doubt. Results finishing together share one yield (one object each).
        """
        if not self._started:
            await self._ready()
        settings = options or _DEFAULT
        finished: list[tuple[int, PackedResult]] = []
        wake = asyncio.Event()

        async def one(index: int, call: ToolCall) -> None:
            try:
                result = await self._execute(call, settings)
            except Exception as exc:  # execute does not raise for a call's failure; this is a bug guard
                result = ToolResult.failure(call.id, call.name, classify_exception(exc))
            finished.append((index, pack_result(result)))
            wake.set()

        tasks = [asyncio.ensure_future(one(i, unpack_call(item))) for i, item in enumerate(packed)]
        remaining = len(tasks)
        try:
            while remaining:
                await wake.wait()
                wake.clear()
                group = finished[:]
                del finished[:]
                remaining -= len(group)
                yield group
        finally:
            for task in tasks:  # a cancelled stream (ray.cancel) stops every body still running
                task.cancel()

    async def resume(self, token: str, approved: bool, input: JsonValue, by: str | None,
                     reason: str | None, caller: Caller | None = None) -> tuple[bool, Any]:
        """`Toolbox.resume` here, where the paused call waits; ``(True, packed result)`` or ``(False, ToolError)``."""
        if not self._started:
            await self._ready()
        try:
            result = await self._toolbox.resume(token, approved=approved, input=input, by=by, reason=reason,
                                                caller=caller)
        except ToolFailure as exc:  # an unknown or used token: the handle raises it again, as Toolbox.resume does
            return False, exc.to_tool_error()
        return True, pack_result(result)

    async def _execute(self, call: ToolCall, options: CallOptions) -> ToolResult:
        self._ongoing += 1
        try:
            async with self._gate:
                if call.trace_context:
                    with remote_span(call):
                        result = await self._toolbox.execute(call, timeout_s=options.timeout_s,
                                                             dry_run=options.dry_run, approval=options.approval)
                else:
                    result = await self._toolbox.execute(call, timeout_s=options.timeout_s, dry_run=options.dry_run,
                                                         approval=options.approval)
        finally:
            self._ongoing -= 1
        if result.error is None:
            self._completed += 1
        else:
            self._failed += 1
        return result


_DEFAULT = CallOptions()

# The actor class; resources, placement, names and concurrency are applied per replica with `.options()`.
ReplicaActor: Any = ray.remote(concurrency_groups={CONTROL_GROUP: CONTROL_CONCURRENCY})(ToolboxActor)  # type: ignore[call-overload]  # ray's stubs have no overload for a class with concurrency_groups
