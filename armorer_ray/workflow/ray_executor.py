"""The Ray executor: one Ray task per node, upstream results passed as object refs, never through the driver.

Every node is submitted at once, in topological order, each task taking its upstream nodes' refs as top-level
arguments, which Ray resolves on the worker (nested refs would not be). So data moves worker to worker and
independent branches run wherever Ray has room. A node task builds the workflow's toolbox once per worker
process (from a picklable recipe, or a factory you give) and runs the node exactly as the local executor does:
the same gating, arguments, retries and calls through the pipeline; or, given a Deployment, sends each call to
its replicas. A fanned-out node's task takes no CPU and spreads its items as one task each; a node that expands
schedules its spliced nodes from its own task, the same way, and returns their runs with its own.

The driver awaits every node's ref, for events, checkpoints, ``fail_fast`` cancellation and the final result;
that never delays a downstream node, which Ray already holds. ``node.started`` is reported when a node's result
arrives, because the driver learns of a start no sooner; so are its ``node.retrying`` events, which the worker
keeps on the `NodeRun` it returns.

What a node task costs beyond a hand-written ``@ray.remote`` task is kept small (docs/performance.md measures it):
the plan and toolbox recipe are put in the object store once per workflow and executor, not once per run, and a
worker deserialises them once; the run's context (id, caller, approvals, inputs) is pickled once per run into
bytes that every task carries and a worker unpickles once; and a node task has two returns: its full `NodeRun`
(results and all) for the driver, and a compact ``(status, output)`` pair, all that downstream tasks read.

This module imports Ray; `armorer_ray.workflow` imports it only when ``executor="ray"`` is asked for.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import ray
from ray import cloudpickle

from armorer_ray._sync import run_sync
from armorer_ray.context import Approval
from armorer_ray.errors import ConfigError, ToolError, classify_exception
from armorer_ray.results import Caller, ToolCall, ToolResult
from armorer_ray.telemetry.propagation import current_trace_context
from armorer_ray.toolbox import Toolbox
from armorer_ray.workflow.approvals import CallApprovals
from armorer_ray.workflow.executor import CallTarget, OnError, RunSetup, refuse_node_policies, send, stop_reason
from armorer_ray.workflow.graph import Plan, PlanNode
from armorer_ray.workflow.node import call_with_retry, run_node, run_together
from armorer_ray.workflow.recorder import RunRecorder
from armorer_ray.workflow.results import NodeRun, NodeStatus
from armorer_ray.workflow.toolboxes import ToolboxRecipe, node_toolbox

__all__ = ["RayWorkflowExecutor"]


class RayWorkflowExecutor:
    """Runs each node as a Ray task; upstream refs go straight to downstream tasks.

    Ray is initialised (``ray.init()``) on the first run if it is not already.

    Args:
        toolbox_factory: A picklable zero-argument function that builds the toolbox inside workers (called once
            per worker process). Default: a `ToolboxRecipe` of the workflow's toolbox.
        deployment: Send every call to this Deployment's replicas (any picklable `CallTarget`) instead of a
            toolbox built in the node task. Per-node policies cannot apply there, so they are refused.
        num_cpus: CPUs each node task reserves (fan-out coordinators reserve none).
        max_retries: Times Ray re-runs a node task whose worker died (tool failures use ``Node(retry=...)``).
        batch: Run the independent nodes of one topological level together, each task running its nodes
            concurrently, instead of a task per node: in as many tasks as the cluster runs at once
            (``CPU / num_cpus``) on a workflow's first run, then in as few as the nodes' last durations pay for
            (one task per level of quick nodes). A task costs a millisecond or two of scheduling; a batch pays it
            once. The price: a node's output reaches its downstream nodes when its whole batch is done, so for
            levels mixing slow and quick nodes pass ``batch=False``. Fanned-out nodes get a task of their own.

    Raises:
        ConfigError: for a negative ``num_cpus`` or ``max_retries``; when a run starts, for a toolbox that cannot
            be pickled (pass ``toolbox_factory``) or node policies with a ``deployment``.

    Example:
        >>> executor = RayWorkflowExecutor(num_cpus=0.5)
        >>> executor.num_cpus
        0.5
    """

    def __init__(self, *, toolbox_factory: Callable[[], Toolbox] | None = None, deployment: CallTarget | None = None,
                 num_cpus: float = 1.0, max_retries: int = 0, batch: bool = True) -> None:
        if num_cpus < 0 or max_retries < 0:
            raise ConfigError("num_cpus and max_retries must not be negative")
        self.toolbox_factory, self.deployment = toolbox_factory, deployment
        self.num_cpus, self.max_retries, self.batch = num_cpus, max_retries, batch
        self._key = "default" if toolbox_factory is None and deployment is None else str(id(self))

    async def execute(self, setup: RunSetup) -> None:
        """Submit every node, then settle their runs into ``setup.recorder`` as they finish."""
        refuse_node_policies(setup.plan, self.deployment)
        if not ray.is_initialized():
            ray.init()  # as deploy() does: a local runtime, or the cluster RAY_ADDRESS names
        ship, holder = self._shipped(setup)
        caller = setup.caller
        if not caller.trace_context:
            # Node tasks run in other processes, where the caller's span is not current: carry it, as a Deployment
            # handle does for its calls.
            caller = caller.model_copy(update={"trace_context": current_trace_context()})
        inputs = dict(setup.inputs)
        run = _RunInfo(setup.run_id, 0, caller, setup.approvals, inputs, inputs)  # approvals go with every task
        await schedule(ship, holder, _pack(run), setup.restored, setup.recorder)

    def _shipped(self, setup: RunSetup) -> tuple[_Shipment, list[Any]]:
        """This workflow's shipment and the ref it was put under: put once, then reused by later runs.

        A new put follows a new plan, toolbox, ``on_error`` or Ray connection (refs do not outlive it).
        """
        key = f"{setup.key}:{self._key}"
        connection = ray.get_runtime_context().get_worker_id()
        found = _shipped.get(key)
        if found is not None:
            ship, holder, plan, toolbox, seen = found
            if (plan is setup.plan and toolbox is setup.toolbox and seen == connection
                    and (ship.on_error, ship.batch) == (setup.on_error, self.batch)):
                _shipped.move_to_end(key)
                return ship, holder
        # A fresh worker-cache key per put: a worker that cached an earlier shipment under this workflow's key
        # must not serve this one (another toolbox, another plan).
        fresh = f"{key}:{uuid.uuid4().hex}"
        ship = _Shipment(fresh, setup.plan, fresh,
                         self.toolbox_factory or ToolboxRecipe.of(setup.toolbox), self.deployment,
                         setup.on_error, self.num_cpus, self.max_retries, self.batch)
        try:
            holder = [ray.put(ship)]
        except Exception as exc:  # cloudpickle refuses a lock, a connection, an open file...
            raise ConfigError(f"workflow {setup.plan.name!r}: its toolbox cannot travel to Ray workers ({exc}); pass "
                              "RayWorkflowExecutor(toolbox_factory=...) to build it inside each worker") from exc
        _shipped[key] = (ship, holder, setup.plan, setup.toolbox, connection)
        while len(_shipped) > _CACHED:
            _shipped.popitem(last=False)
        return ship, holder


@dataclass(frozen=True)
class _Shipment:
    """What node tasks need, put in the object store once per run and cached per worker under ``key``."""

    key: str
    plan: Plan
    toolbox_key: str
    toolbox_factory: Callable[[], Toolbox]
    deployment: CallTarget | None
    on_error: OnError
    num_cpus: float
    max_retries: int
    batch: bool


@dataclass(frozen=True, slots=True)
class _RunInfo:
    """What every node task of one run (or one expansion) shares: pickled once, unpickled once per worker."""

    run_id: str
    depth: int
    caller: Caller
    approvals: CallApprovals
    inputs: Mapping[str, Any]
    base: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class _Packed:
    """A `_RunInfo` on the wire: a token naming it in workers' caches, and its pickle (bytes, or a ref if large)."""

    token: str
    blob: Any
    info: _RunInfo


# A run context over this size goes to the object store once instead of riding in every task's arguments.
_INLINE_BYTES = 64 * 1024


def _pack(run: _RunInfo) -> _Packed:
    blob: bytes = cloudpickle.dumps(run)  # type: ignore[no-untyped-call]
    return _Packed(uuid.uuid4().hex, blob if len(blob) <= _INLINE_BYTES else ray.put(blob), run)


@dataclass
class _WorkerState:
    ship: _Shipment
    toolbox: Toolbox
    variants: dict[int, Toolbox] = field(default_factory=dict)


# Per-worker-process caches: bounded, so long-lived workers serving many workflows keep only the recent ones.
_states: OrderedDict[str, _WorkerState] = OrderedDict()
_toolboxes: OrderedDict[str, Toolbox] = OrderedDict()
_runs: OrderedDict[str, _RunInfo] = OrderedDict()
_CACHED = 16
# On the driver: each workflow's shipment, its ref, and what it was built from (plan, toolbox, Ray connection).
_shipped: OrderedDict[str, tuple[_Shipment, list[Any], Plan, Toolbox, str]] = OrderedDict()


def _run_info(token: str, blob: bytes) -> _RunInfo:
    """The run context a token names, unpickled on this worker's first task of the run."""
    found = _runs.get(token)
    if found is None:
        found = _runs[token] = cloudpickle.loads(blob)
        while len(_runs) > _CACHED * 4:
            _runs.popitem(last=False)
    return found


def _remember(ship: _Shipment, toolbox: Toolbox | None = None) -> _WorkerState:
    box = toolbox or _toolboxes.get(ship.toolbox_key)
    if box is None:
        box = ship.toolbox_factory()
        if not isinstance(box, Toolbox):
            raise TypeError(f"the toolbox factory returned {type(box).__name__}, not a Toolbox")
    _toolboxes[ship.toolbox_key] = box
    _toolboxes.move_to_end(ship.toolbox_key)
    state = _states[ship.key] = _WorkerState(ship, box)
    for cache in (_states, _toolboxes):
        while len(cache) > _CACHED:
            cache.popitem(last=False)
    return state


def _state(key: str, holder: list[Any]) -> _WorkerState:
    found = _states.get(key)
    if found is None:
        # Sync task code, not async: ray.get is the way to fetch the one ref we nested on purpose (so a worker that
        # already has this plan never deserialises it again).
        return _remember(ray.get(holder[0]))
    _states.move_to_end(key)
    return found


class _WorkerEnv:
    """`NodeEnv` inside a node task: calls through the worker's toolbox (or the deployment), fan-outs as tasks."""

    def __init__(self, state: _WorkerState, holder: list[Any], packed: _Packed,
                 restored: tuple[NodeRun, ...]) -> None:
        run = packed.info
        self.state, self.holder, self.packed, self.run = state, holder, packed, run
        self.run_id, self.inputs, self.toolbox, self.depth = run.run_id, run.inputs, state.toolbox, run.depth
        self.caller, self.approvals = run.caller, run.approvals
        self.restored = restored
        self.retries: list[tuple[int, ToolError]] = []  # travel back on the NodeRun: the driver reports them

    async def call(self, plan_node: PlanNode, call: ToolCall, approval: Approval | None) -> ToolResult:
        target = self.state.ship.deployment or node_toolbox(self.toolbox, plan_node, self.state.variants)
        return await send(target, call, plan_node.node.timeout_s, approval)

    async def fan_out(self, plan: Plan, plan_node: PlanNode, calls: list[ToolCall]) -> list[tuple[ToolResult, int]]:
        ship = self.state.ship
        task = _call_task.options(num_cpus=ship.num_cpus, max_retries=ship.max_retries)
        token, blob = self.packed.token, self.packed.blob
        refs = [task.remote(ship.key, self.holder, token, blob, plan_node.id, call) for call in calls]
        try:
            done = await asyncio.gather(*refs)
        except BaseException:
            for ref in refs:
                _cancel(ref)
            raise
        for _, _, retries in done:
            self.retries.extend(retries)
        return [(result, attempts) for result, attempts, _ in done]

    async def expand(self, plan: Plan, base: Mapping[str, Any]) -> list[NodeRun]:
        # A key of its own per expansion: a resumed run (same run id) may generate other nodes under the same
        # names, and a worker that cached the earlier plan under a reused key would run those instead.
        key = f"{self.state.ship.key}/{self.run.run_id}/{plan.prefix}{uuid.uuid4().hex}"
        ship = replace(self.state.ship, key=key, plan=plan)
        _remember(ship, self.toolbox)
        saved = {run.node: run for run in self.restored}
        run = replace(self.run, depth=self.depth + 1, base=dict(base))
        runs = await schedule(ship, [ray.put(ship)], _pack(run), saved, None)
        return list(runs.values())

    def started(self, node: str) -> None:
        """Starts are reported by the driver, with the result."""

    def retrying(self, node: str, attempt: int, error: ToolError) -> None:
        """Kept, to travel back on the node's run: the driver emits ``node.retrying`` when it settles."""
        self.retries.append((attempt, error))


# What downstream tasks receive from a node: its status and output (what gating and arguments read), not its
# results, which only the driver needs.
_Light = tuple[NodeStatus, Any]


@ray.remote(num_cpus=1, max_retries=0)
def _node_task(key: str, holder: list[Any], token: str, blob: bytes, names: tuple[str, ...],
               restored: Mapping[str, tuple[NodeRun, ...]], sources: tuple[str, ...],
               *upstream: _Light) -> tuple[tuple[NodeRun, ...] | _Light, ...]:
    """Run a batch of independent nodes (often one) concurrently: their full runs, then each one's light form."""
    state = _state(key, holder)
    plan = state.ship.plan
    packed = _Packed(token, blob, _run_info(token, blob))
    given = {source: NodeRun(plan.full_id(source), status, output)
             for source, (status, output) in zip(sources, upstream, strict=True)}
    settled = run_sync(_run_batch(state, holder, packed, names, restored, given), "workflow node")
    return (tuple(settled), *((run.status, run.output) for run in settled))


async def _run_batch(state: _WorkerState, holder: list[Any], packed: _Packed, names: tuple[str, ...],
                     restored: Mapping[str, tuple[NodeRun, ...]], given: Mapping[str, NodeRun]) -> list[NodeRun]:
    plan = state.ship.plan

    async def one(name: str) -> NodeRun:
        env = _WorkerEnv(state, holder, packed, restored.get(name, ()))
        upstream = {source: given[source] for source in plan.nodes[name].sources}
        settled = await run_node(plan, name, env, upstream, packed.info.base)
        return replace(settled, retries=tuple(env.retries)) if env.retries else settled

    return await run_together(plan, names, one, state.ship.on_error)


@ray.remote(num_cpus=1, max_retries=0)
def _call_task(key: str, holder: list[Any], token: str, blob: bytes, name: str,
               call: ToolCall) -> tuple[ToolResult, int, tuple[tuple[int, ToolError], ...]]:
    state = _state(key, holder)
    plan = state.ship.plan
    env = _WorkerEnv(state, holder, _Packed(token, blob, _run_info(token, blob)), ())
    result, attempts = run_sync(call_with_retry(env, plan.nodes[name], plan.full_id(name), call), "workflow call")
    return result, attempts, tuple(env.retries)


async def _outcome(ref: Any) -> Any:
    try:
        return await ref
    except Exception as exc:  # a worker crash, a cancelled task, an error propagated from an upstream task
        return exc


async def schedule(ship: _Shipment, holder: list[Any], packed: _Packed, restored: Mapping[str, NodeRun],
                   recorder: RunRecorder | None) -> dict[str, NodeRun]:
    """Submit a plan's nodes and settle them in an order that respects the graph; their runs by local name."""
    plan = ship.plan
    slots = _slots(ship)
    submitters: dict[tuple[int, bool], Any] = {}
    batches: dict[Any, tuple[str, ...]] = {}  # the ref of each task's full runs: the nodes it ran
    light: dict[str, Any] = {}  # each node's (status, output), for its downstream tasks
    finished: dict[str, Any] = {}
    expanding = any(key.startswith(plan.prefix) and "/" in key[len(plan.prefix):] for key in restored)
    token, blob, key = packed.token, packed.blob, ship.key
    for name in plan.order:
        saved = restored.get(plan.full_id(name))
        if saved is not None:
            light[name] = ray.put((saved.status, saved.output))
            finished[name] = saved
    for batch in _batches_of(ship, finished, slots):
        children = {name: tuple(r for k, r in restored.items() if k.startswith(plan.full_id(name) + "/"))
                    for name in batch} if expanding else {}
        sources = tuple(dict.fromkeys(source for name in batch for source in plan.nodes[name].sources))
        fans = plan.nodes[batch[0]].node.map_over is not None
        submit = submitters.get((len(batch), fans))
        if submit is None:  # a fan-out's task reserves no CPU: it waits on its items' tasks
            submit = submitters[len(batch), fans] = _node_task.options(
                num_cpus=0 if fans else ship.num_cpus, max_retries=ship.max_retries, num_returns=1 + len(batch))
        out = submit.remote(key, holder, token, blob, batch, children, sources, *[light[s] for s in sources])
        batches[out[0]] = batch
        for index, name in enumerate(batch):
            light[name] = out[1 + index]
    position = {name: index for index, name in enumerate(plan.order)}
    arrivals: asyncio.Queue[asyncio.Future[Any]] = asyncio.Queue()  # one hop per task, not a walk of all pending
    waiting: dict[asyncio.Future[Any], Any] = {}  # each task's pending outcome: its ref
    for ref in batches:
        pending: asyncio.Future[Any] = asyncio.ensure_future(_outcome(ref))
        pending.add_done_callback(arrivals.put_nowait)
        waiting[pending] = ref
    runs: dict[str, NodeRun] = {}
    stopped: str | None = None
    try:
        while waiting or finished:
            if waiting:
                arrived = await _next_arrival(arrivals, waiting, stopped)
                outcome, names = arrived.result(), batches[waiting.pop(arrived)]
                for index, name in enumerate(names):
                    finished[name] = outcome[index] if isinstance(outcome, tuple) else outcome
            # Settle in graph order (a node only after its upstream nodes), so events and errors read causally.
            for name in sorted(finished, key=position.__getitem__):
                if all(source in runs for source in plan.nodes[name].sources):
                    settled = _as_run(plan, name, finished.pop(name), runs, stopped)
                    runs[name] = settled
                    _remember_duration(ship, name, settled)
                    if recorder is not None:
                        await _record(recorder, settled, restored, plan.full_id(name))
                    reason = stop_reason(settled, ship.on_error)
                    if reason is not None and stopped is None:
                        stopped = reason
                        for other in waiting.values():
                            _cancel(other)
    finally:
        for future, ref in waiting.items():
            _cancel(ref)
            future.cancel()
    return runs


_SLOTS_FRESH_S = 5.0
_slots_seen: list[tuple[float, float]] = []  # (when, cluster CPUs): asked of the GCS at most every few seconds


def _slots(ship: _Shipment) -> int | None:
    """How many node tasks the cluster runs at once, when batching (None: a task per node)."""
    if not ship.batch or ship.num_cpus <= 0:
        return None
    now = time.monotonic()
    if not _slots_seen or now - _slots_seen[0][0] > _SLOTS_FRESH_S:
        cpus = float(ray.cluster_resources().get("CPU", 1.0))  # type: ignore[no-untyped-call]
        _slots_seen[:] = [(now, cpus)]
    return max(1, int(_slots_seen[0][1] // ship.num_cpus))


# A task costs about this much of scheduling whatever it runs (on a 2-core machine; more under load): a level whose
# nodes took less than this in total last time is better run by one task than spread over several.
_TASK_COST_MS = 2.0
# On the driver, per shipment: each node's duration in its last run, and the batches planned from them.
_durations: OrderedDict[str, dict[str, float]] = OrderedDict()
_planned: OrderedDict[tuple[str, tuple[int, ...]], list[tuple[str, ...]]] = OrderedDict()


def _remember_duration(ship: _Shipment, name: str, run: NodeRun) -> None:
    if run.status == "succeeded" and not run.restored:
        found = _durations.get(ship.key)
        if found is None:
            found = _durations[ship.key] = {}
            while len(_durations) > _CACHED:
                _durations.popitem(last=False)
        found[name] = run.duration_ms


def _batches_of(ship: _Shipment, finished: Mapping[str, Any], slots: int | None) -> list[tuple[str, ...]]:
    """The node tasks to submit, in an order that respects the graph: each a tuple of nodes it runs together.

    Without ``slots`` (``batch=False``), every node is a task of its own. With it, the nodes of one topological
    level (its longest path from a root) that are not fanned out are split into batches of consecutive nodes,
    each running its nodes concurrently: ``slots`` of them (as many tasks as can run at once) on a workflow's
    first run, and afterwards only as many as last run's node durations pay for (one task when the level's
    nodes took less than a task's scheduling cost in all). Fanned-out nodes always get a task of their own.
    """
    plan = ship.plan
    if slots is None:
        return [(name,) for name in plan.order if name not in finished]
    level: dict[str, int] = {}
    for name in plan.order:
        level[name] = 1 + max((level[source] for source in plan.nodes[name].sources), default=-1)
    by_level: dict[int, list[str]] = {}
    fans: list[tuple[str, ...]] = []
    for name in plan.order:
        if name in finished:
            continue
        if plan.nodes[name].node.map_over is not None:
            fans.append((name,))
        else:
            by_level.setdefault(level[name], []).append(name)
    seen = _durations.get(ship.key, {})
    counts = []
    for depth in sorted(by_level):
        names = by_level[depth]
        count = min(slots, len(names))
        if all(name in seen for name in names):
            count = min(count, max(1, int(sum(seen[name] for name in names) // _TASK_COST_MS)))
        counts.append(count)
    key = (ship.key, tuple(counts))
    found = None if finished else _planned.get(key)
    if found is not None:
        return found
    out = list(fans)
    for depth, count in zip(sorted(by_level), counts, strict=True):
        names = by_level[depth]
        size, extra = divmod(len(names), count)
        start = 0
        for index in range(count):
            end = start + size + (1 if index < extra else 0)
            out.append(tuple(names[start:end]))
            start = end
    out.sort(key=lambda batch: level[batch[0]])  # stable: a batch only after the levels it reads
    if not finished:
        _planned[key] = out
        while len(_planned) > _CACHED:
            _planned.popitem(last=False)
    return out


# Ray's cancellation is best effort: a cancel that reaches a task while its worker is still starting it can be
# lost (seen on a loaded 2-core machine: a fail_fast run's 60 s node ran to the end). A stopped run repeats it.
_RECANCEL_EVERY_S = 1.0


async def _next_arrival(arrivals: asyncio.Queue[asyncio.Future[Any]], waiting: Mapping[asyncio.Future[Any], Any],
                        stopped: str | None) -> asyncio.Future[Any]:
    """The next settled node task; once the run is stopped, cancel what is left again each second until it ends."""
    if stopped is None:
        return await arrivals.get()
    while True:
        try:
            return await asyncio.wait_for(arrivals.get(), timeout=_RECANCEL_EVERY_S)
        except asyncio.TimeoutError:
            for ref in waiting.values():
                _cancel(ref)


def _cancel(ref: Any) -> None:
    try:
        ray.cancel(ref, recursive=True)
    except Exception:  # already finished, or not a task's ref: nothing left to stop
        pass


async def _record(recorder: RunRecorder, run: NodeRun, restored: Mapping[str, NodeRun], full: str) -> None:
    if run.restored:
        for key, child in restored.items():
            if key.startswith(full + "/"):
                await recorder.settled(child)
    await recorder.settled(run, with_children=True)


def _as_run(plan: Plan, name: str, outcome: Any, runs: Mapping[str, NodeRun], stopped: str | None) -> NodeRun:
    full = plan.full_id(name)
    if isinstance(outcome, NodeRun):
        return outcome
    if isinstance(outcome, ray.exceptions.TaskCancelledError) or stopped is not None:
        return NodeRun(full, "cancelled", reason=stopped or "cancelled")
    blocked = [s for s in plan.nodes[name].sources if runs[s].status != "succeeded"]
    if blocked:  # an upstream task raised, and Ray handed its error on instead of running this one
        return NodeRun(full, "skipped", reason=f"upstream {blocked[0]} {runs[blocked[0]].status}")
    error = classify_exception(getattr(outcome, "cause", None) or outcome)
    return NodeRun(full, "failed", error=ToolError.of("internal", f"node task failed: {error.message}",
                                                     code="NODE_TASK_FAILED"))
