"""Middleware: onion layers around a call's execution, ``async (call, ctx, next) -> ToolResult``.

Order: the toolbox's middleware wraps the tool's, which wraps the body; the first middleware in a list is the
outermost. Middleware runs after argument validation and the before-policy, so it sees only admitted calls
(``ctx.params`` holds the validated arguments), and after output validation and shaping of the body's result:
the result a layer receives is complete, and a result it makes itself (a cache hit, a refusal) is returned
as it is. A layer that changes the call (``await next(new_call, ctx)``) gets the new arguments validated again.
A layer never raises for a call's failure: it returns a failed `ToolResult`.

The production layers, outermost first in the recommended stack (see docs/middleware.md):

- `Fallback` answers with another tool when one fails in a chosen way;
- `Cache` answers repeated calls of cacheable tools from a store (memory, Redis, memcached);
- `Dedupe` collapses concurrent identical calls into one execution;
- `Retry` runs a failed idempotent call again, with backoff and jitter;
- `CircuitBreaker` stops calling a failing dependency, then probes it;
- `RateLimit` holds calls to a rate, per tool or globally, per key;
- `AdmissionController` bounds concurrency globally, queues by priority, sheds load;
- `Timeout` puts a hard deadline on everything inside it;
- `Compression` packs large results;
- `AuditLog` appends one record per call to a store's log, for security review.

For multi-tenant toolboxes (see docs/tenancy.md): `TenantContext` gives each tenant's calls its own context
values (put it first), and `Quota` caps each tenant's usage per calendar or rolling window in a shared Store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from armorer_ray._exports import lazy_exports

# Public names load on first use (PEP 562): the pipeline imports middleware.base without every layer.
if TYPE_CHECKING:
    from armorer_ray.middleware.admission import AdmissionController, AdmissionStats
    from armorer_ray.middleware.audit import AuditLog, Redactor
    from armorer_ray.middleware.base import Middleware, Next, chain
    from armorer_ray.middleware.batching import execute_chunked, iter_chunks
    from armorer_ray.middleware.cache import Cache, CacheStats, caches_by_default
    from armorer_ray.middleware.cache_stores import (
        CacheStore,
        MemcachedCacheStore,
        MemoryCacheStats,
        MemoryCacheStore,
        RedisCacheStore,
        StoreCacheStore,
    )
    from armorer_ray.middleware.circuit_breaker import CircuitBreaker, CircuitState
    from armorer_ray.middleware.compression import Compression, decompress_content
    from armorer_ray.middleware.dedupe import Dedupe, dedupes_by_default
    from armorer_ray.middleware.fallback import Fallback
    from armorer_ray.middleware.keys import KeyFunction, arguments_key, per_tenant, per_tool, per_user
    from armorer_ray.middleware.quota import CostFunction, Quota
    from armorer_ray.middleware.quota_windows import CalendarWindow, RollingWindow
    from armorer_ray.middleware.rate_limit import RateLimit
    from armorer_ray.middleware.retry import Retry
    from armorer_ray.middleware.tenant_context import TenantContext
    from armorer_ray.middleware.timeout import Timeout

_EXPORTS: dict[str, str] = {
    "AdmissionController": "armorer_ray.middleware.admission",
    "AdmissionStats": "armorer_ray.middleware.admission",
    "AuditLog": "armorer_ray.middleware.audit",
    "Cache": "armorer_ray.middleware.cache",
    "CacheStats": "armorer_ray.middleware.cache",
    "CacheStore": "armorer_ray.middleware.cache_stores",
    "CalendarWindow": "armorer_ray.middleware.quota_windows",
    "CircuitBreaker": "armorer_ray.middleware.circuit_breaker",
    "CircuitState": "armorer_ray.middleware.circuit_breaker",
    "Compression": "armorer_ray.middleware.compression",
    "CostFunction": "armorer_ray.middleware.quota",
    "Dedupe": "armorer_ray.middleware.dedupe",
    "Fallback": "armorer_ray.middleware.fallback",
    "KeyFunction": "armorer_ray.middleware.keys",
    "MemcachedCacheStore": "armorer_ray.middleware.cache_stores",
    "MemoryCacheStats": "armorer_ray.middleware.cache_stores",
    "MemoryCacheStore": "armorer_ray.middleware.cache_stores",
    "Middleware": "armorer_ray.middleware.base",
    "Next": "armorer_ray.middleware.base",
    "Quota": "armorer_ray.middleware.quota",
    "RateLimit": "armorer_ray.middleware.rate_limit",
    "Redactor": "armorer_ray.middleware.audit",
    "RedisCacheStore": "armorer_ray.middleware.cache_stores",
    "Retry": "armorer_ray.middleware.retry",
    "RollingWindow": "armorer_ray.middleware.quota_windows",
    "StoreCacheStore": "armorer_ray.middleware.cache_stores",
    "TenantContext": "armorer_ray.middleware.tenant_context",
    "Timeout": "armorer_ray.middleware.timeout",
    "arguments_key": "armorer_ray.middleware.keys",
    "caches_by_default": "armorer_ray.middleware.cache",
    "chain": "armorer_ray.middleware.base",
    "decompress_content": "armorer_ray.middleware.compression",
    "dedupes_by_default": "armorer_ray.middleware.dedupe",
    "execute_chunked": "armorer_ray.middleware.batching",
    "iter_chunks": "armorer_ray.middleware.batching",
    "per_tenant": "armorer_ray.middleware.keys",
    "per_tool": "armorer_ray.middleware.keys",
    "per_user": "armorer_ray.middleware.keys",
}

__all__ = [
    "AdmissionController",
    "AdmissionStats",
    "AuditLog",
    "Cache",
    "CacheStats",
    "CacheStore",
    "CalendarWindow",
    "CircuitBreaker",
    "CircuitState",
    "Compression",
    "CostFunction",
    "Dedupe",
    "Fallback",
    "KeyFunction",
    "MemcachedCacheStore",
    "MemoryCacheStats",
    "MemoryCacheStore",
    "Middleware",
    "Next",
    "Quota",
    "RateLimit",
    "Redactor",
    "RedisCacheStore",
    "Retry",
    "RollingWindow",
    "StoreCacheStore",
    "TenantContext",
    "Timeout",
    "arguments_key",
    "caches_by_default",
    "chain",
    "decompress_content",
    "dedupes_by_default",
    "execute_chunked",
    "iter_chunks",
    "per_tenant",
    "per_tool",
    "per_user",
]

__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS, __all__)
