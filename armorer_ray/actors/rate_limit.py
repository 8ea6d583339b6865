"""`ClusterRateLimit`: one rate limit shared by every replica of every deployment that holds it.

The buckets live in one Ray actor. Replicas do not ask it per call: each leases a block of tokens and spends them
locally, returning what it has not used when the block expires. So the actor sees about one request per
``block_size`` calls, and the limit stays exact in count: in any window of ``W`` seconds at most
``burst + rate * (W + lease_ttl_s)`` calls start (tokens are spent once, at most ``lease_ttl_s`` late).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import ray

from armorer_ray.actors._private.limits_host import TokenBucketHostActor
from armorer_ray.errors import ConfigError, ToolError
from armorer_ray.results import ToolCall, ToolResult
from armorer_ray.toolbox import PROBE_TOOL_ID

if TYPE_CHECKING:
    from armorer_ray.context import CallContext
    from armorer_ray.middleware.base import Next

__all__ = ["ClusterRateLimit"]

KeyFunction = Callable[[ToolCall, "CallContext"], str]


@dataclass(slots=True)
class _Block:
    tokens: int
    expires_at: float


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
        self._actor = TokenBucketHostActor.options(
            name=f"armorer.rate-limit:{name}", namespace=namespace, get_if_exists=True, num_cpus=0,
            max_concurrency=1_000, lifetime="detached" if detached else None,
        ).remote(limit, per_s, self.burst)
        self._reset()

    def _reset(self) -> None:
        self._blocks: dict[str, _Block] = {}
        self._leasing: dict[str, asyncio.Future[tuple[int, float]]] = {}  # one lease request per key at a time

    def __getstate__(self) -> dict[str, Any]:
        # Travels as its settings and the actor handle; leased tokens stay with the process that leased them.
        return {k: v for k, v in self.__dict__.items() if k not in ("_blocks", "_leasing")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._reset()

    async def __call__(self, call: ToolCall, ctx: CallContext, next: Next) -> ToolResult:
        if ctx.tool.id == PROBE_TOOL_ID:
            return await next(call, ctx)
        bucket = self.key(call, ctx) if self.key is not None else "*"
        waited = 0.0
        while not self._take(bucket):
            granted, retry_after_s = await self._lease(bucket)
            if granted:
                continue
            if waited + retry_after_s > self.max_wait_s:
                ctx.emit("rate-limit.exceeded", {"key": bucket, "retry_after_s": retry_after_s})
                return ToolResult.failure(call.id, ctx.tool.name, ToolError.of(
                    "transient", f"Rate limited: {self.limit} calls per {self.per_s}s across the cluster; "
                                 f"retry in {retry_after_s:.2f}s", code="RATE_LIMITED",
                    details={"retry_after_s": round(retry_after_s, 3), "key": bucket}), tool_id=ctx.tool.id)
            await asyncio.sleep(retry_after_s)
            waited += retry_after_s
        return await next(call, ctx)

    def _take(self, bucket: str) -> bool:
        block = self._blocks.get(bucket)
        if block is None:
            return False
        if time.monotonic() >= block.expires_at:
            del self._blocks[bucket]
            if block.tokens:
                self._actor.give_back.remote(bucket, block.tokens)
            return False
        if block.tokens <= 0:
            return False
        block.tokens -= 1
        return True

    async def _lease(self, bucket: str) -> tuple[int, float]:
        pending = self._leasing.get(bucket)
        if pending is not None:  # another call is already asking: share its answer
            return await asyncio.shield(pending)
        future: asyncio.Future[tuple[int, float]] = asyncio.get_running_loop().create_future()
        self._leasing[bucket] = future
        try:
            granted, retry_after_s = await self._actor.lease.remote(bucket, self.block_size)
            if granted:
                block = self._blocks.setdefault(bucket, _Block(0, 0.0))
                block.tokens += granted
                block.expires_at = time.monotonic() + self.lease_ttl_s
            future.set_result((granted, retry_after_s))
            return granted, retry_after_s
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: sharers re-raise it themselves
            raise
        finally:
            del self._leasing[bucket]

    def shutdown(self) -> None:
        """End the limiter actor (for every holder)."""
        ray.kill(self._actor, no_restart=True)

