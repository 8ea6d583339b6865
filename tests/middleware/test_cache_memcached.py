"""MemcachedCacheStore against a memcached this test session starts (skipped when memcached is not installed)."""

from __future__ import annotations

import asyncio

from armorer_ray import Toolbox, ToolCall, ToolResult
from armorer_ray.middleware import Cache, CacheStore, MemcachedCacheStore
from armorer_ray.testing import mock_tool


def result(value: object) -> ToolResult:
    return ToolResult(call_id="c", tool_name="t", outcome="success", result=value, content=value)


async def test_store_roundtrip_ttl_and_generation_invalidation(memcached_address: tuple[str, int],
                                                               memcached_prefix: str) -> None:
    host, port = memcached_address
    store = MemcachedCacheStore(host, port, prefix=memcached_prefix)
    assert isinstance(store, CacheStore)
    try:
        await store.set("a", result({"n": 1}), ttl_s=60, labels=["tool:t", "tag:x"])
        await store.set("b", result(2), ttl_s=60, labels=["tool:t"])
        await store.set("c", result(3), ttl_s=None, labels=["tag:y"])
        found = await store.get("a")
        assert found is not None and found.result == {"n": 1}
        assert await store.invalidate("tag:x") is None
        assert await store.get("a") is None
        assert (await store.get("b")) is not None, "other labels are untouched"
        await store.set("a", result("fresh"), ttl_s=60, labels=["tool:t", "tag:x"])
        fresh = await store.get("a")
        assert fresh is not None and fresh.result == "fresh", "entries written after the invalidation are live"
        assert await store.delete("b") is True and await store.get("b") is None
        await store.clear()
        assert await store.get("a") is None and await store.get("c") is None
        await store.set("short", result(1), ttl_s=1, labels=[])
        await asyncio.sleep(2.1)
        assert await store.get("short") is None
    finally:
        await store.close()


async def test_two_clients_share_entries_and_invalidations(memcached_address: tuple[str, int],
                                                           memcached_prefix: str) -> None:
    host, port = memcached_address
    stores = [MemcachedCacheStore(host, port, prefix=memcached_prefix) for _ in range(2)]
    weather = mock_tool("weather", impl=lambda city: city.upper(), read_only=True, tags=["geo"])
    caches = [Cache(store) for store in stores]
    boxes = [Toolbox([weather], middleware=[cache]) for cache in caches]
    call = ToolCall(name="weather", arguments={"city": "oslo"})
    try:
        assert (await boxes[0].execute(call)).result == "OSLO"
        assert (await boxes[1].execute(call)).result == "OSLO"
        assert len(weather.calls) == 1 and caches[1].stats.hits == 1
        await caches[1].invalidate(tool="weather")
        await boxes[0].execute(call)
        assert len(weather.calls) == 2
    finally:
        for store in stores:
            await store.close()
