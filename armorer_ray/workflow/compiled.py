"""The opt-in compiled path: a fixed-shape workflow as a Ray Compiled Graph over warm actors.

``executor="ray"`` submits every run's node tasks anew: Ray schedules each task, leases a worker, resolves its
arguments through the object store. A workflow whose shape is fixed before it runs (no fan-out over runtime
data, no expansion) can instead be compiled once: its nodes are spread over a few long-lived actors, each of
which builds the toolbox once, and the whole graph becomes a Ray Compiled Graph (``experimental_compile``), whose
actors exchange node outputs over pre-allocated channels. A run is then one ``execute`` of that graph.

Within an actor, the nodes of one topological level run as one step (concurrently, as ``executor="ray"``
batches them); a step reads the steps of the level above that hold its upstream nodes. Every node goes through
the same `run_node` as on the other executors: gating, arguments, validation, policies, retries, timeouts,
approvals. What differs:

- Events and checkpoints are reported when the graph has run, in graph order (the driver learns of nothing
  sooner); a run's result is the same as on the other executors.
- ``fail_fast`` stops the rest of the failing node's actor (its later nodes end ``cancelled``) and downstream
  nodes are skipped as usual; nodes already under way on another actor run to the end.
- A run cannot be cancelled midway, and a node's call should have a timeout (a toolbox or node ``timeout_s``):
  the graph waits for every node.
- Fan-outs (``Node(map_over=...)``) and tools annotated to return an `Expansion` are refused when the graph is
  compiled (`NotCompilableError`, or the ``fallback`` executor runs the workflow instead); a tool that returns
  an `Expansion` without saying so fails its node with ``NOT_COMPILABLE``.

This module imports Ray; nothing imports it unless you do.
"""

from __future__ import annotations

import asyncio
import typing
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import ray
from ray import cloudpickle
from ray.dag import InputNode, MultiOutputNode

from armorer_ray._sync import run_sync
from armorer_ray.context import Approval
from armorer_ray.errors import ConfigError, ToolError, classify_exception
from armorer_ray.results import Caller, ToolCall, ToolResult
from armorer_ray.telemetry.propagation import current_trace_context
from armorer_ray.toolbox import Toolbox
from armorer_ray.workflow.approvals import CallApprovals
from armorer_ray.workflow.errors import NotCompilableError
from armorer_ray.workflow.executor import OnError, RunSetup, WorkflowExecutor, send
from armorer_ray.workflow.expansion import Expansion
from armorer_ray.workflow.graph import Plan, PlanNode
from armorer_ray.workflow.node import run_node, run_together
from armorer_ray.workflow.results import NodeRun, NodeStatus
from armorer_ray.workflow.toolboxes import ToolboxRecipe, node_toolbox

if TYPE_CHECKING:
    from armorer_ray.workflow.workflow import Workflow

__all__ = ["CompiledRayExecutor", "compilable"]

_Light = tuple[NodeStatus, Any]  # what a node hands its downstream nodes: status and output


def compilable(plan: Plan, toolbox: Toolbox) -> None:
    """Check that a plan's shape is fixed before it runs, as the compiled path needs.

    Raises:
        NotCompilableError: naming the first node that fans out, or whose tool is annotated to return an
            `Expansion`.

    Example:
        >>> from armorer_ray import tool
        >>> from armorer_ray.workflow import Node, create_workflow
        >>> @tool
        ... def square(x: int) -> int:
        ...     "Square a number."
        ...     return x * x
        >>> wf = create_workflow(nodes={"sq": Node(square, map_over="x")})
        >>> compilable(wf.plan, wf.toolbox)
        Traceback (most recent call last):
        ...
        armorer_ray.workflow.errors.NotCompilableError: node 'sq' fans out over 'x', a list known only at run time; \
a compiled graph has a fixed shape (run it with executor="ray")
    """
    for name, plan_node in plan.nodes.items():
        if plan_node.node.map_over is not None:
            raise NotCompilableError(f"node {name!r} fans out over {plan_node.node.map_over!r}, a list known only "
                                     'at run time; a compiled graph has a fixed shape (run it with executor="ray")',
                                     name, "fan_out")
        if _may_expand(toolbox, plan_node):
            raise NotCompilableError(f"node {name!r}: its tool returns an Expansion, which splices in nodes at run "
                                     'time; a compiled graph has a fixed shape (run it with executor="ray")',
                                     name, "expansion")


def _may_expand(toolbox: Toolbox, plan_node: PlanNode) -> bool:
    found = toolbox.get_tool(plan_node.tool_id)
    if found is None or not callable(found._body):
        return False
    try:
        annotation = typing.get_type_hints(found._body).get("return")
    except Exception:  # unresolvable hints: not known to expand (an Expansion returned anyway fails its node)
        return False
    pending = [annotation]
    while pending:
        current = pending.pop()
        if current is Expansion:
            return True
        pending.extend(typing.get_args(current))
    return False


class CompiledRayExecutor:
    """Runs fixed-shape workflows as Ray Compiled Graphs over warm actors (opt-in; see the module docs).

    The first run of a workflow starts its actors and compiles its graph (seconds); later runs reuse them. Keep
    one executor for the workflows you run often, and `close` it when done (Ray also tears graphs down when the
    driver exits). Runs of one workflow go through its graph one at a time.

    Args:
        actors: Actors a workflow's nodes are spread over (each level's nodes round-robin).
        toolbox_factory: A picklable zero-argument function that builds the toolbox inside each actor. Default: a
            `ToolboxRecipe` of the workflow's toolbox.
        num_cpus: CPUs each actor reserves while it lives (default none, so it never starves tasks).
        fallback: The executor that runs a workflow the compiled path refuses (say ``RayWorkflowExecutor()``);
            without one, such a run raises `NotCompilableError`.
        max_graphs: Compiled workflows kept; the least recently run one beyond is torn down.

    Raises:
        ConfigError: for fewer than one actor or graph, or a negative ``num_cpus``.

    Example:
        >>> executor = CompiledRayExecutor(actors=2)
        >>> executor.actors
        2
    """

    def __init__(self, *, actors: int = 2, toolbox_factory: Callable[[], Toolbox] | None = None,
                 num_cpus: float = 0.0, fallback: WorkflowExecutor | None = None, max_graphs: int = 4) -> None:
        if actors < 1 or max_graphs < 1 or num_cpus < 0:
            raise ConfigError("actors and max_graphs must be at least 1, num_cpus not negative")
        self.actors, self.toolbox_factory, self.num_cpus = actors, toolbox_factory, num_cpus
        self.fallback, self.max_graphs = fallback, max_graphs
        self._graphs: OrderedDict[str, _Graph] = OrderedDict()

    async def execute(self, setup: RunSetup) -> None:
        """Run the plan through its compiled graph (compiling it first if needed); settle every node in order.

        Raises:
            NotCompilableError: when the plan's shape is not fixed and there is no ``fallback``.
        """
        try:
            graph = await self._graph(setup)
        except NotCompilableError:
            if self.fallback is None:
                raise
            await self.fallback.execute(setup)
            return
        caller = setup.caller
        if not caller.trace_context:  # nodes run in the actors, where the caller's span is not current
            caller = caller.model_copy(update={"trace_context": current_trace_context()})
        restored = {full: (run.status, run.output) for full, run in setup.restored.items()}
        context = _RunContext(setup.run_id, caller, setup.approvals, dict(setup.inputs), setup.on_error, restored)
        token = uuid.uuid4().hex
        async with graph.lock:
            try:
                blob: bytes = cloudpickle.dumps(context)  # type: ignore[no-untyped-call]
                parts = await asyncio.to_thread(graph.run, (token, blob))
            except Exception as exc:  # an actor died, a step raised: this graph is not to be trusted again
                self._drop(setup)
                parts = _failed_everywhere(setup.plan, exc)
        runs = {run.node: run for part in parts for run in part}
        for name in setup.plan.order:
            full = setup.plan.full_id(name)
            await setup.recorder.settled(setup.restored.get(full) or runs[full])

    async def compile(self, workflow: Workflow) -> None:
        """Start the actors and compile a workflow's graph now, so its first run does not pay for it.

        Raises:
            NotCompilableError: when its shape is not fixed.
        """
        await self._graph_for(workflow._key, workflow.plan, workflow.toolbox)  # the key its runs' setups carry

    async def close(self) -> None:
        """Tear down every compiled graph and its actors."""
        graphs, self._graphs = list(self._graphs.values()), OrderedDict()
        for graph in graphs:
            await asyncio.to_thread(graph.teardown)

    def close_sync(self) -> None:
        """Blocking form of `close` (refuses inside a running event loop)."""
        run_sync(self.close(), "executor.close")

    async def _graph(self, setup: RunSetup) -> _Graph:
        return await self._graph_for(setup.key, setup.plan, setup.toolbox)

    async def _graph_for(self, key: str, plan: Plan, toolbox: Toolbox) -> _Graph:
        found = self._graphs.get(key)
        if found is not None and found.plan is plan and found.toolbox is toolbox:
            self._graphs.move_to_end(key)
            return found
        compilable(plan, toolbox)
        if not ray.is_initialized():
            ray.init()  # as the Ray executor does: a local runtime, or the cluster RAY_ADDRESS names
        factory = self.toolbox_factory or ToolboxRecipe.of(toolbox)
        graph = await asyncio.to_thread(_Graph.build, plan, toolbox, factory, self.actors, self.num_cpus)
        old = self._graphs.pop(key, None)
        self._graphs[key] = graph
        evicted = [old] if old is not None else []
        while len(self._graphs) > self.max_graphs:
            evicted.append(self._graphs.popitem(last=False)[1])
        for stale in evicted:
            await asyncio.to_thread(stale.teardown)
        return graph

    def _drop(self, setup: RunSetup) -> None:
        graph = self._graphs.pop(setup.key, None)
        if graph is not None:
            graph.teardown()


@dataclass(frozen=True, slots=True)
class _RunContext:
    """What every step of one run reads: pickled once per run, the graph's input."""

    run_id: str
    caller: Caller
    approvals: CallApprovals
    inputs: Mapping[str, Any]
    on_error: OnError
    restored: Mapping[str, _Light]  # succeeded nodes taken from checkpoints, by full name: not run again


@dataclass
class _Graph:
    """A compiled workflow: its actors and its compiled graph (one run at a time)."""

    plan: Plan
    toolbox: Toolbox
    actors: list[Any]
    compiled: Any
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @classmethod
    def build(cls, plan: Plan, toolbox: Toolbox, factory: Callable[[], Toolbox], count: int,
              num_cpus: float) -> _Graph:
        """Start the actors, bind one step per (level, actor) and compile."""
        try:
            ship: bytes = cloudpickle.dumps((plan, factory))  # type: ignore[no-untyped-call]
        except Exception as exc:  # cloudpickle refuses a lock, a connection, an open file...
            raise ConfigError(f"workflow {plan.name!r}: its toolbox cannot travel to Ray actors ({exc}); pass "
                              "CompiledRayExecutor(toolbox_factory=...) to build it inside each actor") from exc
        actor_class: Any = ray.remote(_StepActor).options(num_cpus=num_cpus, max_concurrency=1)
        actors: list[Any] = [actor_class.remote(ship) for _ in range(count)]
        try:
            ray.get([actor.ready.remote() for actor in actors])
            level: dict[str, int] = {}
            steps: dict[tuple[int, int], list[str]] = {}
            placed: dict[int, int] = {}
            for name in plan.order:
                depth = level[name] = 1 + max((level[s] for s in plan.nodes[name].sources), default=-1)
                index = placed.get(depth, 0)
                placed[depth] = index + 1
                steps.setdefault((depth, index % count), []).append(name)
            where = {name: step for step, names in steps.items() for name in names}
            with InputNode() as context:
                bound: dict[tuple[int, int], Any] = {}
                by_actor: list[list[Any]] = [[] for _ in actors]
                for step in sorted(steps):
                    names = steps[step]
                    reads = dict.fromkeys(where[s] for name in names for s in plan.nodes[name].sources)
                    node = actors[step[1]].step.bind(context, tuple(names), *(bound[r] for r in reads))
                    bound[step] = node
                    by_actor[step[1]].append(node)
                dag = MultiOutputNode([actors[i].collect.bind(context, *nodes)
                                       for i, nodes in enumerate(by_actor) if nodes])
            compiled = dag.experimental_compile()
        except BaseException:
            for actor in actors:
                ray.kill(actor)
            raise
        return cls(plan, toolbox, actors, compiled)

    def run(self, context: tuple[str, bytes]) -> list[tuple[NodeRun, ...]]:
        """One execution: each actor's node runs (blocking: call it from a thread)."""
        refs = self.compiled.execute(context)
        return [ref.get(timeout=-1) for ref in refs]  # -1: as long as the nodes take (their calls have timeouts)

    def teardown(self) -> None:
        """Tear the graph down and stop its actors (best effort)."""
        try:
            self.compiled.teardown(kill_actors=True)
        except Exception:  # already torn down, or its actors are gone
            for actor in self.actors:
                try:
                    ray.kill(actor)
                except Exception:  # already dead
                    pass


def _failed_everywhere(plan: Plan, exc: Exception) -> list[tuple[NodeRun, ...]]:
    error = classify_exception(getattr(exc, "cause", None) or exc)
    failure = ToolError.of("internal", f"compiled graph failed: {error.message}", code="NODE_TASK_FAILED")
    return [tuple(NodeRun(plan.full_id(name), "failed", error=failure) for name in plan.order)]


class _StepActor:
    """One actor of a compiled workflow: builds the toolbox once, runs its steps, hands back its node runs."""

    def __init__(self, ship: bytes) -> None:
        plan, factory = cloudpickle.loads(ship)
        self.plan: Plan = plan
        box = factory()
        if not isinstance(box, Toolbox):
            raise TypeError(f"the toolbox factory returned {type(box).__name__}, not a Toolbox")
        self.toolbox = box
        self.variants: dict[int, Toolbox] = {}
        self.contexts: dict[str, _RunContext] = {}
        self.kept: dict[str, list[NodeRun]] = {}
        self.stopped: dict[str, str] = {}

    def ready(self) -> bool:
        """Whether the actor is up (its toolbox built)."""
        return True

    def step(self, context: tuple[str, bytes], names: tuple[str, ...], *upstream: dict[str, _Light]) -> \
            dict[str, _Light]:
        """Run some nodes of one level concurrently; keep their runs, hand on their statuses and outputs."""
        token, blob = context
        run = self.contexts.get(token)
        if run is None:
            run = self.contexts[token] = cloudpickle.loads(blob)
        given: dict[str, _Light] = {}
        for part in upstream:
            given.update(part)
        settled = run_sync(run_together(self.plan, names, lambda name: self._node(token, run, name, given),
                                        run.on_error), "compiled workflow step")
        kept = self.kept.setdefault(token, [])
        out: dict[str, _Light] = {}
        for name, node_run in zip(names, settled, strict=True):
            if not node_run.restored:
                kept.append(node_run)
            if run.on_error == "fail_fast" and node_run.status in ("failed", "cancelled"):
                self.stopped.setdefault(token, f"run stopped: node {node_run.node} {node_run.status}")
            out[name] = (node_run.status, node_run.output)
        return out

    def collect(self, context: tuple[str, bytes], *steps: dict[str, _Light]) -> tuple[NodeRun, ...]:
        """This actor's node runs of the run, after its last step; forget the run."""
        token = context[0]
        self.contexts.pop(token, None)
        self.stopped.pop(token, None)
        return tuple(self.kept.pop(token, ()))

    async def _node(self, token: str, run: _RunContext, name: str, given: Mapping[str, _Light]) -> NodeRun:
        plan = self.plan
        full = plan.full_id(name)
        saved = run.restored.get(full)
        if saved is not None:
            return NodeRun(full, saved[0], saved[1], restored=True)
        stopped = self.stopped.get(token)
        if stopped is not None:
            return NodeRun(full, "cancelled", reason=stopped)
        upstream = {s: NodeRun(plan.full_id(s), *given[s]) for s in plan.nodes[name].sources}
        env = _ActorEnv(self, run)
        try:
            settled = await run_node(plan, name, env, upstream, run.inputs)
        except NotCompilableError as exc:
            return NodeRun(full, "failed", error=ToolError.of("validation", str(exc), code="NOT_COMPILABLE"))
        return replace(settled, retries=tuple(env.retries)) if env.retries else settled


class _ActorEnv:
    """`NodeEnv` inside a step actor: calls through the actor's toolbox; no fan-outs or expansions."""

    depth = 0

    def __init__(self, actor: _StepActor, run: _RunContext) -> None:
        self.actor, self.toolbox = actor, actor.toolbox
        self.run_id, self.caller, self.inputs, self.approvals = run.run_id, run.caller, run.inputs, run.approvals
        self.retries: list[tuple[int, ToolError]] = []

    async def call(self, plan_node: PlanNode, call: ToolCall, approval: Approval | None) -> ToolResult:
        target = node_toolbox(self.toolbox, plan_node, self.actor.variants)
        return await send(target, call, plan_node.node.timeout_s, approval)

    async def fan_out(self, plan: Plan, plan_node: PlanNode, calls: list[ToolCall]) -> list[tuple[ToolResult, int]]:
        raise NotCompilableError(f"node {plan_node.id!r} fans out at run time", plan_node.id, "fan_out")

    async def expand(self, plan: Plan, base: Mapping[str, Any]) -> list[NodeRun]:
        node = plan.prefix.rstrip("/")
        raise NotCompilableError(f"node {node!r} returned an Expansion, which a compiled graph cannot splice in; "
                                 'run this workflow with executor="ray"', node, "expansion")

    def started(self, node: str) -> None:
        """Starts are reported by the driver, with the result."""

    def retrying(self, node: str, attempt: int, error: ToolError) -> None:
        """Kept, to travel back on the node's run: the driver emits ``node.retrying`` when it settles."""
        self.retries.append((attempt, error))
