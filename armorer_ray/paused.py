"""`PausedCall`: a call waiting for approval or input, as an `armorer_ray.approvals.ApprovalBook` keeps it."""

from __future__ import annotations

from dataclasses import dataclass

from armorer_ray.results import ToolCall

__all__ = ["PausedCall"]


@dataclass(frozen=True, slots=True)
class PausedCall:
    """A call waiting for approval or input, kept until `Toolbox.resume` takes it (once).

    Example:
        >>> PausedCall(ToolCall(id="c1", name="wire"), "default:wire", "approval", None, False).kind
        'approval'
    """

    call: ToolCall
    tool_id: str
    kind: str
    timeout_s: float | None
    dry_run: bool
