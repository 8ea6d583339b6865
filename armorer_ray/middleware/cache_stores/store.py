"""`StoreCacheStore`: the cache on any `armorer_ray.stores.Store` (SQLite, PostgreSQL, Redis, memory)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

from armorer_ray.middleware.cache_stores._codec import decode_result, encode_result, read_stamped, stamp
from armorer_ray.results import ToolResult

if TYPE_CHECKING:
    from armorer_ray.stores import Store

__all__ = ["StoreCacheStore"]

_ALL = "*"  # a label every entry carries, so clear() can also be one increment


class StoreCacheStore:
    """A `CacheStore` over a generic `Store`, so results can live wherever the rest of the state lives.

    Entries are ``{prefix}e/{key}`` with the store's native ttl; labels are counters ``{prefix}l/{hash}`` moved on
    by `Store.incr`. An entry records its labels' counters when written and reads as gone once any of them moved,
    so invalidation is one atomic increment on every backend, shared by every process that shares the store
    (an SQLite file, a Redis or PostgreSQL server). `invalidate` cannot count and returns None; a stale entry
    is deleted when next read, or when its ttl ends. Results travel as JSON, as in `RedisCacheStore`.

    Args:
        store: The store; it is used as is and not closed by this object.
        prefix: Key prefix inside the store's namespace.

    Example:
        >>> import asyncio
        >>> from armorer_ray import ToolResult
        >>> from armorer_ray.stores import MemoryStore
        >>> async def demo():
        ...     async with MemoryStore() as backend:
        ...         cache = StoreCacheStore(backend)
        ...         answer = ToolResult(call_id="c", tool_name="t", outcome="success", result=1, content=1)
        ...         await cache.set("k", answer, ttl_s=60, labels=["tag:geo"])
        ...         before = await cache.get("k")
        ...         await cache.invalidate("tag:geo")
        ...         return before.result, await cache.get("k")
        >>> asyncio.run(demo())
        (1, None)
    """

    __slots__ = ("prefix", "store")

    def __init__(self, store: Store, *, prefix: str = "cache/") -> None:
        self.store = store
        self.prefix = prefix

    def _entry(self, key: str) -> str:
        return f"{self.prefix}e/{key}"

    def _label(self, label: str) -> str:
        return f"{self.prefix}l/{hashlib.sha256(label.encode()).hexdigest()[:32]}"

    async def _generations(self, labels: Sequence[str]) -> list[int]:
        values = [await self.store.get(label) for label in labels]
        return [int(value) if value is not None else 0 for value in values]

    async def get(self, key: str) -> ToolResult | None:
        """The live result under ``key``; None when any of its labels moved on since it was written."""
        raw = await self.store.get(self._entry(key))
        if raw is None:
            return None
        label_keys, generations, body = read_stamped(raw)
        if await self._generations(label_keys) != generations:
            await self.store.delete(self._entry(key))
            return None
        return decode_result(body)

    async def set(self, key: str, result: ToolResult, *, ttl_s: float | None, labels: Sequence[str]) -> None:
        """Store ``result`` with its labels' current counters."""
        body = encode_result(result)
        label_keys = [self._label(label) for label in (*labels, _ALL)]
        entry = stamp(body, label_keys, await self._generations(label_keys))
        await self.store.set(self._entry(key), entry, ttl_s=ttl_s)

    async def delete(self, key: str) -> bool:
        """Drop one entry."""
        return await self.store.delete(self._entry(key))

    async def invalidate(self, label: str) -> None:
        """Move the label's counter on: every entry written before reads as gone."""
        await self.store.incr(self._label(label))

    async def clear(self) -> None:
        """Delete every entry and counter under the prefix."""
        await self.store.delete_prefix(self.prefix)
