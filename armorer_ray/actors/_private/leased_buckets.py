"""The holder's side of a cluster-wide token bucket: lease tokens in blocks from a `TokenBucketHost` actor, spend
them locally, give back what a block did not use when it expires.

Both `ClusterRateLimit` (a middleware, per call) and the Serve ingress's shared door limit (per HTTP request) hold
one of these, so the leasing rules live in one place.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ray.exceptions import RayActorError

__all__ = ["LeasedBuckets"]

ActorConnector = Callable[[], Any]
"""Returns a handle to the bucket host actor (``get_if_exists``), creating it when it is gone."""


@dataclass(slots=True)
class _Block:
    tokens: int
    expires_at: float


class LeasedBuckets:
    """Per-key token blocks leased from one host actor.

    Args:
        connect: Returns the host actor's handle; called again once when the actor has died (its owner went away),
            so the limit continues with a fresh host instead of failing every request.
        block_size: Tokens leased at once; larger means fewer actor calls, coarser sharing between holders.
        lease_ttl_s: Unused leased tokens go back after this long.
    """

    def __init__(self, connect: ActorConnector, *, block_size: int, lease_ttl_s: float) -> None:
        self._connect = connect
        self.block_size = block_size
        self.lease_ttl_s = lease_ttl_s
        self._actor: Any = connect()
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

    async def acquire(self, key: str) -> float:
        """Spend one token of ``key``: 0.0 when spent, else the seconds until the host expects to have one.

        Raises:
            RayActorError: when the host actor is unreachable even after reconnecting once.
        """
        while not self._take(key):
            granted, retry_after_s = await self._lease(key)
            if not granted:
                return max(retry_after_s, 1e-3)
        return 0.0

    def _take(self, key: str) -> bool:
        block = self._blocks.get(key)
        if block is None:
            return False
        if time.monotonic() >= block.expires_at:
            del self._blocks[key]
            if block.tokens:
                self._actor.give_back.remote(key, block.tokens)
            return False
        if block.tokens <= 0:
            return False
        block.tokens -= 1
        return True

    async def _lease(self, key: str) -> tuple[int, float]:
        pending = self._leasing.get(key)
        if pending is not None:  # another caller is already asking: share its answer
            return await asyncio.shield(pending)
        future: asyncio.Future[tuple[int, float]] = asyncio.get_running_loop().create_future()
        self._leasing[key] = future
        try:
            try:
                granted, retry_after_s = await self._actor.lease.remote(key, self.block_size)
            except RayActorError:
                self._actor = self._connect()
                granted, retry_after_s = await self._actor.lease.remote(key, self.block_size)
            if granted:
                block = self._blocks.setdefault(key, _Block(0, 0.0))
                block.tokens += granted
                block.expires_at = time.monotonic() + self.lease_ttl_s
            future.set_result((granted, retry_after_s))
            return granted, retry_after_s
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: sharers re-raise it themselves
            raise
        finally:
            del self._leasing[key]

    def kill_host(self) -> None:
        """End the host actor (for every holder)."""
        import ray

        ray.kill(self._actor, no_restart=True)
