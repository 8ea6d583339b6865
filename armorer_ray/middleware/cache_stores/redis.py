"""`RedisCacheStore`: results in Redis, shared by every process that uses the same server and prefix."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from armorer_ray.errors import ConfigError, MissingExtraError
from armorer_ray.middleware.cache_stores._codec import decode_result, encode_result
from armorer_ray.results import ToolResult

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisCacheStore"]

# One round trip, atomic: write the entry and add it to each label's set. A label set lives as long as its
# longest-lived entry (never shorter, so invalidation finds every entry), and persists if an entry does.
_SET_SCRIPT = """
local ttl = tonumber(ARGV[2])
if ttl > 0 then redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl) else redis.call('SET', KEYS[1], ARGV[1]) end
for i = 2, #KEYS do
  local created = redis.call('EXISTS', KEYS[i]) == 0
  redis.call('SADD', KEYS[i], ARGV[3])
  if ttl == 0 then
    redis.call('PERSIST', KEYS[i])
  elseif created then
    redis.call('PEXPIRE', KEYS[i], ttl)
  else
    local left = redis.call('PTTL', KEYS[i])
    if left >= 0 and left < ttl then redis.call('PEXPIRE', KEYS[i], ttl) end
  end
end
return 1
"""

# Drops the entries named in a label's set, then the set; counts entries that were still live.
_INVALIDATE_SCRIPT = """
local members = redis.call('SMEMBERS', KEYS[1])
local dropped = 0
for _, member in ipairs(members) do
  dropped = dropped + redis.call('DEL', ARGV[1] .. member)
end
redis.call('DEL', KEYS[1])
return dropped
"""


class RedisCacheStore:
    """A `CacheStore` in Redis: entries are shared by every process (and Ray worker) using the same prefix.

    An entry is the Redis string ``{prefix}e:{key}`` holding the result as JSON (never pickle: a shared server
    must not be able to run code in its clients), with a native ttl; each label is a set ``{prefix}l:{label}``
    of entry keys. Results come back with ``result`` as JSON values (a pydantic model returns as a dict);
    a result that cannot be serialised is not cached. Eviction under memory pressure is Redis's own: set
    ``maxmemory`` and ``maxmemory-policy allkeys-lru`` or ``allkeys-lfu`` on the server. On Redis Cluster,
    put a hash tag in the prefix (``"{armorer}:cache:"``) so entries and label sets share a slot.

    The client is created on first use, inside the event loop that uses it; ``pip install 'armorer-ray[redis]'``.

    Args:
        url: A redis-py URL, such as ``redis://127.0.0.1:6379/0``.
        prefix: Prepended to every key this store writes; `clear` deletes only keys under it.
        client: An existing ``redis.asyncio.Redis`` to use instead of ``url`` (not closed by `close`).

    Raises:
        ConfigError: for an empty prefix.
        MissingExtraError: on first use, when redis-py is not installed.

    Example:
        >>> store = RedisCacheStore("redis://127.0.0.1:6379/0", prefix="myapp:cache:")
        >>> store.prefix
        'myapp:cache:'
    """

    def __init__(self, url: str = "redis://127.0.0.1:6379/0", *, prefix: str = "armorer:cache:",
                 client: Redis | None = None) -> None:
        if not prefix:
            raise ConfigError("RedisCacheStore needs a non-empty prefix, so clear() cannot wipe other data")
        self.url = url
        self.prefix = prefix
        self._client: Any = client
        self._owns_client = client is None
        self._scripts: dict[str, Any] = {}

    def _redis(self) -> Any:
        if self._client is None:
            try:
                from redis.asyncio import Redis
            except ModuleNotFoundError as exc:
                raise MissingExtraError("RedisCacheStore", "redis") from exc
            self._client = Redis.from_url(self.url)
        return self._client

    def _script(self, name: str, source: str) -> Any:
        script = self._scripts.get(name)
        if script is None:
            script = self._scripts[name] = self._redis().register_script(source)
        return script

    async def get(self, key: str) -> ToolResult | None:
        """The live result under ``key``."""
        data = await self._redis().get(f"{self.prefix}e:{key}")
        return decode_result(data) if data is not None else None

    async def set(self, key: str, result: ToolResult, *, ttl_s: float | None, labels: Sequence[str]) -> None:
        """Store ``result`` with a native ttl (rounded up to the millisecond) and add it to its label sets."""
        data = encode_result(result)
        ttl_ms = max(1, math.ceil(ttl_s * 1000)) if ttl_s is not None else 0
        keys = [f"{self.prefix}e:{key}", *(f"{self.prefix}l:{label}" for label in labels)]
        await self._script("set", _SET_SCRIPT)(keys=keys, args=[data, ttl_ms, key])

    async def delete(self, key: str) -> bool:
        """Drop one entry (its label sets keep a stale member until they expire or are invalidated)."""
        return bool(await self._redis().delete(f"{self.prefix}e:{key}"))

    async def invalidate(self, label: str) -> int:
        """Drop every entry in the label's set, atomically; returns how many were still live."""
        dropped = await self._script("invalidate", _INVALIDATE_SCRIPT)(
            keys=[f"{self.prefix}l:{label}"], args=[f"{self.prefix}e:"]
        )
        return int(dropped)

    async def clear(self) -> None:
        """Delete every key under the prefix (found by SCAN, so keys written meanwhile may survive)."""
        client = self._redis()
        batch: list[Any] = []
        async for name in client.scan_iter(match=_glob_escape(self.prefix) + "*", count=500):
            batch.append(name)
            if len(batch) >= 500:
                await client.delete(*batch)
                batch.clear()
        if batch:
            await client.delete(*batch)

    async def close(self) -> None:
        """Close the client this store created (a client passed in is left open)."""
        if self._client is not None and self._owns_client:
            await self._client.aclose()
            self._client = None
            self._scripts.clear()


def _glob_escape(text: str) -> str:
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)
