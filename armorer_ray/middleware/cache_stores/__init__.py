"""Cache stores: where the `Cache` middleware keeps results (memory by default; Redis and memcached shared).

The Redis and memcached clients are imported on first use, so importing this package needs neither.
"""

from __future__ import annotations

from armorer_ray.middleware.cache_stores._eviction import Eviction
from armorer_ray.middleware.cache_stores.memcached import MemcachedCacheStore
from armorer_ray.middleware.cache_stores.memory import MemoryCacheStats, MemoryCacheStore
from armorer_ray.middleware.cache_stores.protocol import CacheStore
from armorer_ray.middleware.cache_stores.redis import RedisCacheStore

__all__ = ["CacheStore", "Eviction", "MemcachedCacheStore", "MemoryCacheStats", "MemoryCacheStore", "RedisCacheStore"]
