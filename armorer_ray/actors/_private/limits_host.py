"""The actors behind cluster-wide limits: token buckets that lease tokens in blocks, and counted permits."""

from __future__ import annotations

import asyncio
import math
import time
from collections import OrderedDict, deque
from typing import Any

import ray

__all__ = ["PermitHost", "PermitHostActor", "TokenBucketHost", "TokenBucketHostActor", "connect_bucket_host"]


class TokenBucketHost:
    """Token buckets by key, refilled at ``limit / per_s`` up to ``burst``; tokens leave in blocks (`lease`)."""

    def __init__(self, limit: int, per_s: float, burst: int, max_keys: int = 100_000) -> None:
        self._rate = limit / per_s
        self._capacity = float(burst)
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, list[float]] = OrderedDict()  # key -> [tokens, refilled_at]

    def _bucket(self, key: str) -> list[float]:
        now = time.monotonic()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = [self._capacity, now]
            if len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)  # the least recently used key starts full again if it returns
        else:
            self._buckets.move_to_end(key)
            bucket[0] = min(self._capacity, bucket[0] + (now - bucket[1]) * self._rate)
            bucket[1] = now
        return bucket

    async def lease(self, key: str, want: int) -> tuple[int, float]:
        """Take up to ``want`` whole tokens; returns ``(granted, seconds until the next token if none)``."""
        bucket = self._bucket(key)
        granted = min(want, math.floor(bucket[0]))
        if granted > 0:
            bucket[0] -= granted
            return granted, 0.0
        return 0, (1.0 - bucket[0]) / self._rate

    async def give_back(self, key: str, tokens: int) -> None:
        """Return tokens a holder leased but did not use."""
        bucket = self._bucket(key)
        bucket[0] = min(self._capacity, bucket[0] + tokens)


class PermitHost:
    """Counted permits by key: at most ``limit`` held at once, waiters served in arrival order."""

    def __init__(self, permit_ttl_s: float) -> None:
        self._ttl = permit_ttl_s
        self._held: dict[str, dict[str, float]] = {}  # key -> {permit_id: granted_at}
        self._owner: dict[str, str] = {}  # permit_id -> key
        self._waiting: dict[str, deque[tuple[str, int, asyncio.Future[bool]]]] = {}
        self._abandoned: dict[str, float] = {}
        self._peak: dict[str, int] = {}
        self._reaper: asyncio.Task[None] | None = None

    async def acquire(self, key: str, limit: int, permit_id: str, timeout_s: float) -> bool:
        """Hold a permit for ``key`` (waiting up to ``timeout_s``); False when none came in time."""
        if self._reaper is None:
            self._reaper = asyncio.ensure_future(self._reap())
        held = self._held.setdefault(key, {})
        queue = self._waiting.setdefault(key, deque())
        if len(held) < limit and not queue:
            self._grant(key, permit_id)
            return True
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        queue.append((permit_id, limit, future))
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout_s)
        except asyncio.TimeoutError:
            if future.done() and future.result():
                return True  # granted just as the wait ran out
            future.cancel()
            return False

    async def release(self, permit_id: str) -> None:
        """Give a permit back (or, if it is not granted yet, make sure it never is)."""
        key = self._owner.pop(permit_id, None)
        if key is None:
            self._abandoned[permit_id] = time.monotonic()
            return
        self._held[key].pop(permit_id, None)
        self._serve(key)

    async def peaks(self) -> dict[str, int]:
        """The most permits ever held at once, by key."""
        return dict(self._peak)

    def _grant(self, key: str, permit_id: str) -> None:
        held = self._held[key]
        held[permit_id] = time.monotonic()
        self._owner[permit_id] = key
        self._peak[key] = max(self._peak.get(key, 0), len(held))

    def _serve(self, key: str) -> None:
        queue = self._waiting.get(key)
        held = self._held[key]
        while queue:
            permit_id, limit, future = queue[0]
            if future.done() or self._abandoned.pop(permit_id, None) is not None:
                queue.popleft()
                continue
            if len(held) >= limit:
                return
            queue.popleft()
            self._grant(key, permit_id)
            future.set_result(True)

    async def _reap(self) -> None:
        # A holder that died never releases: its permits lapse after the TTL.
        while True:
            await asyncio.sleep(max(min(self._ttl / 4, 5.0), 0.05))
            now = time.monotonic()
            for key, held in self._held.items():
                for permit_id, granted_at in list(held.items()):
                    if now - granted_at > self._ttl:
                        del held[permit_id]
                        self._owner.pop(permit_id, None)
                self._serve(key)
            for permit_id, noted_at in list(self._abandoned.items()):
                if now - noted_at > self._ttl:
                    del self._abandoned[permit_id]


TokenBucketHostActor: Any = ray.remote(TokenBucketHost)
PermitHostActor: Any = ray.remote(PermitHost)


def connect_bucket_host(name: str, limit: int, per_s: float, burst: int, *, namespace: str | None = None,
                        detached: bool = False) -> Any:
    """The named token-bucket host actor, created on first use (the first creator's limit wins)."""
    return TokenBucketHostActor.options(
        name=name, namespace=namespace, get_if_exists=True, num_cpus=0, max_concurrency=1_000,
        lifetime="detached" if detached else None,
    ).remote(limit, per_s, burst)
