"""Typed options of a deployment: how calls are routed and supervised, and how replicas are placed in Ray."""

from __future__ import annotations

from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    model_validator,
)

from armorer_ray.results import ToolCall

__all__ = ["ActorOptions", "ControllerOptions", "DeploymentOptions", "PlacementStrategy"]

PlacementStrategy = Literal["DEFAULT", "SPREAD", "PACK", "STRICT_PACK", "STRICT_SPREAD"]


class DeploymentOptions(BaseModel):
    """How a deployment routes, queues, batches and supervises calls.

    Attributes:
        max_concurrency: Calls in flight per replica; more wait in the handle's queue.
        max_queued: Calls the handle keeps waiting (by priority, FIFO within one); past it calls are shed
            with a ``transient`` ``BACKPRESSURE`` result at once, so memory stays bounded.
        batch_size: Calls of a batch sent to a replica in one round trip (at most ``max_concurrency``).
        failover_attempts: Times an idempotent call is retried on another replica after its replica died.
        health_period_s: Seconds between health probes of each replica.
        health_timeout_s: A probe slower than this fails.
        unhealthy_after: Consecutive failed probes after which a replica is replaced.
        probe: The call a probe runs through the pipeline (None: the toolbox's built-in no-op).
        start_timeout_s: Longest a replica may take to start (scheduling plus ``on_start`` hooks).
        drain_timeout_s: Longest a graceful shutdown (or a replica removed by autoscaling) waits for calls in flight.
        unavailable_timeout_s: Longest a call waits in a handle's queue while no healthy replica is known (a
            replica is being replaced, the controller is restarting); it then ends ``transient``
            ``REPLICA_UNAVAILABLE``. Before the handle first hears from the controller, ``start_timeout_s`` counts.
        analytics: Keep call analytics in every replica, for `Deployment.analytics` (off by default: recording
            adds most of the pipeline's own cost again per call, which large batches feel).

    Raises:
        pydantic.ValidationError: for values out of range, or ``batch_size > max_concurrency``.

    Example:
        >>> DeploymentOptions(max_concurrency=8, batch_size=8).max_queued
        1000
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_concurrency: PositiveInt = 64
    max_queued: NonNegativeInt = 1_000
    batch_size: PositiveInt = 64
    failover_attempts: NonNegativeInt = 2
    health_period_s: PositiveFloat = 10.0
    health_timeout_s: PositiveFloat = 5.0
    unhealthy_after: PositiveInt = 3
    probe: ToolCall | None = None
    start_timeout_s: PositiveFloat = 120.0
    drain_timeout_s: PositiveFloat = 30.0
    unavailable_timeout_s: PositiveFloat = 60.0
    analytics: bool = False

    @model_validator(mode="after")
    def _batch_fits(self) -> DeploymentOptions:
        if self.batch_size > self.max_concurrency:
            raise ValueError(f"batch_size ({self.batch_size}) must not exceed max_concurrency "
                             f"({self.max_concurrency}): a chunk runs on one replica at once")
        return self


class ActorOptions(BaseModel):
    """Where and how each replica runs in Ray.

    Attributes:
        num_cpus: CPUs reserved per replica (0 lets tool-call replicas, mostly waiting on I/O, share CPUs).
        num_gpus: GPUs reserved per replica.
        memory_bytes: Memory reserved per replica, for scheduling.
        resources: Custom resources per replica, such as ``{"node:db-side": 0.01}``.
        runtime_env: Ray runtime environment of the replicas (``pip``, ``env_vars``, ``working_dir``...).
        placement_strategy: ``DEFAULT``; ``SPREAD`` across nodes (best effort); or a placement group with one
            bundle per replica: ``PACK``, ``STRICT_PACK`` (one node), ``STRICT_SPREAD`` (one replica a node).
        max_restarts: Times Ray restarts a crashed replica in place (-1: forever); the supervisor replaces
            replicas that stay unhealthy either way.

    Example:
        >>> ActorOptions(num_cpus=0, placement_strategy="SPREAD").max_restarts
        3
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    num_cpus: NonNegativeFloat = 1.0
    num_gpus: NonNegativeFloat = 0.0
    memory_bytes: NonNegativeInt | None = None
    resources: dict[str, NonNegativeFloat] = Field(default_factory=dict)
    runtime_env: dict[str, JsonValue] | None = None
    placement_strategy: PlacementStrategy = "DEFAULT"
    max_restarts: int = Field(default=3, ge=-1)


class ControllerOptions(BaseModel):
    """Where a deployment's controller runs (it supervises and scales; calls never pass through it).

    Attributes:
        placement: ``head`` (the default: it survives the loss of any worker node), ``any`` node, or ``node``:
            the node ``node_id``.
        node_id: The Ray node id for ``placement="node"``.
        soft: With ``placement="node"``, let Ray restart the controller elsewhere when that node is lost (a hard
            placement would wait for the node to come back).
        resources: Custom resources the controller asks for, such as ``{"control-plane": 0.01}``.

    Raises:
        pydantic.ValidationError: for ``placement="node"`` without ``node_id``.

    Example:
        >>> ControllerOptions().placement
        'head'
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    placement: Literal["head", "any", "node"] = "head"
    node_id: str | None = None
    soft: bool = True
    resources: dict[str, NonNegativeFloat] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _node_named(self) -> ControllerOptions:
        if (self.placement == "node") != (self.node_id is not None):
            raise ValueError("node_id is required with placement='node', and only then")
        return self
