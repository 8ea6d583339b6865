"""`deploy`, `get_deployment` and `Deployment`: a toolbox running as Ray actor replicas, behind one handle.

```
Deployment (handle, picklable) ── router: caps, priority queue, shedding ──► ToolboxActor × N ──► Toolbox.execute
        └──── long poll (replica set, catalogue) ──── DeploymentController (named; supervises, replaces)
```

Calls go from the handle straight to a replica; the controller is never on the call path. Runnable examples
(they need Ray) are in ``docs/actors.md`` and ``examples/deploy_toolbox.py``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import time
import uuid
from collections.abc import AsyncGenerator, Callable, Iterable, Mapping, Sequence
from typing import Any, overload

import ray
from pydantic import JsonValue
from ray.exceptions import ActorDiedError, RayActorError

from armorer_ray._sync import in_event_loop, run_sync
from armorer_ray.actors._private.backlog import BacklogReporter
from armorer_ray.actors._private.dispatch import Dispatcher
from armorer_ray.actors._private.outcomes import (
    cancelled_result,
    classify_ray_failure,
    failed_result,
    refused_result,
    replica_died_result,
)
from armorer_ray.actors._private.records import ControllerReport
from armorer_ray.actors._private.reporting import deployment_stats, stop_orphans
from armorer_ray.actors._private.router import Refusal, ReplicaSlot, Router
from armorer_ray.actors._private.snapshot import Snapshot
from armorer_ray.actors._private.spec import Catalogue
from armorer_ray.actors._private.submitted import Submitted, SubmittedCalls
from armorer_ray.actors._private.watcher import SnapshotWatcher
from armorer_ray.actors._private.wire import pack_call, pack_options, unpack_result
from armorer_ray.actors.options import DeploymentOptions
from armorer_ray.actors.stats import DeploymentStats, ShutdownReport
from armorer_ray.cancellation import AbortSignal
from armorer_ray.context import Approval
from armorer_ray.errors import ConfigError, Conflict, DeploymentError, ToolError
from armorer_ray.events import EventHub, Listener
from armorer_ray.lifecycle import Health
from armorer_ray.pipeline import DEFAULT_CALL_OPTIONS, CallOptions
from armorer_ray.policy import CallerLike
from armorer_ray.results import Caller, ToolCall, ToolResult
from armorer_ray.telemetry.propagation import current_trace_context, inject_trace_context
from armorer_ray.telemetry.stats import AnalyticsSnapshot

__all__ = ["CallInput", "Deployment"]

CallInput = ToolCall | Mapping[str, Any]
SCALED = "deployment.scaled"  # the event type of a scaling decision (see `Deployment.events`)


class Deployment:
    """The handle of a deployed toolbox: `execute` like `Toolbox.execute`, plus `submit` for ObjectRefs.

    Made by `deploy` or `get_deployment`, never directly. It pickles as its name, namespace, options and the
    controller's actor handle, so it can be passed to Ray tasks and actors (a tool may call another deployment);
    each copy routes with its own counts.

    Attributes:
        name: The deployment's name.
        namespace: Its Ray namespace.

    Example:
        >>> dep = deploy(toolbox, replicas=2)  # doctest: +SKIP
        >>> @ray.remote
        ... def agent_step(handle: Deployment) -> str:
        ...     return handle.execute_sync({"name": "search", "arguments": {"q": "refunds"}}).content
        >>> ray.get(agent_step.remote(dep))  # doctest: +SKIP
    """

    def __init__(self, name: str, namespace: str | None, controller: Any,
                 options: DeploymentOptions | None = None) -> None:
        self.name = name
        self.namespace = namespace
        self._controller = controller
        self._options = options or DeploymentOptions()
        self._catalogue = Catalogue()
        self._snapshot: Snapshot | None = None
        self._router = Router(self._options.max_concurrency, self._options.max_queued,
                              unavailable_timeout_s=self._options.unavailable_timeout_s,
                              first_timeout_s=self._options.start_timeout_s + self._options.unavailable_timeout_s)
        self._dispatcher = Dispatcher(self._router, self._is_idempotent, self._settings)
        self._submitted = SubmittedCalls()
        handle_id = uuid.uuid4().hex[:12]
        self._backlog = BacklogReporter(controller, handle_id, lambda: self._dispatcher.backlog)
        self._watcher = SnapshotWatcher(controller, self._on_snapshot, self._on_gone, handle_id)
        self._first: concurrent.futures.Future[None] = concurrent.futures.Future()  # set by the first snapshot
        self._stopping = False
        self._events: EventHub | None = None  # made on first use of `events`
        self._events_loop: asyncio.AbstractEventLoop | None = None
        self._heard: tuple[str, int] | None = None  # (epoch, seq) of the last scaling decision known; None: none yet

    def __reduce__(self) -> tuple[Any, ...]:
        return (Deployment, (self.name, self.namespace, self._controller, self._options))

    def __repr__(self) -> str:
        return f"Deployment({self.name!r}, replicas={len(self._router.replicas())})"

    @property
    def options(self) -> DeploymentOptions:
        """The routing and supervision options (an attached handle learns them with the first snapshot)."""
        return self._options

    # -- snapshots -------------------------------------------------------------------------------------

    def _on_snapshot(self, snapshot: Snapshot) -> None:
        # Runs on the watcher thread. The router learns the replicas before `_snapshot` is published, so a
        # caller that saw `ready()` return never routes against the previous (possibly empty) replica set.
        if snapshot.version < 0 and self._snapshot is not None and not (snapshot.error or snapshot.stopped):
            return  # a restarted controller not started yet: keep routing on what this handle knows
        self._options = snapshot.options
        self._catalogue = snapshot.catalogue
        self._router.configure(snapshot.options.max_concurrency, snapshot.options.max_queued,
                               snapshot.options.unavailable_timeout_s)
        self._backlog.configure(snapshot.backlog_period_s)
        self._router.set_replicas([(r.replica_id, r.actor, r.healthy, r.life_id) for r in snapshot.replicas])
        if snapshot.error:
            self._router.refuse_all(Refusal("DEPLOYMENT_FAILED", snapshot.error, retryable=False))
        elif snapshot.stopped:
            self._router.refuse_all(Refusal("DEPLOYMENT_STOPPED", f"deployment {self.name!r} was shut down",
                                            retryable=False))
        self._snapshot = snapshot
        self._hear_scaling(snapshot)
        self._arrived()

    def _hear_scaling(self, snapshot: Snapshot) -> None:
        # Decisions made before this handle first heard from the controller (or before anyone asked for `events`)
        # are history, listed by `stats`; each later one is emitted once, also when a snapshot was missed.
        heard, hub = self._heard, self._events
        self._heard = (snapshot.epoch, snapshot.scaling[-1].seq if snapshot.scaling else -1)
        if heard is None or hub is None:
            return
        since = heard[1] if heard[0] == snapshot.epoch else -1  # a new controller life counts from 0 again
        fresh = [event for event in snapshot.scaling if event.seq > since]
        if not fresh:
            return

        def deliver() -> None:
            for event in fresh:
                hub.emit(SCALED, {"deployment": self.name, "scaling": event})

        loop = self._events_loop
        try:
            if loop is not None and not loop.is_closed():
                loop.call_soon_threadsafe(deliver)
                return
        except RuntimeError:  # closed meanwhile
            pass
        deliver()

    @property
    def events(self) -> EventHub:
        """This handle's `EventHub`, on which the deployment's scaling decisions arrive as ``deployment.scaled``.

        Each decision the controller makes from now on is emitted once per handle, with ``detail["scaling"]`` the
        `ScalingEvent` and ``detail["deployment"]`` the name. Decisions travel with the handle's long poll on the
        controller, so they arrive within moments of being made, also while no call is running; earlier ones are
        listed by `stats` (``scaling``). Listeners run on the event loop that first asked for the hub; asked from
        sync code, they run on a Ray thread (keep them quick and thread-safe). Events are per handle: a pickled
        copy of the handle has its own hub.

        Example:
            >>> stop = dep.on("deployment.scaled", lambda e: print(e.detail["scaling"].to_replicas))  # doctest: +SKIP
            >>> async for event in dep.events.stream("deployment.scaled"):  # doctest: +SKIP
            ...     print(event.detail["scaling"].direction)
        """
        if self._events is None:
            try:
                self._events_loop = asyncio.get_running_loop()
            except RuntimeError:
                self._events_loop = None
            self._events = EventHub()
            self._watcher.ensure()  # poll now, so decisions arrive before any call is made
        return self._events

    def on(self, event_type: str | Iterable[str], listener: Listener, *, once: bool = False) -> Callable[[], None]:
        """Subscribe to this handle's events (see `events`); returns the unsubscribe function."""
        return self.events.on(event_type, listener, once=once)

    def _arrived(self) -> None:
        try:
            self._first.set_result(None)
        except concurrent.futures.InvalidStateError:
            pass  # not the first

    def _on_gone(self, exc: BaseException) -> None:
        self._arrived()
        self._router.refuse_all(Refusal("DEPLOYMENT_STOPPED", f"deployment {self.name!r} is gone ({exc})",
                                        retryable=False))

    def _is_idempotent(self, name: str) -> bool:
        return self._catalogue.is_idempotent(name)

    def _settings(self) -> tuple[int, int]:
        options = self._options
        return min(options.batch_size, options.max_concurrency), options.failover_attempts

    async def ready(self, timeout_s: float = 120.0) -> None:
        """Wait until the replicas have started (``on_start`` hooks ran) and this handle knows them.

        Calls made earlier simply wait in the queue; use this to surface start failures early.

        Args:
            timeout_s: Longest wait.

        Raises:
            DeploymentError: when the deployment failed to start, was shut down, or is not ready in time.

        Example:
            >>> await dep.ready()  # doctest: +SKIP
        """
        self._watcher.ensure()
        await self._first_snapshot(timeout_s)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            snapshot = self._snapshot
            if snapshot is not None and snapshot.error:
                raise DeploymentError(snapshot.error)
            if snapshot is not None and snapshot.stopped:
                raise DeploymentError(f"deployment {self.name!r} was shut down")
            if snapshot is not None and snapshot.replicas:
                return
            if loop.time() > deadline:
                raise DeploymentError(f"deployment {self.name!r} not ready within {timeout_s}s")
            await asyncio.sleep(0.05)

    async def _first_snapshot(self, timeout_s: float | None = None) -> None:
        # Until the first snapshot a handle knows neither replicas nor batch size; any snapshot ends the wait.
        if self._first.done():
            return
        try:
            await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(self._first)),
                                   self._options.start_timeout_s if timeout_s is None else timeout_s)
        except asyncio.TimeoutError:
            pass  # the calls then wait in the queue like any others

    # -- calls -----------------------------------------------------------------------------------------

    @overload
    async def execute(self, calls: CallInput, /, *, timeout_s: float | None = None,
                      signal: AbortSignal | None = None, dry_run: bool = False,
                      approval: Approval | None = None) -> ToolResult: ...
    @overload
    async def execute(self, calls: Sequence[CallInput], /, *, timeout_s: float | None = None,
                      signal: AbortSignal | None = None, dry_run: bool = False,
                      approval: Approval | None = None) -> list[ToolResult]: ...

    async def execute(self, calls: CallInput | Sequence[CallInput], /, *, timeout_s: float | None = None,
                      signal: AbortSignal | None = None, dry_run: bool = False,
                      approval: Approval | None = None) -> ToolResult | list[ToolResult]:
        """Run one call, or a batch, on the replicas; one `ToolResult` per call, as `Toolbox.execute` returns.

        A batch travels in chunks of ``batch_size`` calls, one actor round trip each, higher priorities first.
        The caller's OpenTelemetry context travels with every call.

        Args:
            calls: A `ToolCall` or mapping ``{id?, name, arguments?}``, or a sequence of them.
            timeout_s: Per-call deadline, enforced inside the replica.
            signal: Aborting it cancels the calls on their replicas; they end ``cancelled``.
            dry_run: Run each tool's dry-run handler instead of its body.
            approval: Run the calls as a person already decided, as `Toolbox.execute` does with it (it travels to
                the replica). For trusted code acting on a person's decision, never for model-facing paths.

        Returns:
            The result, or the results in input order. Calls shed by a full queue end ``transient``
            ``BACKPRESSURE``; non-idempotent calls whose replica died end ``transient`` ``REPLICA_DIED``.

        Raises:
            asyncio.CancelledError: when the awaiting task is cancelled; the calls are cancelled on the replicas
                too (and their bodies stopped) before it propagates, as with `Toolbox.execute`.

        Example:
            >>> result = await dep.execute(ToolCall(name="add", arguments={"a": 1, "b": 2}))  # doctest: +SKIP
        """
        self._watcher.ensure()
        options = _options(timeout_s, signal, dry_run, approval)
        if isinstance(calls, ToolCall) or isinstance(calls, Mapping):  # noqa: SIM101  # no union object per call
            call = inject_trace_context(_as_call(calls))
            self._backlog.poke()
            try:
                return await self._dispatcher.run_one(call, options)
            finally:
                self._backlog.poke()
        if isinstance(calls, str | bytes):
            raise ConfigError("execute() takes a ToolCall, a mapping, or a sequence of them, not a string")
        batch = [_as_call(item) for item in calls]
        carrier = current_trace_context()
        if carrier:
            batch = [inject_trace_context(call, carrier) for call in batch]
        await self._first_snapshot()  # chunks are cut to the deployment's batch size, which it brings
        self._backlog.poke()
        try:
            return await self._dispatcher.run_many(batch, options)
        finally:
            self._backlog.poke()

    async def stream(self, call: CallInput, /, *, timeout_s: float | None = None, dry_run: bool = False,
                     buffered: int = 4, max_buffered: int = 16) -> AsyncGenerator[object, None]:
        """Run one call on a replica and iterate over its chunks as they are produced, then its `ToolResult`.

        The call takes a slot from the router like any other (a full queue answers at once with a ``transient``
        ``BACKPRESSURE`` result); the chunks come back as a Ray streaming generator holding at most ``buffered``
        unread chunks before the replica, and so the tool, pauses. Leaving the iteration early cancels the call
        on the replica. A replica lost mid-stream ends it with a ``transient`` ``STREAM_LOST`` result, so the
        stream still ends with exactly one `ToolResult`.

        Args:
            call: A `ToolCall` or mapping.
            timeout_s: Deadline for the whole call, last chunk included.
            dry_run: Run the dry-run handler instead of the body.
            buffered: Chunks Ray holds for a slow reader before the replica pauses.
            max_buffered: Chunks the replica's toolbox holds before the tool pauses.

        Returns:
            An async iterator of chunks ending with one `ToolResult`.

        Example:
            >>> async for item in dep.stream(ToolCall(name="tokens", arguments={"prompt": "hi"})):  # doctest: +SKIP
            ...     print(item)
        """
        self._watcher.ensure()
        tool_call = inject_trace_context(_as_call(call))
        await self._first_snapshot()
        grant = await self._router.acquire(1, tool_call.priority)
        if isinstance(grant, Refusal):
            yield refused_result(tool_call, grant)
            return
        method = grant.actor.stream.options(num_returns="streaming", _generator_backpressure_num_objects=buffered)
        generator = method.remote(tool_call, pack_options(_options(timeout_s, None, dry_run, None)), max_buffered)
        ended = False
        try:
            while not ended:
                try:
                    item = await (await generator.__anext__())
                except StopAsyncIteration:
                    break
                except ray.exceptions.RayError as exc:
                    ended = True
                    if classify_ray_failure(exc) == "lost":
                        self._router.mark_failed(grant, dead=isinstance(exc, ActorDiedError))
                    error = ToolError.of("transient", f"the stream's replica was lost: {exc}", code="STREAM_LOST")
                    yield ToolResult.failure(tool_call.id, tool_call.name, error)
                    return
                ended = isinstance(item, ToolResult)
                yield item
        finally:
            self._router.release(grant, 1)
            if not ended:
                ray.cancel(generator)  # the reader left: stop the replica's task, and with it the call

    def execute_sync(self, calls: CallInput | Sequence[CallInput], /, *, timeout_s: float | None = None,
                     dry_run: bool = False, approval: Approval | None = None) -> Any:
        """Blocking form of `execute`, for scripts; refuses inside a running event loop.

        A single call that a replica has room for runs without an event loop: one actor call and a blocking
        ``ray.get``, as hand-written Ray would do; otherwise (queueing, batches) it runs `execute`.

        Example:
            >>> dep.execute_sync({"name": "add", "arguments": {"a": 1, "b": 2}}).result  # doctest: +SKIP
            3
        """
        if (isinstance(calls, ToolCall) or isinstance(calls, Mapping)) and not in_event_loop():  # noqa: SIM101
            self._watcher.ensure()
            call = inject_trace_context(_as_call(calls))
            result = self._dispatcher.run_one_now(call, _options(timeout_s, None, dry_run, approval))
            if result is not None:
                return result
            calls = call
        return run_sync(self.execute(calls, timeout_s=timeout_s, dry_run=dry_run, approval=approval),
                        "deployment.execute")

    def submit(self, call: CallInput, *, timeout_s: float | None = None, dry_run: bool = False,
               approval: Approval | None = None) -> ray.ObjectRef[ToolResult]:
        """Send one call now and return its ``ObjectRef[ToolResult]`` without waiting.

        The ref composes: pass it as a top-level argument to another Ray task or actor call and Ray resolves it
        there, with no round trip through this process. A replica with room takes the call at once; when all
        are full it waits in the least-loaded replica's own (FIFO) queue and counts against ``max_queued``. Such a
        call never waits in this handle's priority queue, so it goes ahead of calls queued there by `execute`,
        whatever their priorities. ``call.priority`` counts when the queue is full: the call then evicts a queued
        call of lower priority (which ends ``BACKPRESSURE``), and the ref resolves to a ``BACKPRESSURE`` result
        when nothing of lower priority waits.
        A ref that was cancelled or lost its replica raises when awaited: `resolve` turns that into a result.

        Args:
            call: A `ToolCall` or mapping.
            timeout_s: Per-call deadline, enforced inside the replica.
            dry_run: Run the dry-run handler instead of the body.
            approval: Run the call as a person already decided (as for `execute`).

        Returns:
            The ObjectRef of the call's `ToolResult`.

        Example:
            >>> ref = dep.submit(ToolCall(name="add", arguments={"a": 1, "b": 2}))  # doctest: +SKIP
            >>> ray.get(ref).result  # doctest: +SKIP
            3
        """
        self._watcher.ensure()
        tool_call = inject_trace_context(_as_call(call))
        call_options = _options(timeout_s, None, dry_run, approval)
        options = pack_options(call_options)
        grant = self._router.acquire_now(1, tool_call.priority)
        if isinstance(grant, Refusal):
            return ray.put(refused_result(tool_call, grant))
        if grant is None:  # no snapshot yet: the controller forwards this one
            ref: ray.ObjectRef[ToolResult] = self._controller.forward.remote(tool_call, options)
            self._submitted.remember(ref, Submitted(tool_call, call_options, "(forwarded)"))
            ref._on_completed(functools.partial(self._settled, ref, None))
            return ref
        ref = grant.actor.execute.remote(pack_call(tool_call), options)
        self._submitted.remember(ref, Submitted(tool_call, call_options, grant.replica_id, grant.key))
        ref._on_completed(functools.partial(self._settled, ref, grant))  # what ref.future() uses, minus the future
        return ref

    def _settled(self, ref: Any, grant: ReplicaSlot | None, value: object) -> None:
        # Runs on a Ray thread when the ref resolves, with its value or the exception awaiting it would raise:
        # free the slot; keep the call only if resolve() may need it.
        if grant is not None:
            self._router.release(grant, 1)
        if not isinstance(value, BaseException):
            self._submitted.forget(ref)
        elif grant is not None and classify_ray_failure(value) == "lost":
            self._router.mark_failed(grant, dead=isinstance(value, ActorDiedError))

    async def resolve(self, ref: ray.ObjectRef[ToolResult]) -> ToolResult:
        """Await a ref from `submit` and always get a `ToolResult`, even when awaiting it raised.

        A ref cancelled with ``ray.cancel`` gives a ``cancelled`` result; one whose replica died is failed over
        when the tool is idempotent, exactly as `execute` fails a call over: with the call's own options, on a
        replica other than the one it was lost on (or that replica restarted by Ray), at most
        ``failover_attempts`` times in all; otherwise it gives ``REPLICA_DIED``.

        Args:
            ref: A ref returned by this handle's `submit`.

        Returns:
            The call's result.

        Raises:
            DeploymentError: when ``ref`` failed and did not come from this handle's `submit`.

        Example:
            >>> ref = dep.submit(call); ray.cancel(ref)  # doctest: +SKIP
            >>> (await dep.resolve(ref)).error.category  # doctest: +SKIP
            'cancelled'
        """
        try:
            result: ToolResult = await ref
            return result
        except asyncio.CancelledError:
            ray.cancel(ref)
            raise
        except Exception as exc:
            known = self._submitted.take(ref)
            if known is None:
                raise DeploymentError(f"resolve(): this ref did not come from {self!r}.submit()") from exc
            call = known.call
            kind = classify_ray_failure(exc)
            if kind == "cancelled":
                self._dispatcher.counters.cancelled += 1
                return cancelled_result(call, "Cancelled: ray.cancel() was called on the call's ObjectRef")
            if kind == "failed":
                return failed_result(call, exc)
            if self._is_idempotent(call.name) and self._options.failover_attempts > 0:
                self._dispatcher.counters.failovers += 1
                self._watcher.ensure()
                avoid = frozenset({known.slot_key}) if known.slot_key else frozenset()
                return await self._dispatcher.run_one(call, known.options, attempt=1, failed_on=avoid)
            self._dispatcher.counters.replica_died += 1
            return replica_died_result(call, known.replica_id, type(exc).__name__)

    async def resume(self, token: str, *, approved: bool = True, input: JsonValue = None, by: str | None = None,
                     reason: str | None = None, caller: CallerLike | None = None) -> ToolResult:
        """Resume a call paused for approval or input, on the replica that paused it (it runs at most once).

        This handle remembers where it saw each call pause; a token it did not see (paused through another
        handle) goes to any replica, which finds it when the toolbox keeps paused calls in a shared
        `StoreApprovalBook`.

        Args:
            token: ``result.action.resume_token`` of the ``action_required`` result.
            approved: False rejects the call.
            input: What a ``needs_input`` pause asked for.
            by: Who approved, for audit.
            reason: Why it was rejected.
            caller: Who resumes, as in `Toolbox.resume`: a token is bound to the tenant (and user) whose call
                paused, and travels to the replica with this caller's ids; anyone else gets the unknown-token
                answer.

        Returns:
            The result of the resumed call.

        Raises:
            Conflict: when the token is unknown, was already used, belongs to another tenant or user, or its
                replica is gone.

        Example:
            >>> paused = await dep.execute(ToolCall(name="wire", arguments={"amount": 500}))  # doctest: +SKIP
            >>> (await dep.resume(paused.action.resume_token, by="ops")).result  # doctest: +SKIP
            'sent 500'
        """
        self._watcher.ensure()
        slot = self._dispatcher.paused.take(token)
        grant = None
        if slot is None:
            acquired = await self._router.acquire(1)
            if isinstance(acquired, Refusal):
                raise Conflict(f"cannot resume: {acquired.message}", code=acquired.code)
            slot = grant = acquired
        try:
            who = None if caller is None else Caller(tenant_id=caller.tenant_id, session_id=caller.session_id,
                                                     user_id=caller.user_id)
            done, value = await slot.actor.resume.remote(token, approved, input, by, reason, who)
        except RayActorError as exc:
            raise Conflict(f"resume token {token[:8]}... was held by replica {slot.replica_id}, which is gone",
                           code="RESUME_TOKEN_LOST") from exc
        finally:
            if grant is not None:
                self._router.release(grant, 1)
        if not done:
            raise Conflict(value.message, code=value.code)
        return self._dispatcher.paused.note(unpack_result(value), slot)

    # -- lifecycle -------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Same as `ready` (a deployment starts when it is deployed)."""
        await self.ready()

    async def health(self) -> Health:
        """Healthy while at least one replica passes its probes; never raises.

        Example:
            >>> (await dep.health()).ok  # doctest: +SKIP
            True
        """
        try:
            health: Health = await self._controller.health.remote()
        except Exception as exc:
            return Health(ok=False, detail=f"controller unreachable: {type(exc).__name__}")
        return health

    async def stats(self) -> DeploymentStats:
        """Every replica's state and counters, and this handle's own counts.

        Raises:
            DeploymentError: when the controller cannot be reached.

        Example:
            >>> (await dep.stats()).healthy_replicas  # doctest: +SKIP
            2
        """
        try:
            report: ControllerReport = await self._controller.report.remote()
        except RayActorError as exc:
            raise DeploymentError(f"deployment {self.name!r} is unreachable: {exc}") from exc
        return deployment_stats(self.name, report, self._router.stats(), self._dispatcher.counters)

    async def analytics(self, *, reset: bool = False, timeout_s: float = 30.0) -> AnalyticsSnapshot:
        """Call analytics of every live replica, merged: counts, outcomes, error codes, p50/p95/p99, bytes and cost
        per tool and tenant (see `armorer_ray.telemetry.Analytics`), for a deployment made with
        ``DeploymentOptions(analytics=True)``.

        Each replica counts the calls it ran since it started, or since the last ``reset=True``; a replica that died
        or was replaced takes its counts with it, and a replica that does not answer in time is left out of this
        snapshot (its counts stay for the next). Cost comes from each tool's ``metadata["cost"]``.

        Args:
            reset: Start a new window on every replica that answers (what it counted goes into this snapshot).
            timeout_s: Longest wait for the replicas (and for the deployment to be ready).

        Returns:
            The merged snapshot (no cells when no call has finished yet).

        Raises:
            ConfigError: when the deployment was made without ``DeploymentOptions(analytics=True)``.
            DeploymentError: when the deployment failed, was shut down, or has no replica ready in time.

        Example:
            >>> snapshot = await dep.analytics()  # doctest: +SKIP
            >>> snapshot.by_tool()["default:add"].p95_ms  # doctest: +SKIP
            1.9
        """
        await self.ready(timeout_s)
        if not self._options.analytics:
            raise ConfigError(f"deployment {self.name!r} keeps no analytics: deploy it with "
                              "DeploymentOptions(analytics=True)")
        refs = [slot.actor.analytics.remote(reset) for slot in self._router.replicas() if not slot.dead]
        done, pending = await asyncio.wait([asyncio.ensure_future(_awaited(ref)) for ref in refs], timeout=timeout_s)
        for late in pending:
            late.cancel()
        merged = AnalyticsSnapshot(since=time.time(), until=time.time())
        for task in done:
            if task.exception() is None and task.result() is not None:  # a lost replica took its counts along
                merged = merged.merge(task.result())
        return merged

    def analytics_sync(self, *, reset: bool = False, timeout_s: float = 30.0) -> AnalyticsSnapshot:
        """Blocking form of `analytics`."""
        return run_sync(self.analytics(reset=reset, timeout_s=timeout_s), "deployment.analytics")

    async def drain(self, timeout_s: float | None = None) -> None:
        """Stop taking calls through this handle, then shut down gracefully (see `shutdown`)."""
        await self.shutdown(drain=True, timeout_s=timeout_s)

    async def stop(self) -> None:
        """Shut down without waiting for calls in flight."""
        await self.shutdown(drain=False)

    async def shutdown(self, drain: bool = True, timeout_s: float | None = None) -> ShutdownReport:
        """Stop the deployment: replicas run ``on_drain`` (after calls in flight finish, when ``drain``) and
        ``on_stop``, their resource pools are drained and closed, then every actor is killed.

        Every replica actor of the deployment is killed, also ones its controller lost track of; a replica that
        does not answer (its node is gone) is killed without its hooks, and the report says so. When the
        controller itself is unreachable, this handle kills the replicas it can find by name.
        Calls still queued in this handle end ``DEPLOYMENT_STOPPED``; other handles learn it from the controller.
        Shutting down twice is harmless (the second report is empty).

        Args:
            drain: Wait for calls in flight (up to ``timeout_s``) before stopping.
            timeout_s: Longest wait per replica (default ``drain_timeout_s``).

        Returns:
            Which replicas stopped cleanly, which were killed unanswered, and any that could not be killed.

        Example:
            >>> (await dep.shutdown()).ok  # doctest: +SKIP
            True
        """
        if self._stopping:
            return ShutdownReport()
        self._stopping = True
        wait_s = self._options.drain_timeout_s if timeout_s is None else timeout_s
        self._router.refuse_all(Refusal("DEPLOYMENT_STOPPED", f"deployment {self.name!r} is shutting down",
                                        retryable=False))
        try:
            report: ShutdownReport = await asyncio.wait_for(
                asyncio.wrap_future(self._controller.shutdown.remote(drain, wait_s).future()), wait_s + 60.0)
        except (RayActorError, asyncio.TimeoutError):  # the controller is gone or stuck: stop what we can find
            report = await asyncio.to_thread(stop_orphans, self.name, self.namespace)
        finally:
            self._watcher.close()
            self._backlog.configure(None)
            ray.kill(self._controller, no_restart=True)
        return report

    def shutdown_sync(self, drain: bool = True, timeout_s: float | None = None) -> ShutdownReport:
        """Blocking form of `shutdown`, for scripts; refuses inside a running event loop."""
        report: ShutdownReport = run_sync(self.shutdown(drain, timeout_s), "deployment.shutdown")
        return report


def _options(timeout_s: float | None, signal: AbortSignal | None, dry_run: bool,
             approval: Approval | None) -> CallOptions:
    if timeout_s is None and signal is None and not dry_run and approval is None:
        return DEFAULT_CALL_OPTIONS  # the common case makes no options object per call
    return CallOptions(timeout_s, signal, dry_run, approval)


def _as_call(item: CallInput) -> ToolCall:
    return item if isinstance(item, ToolCall) else ToolCall.model_validate(item)


async def _awaited(ref: Any) -> Any:
    return await ref
