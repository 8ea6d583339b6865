"""`ClusterRateLimit`: one rate limit shared by every replica of every deployment that holds it.

The buckets live in one Ray actor. Replicas do not ask it per call: each leases a block of tokens and spends them
locally, returning what it has not used when the block expires. So the actor sees about one request per
``block_size`` calls, and the limit stays exact in count: in any window of ``W`` seconds at most
``burst + rate * (W + lease_ttl_s)`` calls start (tokens are spent once, at most ``lease_ttl_s`` late).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

import ray

from armorer_ray.actors._private.leased_buckets import LeasedBuckets
from armorer_ray.actors._private.limits_host import connect_bucket_host
from armorer_ray.errors import ConfigError, ToolError
from armorer_ray.results import ToolCall, ToolResult
from armorer_ray.toolbox import PROBE_TOOL_ID

if TYPE_CHECKING:
    from armorer_ray.context import CallContext
    from armorer_ray.middleware.base import Next

__all__ = ["ClusterRateLimit"]

KeyFunction = Callable[[ToolCall, "CallContext"], str]


class ClusterRateLimit:
    """Middleware admitting at most ``limit`` calls per ``per_s`` seconds across all replicas, per key.

    Put it in ``Toolbox(middleware=[...])`` before deploying; every replica (and every deployment given the same
    ``name``) shares the buckets. A call that would wait longer than ``max_wait_s`` ends at once with a
    ``transient`` error coded ``RATE_LIMITED`` and ``details.retry_after_s``. Health probes are never counted.

    Args:
        limit: Calls per period.
        per_s: The period in seconds.
        name: Names the limiter actor (``armorer.rate-limit:<name>``); the same name means the same buckets
            (the first creator's limit wins).
        burst: Bucket capacity (default ``limit``).
        key: ``(call, ctx) -> str`` splitting buckets, such as per tenant (default: one bucket).
        block_size: Tokens a replica leases at once; larger means fewer actor calls, coarser sharing.
        lease_ttl_s: Unused leased tokens go back after this long.
        max_wait_s: Longest a call may wait for a token (0: refuse at once).
        namespace: Ray namespace of the limiter actor.
        detached: Keep the limiter actor alive after this driver exits.

    Raises:
        ConfigError: for a non-positive limit, period, burst, block size or TTL, or a negative ``max_wait_s``.

    Example:
        >>> limit = ClusterRateLimit(100, per_s=1.0, name="search-api")  # doctest: +SKIP
        >>> toolbox = Toolbox([search], middleware=[limit])  # doctest: +SKIP
    """

    def __init__(self, limit: int, per_s: float = 1.0, *, name: str, burst: int | None = None,
                 key: KeyFunction | None = None, block_size: int = 10, lease_ttl_s: float = 1.0,
                 max_wait_s: float = 0.0, namespace: str | None = None, detached: bool = False) -> None:
        if limit < 1 or per_s <= 0 or block_size < 1 or lease_ttl_s <= 0 or max_wait_s < 0 or (
                burst is not None and burst < 1):
            raise ConfigError("ClusterRateLimit needs limit, per_s, burst, block_size and lease_ttl_s > 0 and "
                              f"max_wait_s >= 0 (got {limit}, {per_s}, {burst}, {block_size}, {lease_ttl_s}, "
                              f"{max_wait_s})")
        self.limit, self.per_s, self.name = limit, per_s, name
        self.burst = burst or limit
        self.key = key
        self.block_size = min(block_size, self.burst)
        self.lease_ttl_s = lease_ttl_s
        self.max_wait_s = max_wait_s
        if not ray.is_initialized():
            ray.init()
        self._buckets = LeasedBuckets(
            partial(connect_bucket_host, f"armorer.rate-limit:{name}", limit, per_s, self.burst,
                    namespace=namespace, detached=detached),
            block_size=self.block_size, lease_ttl_s=lease_ttl_s)

    async def __call__(self, call: ToolCall, ctx: CallContext, next: Next) -> ToolResult:
        if ctx.tool.id == PROBE_TOOL_ID:
            return await next(call, ctx)
        bucket = self.key(call, ctx) if self.key is not None else "*"
        waited = 0.0
        while (retry_after_s := await self._buckets.acquire(bucket)) > 0:
            if waited + retry_after_s > self.max_wait_s:
                ctx.emit("rate-limited", {"key": bucket, "retry_after_s": retry_after_s})
                return ToolResult.failure(call.id, ctx.tool.name, ToolError.of(
                    "transient", f"Rate limited: {self.limit} calls per {self.per_s}s across the cluster; "
                                 f"retry in {retry_after_s:.2f}s", code="RATE_LIMITED",
                    details={"retry_after_s": round(retry_after_s, 3), "key": bucket}), tool_id=ctx.tool.id)
            await asyncio.sleep(retry_after_s)
            waited += retry_after_s
        return await next(call, ctx)

    def shutdown(self) -> None:
        """End the limiter actor (for every holder)."""
        self._buckets.kill_host()
