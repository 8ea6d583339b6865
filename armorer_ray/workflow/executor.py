"""The executor protocol: what `Workflow.run` hands an executor, and what every executor must do with it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from armorer_ray.context import Approval
from armorer_ray.errors import ConfigError
from armorer_ray.results import Caller, ToolCall, ToolResult
from armorer_ray.toolbox import Toolbox
from armorer_ray.workflow.approvals import CallApprovals
from armorer_ray.workflow.graph import Plan
from armorer_ray.workflow.recorder import RunRecorder
from armorer_ray.workflow.results import NodeRun

__all__ = ["CallTarget", "OnError", "RunSetup", "WorkflowExecutor", "refuse_node_policies", "send", "stop_reason"]

OnError = Literal["continue", "fail_fast"]


@runtime_checkable
class CallTarget(Protocol):
    """Anything that runs a call through a toolbox's pipeline and returns its result: a `Deployment`, a `Toolbox`.

    Example:
        >>> from armorer_ray import Toolbox
        >>> isinstance(Toolbox(), CallTarget)
        True
    """

    async def execute(self, call: ToolCall, /, *, timeout_s: float | None = None,
                      approval: Approval | None = None) -> ToolResult:
        """Run one call (as a person already decided, when ``approval`` is given: see `Toolbox.execute`)."""
        ...


async def send(target: CallTarget, call: ToolCall, timeout_s: float | None, approval: Approval | None) -> ToolResult:
    """Run ``call`` on ``target``, passing ``approval`` only when there is one.

    So a target written before approvals existed still serves every call no decision covers.
    """
    if approval is None:
        return await target.execute(call, timeout_s=timeout_s)
    return await target.execute(call, timeout_s=timeout_s, approval=approval)


@dataclass(frozen=True)
class RunSetup:
    """One run, ready to execute: what `Workflow.run` hands its executor (executors read it; nobody builds one).

    Attributes:
        plan: The validated plan.
        toolbox: The workflow's toolbox.
        inputs: The run's inputs.
        run_id: The run's id.
        on_error: ``continue`` runs every branch a failure does not block; ``fail_fast`` stops at the first.
        recorder: Where node runs are reported (events, checkpoints).
        restored: Succeeded node runs from checkpoints, by full name: they are not run again.
        key: A stable id of the workflow and its toolbox, for caches on Ray workers.
        caller: Who the run is for: every node call carries it.
        approvals: The decisions a resume applies, by the call ids they cover (empty for a plain run).
    """

    plan: Plan
    toolbox: Toolbox
    inputs: Mapping[str, Any]
    run_id: str
    on_error: OnError
    recorder: RunRecorder
    restored: Mapping[str, NodeRun]
    key: str
    caller: Caller = field(default_factory=Caller)
    approvals: CallApprovals = field(default_factory=CallApprovals)


@runtime_checkable
class WorkflowExecutor(Protocol):
    """Runs every node of a plan, reporting each `NodeRun` to ``setup.recorder`` exactly once.

    Example:
        >>> from armorer_ray.workflow import LocalWorkflowExecutor
        >>> isinstance(LocalWorkflowExecutor(), WorkflowExecutor)
        True
    """

    async def execute(self, setup: RunSetup) -> None:
        """Run the plan; return when every node has settled."""
        ...


def stop_reason(run: NodeRun, on_error: OnError) -> str | None:
    """Why a fail-fast run stops after ``run`` settled, or None when it goes on."""
    if on_error == "fail_fast" and run.status in ("failed", "cancelled"):
        return f"run stopped: node {run.node} {run.status}"
    return None


def refuse_node_policies(plan: Plan, deployment: CallTarget | None) -> None:
    """Refuse a run whose calls go to a deployment while some node adds policies (the replicas cannot see them).

    Raises:
        ConfigError: naming the first such node.
    """
    if deployment is None:
        return
    for name, plan_node in plan.nodes.items():
        if plan_node.node.policy is not None:
            raise ConfigError(f"node {name!r} has a policy, which cannot apply to calls sent to a deployment; "
                              "put it on the deployed toolbox")
