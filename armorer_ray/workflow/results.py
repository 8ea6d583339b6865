"""What a run produces: one `NodeRun` per node (spliced ones included) and the `RunResult` over them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from pydantic import JsonValue
from pydantic_core import to_jsonable_python

from armorer_ray.context import Approval
from armorer_ray.errors import ToolError
from armorer_ray.results import ToolResult
from armorer_ray.workflow.approvals import WaitingCall, approval_from_json, approval_to_json
from armorer_ray.workflow.errors import CheckpointError, WorkflowFailed

__all__ = ["NodeRun", "NodeStatus", "RunResult", "RunStatus"]

NodeStatus = Literal["succeeded", "failed", "skipped", "cancelled", "paused"]
RunStatus = Literal["succeeded", "failed", "paused"]


@dataclass(frozen=True, slots=True)
class NodeRun:
    """How one node ended.

    Attributes:
        node: The node's name (``"<generator>/<name>"`` for a spliced node).
        status: ``succeeded``; ``failed`` (its call failed, or a spliced node did); ``skipped`` (a condition
            was false, or an upstream node did not succeed); ``cancelled`` (the run stopped); ``paused`` (a
            policy asked for approval or input: see the result's ``action``).
        output: What downstream nodes receive: the result's value, the list of values of a fanned-out node, or
            the output of a spliced expansion.
        results: The `ToolResult` of each call (one, or one per item of a fanned-out node; none when skipped).
        error: Why it failed.
        reason: Why it was skipped or cancelled.
        started_at: Wall-clock start, seconds since the epoch (0 when it never started).
        duration_ms: Time from start to end.
        attempts: Calls made, retries included.
        restored: Taken from a checkpoint rather than run again.
        approval: The decision a resumed run applied to its calls (`Workflow.resume` ``approvals=``): who
            approved or rejected, with any input; None when no decision covered any of its calls.
        waiting: For a paused node, each call that paused: its id and argument digest, what an approval covers.
        children: Spliced nodes of an expansion, while they travel back from a Ray worker (flattened into the run).
        retries: ``(attempt, error)`` of each failed call that ran again, while they travel back from a Ray worker
            (reported as ``node.retrying`` events, then dropped from the run).

    Example:
        >>> NodeRun("fetch", "skipped", reason="condition on plan -> fetch is false").result is None
        True
    """

    node: str
    status: NodeStatus
    output: Any = None
    results: tuple[ToolResult, ...] = ()
    error: ToolError | None = None
    reason: str | None = None
    started_at: float = 0.0
    duration_ms: float = 0.0
    attempts: int = 0
    restored: bool = False
    children: tuple[NodeRun, ...] = field(default=(), repr=False)
    retries: tuple[tuple[int, ToolError], ...] = field(default=(), repr=False)
    approval: Approval | None = None
    waiting: tuple[WaitingCall, ...] = field(default=(), repr=False)

    @property
    def result(self) -> ToolResult | None:
        """The one `ToolResult` of a node that made exactly one call, else None."""
        return self.results[0] if len(self.results) == 1 else None

    @property
    def ok(self) -> bool:
        """Whether the node succeeded."""
        return self.status == "succeeded"

    def to_json(self) -> dict[str, JsonValue]:
        """A JSON form (outputs through pydantic's JSON conversion), as checkpoints store it.

        Raises:
            CheckpointError: when the output or a result is not JSON-serialisable.
        """
        try:
            return {
                "node": self.node, "status": self.status, "output": to_jsonable_python(self.output),
                "results": [r.model_dump(mode="json") for r in self.results],
                "error": self.error.model_dump(mode="json") if self.error else None, "reason": self.reason,
                "started_at": self.started_at, "duration_ms": self.duration_ms, "attempts": self.attempts,
                "approval": approval_to_json(self.approval) if self.approval is not None else None,
            }
        except Exception as exc:
            raise CheckpointError(f"node {self.node!r}: its output cannot be stored as JSON: {exc}") from exc

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> NodeRun:
        """Read `to_json`'s form back (marked ``restored``).

        Example:
            >>> restored = NodeRun.from_json(NodeRun("a", "succeeded", output=[1]).to_json())
            >>> restored.output, restored.restored
            ([1], True)
        """
        return cls(
            node=data["node"], status=data["status"], output=data.get("output"),
            results=tuple(ToolResult.model_validate(r) for r in data.get("results", ())),
            error=ToolError.model_validate(data["error"]) if data.get("error") else None, reason=data.get("reason"),
            started_at=data.get("started_at", 0.0), duration_ms=data.get("duration_ms", 0.0),
            attempts=data.get("attempts", 0), restored=True,
            approval=approval_from_json(data["approval"]) if data.get("approval") else None,
        )

    def flattened(self) -> list[NodeRun]:
        """This run without its children, followed by every descendant, depth first."""
        out = [replace(self, children=()) if self.children else self]
        for child in self.children:
            out.extend(child.flattened())
        return out


@dataclass(frozen=True)
class RunResult:
    """The outcome of one workflow run.

    Attributes:
        run_id: The run's id (pass it again, with the same checkpoint store, to resume).
        workflow: The workflow's name.
        status: ``succeeded`` when no node failed, was cancelled or paused; ``paused`` when some node waits for
            approval and none failed; else ``failed``.
        nodes: Every node's `NodeRun`, in the order they settled (spliced nodes under ``"<node>/<name>"``).
        outputs: The outputs of the succeeded sink nodes (nodes with no outgoing edge), by name.
        started_at: Wall-clock start, seconds since the epoch.
        duration_ms: Wall time of the run.

    Example:
        >>> run = RunResult("r1", "demo", "succeeded", {"a": NodeRun("a", "succeeded", output=2)}, {"a": 2}, 0.0, 1.0)
        >>> run.output("a"), run.ok
        (2, True)
    """

    run_id: str
    workflow: str
    status: RunStatus
    nodes: Mapping[str, NodeRun]
    outputs: Mapping[str, Any]
    started_at: float
    duration_ms: float

    @property
    def ok(self) -> bool:
        """Whether the run succeeded."""
        return self.status == "succeeded"

    def output(self, node: str) -> Any:
        """The output of a node.

        Raises:
            KeyError: when the node did not succeed in this run.
        """
        found = self.nodes.get(node)
        if found is None or found.status != "succeeded":
            raise KeyError(f"node {node!r} has no output: it {found.status if found else 'did not run'}")
        return found.output

    def by_status(self, status: NodeStatus) -> list[str]:
        """Names of the nodes that ended with ``status``, in settle order."""
        return [name for name, run in self.nodes.items() if run.status == status]

    def raise_for_status(self) -> RunResult:
        """Return the run when it succeeded.

        Raises:
            WorkflowFailed: naming the failed (or paused) nodes and the first error.
        """
        if self.ok:
            return self
        bad = [run for run in self.nodes.values() if run.status in ("failed", "cancelled", "paused")]
        first = next((run.error.message for run in bad if run.error is not None), None)
        names = ", ".join(f"{run.node} ({run.status})" for run in bad)
        raise WorkflowFailed(f"workflow {self.workflow!r} run {self.run_id} {self.status}: {names}"
                             + (f"; first error: {first}" if first else ""), self)
