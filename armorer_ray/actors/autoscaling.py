"""`Autoscaling`: how many replicas a deployment runs, chosen from its load, and the `ScalingEvent` log.

The controller measures the load of a deployment as the calls queued in its handles plus the calls each replica
holds (running or waiting for a slot), divides by ``target_ongoing_calls`` and keeps the replica count within
``[min_replicas, max_replicas]``. A wish to scale must hold for ``upscale_delay_s`` (or ``downscale_delay_s``)
before it is acted on, so one spike does not start replicas that a moment later sit idle.

Example:
    >>> Autoscaling(min_replicas=1, max_replicas=8, target_ongoing_calls=4).downscale_delay_s
    30.0
"""

from __future__ import annotations

from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    model_validator,
)

__all__ = ["Autoscaling", "ScalingEvent"]


class Autoscaling(BaseModel):
    """Scale a deployment's replicas with its load.

    Attributes:
        min_replicas: Never fewer replicas (at least 1: a call always has somewhere to wait for an answer).
        max_replicas: Never more.
        target_ongoing_calls: Calls (queued in handles plus held by replicas) one replica should carry; the
            controller aims at ``ceil(load / target_ongoing_calls)`` replicas.
        upscale_delay_s: How long the load must ask for more replicas before they are started.
        downscale_delay_s: How long it must ask for fewer before replicas are drained and removed.
        metrics_period_s: How often the controller measures the load (handles report their queues as often).

    Raises:
        pydantic.ValidationError: for ``min_replicas > max_replicas`` or values out of range.

    Example:
        >>> Autoscaling(min_replicas=2, max_replicas=4, target_ongoing_calls=8, upscale_delay_s=0).max_replicas
        4
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_replicas: PositiveInt = 1
    max_replicas: PositiveInt = 8
    target_ongoing_calls: PositiveFloat = 2.0
    upscale_delay_s: NonNegativeFloat = 3.0
    downscale_delay_s: NonNegativeFloat = 30.0
    metrics_period_s: PositiveFloat = 0.5

    @model_validator(mode="after")
    def _bounds(self) -> Autoscaling:
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"min_replicas ({self.min_replicas}) must not exceed max_replicas ({self.max_replicas})")
        return self

    def clamp(self, replicas: int) -> int:
        """``replicas`` brought within ``[min_replicas, max_replicas]``.

        Example:
            >>> Autoscaling(min_replicas=2, max_replicas=4).clamp(9)
            4
        """
        return max(self.min_replicas, min(self.max_replicas, replicas))


class ScalingEvent(BaseModel):
    """One scaling decision of the controller: logged, counted in Ray metrics, listed by `Deployment.stats`, and
    emitted to the handles' listeners as a ``deployment.scaled`` event (see `Deployment.events`).

    Attributes:
        seq: Its number in this controller life (0, 1, 2...; a restarted controller counts again from 0).
        at: Wall-clock time of the decision (seconds since the epoch).
        direction: ``up`` or ``down``.
        from_replicas: Replicas before.
        to_replicas: Replicas asked for.
        load: The load measured (queued plus held calls) that led to it.
        reason: A sentence for people.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    seq: NonNegativeInt = 0
    at: float
    direction: Literal["up", "down"]
    from_replicas: int
    to_replicas: int
    load: NonNegativeFloat
    reason: str
