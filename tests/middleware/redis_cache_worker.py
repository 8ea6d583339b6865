"""A second process for the shared-cache test: runs one call through a Redis-backed cache and reports back.

Run as ``python redis_cache_worker.py <redis url> <key prefix> <city> [invalidate-tag]``; prints one JSON line
with the result, whether the tool body ran in this process, and this process's cache statistics.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys


async def main(url: str, prefix: str, city: str, invalidate_tag: str | None) -> dict[str, object]:
    from armorer_ray import Toolbox, ToolCall
    from armorer_ray.middleware import Cache, RedisCacheStore
    from armorer_ray.testing import mock_tool

    weather = mock_tool("weather", impl=lambda city: {"city": city, "pid": os.getpid()}, read_only=True, tags=["geo"])
    store = RedisCacheStore(url, prefix=prefix)
    cache = Cache(store, ttl_s=60)
    box = Toolbox([weather], middleware=[cache])
    try:
        result = await box.execute(ToolCall(id="worker", name="weather", arguments={"city": city}))
        dropped = await cache.invalidate(tag=invalidate_tag) if invalidate_tag else None
    finally:
        await store.close()
    return {"result": result.result, "call_id": result.call_id, "ran_here": len(weather.calls) == 1,
            "hits": cache.stats.hits, "dropped": dropped, "pid": os.getpid()}


if __name__ == "__main__":
    tag = sys.argv[4] if len(sys.argv) > 4 else None
    print(json.dumps(asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], tag))))
