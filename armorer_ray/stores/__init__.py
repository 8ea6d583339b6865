"""Stores: persistence for the cache, workflow checkpoints, pending approvals, session state and audit logs.

One protocol, `Store`, and four backends: `MemoryStore` (one process), `SqliteStore` (the default: one file shared
by the processes of a machine), `RedisStore` and `PostgresStore` (shared by every process that reaches the server).
`open_store` picks one from a URL. Importing this package imports neither redis-py nor psycopg; a backend
imports its driver when it is constructed.

Example:
    >>> import asyncio
    >>> from armorer_ray.stores import get_json, open_store, set_json
    >>> async def demo():
    ...     async with open_store("memory://") as store:
    ...         await set_json(store, "run/1/fetch", {"rows": 3})
    ...         return await get_json(store, "run/1/fetch")
    >>> asyncio.run(demo())
    {'rows': 3}
"""

from armorer_ray.stores._base import StoreOptions
from armorer_ray.stores.codec import decode_json, encode_json, get_json, pop_json, set_json
from armorer_ray.stores.memory import MemoryOptions, MemoryStore
from armorer_ray.stores.postgres import PostgresOptions, PostgresStore
from armorer_ray.stores.protocols import Store
from armorer_ray.stores.redis import RedisOptions, RedisStore
from armorer_ray.stores.registry import BackendSpec, StoreFactory, backends, open_store, register_backend
from armorer_ray.stores.sqlite import DEFAULT_SQLITE_PATH, SqliteOptions, SqliteStore

__all__ = [
    "DEFAULT_SQLITE_PATH",
    "BackendSpec",
    "MemoryOptions",
    "MemoryStore",
    "PostgresOptions",
    "PostgresStore",
    "RedisOptions",
    "RedisStore",
    "SqliteOptions",
    "SqliteStore",
    "Store",
    "StoreFactory",
    "StoreOptions",
    "backends",
    "decode_json",
    "encode_json",
    "get_json",
    "open_store",
    "pop_json",
    "register_backend",
    "set_json",
]
