"""`Workflow`, a validated DAG of tool calls, and `create_workflow`, the one way to build one."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import JsonValue

from armorer_ray._sync import run_sync
from armorer_ray.events import EventHub
from armorer_ray.json_values import digest
from armorer_ray.results import Caller
from armorer_ray.stores import Store, open_store
from armorer_ray.toolbox import Toolbox
from armorer_ray.tools import Tool
from armorer_ray.workflow.approvals import ApprovalLike, CallApprovals
from armorer_ray.workflow.checkpoints import Checkpoints
from armorer_ray.workflow.errors import CheckpointError, MissingInputError, WorkflowConfigError
from armorer_ray.workflow.executor import OnError, RunSetup, WorkflowExecutor
from armorer_ray.workflow.export import FORMAT, mermaid, read_structure, structure_json
from armorer_ray.workflow.graph import Plan, build_plan
from armorer_ray.workflow.recorder import RunRecorder
from armorer_ray.workflow.results import RunResult, RunStatus
from armorer_ray.workflow.spec import Edge, EdgeLike, Node, NodeLike, as_edges, as_node

__all__ = ["ExecutorLike", "Workflow", "create_workflow"]

ExecutorLike = Literal["local", "ray"] | WorkflowExecutor


class Workflow:
    """A validated DAG of tool nodes; build one with `create_workflow`.

    Attributes:
        name: The workflow's name (checkpoint keys and events carry it).
        toolbox: The toolbox every node's calls go through.
        events: Where runs report node events (see `armorer_ray.workflow.recorder`); iterate
            ``workflow.events.stream()`` from async code, or subscribe with ``workflow.events.on(type, listener)``.

    Example:
        >>> from armorer_ray import tool
        >>> shout = tool(name="shout", description="Upper-case text.")(lambda text: text.upper())
        >>> wf = create_workflow(nodes={"shout": shout}, name="loud")
        >>> wf, wf.order, wf.sinks
        (Workflow('loud', nodes=1), ('shout',), ('shout',))
    """

    def __init__(self, plan: Plan, toolbox: Toolbox, nodes: Mapping[str, Node], edges: Sequence[Edge]) -> None:
        self._plan, self.toolbox = plan, toolbox
        self._nodes, self._edges = dict(nodes), tuple(edges)
        self.name = plan.name
        self.events = EventHub()
        self._key = uuid.uuid4().hex  # names this workflow in Ray workers' caches
        self._fingerprint = digest({"structure": structure_json(self._nodes, self._edges, strict=False),
                                    "tools": {name: node.tool_id for name, node in plan.nodes.items()}})

    def __repr__(self) -> str:
        return f"Workflow({self.name!r}, nodes={len(self._nodes)})"

    @property
    def nodes(self) -> Mapping[str, Node]:
        """The node definitions by name."""
        return dict(self._nodes)

    @property
    def edges(self) -> tuple[Edge, ...]:
        """The edge definitions, as given to `create_workflow` (normalised to `Edge`)."""
        return self._edges

    @property
    def order(self) -> tuple[str, ...]:
        """Node names in the topological order runs respect."""
        return self._plan.order

    @property
    def sinks(self) -> tuple[str, ...]:
        """Nodes with no outgoing edge: their outputs are the run's outputs."""
        return self._plan.sinks

    @property
    def plan(self) -> Plan:
        """The validated graph executors run."""
        return self._plan

    async def run(self, inputs: Mapping[str, Any] | None = None, *, executor: ExecutorLike = "local",
                  on_error: OnError = "continue", checkpoint: Store | str | None = None,
                  run_id: str | None = None, caller: Caller | None = None) -> RunResult:
        """Run every node, each as soon as its upstream nodes settle, and report how each ended.

        Args:
            inputs: What root nodes merge (and ``$inputs`` sources read).
            executor: ``"local"`` (asyncio in this process), ``"ray"`` (a Ray task per node, data passed between
                workers as object refs), or an executor instance (`LocalWorkflowExecutor`,
                `armorer_ray.workflow.ray_executor.RayWorkflowExecutor`).
            on_error: ``continue`` runs every branch a failure does not block; ``fail_fast`` cancels the rest
                at the first failure.
            checkpoint: A `Store`, or a store URL such as ``"sqlite:///runs.db"``: succeeded nodes are saved as
                they settle, and a run with the same ``run_id`` restores them instead of running them again.
            run_id: The run's id (default: a fresh one).
            caller: Who the run is for: every node call carries its tenant, session and user ids, priority and
                trace context, so policies, rate limits and tools see them as for a direct call. On Ray, a
                caller without a trace context carries the current span's.

        Returns:
            The `RunResult`; a node's failure is in it, never raised.

        Raises:
            MissingInputError: when declared inputs are missing.
            CheckpointError: when a checkpoint cannot be written, or the stored run does not match.
            ConfigError: for an unknown executor or ``on_error``.

        Example:
            >>> from armorer_ray import tool
            >>> @tool
            ... def add(a: int, b: int) -> int:
            ...     "Add two numbers."
            ...     return a + b
            >>> @tool
            ... def half(add: int) -> float:
            ...     "Halve a number."
            ...     return add / 2
            >>> wf = create_workflow(nodes={"add": add, "half": half}, edges=[("add", "half")])
            >>> run = wf.run_sync({"a": 3, "b": 5})
            >>> run.status, run.outputs, run.nodes["add"].result.result
            ('succeeded', {'half': 4.0}, 8)
        """
        return await self._run(inputs, executor, on_error, checkpoint, run_id, caller, CallApprovals())

    async def _run(self, inputs: Mapping[str, Any] | None, executor: ExecutorLike, on_error: OnError,
                   checkpoint: Store | str | None, run_id: str | None, caller: Caller | None,
                   approvals: CallApprovals) -> RunResult:
        values = dict(inputs or {})
        if self._plan.inputs is not None:
            missing = sorted(self._plan.inputs - set(values))
            if missing:
                raise MissingInputError(f"workflow {self.name!r} needs inputs: {', '.join(missing)}", "", missing[0])
        if on_error not in ("continue", "fail_fast"):
            raise WorkflowConfigError(f"on_error must be 'continue' or 'fail_fast', got {on_error!r}")
        chosen = _executor(executor)
        run_id = run_id or uuid.uuid4().hex
        store = open_store(checkpoint) if isinstance(checkpoint, str) else checkpoint
        started_at, t0 = time.time(), time.perf_counter()
        try:
            checkpoints = Checkpoints(store, self.name, run_id) if store is not None else None
            restored = await checkpoints.open(self._fingerprint, values) if checkpoints is not None else {}
            recorder = RunRecorder(self.events, self.name, run_id, checkpoints)
            recorder.emit("run.started", inputs=values, restored=sorted(restored))
            recorder.queued(self._plan.full_id(name) for name in self._plan.order)
            await chosen.execute(RunSetup(self._plan, self.toolbox, values, run_id, on_error, recorder, restored,
                                          self._key, caller or Caller(), approvals))
            result = self._result(recorder, run_id, started_at, (time.perf_counter() - t0) * 1000.0)
            if checkpoints is not None:  # how every node ended, so run history can show runs of other processes
                await checkpoints.finish(result.status, result.nodes.values())
        finally:
            if isinstance(checkpoint, str) and store is not None:
                await store.close()
        recorder.emit("run.finished", result=result)
        return result

    def run_sync(self, inputs: Mapping[str, Any] | None = None, *, executor: ExecutorLike = "local",
                 on_error: OnError = "continue", checkpoint: Store | str | None = None, run_id: str | None = None,
                 caller: Caller | None = None) -> RunResult:
        """Blocking form of `run`, for scripts and the CLI.

        Args:
            inputs: As for `run`; so are ``executor``, ``on_error``, ``checkpoint``, ``run_id`` and ``caller``.

        Returns:
            The `RunResult`.

        Raises:
            RuntimeError: inside a running event loop (use ``await workflow.run(...)`` there).

        Example:
            >>> from armorer_ray import tool
            >>> shout = tool(name="shout", description="Upper-case text.")(lambda text: text.upper())
            >>> create_workflow(nodes={"shout": shout}).run_sync({"text": "hi"}).outputs
            {'shout': 'HI'}
        """
        return run_sync(self.run(inputs, executor=executor, on_error=on_error, checkpoint=checkpoint, run_id=run_id,
                                 caller=caller), "workflow.run")

    async def resume(self, run_id: str, *, checkpoint: Store | str, executor: ExecutorLike = "local",
                     on_error: OnError = "continue", caller: Caller | None = None,
                     approvals: Mapping[str, ApprovalLike] | None = None) -> RunResult:
        """Run a checkpointed run again with its stored inputs: succeeded nodes are restored, the rest run.

        Args:
            run_id: The run to resume.
            checkpoint: The store (or URL) it was checkpointed in.
            executor: As for `run`.
            on_error: As for `run`.
            caller: As for `run` (the caller is not checkpointed: the resuming caller's calls carry theirs).
            approvals: A person's decisions on nodes the run left paused, by node name: ``True``, ``False`` or an
                `Approval` (with ``input`` for a ``needs_input`` pause, ``by``, a rejection's ``reason``). A node's
                calls run as `Toolbox.execute(..., approval=...)` runs them, but only a call whose id and
                arguments are those checkpointed when it paused: one re-built with other arguments asks again.
                A rejected node fails (``permission``, ``APPROVAL_REJECTED``) and its downstream nodes are skipped.
                The node's `NodeRun.approval` records the decision applied.

        Returns:
            The `RunResult` of the resumed run (restored nodes have ``restored=True``).

        Raises:
            CheckpointError: when nothing was checkpointed under ``run_id``, or it belongs to another structure.
            WorkflowConfigError: before anything runs, when ``approvals`` names a node the checkpoint does not
                show paused (the message lists the paused ones), or a decision is not a bool or an `Approval`.

        Example:
            >>> from armorer_ray.stores import MemoryStore
            >>> from armorer_ray.testing import mock_tool
            >>> flaky = mock_tool("flaky", outcomes=[RuntimeError("down"), "up"])
            >>> steady = mock_tool("steady", outcomes=["ok"])
            >>> wf = create_workflow(nodes={"steady": steady, "flaky": flaky}, entry=["steady", "flaky"])
            >>> store = MemoryStore()
            >>> wf.run_sync({"day": 1}, checkpoint=store, run_id="r1").status
            'failed'
            >>> again = wf.resume_sync("r1", checkpoint=store)
            >>> again.status, again.nodes["steady"].restored, len(steady.calls)
            ('succeeded', True, 1)
        """
        store = open_store(checkpoint) if isinstance(checkpoint, str) else checkpoint
        try:
            marks = Checkpoints(store, self.name, run_id)
            inputs = await marks.inputs()
            if inputs is None:
                raise CheckpointError(f"no checkpointed run {run_id!r} of workflow {self.name!r}")
            decided = CallApprovals.decide(approvals, await marks.paused()) if approvals else CallApprovals()
            return await self._run(inputs, executor, on_error, store, run_id, caller, decided)
        finally:
            if isinstance(checkpoint, str):
                await store.close()

    def resume_sync(self, run_id: str, *, checkpoint: Store | str, executor: ExecutorLike = "local",
                    on_error: OnError = "continue", caller: Caller | None = None,
                    approvals: Mapping[str, ApprovalLike] | None = None) -> RunResult:
        """Blocking form of `resume` (refuses inside a running event loop).

        Args:
            run_id: The run to resume; ``checkpoint``, ``executor``, ``on_error``, ``caller`` and ``approvals`` are
                as for `resume`.

        Returns:
            The `RunResult` of the resumed run.
        """
        return run_sync(self.resume(run_id, checkpoint=checkpoint, executor=executor, on_error=on_error, caller=caller,
                                    approvals=approvals), "workflow.resume")

    def _result(self, recorder: RunRecorder, run_id: str, started_at: float, duration_ms: float) -> RunResult:
        nodes = recorder.nodes
        statuses = {run.status for run in nodes.values()}
        status: RunStatus = "succeeded"
        if statuses & {"failed", "cancelled"}:
            status = "failed"
        elif "paused" in statuses:
            status = "paused"
        outputs = {name: nodes[name].output for name in self._plan.sinks
                   if name in nodes and nodes[name].status == "succeeded"}
        return RunResult(run_id, self.name, status, dict(nodes), outputs, started_at, duration_ms)

    # -- views -------------------------------------------------------------------------------------------

    def to_mermaid(self) -> str:
        """A Mermaid flowchart of the workflow (one box per node, labelled arrows for conditions).

        Example:
            >>> from armorer_ray import tool
            >>> one = tool(name="one", description="Return 1.")(lambda: 1)
            >>> print(create_workflow(nodes={"a": one, "b": one}, edges=[("a", "b")]).to_mermaid())
            flowchart TD
                n0["a<br/>default:one"]
                n1["b<br/>default:one"]
                n0 --> n1
        """
        return mermaid(self._plan)

    def to_json(self) -> dict[str, JsonValue]:
        """The structure as JSON: tools by id, conditions as `Condition` objects or import paths.

        Raises:
            WorkflowConfigError: for a condition or policy that is a lambda or a local function.

        Example:
            >>> from armorer_ray import tool
            >>> one = tool(name="one", description="Return 1.")(lambda: 1)
            >>> create_workflow(nodes={"a": one}, name="tiny").to_json()["nodes"]
            {'a': {'tool': 'default:one'}}
        """
        plan = self._plan
        inputs: list[JsonValue] | None = None if plan.inputs is None else [*sorted(plan.inputs)]
        entry: list[JsonValue] | None = None if plan.entry is None else [*plan.entry]
        return {"format": FORMAT, "name": self.name, "inputs": inputs, "entry": entry,
                **structure_json(self._nodes, self._edges)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any], toolbox: Toolbox) -> Workflow:
        """Rebuild a workflow from `to_json`'s form, resolving tool ids in ``toolbox``.

        Raises:
            WorkflowConfigError: for another format, or anything `create_workflow` refuses.

        Example:
            >>> from armorer_ray import tool
            >>> one = tool(name="one", description="Return 1.")(lambda: 1)
            >>> wf = create_workflow(nodes={"a": one}, name="tiny")
            >>> Workflow.from_json(wf.to_json(), Toolbox([one])).run_sync().outputs
            {'a': 1}
        """
        if data.get("format") != FORMAT:
            raise WorkflowConfigError(f"not a workflow export (format {data.get('format')!r}, expected {FORMAT!r})")
        nodes, edges = read_structure(data)
        return create_workflow(nodes=nodes, edges=edges, toolbox=toolbox, inputs=data.get("inputs"),
                               entry=data.get("entry"), name=str(data.get("name") or "workflow"))


def _executor(executor: ExecutorLike) -> WorkflowExecutor:
    if executor == "local":
        from armorer_ray.workflow.local import LocalWorkflowExecutor

        return LocalWorkflowExecutor()
    if executor == "ray":
        from armorer_ray.workflow.ray_executor import RayWorkflowExecutor

        return RayWorkflowExecutor()
    if isinstance(executor, WorkflowExecutor):
        return executor
    raise WorkflowConfigError(f"executor must be 'local', 'ray' or a WorkflowExecutor, got {executor!r}")


def create_workflow(nodes: Mapping[str, NodeLike], edges: Sequence[EdgeLike] = (), *, toolbox: Toolbox | None = None,
                    inputs: Sequence[str] | None = None, entry: Sequence[str] | None = None,
                    name: str = "workflow") -> Workflow:
    """Build and validate a workflow: a DAG of tool calls that runs locally or on Ray.

    Args:
        nodes: Nodes by name: a `Node`, a `Tool`, or a tool's name, id or alias in ``toolbox``.
        edges: `Edge` objects, ``(from, to[, when])`` tuples or ``{"from", "to", "when"?}`` mappings; ``from``
            and ``to`` may list several nodes.
        toolbox: Where calls run and names resolve; tools given as objects and missing from it are added to a
            copy of it. Default: a toolbox of the tools given.
        inputs: Names of the run's inputs: when given, root nodes' required parameters are checked against them.
        entry: The nodes runs start from; when given, every node must be reachable from them.
        name: The workflow's name.

    Returns:
        The `Workflow`.

    Raises:
        UnknownNodeError: for an edge, entry or mapping naming an unknown node.
        UnknownToolError: for a tool name the toolbox does not hold.
        CycleError: when the edges form a cycle.
        UnreachableNodeError: for nodes no entry leads to, or nodes connected to nothing.
        MissingInputError: for a required parameter nothing provides.
        WorkflowConfigError: for any other invalid definition.

    Example:
        >>> from armorer_ray import tool
        >>> @tool
        ... def fetch(city: str) -> dict:
        ...     "Fetch a forecast."
        ...     return {"city": city, "temps": [12, 15, 9]}
        >>> @tool
        ... def warmest(temps: list[int]) -> int:
        ...     "The warmest temperature."
        ...     return max(temps)
        >>> wf = create_workflow(nodes={"fetch": fetch, "warmest": warmest}, edges=[("fetch", "warmest")])
        >>> wf.run_sync({"city": "Oslo"}).outputs
        {'warmest': 15}
        >>> create_workflow(nodes={"a": fetch}, edges=[("a", "b")])
        Traceback (most recent call last):
        ...
        armorer_ray.workflow.errors.UnknownNodeError: edge a -> b names unknown node 'b'; nodes are: a
    """
    defined = {node_name: as_node(value) for node_name, value in nodes.items()}
    box = _toolbox_for(defined, toolbox)
    plan = build_plan(name, defined, as_edges(edges), box, inputs=inputs, entry=entry)
    return Workflow(plan, box, defined, as_edges(edges))


def _toolbox_for(nodes: Mapping[str, Node], toolbox: Toolbox | None) -> Toolbox:
    given: dict[str, Tool] = {}
    for node_name, node in nodes.items():
        if isinstance(node.tool, Tool):
            known = given.setdefault(node.tool.id, node.tool)
            registered = toolbox.get_tool(node.tool.id) if toolbox is not None else None
            if known is not node.tool or (registered is not None and registered is not node.tool):
                raise WorkflowConfigError(f"node {node_name!r}: another tool is already registered as "
                                          f"{node.tool.id}; give the nodes distinct tools or names")
    if toolbox is None:
        return Toolbox(list(given.values()))
    missing = [found for found in given.values() if toolbox.get_tool(found.id) is None]
    return toolbox.extend(*missing) if missing else toolbox
