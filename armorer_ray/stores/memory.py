"""The in-process store: dicts with expiry times, for tests, notebooks and single-process runs."""

from __future__ import annotations

import threading
import time

from armorer_ray.stores._base import (
    BaseStore,
    PurgeClock,
    StoreOptions,
    add_counter,
    is_live,
    parse_counter,
)
from armorer_ray.stores._urls import options_from_url

__all__ = ["MemoryOptions", "MemoryStore"]


class MemoryOptions(StoreOptions):
    """Options of `MemoryStore`; only the shared `key_prefix`.

    Example:
        >>> MemoryOptions(key_prefix="tenant-a/").key_prefix
        'tenant-a/'
    """


class MemoryStore(BaseStore):
    """A `Store` held in this process's memory: nothing is shared with other processes or survives a restart.

    Every operation runs without awaiting, under a lock, so it is atomic with respect to other tasks and threads
    of this process. Expiry uses the monotonic clock, so changing the wall clock does not expire entries.

    Args:
        options: The options; defaults to `MemoryOptions()`.

    Example:
        >>> import asyncio
        >>> async def demo():
        ...     async with MemoryStore(MemoryOptions(key_prefix="app/")) as store:
        ...         await store.set("k", b"v", ttl_s=60)
        ...         return await store.keys(), await store.pop("k"), await store.pop("k")
        >>> asyncio.run(demo())
        (['k'], b'v', None)
    """

    backend = "memory"

    def __init__(self, options: MemoryOptions | None = None) -> None:
        self.options = options or MemoryOptions()
        super().__init__(key_prefix=self.options.key_prefix, driver_errors=())
        self._entries: dict[str, tuple[bytes, float | None]] = {}
        self._logs: dict[str, list[bytes]] = {}
        # A threading lock, not an asyncio one: no operation awaits while holding it, and it keeps a store shared
        # with a worker thread (a sync twin, a thread-pool executor) consistent too.
        self._lock = threading.Lock()
        self._purge = PurgeClock()

    @classmethod
    def from_url(cls, url: str) -> MemoryStore:
        """Open a store from a ``memory://`` URL; query parameters set `MemoryOptions` fields.

        Args:
            url: Such as ``memory://`` or ``memory://?key_prefix=app/``.

        Returns:
            A new, empty store.

        Raises:
            ConfigError: An unknown or invalid query parameter.

        Example:
            >>> MemoryStore.from_url("memory://?key_prefix=app/").options.key_prefix
            'app/'
        """
        _, options = options_from_url(url, MemoryOptions)
        return cls(options)

    def _live(self, key: str, now: float) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if not is_live(entry[1], now):
            del self._entries[key]
            return None
        return entry[0]

    def _sweep(self, now: float) -> None:
        if self._purge.is_due():
            dead = [key for key, (_, expires_at) in self._entries.items() if not is_live(expires_at, now)]
            for key in dead:
                del self._entries[key]

    def _matching(self, prefix: str) -> list[str]:
        return [key for key in self._entries if key.startswith(prefix)]

    async def _get(self, key: str) -> bytes | None:
        with self._lock:
            return self._live(key, time.monotonic())

    async def _set(self, key: str, value: bytes, ttl_s: float | None, if_absent: bool) -> bool:
        with self._lock:
            now = time.monotonic()
            if if_absent and self._live(key, now) is not None:
                return False
            self._entries[key] = (value, None if ttl_s is None else now + ttl_s)
            self._sweep(now)
            return True

    async def _pop(self, key: str) -> bytes | None:
        with self._lock:
            value = self._live(key, time.monotonic())
            self._entries.pop(key, None)
            return value

    async def _delete(self, key: str) -> bool:
        with self._lock:
            existed = self._live(key, time.monotonic()) is not None
            self._entries.pop(key, None)
            return existed

    async def _delete_prefix(self, prefix: str) -> int:
        with self._lock:
            now = time.monotonic()
            matching = self._matching(prefix)
            live = sum(1 for key in matching if is_live(self._entries[key][1], now))
            for key in matching:
                del self._entries[key]
            return live

    async def _keys(self, prefix: str) -> list[str]:
        with self._lock:
            now = time.monotonic()
            return sorted(key for key in self._matching(prefix) if is_live(self._entries[key][1], now))

    async def _incr(self, key: str, amount: int, ttl_s: float | None) -> int:
        with self._lock:
            now = time.monotonic()
            current = self._live(key, now)
            if current is None:
                total = add_counter(0, amount, key)
                expires_at = None if ttl_s is None else now + ttl_s
            else:
                total = add_counter(parse_counter(current, key), amount, key)
                expires_at = self._entries[key][1]
            self._entries[key] = (str(total).encode("ascii"), expires_at)
            return total

    async def _append(self, log: str, record: bytes) -> int:
        with self._lock:
            records = self._logs.setdefault(log, [])
            records.append(record)
            return len(records) - 1

    async def _read_log(self, log: str, start: int, limit: int | None) -> list[bytes]:
        with self._lock:
            records = self._logs.get(log, [])
            return records[start:] if limit is None else records[start : start + limit]

    async def _close(self) -> None:
        with self._lock:
            self._entries.clear()
            self._logs.clear()
