"""The `Store` protocol: namespaced, async key-value state with TTLs, atomic takes, counters and append-only logs.

Five consumers shaped it, and each needs only a few methods:

- a cache shared by processes: `get`, `set(ttl_s=...)`, `delete`, `delete_prefix` for invalidation;
- approvals resumed exactly once: `set(if_absent=True)` to register, `pop` to take (one caller wins);
- workflow checkpoints: JSON per run and node (`set_json`/`get_json`), `keys(prefix)` to list a run's nodes;
- rate limits and quotas: `incr(key, ttl_s=window)`, atomic, the window starting at the first increment;
- audit logs: `append` JSON records, `read_log` a range, in append order.

Rules every backend keeps: keys and log names are non-empty ``str`` without NUL or lone surrogates; values are
``bytes`` (JSON goes through `armorer_ray.stores.codec`); a ttl is a positive number of seconds; expired entries
are invisible to every method; logs live apart from keys, so `keys` and `delete_prefix` never touch them.
Bad arguments raise `ConfigError`; a failing backend or a closed store raises `StoreError` with the driver's
exception as ``__cause__``. A store belongs to the event loop that first uses it.
"""

from __future__ import annotations

from types import TracebackType
from typing import Protocol, runtime_checkable

from pydantic import JsonValue
from typing_extensions import Self

__all__ = ["Store"]


@runtime_checkable
class Store(Protocol):
    """Async, namespaced key-value state with TTLs, atomic operations and append-only logs.

    Backends need not inherit from anything: any object with these methods is a Store. The contract suite in
    ``tests/contracts/store.py`` is what "conforms" means.

    Example:
        >>> import asyncio
        >>> from armorer_ray.stores import MemoryStore, Store
        >>> async def demo():
        ...     async with MemoryStore() as store:
        ...         await store.set("greeting", b"hello", ttl_s=60)
        ...         return isinstance(store, Store), await store.get("greeting")
        >>> asyncio.run(demo())
        (True, b'hello')
    """

    async def get(self, key: str) -> bytes | None:
        """Read a value.

        Args:
            key: The key.

        Returns:
            The stored bytes, or None if the key is missing or expired.

        Raises:
            ConfigError: `key` is not a non-empty str without NUL or lone surrogates.
            StoreError: The backend failed or the store is closed.

        Example:
            >>> import asyncio
            >>> from armorer_ray.stores import MemoryStore
            >>> async def demo():
            ...     async with MemoryStore() as store:
            ...         await store.set("k", b"v")
            ...         return await store.get("k"), await store.get("missing")
            >>> asyncio.run(demo())
            (b'v', None)
        """
        ...

    async def set(self, key: str, value: bytes, *, ttl_s: float | None = None, if_absent: bool = False) -> bool:
        """Write a value, replacing any previous value and its ttl; or, with `if_absent`, only if there is none.

        `if_absent` is atomic (SET NX): among callers racing on one key, in any number of processes sharing the
        backend, exactly one gets True. An expired entry counts as absent.

        Args:
            key: The key.
            value: The bytes to store.
            ttl_s: Seconds until the entry expires; None keeps it until deleted.
            if_absent: Write only if no live entry holds the key.

        Returns:
            Whether the value was written: always True without `if_absent`.

        Raises:
            ConfigError: A bad key, a value that is not bytes, or a ttl that is not a positive finite number.
            StoreError: The backend failed or the store is closed.

        Example:
            >>> import asyncio
            >>> from armorer_ray.stores import MemoryStore
            >>> async def demo():
            ...     async with MemoryStore() as store:
            ...         claimed = await store.set("lock/job-1", b"worker-a", ttl_s=30, if_absent=True)
            ...         stolen = await store.set("lock/job-1", b"worker-b", ttl_s=30, if_absent=True)
            ...         return claimed, stolen, await store.get("lock/job-1")
            >>> asyncio.run(demo())
            (True, False, b'worker-a')
        """
        ...

    async def pop(self, key: str) -> bytes | None:
        """Atomically read and delete a value: of all callers racing for one key, exactly one gets it.

        This holds across processes for the shared backends (SQLite on one file, Redis, PostgreSQL), which is what
        makes resuming a pending approval exactly once safe. A pop whose caller is cancelled while the backend is
        already executing it may still have taken the value.

        Args:
            key: The key.

        Returns:
            The value for the caller that took it; None if it was missing, expired or taken by someone else.

        Raises:
            ConfigError: `key` is not a valid key.
            StoreError: The backend failed or the store is closed.

        Example:
            >>> import asyncio
            >>> from armorer_ray.stores import MemoryStore
            >>> async def demo():
            ...     async with MemoryStore() as store:
            ...         await store.set("approval/1", b"approved")
            ...         return await asyncio.gather(*(store.pop("approval/1") for _ in range(3)))
            >>> asyncio.run(demo())
            [b'approved', None, None]
        """
        ...

    async def delete(self, key: str) -> bool:
        """Delete a key.

        Args:
            key: The key.

        Returns:
            Whether a live entry was deleted.

        Raises:
            ConfigError: `key` is not a valid key.
            StoreError: The backend failed or the store is closed.

        Example:
            >>> import asyncio
            >>> from armorer_ray.stores import MemoryStore
            >>> async def demo():
            ...     async with MemoryStore() as store:
            ...         await store.set("k", b"v")
            ...         return await store.delete("k"), await store.delete("k")
            >>> asyncio.run(demo())
            (True, False)
        """
        ...

    async def delete_prefix(self, prefix: str) -> int:
        """Delete every key that starts with `prefix` (the empty prefix: every key in the namespace; logs stay).

        The match is a plain string prefix: no character is a wildcard. On Redis the keys are found by SCAN, so a
        key written while the deletion runs may survive it; the SQL backends delete in one statement.

        Args:
            prefix: The key prefix, such as ``"cache/search_docs/"``.

        Returns:
            How many live entries were deleted.

        Raises:
            ConfigError: `prefix` is not a str, or holds NUL or lone surrogates.
            StoreError: The backend failed or the store is closed.

        Example:
            >>> import asyncio
            >>> from armorer_ray.stores import MemoryStore
            >>> async def demo():
            ...     async with MemoryStore() as store:
            ...         for key in ("cache/a/1", "cache/a/2", "cache/b/1"):
            ...             await store.set(key, b"x")
            ...         return await store.delete_prefix("cache/a/"), await store.keys()
            >>> asyncio.run(demo())
            (2, ['cache/b/1'])
        """
        ...

    async def keys(self, prefix: str = "") -> list[str]:
        """List the live keys that start with `prefix`, sorted by code point, without the store's key_prefix.

        Args:
            prefix: The key prefix; the empty prefix lists the whole namespace.

        Returns:
            The sorted keys.

        Raises:
            ConfigError: `prefix` is not a str, or holds NUL or lone surrogates.
            StoreError: The backend failed or the store is closed.

        Example:
            >>> import asyncio
            >>> from armorer_ray.stores import MemoryStore
            >>> async def demo():
            ...     async with MemoryStore() as store:
            ...         for node in ("fetch", "parse", "answer"):
            ...             await store.set(f"run/42/{node}", b"{}")
            ...         await store.set("run/43/fetch", b"{}")
            ...         return await store.keys("run/42/")
            >>> asyncio.run(demo())
            ['run/42/answer', 'run/42/fetch', 'run/42/parse']
        """
        ...

    async def incr(self, key: str, amount: int = 1, *, ttl_s: float | None = None) -> int:
        """Atomically add `amount` to a counter and return the new value; a missing or expired counter starts at 0.

        `ttl_s` applies only when this call creates the counter, so a fixed window starts at the first hit and later
        hits do not extend it. The counter is stored as ASCII decimal bytes, so `get` reads it as, say, ``b"3"``.
        Values are 64-bit signed integers on every backend.

        Args:
            key: The counter's key.
            amount: What to add (may be negative).
            ttl_s: Lifetime of a counter this call creates; None: until deleted.

        Returns:
            The value after the increment.

        Raises:
            ConfigError: A bad key or ttl, or an amount that is not a 64-bit int.
            StoreError: The key holds something other than an integer, the result overflows, the backend failed,
                or the store is closed.

        Example:
            >>> import asyncio
            >>> from armorer_ray.stores import MemoryStore
            >>> async def demo():
            ...     async with MemoryStore() as store:
            ...         hits = [await store.incr("quota/alice", ttl_s=60) for _ in range(3)]
            ...         return hits, await store.incr("quota/alice", -3), await store.get("quota/alice")
            >>> asyncio.run(demo())
            ([1, 2, 3], 0, b'0')
        """
        ...

    async def append(self, log: str, record: JsonValue) -> int:
        """Append a JSON record to a log and return its position (0 for the first record).

        Positions are dense and unique per log, even with several processes appending at once; a record is visible
        to `read_log` once `append` returns. Logs have their own namespace: a log and a key may share a name.

        Args:
            log: The log's name, with the same rules as a key.
            record: Any JSON value.

        Returns:
            The record's position in the log.

        Raises:
            ConfigError: A bad log name, or a record that is not JSON (NaN and infinities included).
            StoreError: The backend failed or the store is closed.

        Example:
            >>> import asyncio
            >>> from armorer_ray.stores import MemoryStore
            >>> async def demo():
            ...     async with MemoryStore() as store:
            ...         first = await store.append("audit", {"tool": "send_email", "outcome": "success"})
            ...         second = await store.append("audit", {"tool": "delete_user", "outcome": "denied"})
            ...         return first, second
            >>> asyncio.run(demo())
            (0, 1)
        """
        ...

    async def read_log(self, log: str, start: int = 0, limit: int | None = None) -> list[JsonValue]:
        """Read records in append order, from position `start`, at most `limit` of them.

        Args:
            log: The log's name.
            start: The first position to read (0 is the oldest record).
            limit: The most records to return; None for all.

        Returns:
            The records at positions ``start, start + 1, ...``; empty past the end or for an unknown log.

        Raises:
            ConfigError: A bad log name, or a negative or non-int `start` or `limit`.
            StoreError: The backend failed or the store is closed.

        Example:
            >>> import asyncio
            >>> from armorer_ray.stores import MemoryStore
            >>> async def demo():
            ...     async with MemoryStore() as store:
            ...         for n in range(5):
            ...             await store.append("audit", {"n": n})
            ...         return await store.read_log("audit", start=1, limit=2)
            >>> asyncio.run(demo())
            [{'n': 1}, {'n': 2}]
        """
        ...

    async def close(self) -> None:
        """Release connections and threads. Idempotent; every other method then raises StoreError.

        Raises:
            StoreError: The backend failed while closing.

        Example:
            >>> import asyncio
            >>> from armorer_ray.stores import MemoryStore
            >>> async def demo():
            ...     store = MemoryStore()
            ...     await store.close()
            ...     await store.close()
            ...     try:
            ...         await store.get("k")
            ...     except Exception as exc:
            ...         return type(exc).__name__
            >>> asyncio.run(demo())
            'StoreError'
        """
        ...

    async def __aenter__(self) -> Self:
        """Return the store itself; leaving the block closes it."""
        ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close the store."""
        ...
