"""`Cache`: answer repeated calls from a store, for tools whose results may be reused."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from armorer_ray.cancellation import AbortSignal
from armorer_ray.context import CallContext
from armorer_ray.errors import ConfigError
from armorer_ray.middleware.cache_stores.memory import MemoryCacheStore
from armorer_ray.middleware.cache_stores.protocol import CacheStore
from armorer_ray.middleware.keys import KeyFunction, arguments_key
from armorer_ray.results import ToolCall, ToolResult, build_result

if TYPE_CHECKING:
    from armorer_ray.middleware.base import Next
    from armorer_ray.toolbox import CallInput, Toolbox
    from armorer_ray.tools import Tool

__all__ = ["Cache", "CacheStats", "caches_by_default"]

# Which Cache, if any, is being warmed with refresh=True in this context. A context variable reaches the
# middleware through toolbox.execute (and the tasks a batch starts) without a flag on every call.
_refreshing: ContextVar[Cache | None] = ContextVar("armorer_cache_refreshing", default=None)


def caches_by_default(tool: Tool) -> bool:
    """The default rule: cache read-only tools; ``metadata={"cache": False}`` opts a tool out, True opts one in.

    Args:
        tool: The tool a call is for.

    Returns:
        Whether results of ``tool`` may be cached.

    Example:
        >>> from armorer_ray.testing import mock_tool
        >>> caches_by_default(mock_tool("get", read_only=True)), caches_by_default(mock_tool("put"))
        (True, False)
        >>> caches_by_default(mock_tool("get", read_only=True, metadata={"cache": False}))
        False
    """
    flag = tool.metadata.get("cache")
    return flag if isinstance(flag, bool) else tool.risk.read_only


class CacheStats(BaseModel):
    """Counters of one `Cache` since it was made (or since `Cache.reset_stats`).

    Attributes:
        hits: Calls answered from the store.
        misses: Cacheable calls that ran.
        writes: Results stored.
        errors: Store operations that failed (each call went on as a miss).
        invalidations: Calls of `Cache.invalidate`.

    Example:
        >>> CacheStats(hits=3, misses=1).hit_rate
        0.75
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    hits: int = 0
    misses: int = 0
    writes: int = 0
    errors: int = 0
    invalidations: int = 0

    @property
    def hit_rate(self) -> float:
        """Hits over lookups (0.0 before any lookup)."""
        lookups = self.hits + self.misses
        return self.hits / lookups if lookups else 0.0


class Cache:
    """Answer calls from a `CacheStore` when an equal call succeeded before, within the ttl.

    Only tools that ``should_cache`` accepts are cached (by default read-only ones, with a per-tool opt-out
    ``metadata={"cache": False}``); ``metadata={"cache_ttl_s": 5}`` sets a tool's own ttl. Only successful,
    non-dry-run results are stored. A hit is returned under the current call's ``call_id`` (with this call's
    timing) and emits ``cache-hit``; a miss emits ``cache-miss``. Entries are labelled by tool id, tool name
    and each tag, so `invalidate` drops them by any of those or by key. A failing store never fails a call: the
    error is counted, ``cache-error`` is emitted and the call runs as a miss. Concurrent misses of one key each
    run the tool: put `Dedupe` inside the cache to run them once.

    Args:
        store: Where entries live (default: a `MemoryCacheStore` of 10 000 entries, LRU).
        ttl_s: Seconds an entry lives (None: until evicted or invalidated).
        key: ``(call, ctx) -> str``; equal keys share an entry (default: tool id, tenant and arguments, so
            tenants never share entries).
        should_cache: ``(tool) -> bool``: which tools to cache (default `caches_by_default`); asked once per tool,
            since a tool does not change once built.

    Raises:
        ConfigError: for a ttl that is not positive.

    Example:
        >>> from armorer_ray import Toolbox, ToolCall
        >>> from armorer_ray.testing import mock_tool
        >>> weather = mock_tool("weather", impl=lambda city: f"sunny in {city}", read_only=True, tags=["geo"])
        >>> cache = Cache(ttl_s=60)
        >>> box = Toolbox([weather], middleware=[cache])
        >>> first = box.execute_sync(ToolCall(id="a", name="weather", arguments={"city": "Oslo"}))
        >>> second = box.execute_sync(ToolCall(id="b", name="weather", arguments={"city": "Oslo"}))
        >>> second.result, second.call_id, len(weather.calls), cache.stats.hits
        ('sunny in Oslo', 'b', 1, 1)
        >>> import asyncio
        >>> asyncio.run(cache.invalidate(tag="geo"))
        1
        >>> _ = box.execute_sync(ToolCall(name="weather", arguments={"city": "Oslo"}))
        >>> len(weather.calls)
        2
    """

    __slots__ = ("_decisions", "_stats", "key", "should_cache", "store", "ttl_s")

    def __init__(self, store: CacheStore | None = None, *, ttl_s: float | None = 300.0,
                 key: KeyFunction = arguments_key, should_cache: Callable[[Tool], bool] = caches_by_default) -> None:
        if ttl_s is not None and not ttl_s > 0:
            raise ConfigError(f"Cache ttl_s must be positive or None, got {ttl_s!r}")
        self.store: CacheStore = store if store is not None else MemoryCacheStore()
        self.ttl_s = ttl_s
        self.key = key
        self.should_cache = should_cache
        self._stats = {"hits": 0, "misses": 0, "writes": 0, "errors": 0, "invalidations": 0}
        # Per tool, worked out once (tools do not change once built): None when not cached, else labels and ttl.
        self._decisions: dict[Tool, tuple[list[str], float | None] | None] = {}

    @property
    def stats(self) -> CacheStats:
        """A snapshot of the hit, miss, write, error and invalidation counters.

        Example:
            >>> Cache().stats.hit_rate
            0.0
        """
        return CacheStats(**self._stats)

    def reset_stats(self) -> None:
        """Set every counter back to zero."""
        for name in self._stats:
            self._stats[name] = 0

    @staticmethod
    def store_key(key: str) -> str:
        """The store key for a key-function result: its SHA-256, so any key fits any backend.

        Example:
            >>> len(Cache.store_key("default:weather||{}"))
            64
        """
        return hashlib.sha256(key.encode()).hexdigest()

    def ttl_for(self, tool: Tool) -> float | None:
        """The tool's ``metadata["cache_ttl_s"]`` when it is a positive number, else the cache's ttl.

        Example:
            >>> from armorer_ray.testing import mock_tool
            >>> Cache(ttl_s=60).ttl_for(mock_tool("t", metadata={"cache_ttl_s": 5}))
            5.0
        """
        own = tool.metadata.get("cache_ttl_s")
        if isinstance(own, int | float) and not isinstance(own, bool) and own > 0:
            return float(own)
        return self.ttl_s

    async def __call__(self, call: ToolCall, ctx: CallContext, next: Next) -> ToolResult:
        """Answer from the store, or run the inner layers and store a successful result.

        Args:
            call: The call.
            ctx: Its context.
            next: The inner layers.

        Returns:
            The cached result under this call's id, or the inner result.
        """
        tool = ctx.tool
        try:
            decision = self._decisions[tool]
        except KeyError:
            if len(self._decisions) > 4096:  # tools made per request would otherwise pile up here
                self._decisions.clear()
            decision = self._decisions[tool] = self._decide(tool)
        if decision is None or ctx.dry_run:
            return await next(call, ctx)
        key = self.store_key(self.key(call, ctx))
        stats = self._stats
        if _refreshing.get() is not self:
            cached = await self._get(key, ctx)
            if cached is not None:
                stats["hits"] += 1
                ctx.emit("cache-hit", {"key": key})
                return _with_call_id(cached, call.id)
        stats["misses"] += 1
        ctx.emit("cache-miss", {"key": key})
        result = await next(call, ctx)
        if result.outcome == "success" and not result.dry_run:
            labels, ttl_s = decision
            try:
                await self.store.set(key, result, ttl_s=ttl_s, labels=labels)
                stats["writes"] += 1
            except Exception as exc:  # a cache outage must not fail the call it was meant to speed up
                self._failed(exc, ctx)
        return result

    def _decide(self, tool: Tool) -> tuple[list[str], float | None] | None:
        if not self.should_cache(tool):
            return None
        labels = [f"tool:{tool.id}", f"tool:{tool.name}", *(f"tag:{tag}" for tag in tool.tags)]
        return labels, self.ttl_for(tool)

    async def _get(self, key: str, ctx: CallContext) -> ToolResult | None:
        try:
            return await self.store.get(key)
        except Exception as exc:  # as above: a broken store reads as a miss
            self._failed(exc, ctx)
            return None

    def _failed(self, exc: Exception, ctx: CallContext) -> None:
        self._stats["errors"] += 1
        ctx.emit("cache-error", {"error": exc})

    async def invalidate(self, *, tool: str | Tool | None = None, tag: str | None = None,
                         key: str | None = None) -> int | None:
        """Drop entries by tool (name, id or Tool), by tag, or by the key the key function returned.

        Args:
            tool: Drop every entry of this tool.
            tag: Drop every entry of tools carrying this tag.
            key: Drop the entry of this key-function result (see `key_of` for a call's key).

        Returns:
            How many entries were dropped, or None when the store cannot count (memcached).

        Raises:
            ConfigError: unless exactly one of ``tool``, ``tag`` and ``key`` is given.

        Example:
            >>> import asyncio
            >>> asyncio.run(Cache().invalidate(tag="geo"))
            0
        """
        if sum(option is not None for option in (tool, tag, key)) != 1:
            raise ConfigError("Cache.invalidate() takes exactly one of tool=, tag= or key=")
        self._stats["invalidations"] += 1
        if key is not None:
            return int(await self.store.delete(self.store_key(key)))
        if tag is not None:
            return await self.store.invalidate(f"tag:{tag}")
        return await self.store.invalidate(f"tool:{tool if isinstance(tool, str) else getattr(tool, 'id', tool)}")

    def key_of(self, toolbox: Toolbox, call: ToolCall) -> str:
        """The key-function result for ``call`` as ``toolbox`` would run it (for ``invalidate(key=...)``).

        Args:
            toolbox: The toolbox that resolves the call's tool.
            call: The call.

        Returns:
            The key, before hashing into a store key.

        Raises:
            KeyError: when the toolbox has no such tool.

        Example:
            >>> from armorer_ray import Toolbox, ToolCall
            >>> from armorer_ray.testing import mock_tool
            >>> box = Toolbox([mock_tool("weather", read_only=True)])
            >>> Cache().key_of(box, ToolCall(name="weather", arguments={"city": "Oslo"}))
            'default:weather||{"city":"Oslo"}'
        """
        found = toolbox.get_tool(call.name)
        if found is None:
            raise KeyError(f"Tool not found: {call.name}")
        ctx = CallContext(call, found, toolbox, toolbox.context, AbortSignal(), toolbox.events)
        return self.key(call, ctx)

    async def warm(self, toolbox: Toolbox, calls: Sequence[CallInput], *, refresh: bool = False,
                   concurrency: int | None = None) -> list[ToolResult]:
        """Fill the cache by running ``calls`` through ``toolbox`` (whose middleware must include this cache).

        Args:
            toolbox: The toolbox to run the calls through, policies and all.
            calls: The calls to warm.
            refresh: Run every call even when an entry exists, replacing it.
            concurrency: Most calls in flight at once (None: all).

        Returns:
            The results, in order.

        Example:
            >>> from armorer_ray import Toolbox, ToolCall
            >>> from armorer_ray.testing import mock_tool
            >>> rates = mock_tool("rates", impl=lambda pair: 1.1, read_only=True)
            >>> cache = Cache()
            >>> box = Toolbox([rates], middleware=[cache])
            >>> import asyncio
            >>> _ = asyncio.run(cache.warm(box, [ToolCall(name="rates", arguments={"pair": "EURUSD"})]))
            >>> box.execute_sync(ToolCall(name="rates", arguments={"pair": "EURUSD"})).result, len(rates.calls)
            (1.1, 1)
        """
        token = _refreshing.set(self if refresh else None)
        try:
            return await toolbox.execute(list(calls), concurrency=concurrency)
        finally:
            _refreshing.reset(token)


def _with_call_id(result: ToolResult, call_id: str) -> ToolResult:
    if result.call_id == call_id:
        return result
    # A hit is on the hot path: copying the field dict is several times cheaper than model_copy.
    fields = dict(result.__dict__)
    fields["call_id"] = call_id
    return build_result(**fields)
