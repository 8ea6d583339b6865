"""RedisCacheStore against the real Redis on 127.0.0.1: ttl, labels, clear, and one cache shared by two processes."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from armorer_ray import Toolbox, ToolCall, ToolResult
from armorer_ray.middleware import Cache, CacheStore, RedisCacheStore
from armorer_ray.testing import mock_tool

pytestmark = pytest.mark.services

WORKER = Path(__file__).with_name("redis_cache_worker.py")


def result(value: object) -> ToolResult:
    return ToolResult(call_id="c", tool_name="t", outcome="success", result=value, content=value)


async def test_store_roundtrip_ttl_labels_and_clear(redis_url: str, redis_key_prefix: str) -> None:
    store = RedisCacheStore(redis_url, prefix=redis_key_prefix + "one:")
    other = RedisCacheStore(redis_url, prefix=redis_key_prefix + "two:")
    assert isinstance(store, CacheStore)
    try:
        await store.set("a", result({"n": 1}), ttl_s=60, labels=["tool:t", "tag:x"])
        await store.set("b", result([1, 2]), ttl_s=0.05, labels=["tool:t"])
        await store.set("c", result("forever"), ttl_s=None, labels=["tag:x"])
        await other.set("a", result("untouched"), ttl_s=None, labels=["tag:x"])
        found = await store.get("a")
        assert found is not None and found.result == {"n": 1} and found.call_id == "c"
        await asyncio.sleep(0.1)
        assert await store.get("b") is None
        assert await store.invalidate("tag:x") == 2
        assert await store.get("a") is None and await store.get("c") is None
        assert await store.invalidate("tag:x") == 0
        await store.set("d", result(4), ttl_s=None, labels=[])
        assert await store.delete("d") is True and await store.delete("d") is False
        await store.set("e", result(5), ttl_s=None, labels=["tool:t"])
        await store.clear()
        assert await store.get("e") is None
        survivor = await other.get("a")
        assert survivor is not None and survivor.result == "untouched"
    finally:
        await store.close()
        await other.close()


async def test_results_that_are_not_json_are_not_cached_and_calls_still_succeed(
        redis_url: str, redis_key_prefix: str) -> None:
    marker = object()
    store = RedisCacheStore(redis_url, prefix=redis_key_prefix)
    odd = mock_tool("odd", impl=lambda: marker, read_only=True)
    cache = Cache(store)
    box = Toolbox([odd], middleware=[cache])
    try:
        assert (await box.execute(ToolCall(name="odd"))).result is marker
        assert (await box.execute(ToolCall(name="odd"))).result is marker
        assert len(odd.calls) == 2 and cache.stats.errors == 2 and cache.stats.writes == 0
    finally:
        await store.close()


async def test_two_processes_share_one_cache(redis_url: str, redis_key_prefix: str) -> None:
    weather = mock_tool("weather", impl=lambda city: {"city": city, "pid": os.getpid()}, read_only=True, tags=["geo"])
    store = RedisCacheStore(redis_url, prefix=redis_key_prefix)
    box = Toolbox([weather], middleware=[Cache(store, ttl_s=60)])

    async def run_worker(*args: str) -> dict[str, object]:
        done = await asyncio.to_thread(
            subprocess.run, [sys.executable, str(WORKER), redis_url, redis_key_prefix, *args],
            capture_output=True, text=True, timeout=120, check=False,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]

    try:
        mine = await box.execute(ToolCall(name="weather", arguments={"city": "Oslo"}))
        assert mine.result == {"city": "Oslo", "pid": os.getpid()}
        theirs = await run_worker("Oslo", "geo")
        assert theirs["ran_here"] is False and theirs["hits"] == 1 and theirs["call_id"] == "worker"
        assert theirs["result"] == {"city": "Oslo", "pid": os.getpid()}, "the other process got this one's entry"
        assert theirs["dropped"] == 1, "and its invalidation by tag reached the shared entry"
        again = await box.execute(ToolCall(name="weather", arguments={"city": "Oslo"}))
        assert len(weather.calls) == 2 and again.result == {"city": "Oslo", "pid": os.getpid()}
    finally:
        await store.close()
