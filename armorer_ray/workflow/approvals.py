"""Approvals that continue a paused run: what a checkpoint records of each paused node, and what a resume applies.

A node whose call a policy paused is checkpointed as a `PausedNode`: the request's type and message and, for each
call that paused (one, or several for a fanned-out node), a `WaitingCall`: its id and a digest of the arguments it
was paused with. `Workflow.resume(..., approvals={node: decision})` turns the decisions into `CallApprovals`,
which executors consult for every call they make: a call gets its node's decision only when its id and the digest
of its arguments match a waiting call. So an approval covers exactly the arguments a person was asked about; a
call re-built with other arguments goes through its policies without it, and asks again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import JsonValue

from armorer_ray.context import Approval
from armorer_ray.json_values import digest
from armorer_ray.results import ToolCall
from armorer_ray.workflow.errors import WorkflowConfigError

__all__ = ["ApprovalLike", "CallApprovals", "PausedNode", "WaitingCall", "approval_from_json", "approval_to_json"]

ApprovalLike = bool | Approval
"""A decision on a paused node: ``True`` approves, ``False`` rejects, an `Approval` adds input, who and why."""


@dataclass(frozen=True, slots=True)
class WaitingCall:
    """A call a policy paused: its id and the SHA-256 digest of the canonical JSON of its arguments.

    Example:
        >>> waiting = WaitingCall.of(ToolCall(id="r1/publish", name="publish", arguments={"page": "home"}))
        >>> waiting.call_id, len(waiting.digest)
        ('r1/publish', 64)
    """

    call_id: str
    digest: str

    @classmethod
    def of(cls, call: ToolCall) -> WaitingCall:
        """The record of ``call``, as it was sent."""
        return cls(call.id, digest(call.arguments))

    def covers(self, call: ToolCall) -> bool:
        """Whether ``call`` is this call with the very same arguments."""
        return call.id == self.call_id and digest(call.arguments) == self.digest


@dataclass(frozen=True, slots=True)
class PausedNode:
    """What a checkpoint keeps of a node that ended ``paused``: what it asked, and which calls wait for an answer.

    Attributes:
        node: The node's name.
        action: ``approval`` or ``input``: what the first paused call asked for.
        message: The request's message.
        calls: Each call that paused.

    Example:
        >>> paused = PausedNode("publish", "approval", "publish?", (WaitingCall("r1/publish", "ab12"),))
        >>> PausedNode.from_json(paused.to_json()) == paused
        True
    """

    node: str
    action: Literal["approval", "input"]
    message: str | None
    calls: tuple[WaitingCall, ...]

    def to_json(self) -> dict[str, JsonValue]:
        """The JSON form checkpoints store."""
        return {"node": self.node, "action": self.action, "message": self.message,
                "calls": [{"call_id": c.call_id, "digest": c.digest} for c in self.calls]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PausedNode:
        """Read `to_json`'s form back."""
        calls = tuple(WaitingCall(str(c["call_id"]), str(c["digest"])) for c in data.get("calls", ()))
        action: Literal["approval", "input"] = "input" if data.get("action") == "input" else "approval"
        return cls(str(data["node"]), action, data.get("message"), calls)


@dataclass(frozen=True, slots=True)
class CallApprovals:
    """The decisions a resumed run applies, by call id: each with the waiting call it covers. Picklable.

    Example:
        >>> paused = {"publish": PausedNode("publish", "approval", "publish?",
        ...                                 (WaitingCall.of(ToolCall(id="r1/publish", name="publish")),))}
        >>> approvals = CallApprovals.decide({"publish": True}, paused)
        >>> approvals.get(ToolCall(id="r1/publish", name="publish"))
        Approval(granted=True, input=None, by=None, reason=None)
        >>> approvals.get(ToolCall(id="r1/publish", name="publish", arguments={"page": "other"})) is None
        True
        >>> CallApprovals.decide({"fetch": True}, paused)
        Traceback (most recent call last):
        ...
        armorer_ray.workflow.errors.WorkflowConfigError: approvals name nodes that are not paused: fetch; ...
    """

    by_call: Mapping[str, tuple[WaitingCall, Approval]] = field(default_factory=dict)

    @classmethod
    def decide(cls, decisions: Mapping[str, ApprovalLike], paused: Mapping[str, PausedNode]) -> CallApprovals:
        """Match decisions by node name to the waiting calls of the paused nodes.

        Args:
            decisions: Node name → ``True``, ``False`` or an `Approval`.
            paused: The paused nodes a checkpoint recorded, by name.

        Returns:
            The decisions by call id.

        Raises:
            WorkflowConfigError: when a name is not a paused node (the message lists the paused ones), or a
                decision is not a bool or an `Approval`.
        """
        unknown = sorted(name for name in decisions if name not in paused)
        if unknown:
            listed = ", ".join(sorted(paused)) or "none"
            raise WorkflowConfigError(f"approvals name nodes that are not paused: {', '.join(unknown)}; "
                                      f"paused nodes: {listed}")
        by_call: dict[str, tuple[WaitingCall, Approval]] = {}
        for name, decision in decisions.items():
            approval = _as_approval(name, decision)
            for waiting in paused[name].calls:
                by_call[waiting.call_id] = (waiting, approval)
        return cls(by_call)

    def get(self, call: ToolCall) -> Approval | None:
        """The decision covering ``call``: same id and same arguments as a waiting call, else None."""
        found = self.by_call.get(call.id)
        if found is None or not found[0].covers(call):
            return None
        return found[1]


def _as_approval(node: str, decision: object) -> Approval:
    if isinstance(decision, bool):
        return Approval(decision)
    if isinstance(decision, Approval):
        return decision
    raise WorkflowConfigError(f"the approval for node {node!r} must be True, False or an Approval, "
                              f"got {type(decision).__name__}")


def approval_to_json(approval: Approval) -> dict[str, JsonValue]:
    """An `Approval` as JSON (checkpoints keep the decision a node ran with).

    Example:
        >>> approval_to_json(Approval(True, {"otp": "1"}, "ada"))
        {'granted': True, 'input': {'otp': '1'}, 'by': 'ada', 'reason': None}
    """
    return {"granted": approval.granted, "input": approval.input, "by": approval.by, "reason": approval.reason}


def approval_from_json(data: Mapping[str, Any]) -> Approval:
    """Read `approval_to_json`'s form back."""
    return Approval(bool(data["granted"]), data.get("input"), data.get("by"), data.get("reason"))
