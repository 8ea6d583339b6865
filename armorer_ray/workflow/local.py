"""The local executor: nodes as asyncio tasks in this process, each call through the workflow's toolbox.

A node starts as soon as its last upstream node settles, so independent branches run concurrently; a semaphore
bounds the calls in flight across the whole run (fan-outs and spliced expansions included).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Mapping
from typing import Any

from armorer_ray.context import Approval
from armorer_ray.errors import ConfigError, ToolError
from armorer_ray.results import ToolCall, ToolResult
from armorer_ray.toolbox import Toolbox
from armorer_ray.workflow.executor import CallTarget, RunSetup, refuse_node_policies, send, stop_reason
from armorer_ray.workflow.graph import Plan, PlanNode
from armorer_ray.workflow.node import call_with_retry, run_node
from armorer_ray.workflow.results import NodeRun
from armorer_ray.workflow.toolboxes import node_toolbox

__all__ = ["LocalWorkflowExecutor"]


class LocalWorkflowExecutor:
    """Runs a workflow's nodes in this process, as parallel as ``concurrency`` allows.

    Args:
        concurrency: Most tool calls in flight at once in one run.
        deployment: Send every call to this Deployment (any `CallTarget`) instead of the workflow's toolbox;
            per-node policies cannot apply there, so they are refused.

    Raises:
        ConfigError: when ``concurrency`` is below 1, or a node has a policy and calls go to a deployment.

    Example:
        >>> from armorer_ray import tool
        >>> from armorer_ray.workflow import Node, create_workflow
        >>> @tool
        ... def double(x: int) -> int:
        ...     "Double a number."
        ...     return 2 * x
        >>> wf = create_workflow(nodes={"a": double, "b": Node(double, inputs={"x": "a"})}, edges=[("a", "b")])
        >>> wf.run_sync({"x": 3}, executor=LocalWorkflowExecutor(concurrency=2)).outputs
        {'b': 12}
    """

    def __init__(self, concurrency: int = 16, *, deployment: CallTarget | None = None) -> None:
        if concurrency < 1:
            raise ConfigError(f"concurrency must be at least 1, got {concurrency}")
        self.concurrency, self.deployment = concurrency, deployment

    async def execute(self, setup: RunSetup) -> None:
        """Run every node of the plan; each settles into ``setup.recorder``."""
        refuse_node_policies(setup.plan, self.deployment)
        env = _LocalEnv(setup, asyncio.Semaphore(self.concurrency), 0, {}, self.deployment)
        await schedule(setup.plan, env, setup.inputs)


class _LocalEnv:
    """`NodeEnv` for this process: calls through the toolbox under the run's semaphore, progress to the recorder."""

    def __init__(self, setup: RunSetup, gate: asyncio.Semaphore, depth: int, variants: dict[int, Toolbox],
                 deployment: CallTarget | None) -> None:
        self.setup, self.gate, self.depth, self.variants = setup, gate, depth, variants
        self.run_id, self.caller, self.inputs, self.toolbox = setup.run_id, setup.caller, setup.inputs, setup.toolbox
        self.deployment, self.approvals = deployment, setup.approvals

    async def call(self, plan_node: PlanNode, call: ToolCall, approval: Approval | None) -> ToolResult:
        target = self.deployment or node_toolbox(self.toolbox, plan_node, self.variants)
        async with self.gate:
            return await send(target, call, plan_node.node.timeout_s, approval)

    async def fan_out(self, plan: Plan, plan_node: PlanNode, calls: list[ToolCall]) -> list[tuple[ToolResult, int]]:
        name = plan.full_id(plan_node.id)
        return list(await asyncio.gather(*(call_with_retry(self, plan_node, name, call) for call in calls)))

    async def expand(self, plan: Plan, base: Mapping[str, Any]) -> list[NodeRun]:
        child = _LocalEnv(self.setup, self.gate, self.depth + 1, self.variants, self.deployment)
        runs = await schedule(plan, child, base)
        return list(runs.values())

    def started(self, node: str) -> None:
        self.setup.recorder.started(node)

    def retrying(self, node: str, attempt: int, error: ToolError) -> None:
        self.setup.recorder.retrying(node, attempt, error)


async def schedule(plan: Plan, env: _LocalEnv, base: Mapping[str, Any]) -> dict[str, NodeRun]:
    """Run a plan's nodes as their upstream nodes settle; their runs by local name, in settle order."""
    setup = env.setup
    runs: dict[str, NodeRun] = {}
    waiting = {name: len(plan.nodes[name].sources) for name in plan.order}
    ready = deque(name for name in plan.order if not waiting[name])
    tasks: dict[asyncio.Future[NodeRun], str] = {}
    # Finished tasks arrive here through done callbacks: one queue hop per node, where asyncio.wait would walk
    # every pending task on each wake-up.
    finished: asyncio.Queue[asyncio.Future[NodeRun]] = asyncio.Queue()
    stopped: str | None = None

    async def settle(name: str, run: NodeRun) -> None:
        nonlocal stopped
        runs[name] = run
        await setup.recorder.settled(run)
        for target in plan.nodes[name].downstream:
            waiting[target] -= 1
            if not waiting[target]:
                ready.append(target)
        reason = stop_reason(run, setup.on_error)
        if reason is not None and stopped is None:
            stopped = reason
            for task in tasks:
                task.cancel()

    try:
        while ready or tasks:
            while ready:
                name = ready.popleft()
                full = plan.full_id(name)
                saved = setup.restored.get(full)
                if stopped is not None:
                    await settle(name, NodeRun(full, "skipped", reason=stopped))
                elif saved is not None:
                    for key, child in setup.restored.items():
                        if key.startswith(full + "/"):
                            await setup.recorder.settled(child)
                    await settle(name, saved)
                else:
                    upstream = {source: runs[source] for source in plan.nodes[name].sources}
                    started: asyncio.Future[NodeRun] = asyncio.ensure_future(run_node(plan, name, env, upstream, base))
                    started.add_done_callback(finished.put_nowait)
                    tasks[started] = name
            if tasks:
                task = await finished.get()
                name = tasks.pop(task)
                if task.cancelled():
                    run = NodeRun(plan.full_id(name), "cancelled", reason=stopped or "cancelled")
                else:
                    run = task.result()
                await settle(name, run)
    finally:
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
    return runs
