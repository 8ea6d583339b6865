"""The controller's records: one per replica, and the report `Deployment.stats` is built from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from armorer_ray.actors._private.replica import ReplicaReport
from armorer_ray.actors.autoscaling import ScalingEvent

__all__ = ["ControllerReport", "ReplicaRecord", "describe"]


@dataclass(slots=True)
class ReplicaRecord:
    """The controller's view of one replica; ``slot`` is its placement-group bundle when it has one."""

    replica_id: str
    actor: Any
    slot: int
    life_id: str
    healthy: bool = True
    failures: int = 0
    restarts: int = 0
    last: ReplicaReport | None = None
    unavailable_since: float | None = None  # monotonic time of the first probe that found Ray restarting it
    replacing: bool = False  # a replacement is being started
    lost: bool = False  # dead, or on a dead node: killed, never routed to again


@dataclass(frozen=True, slots=True)
class ControllerReport:
    """Supervision state plus each replica's latest self-report."""

    name: str
    replicas: tuple[tuple[ReplicaRecord, ReplicaReport | None], ...]
    replacements: int
    error: str | None
    stopped: bool
    target: int = 0
    events: tuple[ScalingEvent, ...] = ()
    epoch: str = ""


def describe(exc: BaseException) -> str:
    """An exception as one bounded line: its type and message."""
    text = str(exc).strip() or type(exc).__name__
    if len(text) > 2_000:  # Ray errors put the remote traceback first and the cause last: keep both ends
        text = text[:500] + " ... " + text[-1_500:]
    return f"{type(exc).__name__}: {text}"
