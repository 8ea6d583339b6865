"""Running one node, the same way on every executor: gate, arguments, calls (with retry), fan-out, expansion.

Executors differ only in the `NodeEnv` they pass: how one call reaches a toolbox, how a fan-out spreads, how a
spliced expansion is scheduled, and where progress is reported.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Protocol

from opentelemetry import trace

from armorer_ray.context import Approval
from armorer_ray.errors import ToolError, classify_exception
from armorer_ray.results import Caller, ToolCall, ToolResult
from armorer_ray.telemetry.propagation import call_span, record_outcome
from armorer_ray.toolbox import Toolbox
from armorer_ray.workflow.approvals import CallApprovals, WaitingCall
from armorer_ray.workflow.errors import WorkflowConfigError
from armorer_ray.workflow.executor import OnError, stop_reason
from armorer_ray.workflow.expansion import Expansion
from armorer_ray.workflow.graph import Plan, PlanNode, build_plan
from armorer_ray.workflow.inputs import gate, gather_arguments
from armorer_ray.workflow.results import NodeRun, NodeStatus
from armorer_ray.workflow.spec import as_edges, as_node

__all__ = ["MAX_EXPANSION_DEPTH", "NodeEnv", "call_with_retry", "node_call", "run_node", "run_together"]

MAX_EXPANSION_DEPTH = 8  # expansions that keep expanding are almost surely a loop in the generating tool

_tracer = trace.get_tracer("armorer_ray.workflow")


class NodeEnv(Protocol):
    """What a node needs from the executor running it."""

    run_id: str
    caller: Caller
    inputs: Mapping[str, Any]
    toolbox: Toolbox
    depth: int
    approvals: CallApprovals

    async def call(self, plan_node: PlanNode, call: ToolCall, approval: Approval | None) -> ToolResult:
        """One attempt of one call through the pipeline (as a person decided, when ``approval`` is given)."""
        ...

    async def fan_out(self, plan: Plan, plan_node: PlanNode, calls: list[ToolCall]) -> list[tuple[ToolResult, int]]:
        """Every call of a fanned-out node (with retries), results and attempts in call order."""
        ...

    async def expand(self, plan: Plan, base: Mapping[str, Any]) -> list[NodeRun]:
        """Run a spliced sub-plan whose roots take ``base``; its nodes' runs in settle order."""
        ...

    def started(self, node: str) -> None:
        """Report that a node began its calls."""
        ...

    def retrying(self, node: str, attempt: int, error: ToolError) -> None:
        """Report that a failed call will run again."""
        ...


def node_call(env: NodeEnv, call_name: str, plan_node: PlanNode, arguments: Mapping[str, Any]) -> ToolCall:
    """The `ToolCall` of a node (or of one item of a fan-out): id ``<run>/<node>``, the tool by id, the run's caller."""
    return env.caller.make_call(plan_node.tool_id, dict(arguments), id=f"{env.run_id}/{call_name}")


async def call_with_retry(env: NodeEnv, plan_node: PlanNode, node: str, call: ToolCall) -> tuple[ToolResult, int]:
    """Run a call, again while the node's `NodeRetry` allows; the last result and the attempts made.

    A decision the run was resumed with goes with every attempt, when it covers this call and its arguments.
    """
    approval = env.approvals.get(call)
    retry = plan_node.node.retry_policy
    attempts = retry.attempts if retry is not None else 1
    for attempt in range(1, attempts + 1):
        attributes: dict[str, str | int] = {"armorer.workflow.run_id": env.run_id, "armorer.workflow.node": node,
                                            "armorer.tool.id": plan_node.tool_id, "armorer.workflow.attempt": attempt}
        # One span per attempt, current while the call runs on either executor (on Ray, in the node's worker, under
        # the caller's carried context), so spans made in the tool body are its children.
        with call_span(call, f"armorer.workflow.node {node}", attributes, tracer=_tracer) as span:
            result = await env.call(plan_node, call, approval)
            record_outcome(span, result)
        error = result.error
        if result.outcome != "error" or error is None or attempt == attempts or retry is None:
            return result, attempt
        if not (error.category in retry.on if retry.on is not None else error.retryable):
            return result, attempt
        env.retrying(node, attempt, error)
        if retry.backoff_s:
            await asyncio.sleep(retry.backoff_s * 2 ** (attempt - 1))
    raise AssertionError("unreachable: the last attempt returns")


def _failed(node: str, error: ToolError, started_at: float, t0: float, **fields: Any) -> NodeRun:
    return NodeRun(node, "failed", error=error, started_at=started_at,
                   duration_ms=(time.perf_counter() - t0) * 1000.0, **fields)


async def run_node(plan: Plan, node_id: str, env: NodeEnv, upstream: Mapping[str, NodeRun],
                   base: Mapping[str, Any]) -> NodeRun:
    """Run one node of ``plan`` given its upstream nodes' runs (by local name); never raises for its failure.

    Args:
        plan: The plan the node belongs to.
        node_id: Its name in the plan.
        env: The executor's environment.
        upstream: Runs of its upstream nodes.
        base: What a root node merges (the run's inputs, or the expanded node's arguments).

    Returns:
        The node's run.
    """
    plan_node = plan.nodes[node_id]
    full = plan.full_id(node_id)
    started_at, t0 = time.time(), time.perf_counter()
    try:
        taken, skip = gate(plan_node, upstream)
    except Exception as exc:
        error = ToolError.of("internal", f"a condition into {full} raised {classify_exception(exc).message}",
                             code="CONDITION_FAILED")
        return _failed(full, error, started_at, t0)
    if skip is not None:
        return NodeRun(full, "skipped", reason=skip)
    env.started(full)
    try:
        args = gather_arguments(plan_node, base, env.inputs, taken)
    except KeyError as exc:
        error = ToolError.of("validation", f"node {full}: an input mapping found nothing: {exc.args[0]}",
                             code="INPUT_NOT_FOUND")
        return _failed(full, error, started_at, t0)
    map_over = plan_node.node.map_over
    if map_over is not None:
        return await _fan_out(plan, plan_node, env, full, args, map_over, started_at, t0)
    call = node_call(env, full, plan_node, args)
    result, attempts = await call_with_retry(env, plan_node, full, call)
    if result.outcome == "success" and isinstance(result.result, Expansion):
        return _noted(await _expand(plan, env, full, result, attempts, args, started_at, t0), (call,), env.approvals)
    return _noted(_settle(full, (result,), attempts, started_at, t0), (call,), env.approvals)


async def run_together(plan: Plan, names: Sequence[str], run_one: Callable[[str], Awaitable[NodeRun]],
                       on_error: OnError) -> list[NodeRun]:
    """Run independent nodes of ``plan`` concurrently (a batch an executor hands one worker); runs in ``names`` order.

    Under ``fail_fast`` a failed or cancelled node cancels the others still running, which end ``cancelled``, as
    an executor stops the rest of a run.
    """
    if len(names) == 1:
        return [await run_one(names[0])]
    tasks = [asyncio.ensure_future(run_one(name)) for name in names]
    stopped: str | None = None

    def check(task: asyncio.Future[NodeRun]) -> None:
        nonlocal stopped
        if stopped is None and not task.cancelled() and task.exception() is None:
            stopped = stop_reason(task.result(), on_error)
            if stopped is not None:
                for other in tasks:
                    other.cancel()

    if on_error == "fail_fast":
        for task in tasks:
            task.add_done_callback(check)
    try:
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        for task in tasks:
            task.cancel()
    return [task.result() if not task.cancelled() else NodeRun(plan.full_id(name), "cancelled", reason=stopped)
            for name, task in zip(names, tasks, strict=True)]


def _noted(run: NodeRun, calls: Sequence[ToolCall], approvals: CallApprovals) -> NodeRun:
    """Add to a node's run the calls that paused (what a later approval covers) and the decision applied, if any."""
    waiting = tuple(WaitingCall.of(call) for call, result in zip(calls, run.results, strict=True)
                    if result.outcome == "action_required")
    applied = next((found for call in calls if (found := approvals.get(call)) is not None), None)
    return replace(run, waiting=waiting, approval=applied) if waiting or applied is not None else run


def _settle(full: str, results: tuple[ToolResult, ...], attempts: int, started_at: float, t0: float,
            single: bool = True) -> NodeRun:
    duration_ms = (time.perf_counter() - t0) * 1000.0
    bad = next((r for r in results if r.outcome != "success"), None)
    if bad is None:
        value = _value(results[0]) if single else [_value(r) for r in results]
        return NodeRun(full, "succeeded", value, results, None, None, started_at, duration_ms, attempts)
    status: NodeStatus = "paused" if bad.outcome == "action_required" else "failed"
    reason = bad.action.message if bad.action is not None else None
    return NodeRun(full, status, None, results, bad.error, reason, started_at, duration_ms, attempts)


def _value(result: ToolResult) -> Any:
    return result.result if result.compression is None else result.value()


async def _fan_out(plan: Plan, plan_node: PlanNode, env: NodeEnv, full: str, args: dict[str, Any], map_over: str,
                   started_at: float, t0: float) -> NodeRun:
    items = args.get(map_over)
    if not isinstance(items, list | tuple):
        error = ToolError.of("validation", f"node {full} maps over {map_over!r}, which must be a list; got "
                                           f"{type(items).__name__}", code="MAP_OVER_NOT_A_LIST")
        return _failed(full, error, started_at, t0)
    calls = [node_call(env, f"{full}[{i}]", plan_node, {**args, map_over: item}) for i, item in enumerate(items)]
    pairs = await env.fan_out(plan, plan_node, calls) if calls else []
    results = tuple(result for result, _ in pairs)
    settled = _settle(full, results, sum(attempts for _, attempts in pairs), started_at, t0, single=False)
    return _noted(settled, calls, env.approvals)


async def _expand(plan: Plan, env: NodeEnv, full: str, result: ToolResult, attempts: int, args: dict[str, Any],
                  started_at: float, t0: float) -> NodeRun:
    expansion: Expansion = result.result
    try:
        if env.depth >= MAX_EXPANSION_DEPTH:
            raise WorkflowConfigError(f"expansions nest deeper than {MAX_EXPANSION_DEPTH} levels")
        nodes = {name: as_node(value) for name, value in expansion.nodes.items()}
        sub = build_plan(plan.name, nodes, as_edges(expansion.edges), env.toolbox, prefix=f"{full}/")
        if expansion.output is not None and expansion.output not in sub.nodes:
            raise WorkflowConfigError(f"output {expansion.output!r} is not one of the spliced nodes")
    except WorkflowConfigError as exc:
        error = ToolError.of("validation", f"node {full} returned an invalid expansion: {exc}",
                             code="INVALID_EXPANSION")
        return _failed(full, error, started_at, t0, results=(result,), attempts=attempts)
    children = await env.expand(sub, args)
    by_name = {run.node: run for run in children}
    bad = [run for run in children if run.status in ("failed", "cancelled", "paused")]
    duration_ms = (time.perf_counter() - t0) * 1000.0
    if bad:
        first = bad[0]
        status: NodeStatus = "failed" if any(run.status != "paused" for run in bad) else "paused"
        error = first.error or ToolError.of("cancelled", f"spliced node {first.node} was {first.status}")
        return NodeRun(full, status, None, (result,), error, f"spliced node {first.node} {first.status}", started_at,
                       duration_ms, attempts, children=tuple(children))
    if expansion.output is not None:
        chosen = by_name[sub.full_id(expansion.output)]
        output = chosen.output if chosen.status == "succeeded" else None
    else:
        output = {name: by_name[sub.full_id(name)].output for name in sub.sinks
                  if by_name[sub.full_id(name)].status == "succeeded"}
    return NodeRun(full, "succeeded", output, (result,), None, None, started_at, duration_ms, attempts,
                   children=tuple(children))
