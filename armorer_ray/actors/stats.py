"""What `Deployment.stats` reports: each replica as its supervisor and itself see it, and the handle's own counts."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from armorer_ray.actors.autoscaling import ScalingEvent
from armorer_ray.resources import PoolStats

__all__ = ["DeploymentStats", "HandleStats", "ReplicaStats", "ShutdownReport"]


class ReplicaStats(BaseModel):
    """One replica.

    Attributes:
        replica_id: Stable for the replica's life (a replacement gets a new one).
        actor_name: Its Ray actor name (``ray.get_actor(actor_name, namespace)``).
        healthy: Whether its last probe passed.
        consecutive_failures: Failed probes in a row.
        restarts: Times Ray restarted it in place (each restart runs ``on_start`` again).
        responding: Whether it answered this stats request (the fields below are empty when not).
        node_id: The Ray node it runs on.
        pid: Its process id.
        in_flight: Calls running in it now, from every handle.
        ongoing: Calls it holds now, running or waiting for a slot (the load autoscaling reads).
        completed: Calls that ended in success or ``action_required`` in this actor life.
        failed: Calls that ended in an error in this actor life.
        pools: Stats of its resource pools by name.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    replica_id: str
    actor_name: str
    healthy: bool
    consecutive_failures: int
    restarts: int
    responding: bool
    node_id: str | None = None
    pid: int | None = None
    in_flight: int = 0
    ongoing: int = 0
    completed: int = 0
    failed: int = 0
    pools: dict[str, PoolStats] = Field(default_factory=dict)


class HandleStats(BaseModel):
    """Counts kept by the handle this was asked through (other handles keep their own).

    Attributes:
        in_flight: Calls this handle has on replicas now.
        queued: Calls waiting in this handle's queue now.
        peak_queued: The most that ever waited at once (never above ``max_queued``).
        admitted: Calls sent to replicas.
        shed: Calls refused with ``BACKPRESSURE``.
        failovers: Idempotent calls retried on another replica after theirs died.
        replica_died: Calls ended with ``REPLICA_DIED``.
        cancelled: Calls ended ``cancelled`` by an abort signal or ``ray.cancel``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    in_flight: int
    queued: int
    peak_queued: int
    admitted: int
    shed: int
    failovers: int
    replica_died: int
    cancelled: int


class DeploymentStats(BaseModel):
    """A deployment at one moment.

    Attributes:
        name: The deployment's name.
        replicas: Each replica.
        replacements: Replicas the supervisor replaced so far (in this controller life).
        target_replicas: How many replicas the controller aims at now (autoscaling moves it).
        scaling: The latest scaling decisions, oldest first (empty without autoscaling).
        epoch: The controller life that answered (a restarted controller has a new one).
        handle: This handle's counts.
        error: Why the deployment failed to start, if it did.
        stopped: Whether it was shut down.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    replicas: list[ReplicaStats]
    replacements: int
    handle: HandleStats
    target_replicas: int = 0
    scaling: list[ScalingEvent] = Field(default_factory=list)
    epoch: str = ""
    error: str | None = None
    stopped: bool = False

    @property
    def healthy_replicas(self) -> int:
        """Replicas whose last probe passed."""
        return sum(replica.healthy for replica in self.replicas)


class ShutdownReport(BaseModel):
    """What `Deployment.shutdown` did to each replica, by actor name.

    Attributes:
        stopped: Replicas that drained (when asked) and ran ``on_stop`` before being killed.
        killed: Replicas that did not answer the stop request (lost node, hung hook): killed without their hooks.
        errors: Replicas that could not even be killed, with why; they may still be running.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    stopped: list[str] = Field(default_factory=list)
    killed: list[str] = Field(default_factory=list)
    errors: dict[str, str] = Field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether every replica is gone."""
        return not self.errors
