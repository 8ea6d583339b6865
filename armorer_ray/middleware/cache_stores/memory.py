"""`MemoryCacheStore`: results in this process, bounded by entries and bytes, evicted LRU or LFU."""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict
from pydantic_core import to_json

from armorer_ray.errors import ConfigError
from armorer_ray.middleware.cache_stores._eviction import Eviction, eviction_order
from armorer_ray.results import ToolResult

__all__ = ["MemoryCacheStats", "MemoryCacheStore"]


class MemoryCacheStats(BaseModel):
    """What a `MemoryCacheStore` holds and has dropped.

    Attributes:
        entries: Live entries (expired ones not yet swept may be counted until the next write).
        bytes: Their estimated size (0 unless ``max_bytes`` is set, since measuring costs a serialisation).
        evictions: Entries dropped to respect ``max_entries`` or ``max_bytes``.
        expirations: Entries dropped because their ttl ran out.

    Example:
        >>> MemoryCacheStats(entries=2, bytes=0, evictions=1, expirations=0).evictions
        1
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    entries: int
    bytes: int
    evictions: int
    expirations: int


@dataclass(slots=True)
class _Entry:
    result: ToolResult
    expires_at: float
    size: int
    labels: tuple[str, ...]


class MemoryCacheStore:
    """A `CacheStore` in this process's memory.

    Entries expire after their ttl (swept on reads and writes, so an expired entry never answers). Past
    ``max_entries`` or ``max_bytes`` the store evicts by ``eviction``: ``lru`` drops the entry read or written
    longest ago, ``lfu`` the one read least often (ties: least recently). Sizes are measured as the JSON
    length of the result, and only when ``max_bytes`` is set; a single result larger than ``max_bytes`` is
    not stored. Results are kept as the same objects, not copies: treat cached results as immutable.

    Args:
        max_entries: Most entries kept (None: no bound).
        max_bytes: Most bytes kept, by the JSON size of each result (None: no bound).
        eviction: ``lru`` or ``lfu``.
        clock: Monotonic clock in seconds, injectable for tests.

    Raises:
        ConfigError: for a bound below 1 or an unknown eviction.

    Example:
        >>> import asyncio
        >>> from armorer_ray import ToolResult
        >>> store = MemoryCacheStore(max_entries=2, eviction="lfu")
        >>> def result(n):
        ...     return ToolResult(call_id=str(n), tool_name="t", outcome="success", result=n)
        >>> async def demo():
        ...     await store.set("a", result(1), ttl_s=None, labels=["tool:t"])
        ...     await store.set("b", result(2), ttl_s=None, labels=["tool:t"])
        ...     await store.get("a")                   # "a" is read once, "b" never
        ...     await store.set("c", result(3), ttl_s=None, labels=["tool:t"])
        ...     return [await store.get(k) is not None for k in "abc"], await store.invalidate("tool:t")
        >>> asyncio.run(demo())
        ([True, False, True], 2)
        >>> store.stats().evictions
        1
    """

    def __init__(self, *, max_entries: int | None = 10_000, max_bytes: int | None = None,
                 eviction: Eviction = "lru", clock: Callable[[], float] = time.monotonic) -> None:
        for name, bound in (("max_entries", max_entries), ("max_bytes", max_bytes)):
            if bound is not None and (not isinstance(bound, int) or bound < 1):
                raise ConfigError(f"MemoryCacheStore {name} must be a positive integer or None, got {bound!r}")
        if eviction not in ("lru", "lfu"):
            raise ConfigError(f"MemoryCacheStore eviction must be 'lru' or 'lfu', got {eviction!r}")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.eviction: Eviction = eviction
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._order = eviction_order(eviction)
        self._labels: dict[str, set[str]] = {}
        self._expiries: list[tuple[float, str]] = []  # heap of (expires_at, key); stale pairs are skipped
        self._bytes = 0
        self._evictions = 0
        self._expirations = 0

    def __len__(self) -> int:
        return len(self._entries)

    def stats(self) -> MemoryCacheStats:
        """Counts of entries, bytes, evictions and expirations so far.

        Example:
            >>> MemoryCacheStore().stats().entries
            0
        """
        return MemoryCacheStats(entries=len(self._entries), bytes=self._bytes, evictions=self._evictions,
                                expirations=self._expirations)

    async def get(self, key: str) -> ToolResult | None:
        """The live result under ``key``, counting as a use for the eviction order."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires_at <= self._clock():
            self._sweep()
            return None
        self._order.touch(key)
        return entry.result

    async def set(self, key: str, result: ToolResult, *, ttl_s: float | None, labels: Sequence[str]) -> None:
        """Store ``result``, evicting as the bounds require; ``ttl_s`` None keeps it until evicted."""
        size = len(to_json(result, fallback=repr)) if self.max_bytes is not None else 0
        if self.max_bytes is not None and size > self.max_bytes:
            return
        now = self._clock()
        self._sweep(now)
        self._remove(key)
        expires_at = now + ttl_s if ttl_s is not None else math.inf
        self._entries[key] = _Entry(result, expires_at, size, tuple(labels))
        self._order.add(key)
        self._bytes += size
        for label in labels:
            self._labels.setdefault(label, set()).add(key)
        if ttl_s is not None:
            heapq.heappush(self._expiries, (expires_at, key))
            if len(self._expiries) > 2 * len(self._entries) + 64:
                self._compact_expiries()
        while (self.max_entries is not None and len(self._entries) > self.max_entries) or (
            self.max_bytes is not None and self._bytes > self.max_bytes
        ):
            self._remove(self._order.victim(key))
            self._evictions += 1

    async def delete(self, key: str) -> bool:
        """Drop one entry."""
        entry = self._entries.get(key)
        live = entry is not None and entry.expires_at > self._clock()
        self._remove(key)
        return live

    async def invalidate(self, label: str) -> int:
        """Drop every entry carrying ``label``; returns how many were dropped."""
        keys = self._labels.pop(label, set())
        for key in keys:
            self._remove(key)
        return len(keys)

    async def clear(self) -> None:
        """Drop everything (the statistics stay)."""
        self._entries.clear()
        self._labels.clear()
        self._expiries.clear()
        self._order = eviction_order(self.eviction)
        self._bytes = 0

    def _remove(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        self._order.remove(key)
        self._bytes -= entry.size
        for label in entry.labels:
            keys = self._labels.get(label)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._labels[label]

    def _compact_expiries(self) -> None:
        # Evicted, deleted and rewritten entries leave their pair in the heap until its time comes; at a high
        # write rate with a long ttl those would outnumber the live entries many times over.
        self._expiries = [(entry.expires_at, key) for key, entry in self._entries.items()
                          if entry.expires_at != math.inf]
        heapq.heapify(self._expiries)

    def _sweep(self, now: float | None = None) -> None:
        now = self._clock() if now is None else now
        expiries = self._expiries
        while expiries and expiries[0][0] <= now:
            expires_at, key = heapq.heappop(expiries)
            entry = self._entries.get(key)
            if entry is not None and entry.expires_at == expires_at:  # not replaced by a later write
                self._remove(key)
                self._expirations += 1
