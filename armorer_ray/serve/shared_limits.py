"""`DeploymentRateLimiter`: the door's per-principal rate limit shared by every replica of a Serve deployment.

Replicas lease tokens in blocks from one token-bucket actor (the same host and leasing rules as
`ClusterRateLimit`), so a principal gets ``rate_per_s`` from the deployment as a whole, not from each replica.
Imports Ray at module level; only the Serve replica imports this module.
"""

from __future__ import annotations

import logging
from functools import partial

from armorer_ray.actors._private.leased_buckets import LeasedBuckets
from armorer_ray.actors._private.limits_host import connect_bucket_host
from armorer_ray.serve.limits import RateLimiter, RequestLimits

__all__ = ["DeploymentRateLimiter"]

logger = logging.getLogger(__name__)


class DeploymentRateLimiter:
    """A `DoorLimiter` whose buckets every holder with the same ``name`` shares.

    The host actor is created by the first replica that needs it and found by name by the others. If it dies
    with the replica that owned it (Serve scaled that replica down), the next lease creates a fresh one, whose
    buckets start full. If the host cannot be reached at all, requests are limited by a bucket in this replica
    for as long as that lasts, and a warning is logged: the door fails towards the per-replica limit, never
    towards no limit, nor towards refusing everyone.

    Args:
        name: Names the host actor; replicas of one deployment must agree on it.
        limits: ``rate_per_s`` and ``burst`` (``rate_per_s`` must be set).
        block_size: Tokens a replica leases at once (default: a tenth of the burst, at least 1).
        lease_ttl_s: Unused leased tokens go back after this long.
    """

    def __init__(self, name: str, limits: RequestLimits, *, block_size: int | None = None,
                 lease_ttl_s: float = 1.0) -> None:
        if limits.rate_per_s is None:
            raise ValueError("DeploymentRateLimiter needs limits.rate_per_s")
        self.name = name
        self._buckets = LeasedBuckets(
            partial(connect_bucket_host, name, limits.burst, limits.burst / limits.rate_per_s, limits.burst),
            block_size=block_size or max(1, limits.burst // 10), lease_ttl_s=lease_ttl_s)
        self._fallback = RateLimiter(limits.rate_per_s, limits.burst)
        self._degraded = False

    async def admit(self, key: str) -> float:
        """0.0 when the principal ``key`` may go on, else the seconds until it may retry."""
        try:
            wait_s = await self._buckets.acquire(key)
        except Exception as exc:  # the host is gone and could not be re-created: limit locally meanwhile
            if not self._degraded:
                logger.warning("shared rate limit %r unreachable (%s); limiting per replica until it is back",
                               self.name, exc)
            self._degraded = True
            return self._fallback.acquire(key)
        if self._degraded:
            logger.warning("shared rate limit %r reachable again", self.name)
            self._degraded = False
        return wait_s
