"""Cache stores: where the `Cache` middleware keeps results.

`MemoryCacheStore` (the default: this process, LRU or LFU, bounded), `RedisCacheStore` and `MemcachedCacheStore`
(shared by every process using the server), and `StoreCacheStore` over any `armorer_ray.stores.Store` (an SQLite
file shared by a machine's processes, PostgreSQL, Redis). Drivers are imported on first use.
"""

from __future__ import annotations

from armorer_ray.middleware.cache_stores._eviction import Eviction
from armorer_ray.middleware.cache_stores.memcached import MemcachedCacheStore
from armorer_ray.middleware.cache_stores.memory import MemoryCacheStats, MemoryCacheStore
from armorer_ray.middleware.cache_stores.protocol import CacheStore
from armorer_ray.middleware.cache_stores.redis import RedisCacheStore
from armorer_ray.middleware.cache_stores.store import StoreCacheStore

__all__ = [
    "CacheStore",
    "Eviction",
    "MemcachedCacheStore",
    "MemoryCacheStats",
    "MemoryCacheStore",
    "RedisCacheStore",
    "StoreCacheStore",
]
