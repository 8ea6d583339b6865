"""`PoolHost`: a `ResourcePool` in its own Ray actor, lending picklable resources (often actor handles) to many
deployments. Leases are tracked by id and holder, so a holder that goes away can give back everything it held.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import ray

from armorer_ray.errors import ToolError, classify_exception
from armorer_ray.lifecycle import Health
from armorer_ray.resources import Lease, PoolStats, ResourcePool

__all__ = ["PoolHost", "PoolHostActor"]

Granted = tuple[bool, Any]  # (True, resource) or (False, ToolError)


class PoolHost:
    """Hosts one pool; made into a Ray actor by `create_resource_pool(..., shared=True)`."""

    def __init__(self, factory: Callable[[], Any], pool_options: dict[str, Any], name: str,
                 lease_ttl_s: float | None) -> None:
        self._pool: ResourcePool[Any] = ResourcePool(factory, name=name, **pool_options)
        self._ttl = lease_ttl_s
        self._leases: dict[str, tuple[Lease[Any], str, float]] = {}
        self._abandoned: dict[str, float] = {}  # releases that arrived before their grant (caller cancelled)
        self._reaper: asyncio.Task[None] | None = None

    async def acquire(self, lease_id: str, holder: str, timeout_s: float | None) -> Granted:
        """Lend a resource under ``lease_id``; failures come back as a `ToolError`, never raised across Ray."""
        if self._ttl is not None and self._reaper is None:
            self._reaper = asyncio.ensure_future(self._reap())
        try:
            lease = await self._pool.acquire(timeout_s)
        except Exception as exc:
            return False, classify_exception(exc)
        if self._abandoned.pop(lease_id, None) is not None:
            await lease.release()
            return False, ToolError.of("cancelled", "the borrower stopped waiting")
        self._leases[lease_id] = (lease, holder, time.monotonic())
        return True, lease.resource

    async def release(self, lease_id: str, discard: bool) -> None:
        """Take a resource back (closing it when ``discard``)."""
        held = self._leases.pop(lease_id, None)
        if held is None:
            self._abandoned[lease_id] = time.monotonic()
            return
        await held[0].release(discard=discard)

    async def release_holder(self, holder: str) -> int:
        """Take back every resource ``holder`` still has; returns how many."""
        mine = [lease_id for lease_id, (_, owner, _) in self._leases.items() if owner == holder]
        for lease_id in mine:
            await self.release(lease_id, discard=False)
        return len(mine)

    async def drain(self, timeout_s: float | None) -> None:
        """Refuse new leases, close idle resources, wait for the others."""
        if self._reaper is not None:
            self._reaper.cancel()
        await self._pool.drain(timeout_s)

    async def stats(self) -> PoolStats:
        """The pool's counters."""
        return self._pool.stats()

    async def health(self) -> Health:
        """The pool's health."""
        return await self._pool.health()

    async def _reap(self) -> None:
        # A holder that died never releases: reclaim leases older than the TTL, and forget stale abandon notes.
        ttl = self._ttl or 0.0
        while True:
            await asyncio.sleep(max(ttl / 4, 0.05))
            now = time.monotonic()
            for lease_id, (_, _, granted_at) in list(self._leases.items()):
                if now - granted_at > ttl:
                    await self.release(lease_id, discard=False)
            for lease_id, noted_at in list(self._abandoned.items()):
                if now - noted_at > max(ttl, 60.0):
                    del self._abandoned[lease_id]


PoolHostActor: Any = ray.remote(PoolHost)
