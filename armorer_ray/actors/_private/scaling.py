"""The autoscaling decision, as plain Python: load samples in, a replica count out (no Ray, no clock of its own)."""

from __future__ import annotations

import math

from armorer_ray.actors.autoscaling import Autoscaling

__all__ = ["ScalingDecider"]


class ScalingDecider:
    """Turns load samples into a target replica count, honouring the bounds and the delays.

    A wish (more, or fewer, replicas than now) must hold on every sample for its delay before it is returned;
    a sample that asks for the current count, or for the other direction, starts the wait again.

    Args:
        policy: The deployment's `Autoscaling`.

    Example:
        >>> decider = ScalingDecider(Autoscaling(max_replicas=4, target_ongoing_calls=2, upscale_delay_s=1))
        >>> decider.observe(now=0.0, load=8, current=1), decider.observe(now=1.0, load=8, current=1)
        (1, 4)
    """

    def __init__(self, policy: Autoscaling) -> None:
        self.policy = policy
        self._wish: int | None = None  # the direction-consistent wish being timed
        self._since = 0.0

    def desired(self, load: float) -> int:
        """The replica count ``load`` asks for, within the bounds."""
        return self.policy.clamp(math.ceil(load / self.policy.target_ongoing_calls - 1e-9))

    def observe(self, *, now: float, load: float, current: int) -> int:
        """Record one sample; returns the count to scale to now (``current`` while a wish is still waiting)."""
        wish = self.desired(load)
        if current < self.policy.min_replicas or current > self.policy.max_replicas:
            self._wish = None
            return self.policy.clamp(current)  # out of bounds (an adopted set, say): fix it at once
        if wish == current:
            self._wish = None
            return current
        if self._wish is None or (self._wish > current) != (wish > current):
            self._wish, self._since = wish, now
        # While waiting, follow the freshest wish: scale up to the latest need, down only as far as still holds.
        self._wish = max(self._wish, wish) if wish > current else wish
        delay = self.policy.upscale_delay_s if wish > current else self.policy.downscale_delay_s
        if now - self._since >= delay:
            self._wish = None
            return wish
        return current
