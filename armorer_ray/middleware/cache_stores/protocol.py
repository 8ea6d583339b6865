"""The `CacheStore` protocol: where the `Cache` middleware keeps results, and how it drops them by label."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from armorer_ray.results import ToolResult

__all__ = ["CacheStore"]


@runtime_checkable
class CacheStore(Protocol):
    """Keeps `ToolResult` objects by key, each with a ttl and labels that invalidate it in bulk.

    The `Cache` middleware gives each entry the labels ``tool:<id>``, ``tool:<name>`` and ``tag:<tag>`` for
    each tag of the tool, so that ``invalidate`` by label drops every entry of a tool or of a tag. Stores need
    not inherit from anything. A store may raise any exception on a backend failure: the middleware counts it,
    emits ``cache.failed`` and runs the call as a miss, so a cache outage never fails a call.

    Example:
        >>> from armorer_ray.middleware.cache_stores import MemoryCacheStore
        >>> isinstance(MemoryCacheStore(), CacheStore)
        True
    """

    async def get(self, key: str) -> ToolResult | None:
        """The live result stored under ``key``, or None when missing, expired or invalidated."""
        ...

    async def set(self, key: str, result: ToolResult, *, ttl_s: float | None, labels: Sequence[str]) -> None:
        """Store ``result`` under ``key`` for ``ttl_s`` seconds (None: until evicted), tagged with ``labels``."""
        ...

    async def delete(self, key: str) -> bool:
        """Drop one entry; True when a live entry was dropped."""
        ...

    async def invalidate(self, label: str) -> int | None:
        """Drop every entry carrying ``label``; returns how many, or None when the backend cannot count."""
        ...

    async def clear(self) -> None:
        """Drop every entry this store holds (other data on a shared server is left alone)."""
        ...
