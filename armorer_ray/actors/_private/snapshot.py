"""What the controller tells handles: the replica set, the tool catalogue and the routing options, versioned."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from armorer_ray.actors._private.spec import Catalogue
from armorer_ray.actors.options import DeploymentOptions

__all__ = ["ReplicaView", "Snapshot", "controller_name", "replica_prefix"]


@dataclass(frozen=True, slots=True)
class ReplicaView:
    """A replica as handles see it."""

    replica_id: str
    actor: Any
    healthy: bool


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Version ``version`` of a deployment's state, in controller life ``epoch`` (a restarted controller starts a
    new epoch and counts versions from zero again); ``error`` is set when it failed to start."""

    epoch: str
    version: int
    replicas: tuple[ReplicaView, ...]
    catalogue: Catalogue
    options: DeploymentOptions
    error: str | None = None
    stopped: bool = False
    backlog_period_s: float | None = None  # how often handles report their backlog (None: no autoscaling)


def controller_name(name: str) -> str:
    """The Ray actor name of a deployment's controller."""
    return f"armorer.deployment:{name}"


def replica_prefix(name: str) -> str:
    """The prefix of a deployment's replica actor names (``<prefix><bundle>-<random>``)."""
    return f"armorer.deployment:{name}:replica-"
