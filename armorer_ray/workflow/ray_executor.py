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

This module imports Ray; `armorer_ray.workflow` imports it only when ``executor="ray"`` is asked for.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import ray

from armorer_ray._sync import run_sync
from armorer_ray.context import Approval
from armorer_ray.errors import ConfigError, ToolError, classify_exception
from armorer_ray.results import Caller, ToolCall, ToolResult
from armorer_ray.telemetry.propagation import current_trace_context
from armorer_ray.toolbox import Toolbox
from armorer_ray.workflow.approvals import CallApprovals
from armorer_ray.workflow.executor import CallTarget, OnError, RunSetup, refuse_node_policies, send, stop_reason
from armorer_ray.workflow.graph import Plan, PlanNode
from armorer_ray.workflow.node import call_with_retry, run_node
from armorer_ray.workflow.recorder import RunRecorder
from armorer_ray.workflow.results import NodeRun
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

    Raises:
        ConfigError: for a negative ``num_cpus`` or ``max_retries``; when a run starts, for a toolbox that cannot
            be pickled (pass ``toolbox_factory``) or node policies with a ``deployment``.

    Example:
        >>> executor = RayWorkflowExecutor(num_cpus=0.5)
        >>> executor.num_cpus
        0.5
    """

    def __init__(self, *, toolbox_factory: Callable[[], Toolbox] | None = None, deployment: CallTarget | None = None,
                 num_cpus: float = 1.0, max_retries: int = 0) -> None:
        if num_cpus < 0 or max_retries < 0:
            raise ConfigError("num_cpus and max_retries must not be negative")
        self.toolbox_factory, self.deployment = toolbox_factory, deployment
        self.num_cpus, self.max_retries = num_cpus, max_retries
        self._key = "default" if toolbox_factory is None and deployment is None else str(id(self))

    async def execute(self, setup: RunSetup) -> None:
        """Submit every node, then settle their runs into ``setup.recorder`` as they finish."""
        refuse_node_policies(setup.plan, self.deployment)
        if not ray.is_initialized():
            ray.init()  # as deploy() does: a local runtime, or the cluster RAY_ADDRESS names
        ship = _Shipment(f"{setup.key}:{self._key}", setup.plan, f"{setup.key}:{self._key}",
                         self.toolbox_factory or ToolboxRecipe.of(setup.toolbox), self.deployment,
                         setup.on_error, self.num_cpus, self.max_retries)
        try:
            holder = [ray.put(ship)]
        except Exception as exc:  # cloudpickle refuses a lock, a connection, an open file...
            raise ConfigError(f"workflow {setup.plan.name!r}: its toolbox cannot travel to Ray workers ({exc}); pass "
                              "RayWorkflowExecutor(toolbox_factory=...) to build it inside each worker") from exc
        inputs = ray.put(dict(setup.inputs))
        caller = setup.caller
        if not caller.trace_context:
            # Node tasks run in other processes, where the caller's span is not current: carry it, as a Deployment
            # handle does for its calls.
            caller = caller.model_copy(update={"trace_context": current_trace_context()})
        run = _RunInfo(setup.run_id, 0, caller, setup.approvals)  # approvals travel with every node task
        await schedule(ship, holder, run, inputs, inputs, setup.restored, setup.recorder)


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


@dataclass(frozen=True, slots=True)
class _RunInfo:
    run_id: str
    depth: int
    caller: Caller
    approvals: CallApprovals


@dataclass
class _WorkerState:
    ship: _Shipment
    toolbox: Toolbox
    variants: dict[int, Toolbox] = field(default_factory=dict)


# Per-worker-process caches: bounded, so long-lived workers serving many workflows keep only the recent ones.
_states: OrderedDict[str, _WorkerState] = OrderedDict()
_toolboxes: OrderedDict[str, Toolbox] = OrderedDict()
_CACHED = 16


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

    def __init__(self, state: _WorkerState, holder: list[Any], run: _RunInfo, inputs: Mapping[str, Any],
                 restored: tuple[NodeRun, ...]) -> None:
        self.state, self.holder, self.run = state, holder, run
        self.run_id, self.inputs, self.toolbox, self.depth = run.run_id, inputs, state.toolbox, run.depth
        self.caller, self.approvals = run.caller, run.approvals
        self.restored = restored
        self.retries: list[tuple[int, ToolError]] = []  # travel back on the NodeRun: the driver reports them

    async def call(self, plan_node: PlanNode, call: ToolCall, approval: Approval | None) -> ToolResult:
        target = self.state.ship.deployment or node_toolbox(self.toolbox, plan_node, self.state.variants)
        return await send(target, call, plan_node.node.timeout_s, approval)

    async def fan_out(self, plan: Plan, plan_node: PlanNode, calls: list[ToolCall]) -> list[tuple[ToolResult, int]]:
        ship = self.state.ship
        task = _call_task.options(num_cpus=ship.num_cpus, max_retries=ship.max_retries)
        refs = [task.remote(ship.key, self.holder, plan_node.id, self.run, call) for call in calls]
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
        run = replace(self.run, depth=self.depth + 1)
        runs = await schedule(ship, [ray.put(ship)], run, ray.put(dict(self.inputs)), ray.put(dict(base)), saved, None)
        return list(runs.values())

    def started(self, node: str) -> None:
        """Starts are reported by the driver, with the result."""

    def retrying(self, node: str, attempt: int, error: ToolError) -> None:
        """Kept, to travel back on the node's run: the driver emits ``node.retrying`` when it settles."""
        self.retries.append((attempt, error))


@ray.remote(num_cpus=1, max_retries=0)
def _node_task(key: str, holder: list[Any], name: str, run: _RunInfo, inputs: dict[str, Any], base: dict[str, Any],
               restored: tuple[NodeRun, ...], *upstream: NodeRun) -> NodeRun:
    state = _state(key, holder)
    plan = state.ship.plan
    env = _WorkerEnv(state, holder, run, inputs, restored)
    runs = dict(zip(plan.nodes[name].sources, upstream, strict=True))
    settled = run_sync(run_node(plan, name, env, runs, base), "workflow node")
    return replace(settled, retries=tuple(env.retries)) if env.retries else settled


@ray.remote(num_cpus=1, max_retries=0)
def _call_task(key: str, holder: list[Any], name: str, run: _RunInfo,
               call: ToolCall) -> tuple[ToolResult, int, tuple[tuple[int, ToolError], ...]]:
    state = _state(key, holder)
    plan = state.ship.plan
    env = _WorkerEnv(state, holder, run, {}, ())
    result, attempts = run_sync(call_with_retry(env, plan.nodes[name], plan.full_id(name), call), "workflow call")
    return result, attempts, tuple(env.retries)


async def _outcome(ref: Any) -> Any:
    try:
        return await ref
    except Exception as exc:  # a worker crash, a cancelled task, an error propagated from an upstream task
        return exc


async def schedule(ship: _Shipment, holder: list[Any], run: _RunInfo, inputs: Any, base: Any,
                   restored: Mapping[str, NodeRun], recorder: RunRecorder | None) -> dict[str, NodeRun]:
    """Submit a plan's nodes and settle them in an order that respects the graph; their runs by local name."""
    plan = ship.plan
    task = _node_task.options(num_cpus=ship.num_cpus, max_retries=ship.max_retries)
    coordinator = _node_task.options(num_cpus=0, max_retries=ship.max_retries)  # it waits on its items' tasks
    refs: dict[str, Any] = {}
    finished: dict[str, Any] = {}
    for name in plan.order:
        full = plan.full_id(name)
        saved = restored.get(full)
        if saved is not None:
            refs[name] = ray.put(saved)
            finished[name] = saved
            continue
        children = tuple(r for k, r in restored.items() if k.startswith(full + "/"))
        submit = coordinator if plan.nodes[name].node.map_over is not None else task
        upstream = [refs[source] for source in plan.nodes[name].sources]
        refs[name] = submit.remote(ship.key, holder, name, run, inputs, base, children, *upstream)
    position = {name: index for index, name in enumerate(plan.order)}
    arrivals: asyncio.Queue[asyncio.Future[Any]] = asyncio.Queue()  # one hop per node, not a walk of all pending
    waiting: dict[asyncio.Future[Any], str] = {}
    for name in plan.order:
        if name not in finished:
            pending: asyncio.Future[Any] = asyncio.ensure_future(_outcome(refs[name]))
            pending.add_done_callback(arrivals.put_nowait)
            waiting[pending] = name
    runs: dict[str, NodeRun] = {}
    stopped: str | None = None
    try:
        while waiting or finished:
            if waiting:
                arrived = await _next_arrival(arrivals, refs, waiting, stopped)
                finished[waiting.pop(arrived)] = arrived.result()
            # Settle in graph order (a node only after its upstream nodes), so events and errors read causally.
            for name in sorted(finished, key=position.__getitem__):
                if all(source in runs for source in plan.nodes[name].sources):
                    settled = _as_run(plan, name, finished.pop(name), runs, stopped)
                    runs[name] = settled
                    if recorder is not None:
                        await _record(recorder, settled, restored, plan.full_id(name))
                    reason = stop_reason(settled, ship.on_error)
                    if reason is not None and stopped is None:
                        stopped = reason
                        for other in waiting.values():
                            _cancel(refs[other])
    finally:
        for future, name in waiting.items():
            _cancel(refs[name])
            future.cancel()
    return runs


# Ray's cancellation is best effort: a cancel that reaches a task while its worker is still starting it can be
# lost (seen on a loaded 2-core machine: a fail_fast run's 60 s node ran to the end). A stopped run repeats it.
_RECANCEL_EVERY_S = 1.0


async def _next_arrival(arrivals: asyncio.Queue[asyncio.Future[Any]], refs: Mapping[str, Any],
                        waiting: Mapping[asyncio.Future[Any], str], stopped: str | None) -> asyncio.Future[Any]:
    """The next settled node task; once the run is stopped, cancel what is left again each second until it ends."""
    if stopped is None:
        return await arrivals.get()
    while True:
        try:
            return await asyncio.wait_for(arrivals.get(), timeout=_RECANCEL_EVERY_S)
        except asyncio.TimeoutError:
            for name in waiting.values():
                _cancel(refs[name])


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
