"""What the controller tells handles: the replica set, the tool catalogue and the routing options, versioned."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from armorer_ray.actors._private.spec import Catalogue
from armorer_ray.actors.autoscaling import ScalingEvent
from armorer_ray.actors.options import DeploymentOptions

__all__ = ["SNAPSHOT_EVENTS", "ReplicaView", "Snapshot", "controller_name", "replica_prefix"]

SNAPSHOT_EVENTS = 16


@dataclass(frozen=True, slots=True)
class ReplicaView:
    """A replica as handles see it."""

    replica_id: str
    actor: Any
    healthy: bool
    life_id: str = ""  # the actor life the controller last heard from (Ray may restart a replica in place)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Version ``version`` of a deployment's state, in controller life ``epoch`` (a restarted controller starts a
    new epoch and counts versions from zero again); ``error`` is set when it failed to start. ``scaling`` holds
    the last `SNAPSHOT_EVENTS` decisions, so a handle that missed a snapshot still hears of each one."""

    epoch: str
    version: int
    replicas: tuple[ReplicaView, ...]
    catalogue: Catalogue
    options: DeploymentOptions
    error: str | None = None
    stopped: bool = False
    backlog_period_s: float | None = None  # how often handles report their backlog (None: no autoscaling)
    scaling: tuple[ScalingEvent, ...] = ()  # the latest scaling decisions of this epoch, oldest first


def controller_name(name: str) -> str:
    """The Ray actor name of a deployment's controller."""
    return f"armorer.deployment:{name}"


def replica_prefix(name: str) -> str:
    """The prefix of a deployment's replica actor names (``<prefix><bundle>-<random>``)."""
    return f"armorer.deployment:{name}:replica-"
