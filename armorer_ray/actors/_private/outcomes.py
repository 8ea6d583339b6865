"""Ray failures translated where they enter: every call still ends in exactly one `ToolResult`."""

from __future__ import annotations

from typing import Literal

from ray.exceptions import (
    ActorDiedError,
    ActorUnavailableError,
    NodeDiedError,
    ObjectLostError,
    OwnerDiedError,
    RayActorError,
    TaskCancelledError,
    WorkerCrashedError,
)

from armorer_ray.actors._private.router import Refusal
from armorer_ray.errors import ErrorCategory, ToolError
from armorer_ray.results import ToolCall, ToolResult

__all__ = ["Failure", "cancelled_result", "classify_ray_failure", "failed_result", "refused_result",
           "replica_died_result"]

Failure = Literal["cancelled", "lost", "failed"]

_LOST = (RayActorError, ActorDiedError, ActorUnavailableError, WorkerCrashedError, NodeDiedError, ObjectLostError,
         OwnerDiedError)


def classify_ray_failure(exc: BaseException) -> Failure:
    """``cancelled`` (``ray.cancel``), ``lost`` (the replica or its node died mid-call: the call may or may not
    have run), or ``failed`` (anything else)."""
    if isinstance(exc, TaskCancelledError):  # also RayTaskError(TaskCancelledError)
        return "cancelled"
    if isinstance(exc, _LOST):
        return "lost"
    return "failed"


def refused_result(call: ToolCall, refusal: Refusal) -> ToolResult:
    """The result of a call the handle did not admit (``BACKPRESSURE``, or the deployment failed or stopped)."""
    category: ErrorCategory = "transient" if refusal.retryable else "internal"
    return ToolResult.failure(call.id, call.name, ToolError.of(category, refusal.message, code=refusal.code,
                                                               retryable=refusal.retryable))


def replica_died_result(call: ToolCall, replica_id: str, detail: str, failovers: int | None = None) -> ToolResult:
    """The result of a call whose replica died while it ran and that is not run again: its tool is not idempotent
    (``failovers`` None), or it already failed over ``failovers`` times."""
    why = ("the tool is not marked idempotent" if failovers is None else
           f"it had already failed over {failovers} time(s), the deployment's failover_attempts")
    message = (f"The replica running this call ({replica_id}) died before answering; the call may or may not have "
               f"taken effect and was not retried because {why}. ({detail})")
    return ToolResult.failure(call.id, call.name, ToolError.of("transient", message, code="REPLICA_DIED",
                                                               details={"replica_id": replica_id}))


def cancelled_result(call: ToolCall, message: str = "Cancelled") -> ToolResult:
    """The result of a call cancelled on its replica."""
    return ToolResult.failure(call.id, call.name, ToolError.of("cancelled", message))


def failed_result(call: ToolCall, exc: BaseException) -> ToolResult:
    """The result of a call whose remote task failed for another reason."""
    text = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    return ToolResult.failure(call.id, call.name, ToolError.of("internal", f"{type(exc).__name__}: {text}",
                                                               code="DEPLOYMENT_ERROR"))
