"""`MemcachedCacheStore`: results in memcached, shared by every process that uses the same server and prefix."""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Sequence
from typing import Any

from armorer_ray.errors import ConfigError, MissingExtraError
from armorer_ray.middleware.cache_stores._codec import decode_result, encode_result, read_stamped, stamp
from armorer_ray.results import ToolResult

__all__ = ["MemcachedCacheStore"]

_ALL = "*"  # a label every entry carries, so clear() is one increment
_MONTH_S = 30 * 24 * 3600  # memcached reads a larger exptime as an absolute Unix time


class MemcachedCacheStore:
    """A `CacheStore` in memcached, with label invalidation by generation counters.

    memcached cannot list keys, so each label is a counter: an entry records the counters of its labels when
    written, and a read that finds any counter moved on (or evicted) treats the entry as gone. Invalidating a
    label is then one increment, whatever the number of entries; a write racing an invalidation is caught the
    same way. `invalidate` cannot count what it dropped and returns None. Results travel as JSON, as in
    `RedisCacheStore`. Needs ``pip install aiomcache`` (see the cache docs).

    Args:
        host: memcached host.
        port: memcached port.
        prefix: Prepended to every key this store writes (ASCII, no spaces).
        pool_size: Connections in the client's pool.

    Raises:
        ConfigError: for a prefix memcached cannot hold in a key.
        MissingExtraError: on first use, when aiomcache is not installed.

    Example:
        >>> MemcachedCacheStore("127.0.0.1", 11211, prefix="myapp:").prefix
        'myapp:'
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 11211, *, prefix: str = "armorer:cache:",
                 pool_size: int = 2) -> None:
        if not prefix or len(prefix) > 150 or not prefix.isascii() or any(ch.isspace() for ch in prefix):
            raise ConfigError(f"MemcachedCacheStore prefix must be 1-150 ASCII characters without spaces: {prefix!r}")
        self.host, self.port, self.prefix = host, port, prefix
        self._pool_size = pool_size
        self._client: Any = None

    def _mc(self) -> Any:
        if self._client is None:
            try:
                import aiomcache
            except ModuleNotFoundError as exc:
                raise MissingExtraError("MemcachedCacheStore", "memcached") from exc
            self._client = aiomcache.Client(self.host, self.port, pool_size=self._pool_size)
        return self._client

    def _entry_key(self, key: str) -> bytes:
        return (self.prefix + "e:" + hashlib.sha256(key.encode()).hexdigest()[:40]).encode()

    def _label_key(self, label: str) -> bytes:
        return (self.prefix + "l:" + hashlib.sha256(label.encode()).hexdigest()[:40]).encode()

    async def get(self, key: str) -> ToolResult | None:
        """The live result under ``key``; None when any of its labels was invalidated since it was written."""
        mc = self._mc()
        entry_key = self._entry_key(key)
        raw = await mc.get(entry_key)
        if raw is None:
            return None
        label_keys, generations, body = read_stamped(raw)
        current = await mc.multi_get(*(label.encode() for label in label_keys))
        if [value.decode() if value is not None else None for value in current] != generations:
            await mc.delete(entry_key)
            return None
        return decode_result(body)

    async def set(self, key: str, result: ToolResult, *, ttl_s: float | None, labels: Sequence[str]) -> None:
        """Store ``result`` with the current generation of each label."""
        mc = self._mc()
        body = encode_result(result)
        label_keys = [self._label_key(label) for label in (*labels, _ALL)]
        generations = list(await mc.multi_get(*label_keys))
        for index, value in enumerate(generations):
            if value is None:
                await mc.add(label_keys[index], b"1")  # no-op if another process created it meanwhile
                generations[index] = await mc.get(label_keys[index])
        entry = stamp(body, [k.decode() for k in label_keys],
                      [g.decode() if g is not None else None for g in generations])
        await mc.set(self._entry_key(key), entry, exptime=_exptime(ttl_s))

    async def delete(self, key: str) -> bool:
        """Drop one entry."""
        return bool(await self._mc().delete(self._entry_key(key)))

    async def invalidate(self, label: str) -> None:
        """Move the label's generation on, so every entry written under the old one reads as gone."""
        await self._mc().incr(self._label_key(label))

    async def clear(self) -> None:
        """Invalidate every entry of this store (other data on the server is left alone)."""
        await self.invalidate(_ALL)

    async def close(self) -> None:
        """Close the connection pool."""
        if self._client is not None:
            await self._client.close()
            self._client = None


def _exptime(ttl_s: float | None) -> int:
    if ttl_s is None:
        return 0
    seconds = max(1, math.ceil(ttl_s))
    return seconds if seconds <= _MONTH_S else int(time.time()) + seconds
