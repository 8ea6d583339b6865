"""StoreCacheStore: the cache on the generic Store backends (memory, SQLite shared by two stores, Redis)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from armorer_ray import Toolbox, ToolCall, ToolResult
from armorer_ray.middleware import Cache, CacheStore, StoreCacheStore
from armorer_ray.stores import MemoryStore, SqliteOptions, SqliteStore
from armorer_ray.testing import mock_tool


def result(value: object) -> ToolResult:
    return ToolResult(call_id="c", tool_name="t", outcome="success", result=value, content=value)


@pytest.fixture
async def backend() -> AsyncIterator[MemoryStore]:
    async with MemoryStore() as store:
        yield store


async def test_entries_labels_and_clear(backend: MemoryStore) -> None:
    cache = StoreCacheStore(backend)
    assert isinstance(cache, CacheStore)
    await cache.set("a", result(1), ttl_s=60, labels=["tool:t", "tag:x"])
    await cache.set("b", result(2), ttl_s=None, labels=["tool:t"])
    await cache.invalidate("tag:x")
    assert await cache.get("a") is None
    found = await cache.get("b")
    assert found is not None and found.result == 2
    await cache.set("a", result(3), ttl_s=None, labels=["tag:x"])
    again = await cache.get("a")
    assert again is not None and again.result == 3
    assert await cache.delete("a") is True
    await cache.clear()
    assert await cache.get("b") is None and await backend.keys() == []


async def test_two_sqlite_stores_on_one_file_share_the_cache(tmp_path: Path) -> None:
    weather = mock_tool("weather", impl=lambda city: city.upper(), read_only=True, tags=["geo"])
    path = tmp_path / "cache.sqlite3"
    async with SqliteStore(SqliteOptions(path=path)) as first, SqliteStore(SqliteOptions(path=path)) as second:
        caches = [Cache(StoreCacheStore(first)), Cache(StoreCacheStore(second))]
        boxes = [Toolbox([weather], middleware=[cache]) for cache in caches]
        call = ToolCall(name="weather", arguments={"city": "oslo"})
        await boxes[0].execute(call)
        assert (await boxes[1].execute(call)).result == "OSLO" and len(weather.calls) == 1
        await caches[1].invalidate(tag="geo")
        await boxes[0].execute(call)
        assert len(weather.calls) == 2


@pytest.mark.services
async def test_on_the_redis_store(redis_url: str, redis_key_prefix: str) -> None:
    from armorer_ray.stores import RedisOptions, RedisStore

    async with RedisStore(RedisOptions(url=redis_url, key_prefix=redis_key_prefix)) as backend:
        cache = StoreCacheStore(backend)
        await cache.set("a", result({"n": 1}), ttl_s=60, labels=["tool:t"])
        found = await cache.get("a")
        assert found is not None and found.result == {"n": 1}
        await cache.invalidate("tool:t")
        assert await cache.get("a") is None
