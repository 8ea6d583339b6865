"""The Redis store: native TTLs, and atomic commands (SET NX, GETDEL, a Lua increment) for the atomic operations.

A key is the Redis string ``{key_prefix}{key}``; a log is the Redis list ``{key_prefix}{name}\x00log``. Keys cannot
hold NUL, so no key collides with a log, and key scans skip anything with a NUL in it. Needs Redis 6.2 or later
(GETDEL) and ``pip install 'armorer-ray[redis]'``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, cast

from pydantic import PositiveFloat

from armorer_ray.errors import MissingExtraError
from armorer_ray.stores._base import BaseStore, StoreOptions
from armorer_ray.stores._urls import build_options, split_query

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisOptions", "RedisStore"]

# EXISTS before INCRBY so the ttl is set only by the call that creates the counter: a window that later hits
# extended would never close for a steady caller.
_INCR_SCRIPT = """
local created = redis.call('EXISTS', KEYS[1]) == 0
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if created and tonumber(ARGV[2]) > 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return value
"""

_SCAN_BATCH = 500
_LOG_MARK = "\x00log"


class RedisOptions(StoreOptions):
    """Options of `RedisStore`.

    Attributes:
        url: A redis-py URL (``redis://``, ``rediss://`` or ``unix://``), database number included.
        key_prefix: Prepended to every Redis key this store writes; defaults to ``armorer:``.
        socket_timeout_s: How long one command may take before it fails.
        connect_timeout_s: How long connecting may take.

    Example:
        >>> RedisOptions(url="redis://127.0.0.1:6379/2").key_prefix
        'armorer:'
    """

    url: str = "redis://127.0.0.1:6379/0"
    key_prefix: str = "armorer:"
    socket_timeout_s: PositiveFloat = 10.0
    connect_timeout_s: PositiveFloat = 5.0


class RedisStore(BaseStore):
    """A `Store` in Redis, atomic across every process that uses the same server and `key_prefix`.

    TTLs are Redis's own (millisecond precision, enforced by the server). `delete_prefix` and `keys` walk the
    keyspace with SCAN, so they are not snapshots: a key written meanwhile may or may not be seen. The client
    connects on first use, from the event loop that uses it.

    Args:
        options: The options; defaults to `RedisOptions()`, a server on 127.0.0.1:6379.

    Raises:
        MissingExtraError: redis-py is not installed.

    Example:
        >>> import asyncio
        >>> store = RedisStore(RedisOptions(url="redis://127.0.0.1:6379/0", key_prefix="myapp:"))
        >>> store.options.key_prefix
        'myapp:'
        >>> asyncio.run(store.close())  # never connected, so this needs no server
    """

    backend = "redis"

    def __init__(self, options: RedisOptions | None = None) -> None:
        try:
            import redis.asyncio
        except ImportError as exc:
            raise MissingExtraError("the redis store", "redis") from exc
        self.options = options or RedisOptions()
        # UnicodeDecodeError: a key some other program wrote under our prefix that is not UTF-8, met by `keys`.
        errors = (redis.RedisError, OSError, UnicodeDecodeError)
        super().__init__(key_prefix=self.options.key_prefix, driver_errors=errors)
        self._client: Redis = redis.asyncio.Redis.from_url(
            self.options.url,
            socket_timeout=self.options.socket_timeout_s,
            socket_connect_timeout=self.options.connect_timeout_s,
        )  # decode_responses stays False: values come back as bytes, which the casts below rely on
        self._incr_script = self._client.register_script(_INCR_SCRIPT)

    @classmethod
    def from_url(cls, url: str) -> RedisStore:
        """Open a store from a redis-py URL; query parameters that name `RedisOptions` fields set them.

        Other query parameters stay in the URL for redis-py (``?protocol=3``, say).

        Args:
            url: Such as ``redis://127.0.0.1:6379/0?key_prefix=myapp:``.

        Returns:
            A store that connects on first use.

        Raises:
            ConfigError: An invalid option value.
            MissingExtraError: redis-py is not installed.

        Example:
            >>> import asyncio
            >>> store = RedisStore.from_url("redis://127.0.0.1:6379/0?key_prefix=myapp:&socket_timeout_s=2")
            >>> store.options.key_prefix, store.options.socket_timeout_s
            ('myapp:', 2.0)
            >>> asyncio.run(store.close())
        """
        rest, fields = split_query(url, RedisOptions, reserved=("url",), passthrough=True)
        return cls(build_options(RedisOptions, {**fields, "url": rest}))

    async def _scan(self, prefix: str) -> list[bytes]:
        pattern = _escape_glob(prefix) + "*"
        found = [key async for key in self._client.scan_iter(match=pattern, count=_SCAN_BATCH)]
        return [key for key in found if b"\x00" not in key]  # NUL marks a log, never a key

    async def _get(self, key: str) -> bytes | None:
        return cast("bytes | None", await self._client.get(key))

    async def _set(self, key: str, value: bytes, ttl_s: float | None, if_absent: bool) -> bool:
        written = await self._client.set(key, value, px=_milliseconds(ttl_s), nx=if_absent)
        return bool(written)

    async def _pop(self, key: str) -> bytes | None:
        return cast("bytes | None", await self._client.getdel(key))

    async def _delete(self, key: str) -> bool:
        return bool(await self._client.delete(key))

    async def _delete_prefix(self, prefix: str) -> int:
        found = await self._scan(prefix)
        deleted = 0
        for start in range(0, len(found), _SCAN_BATCH):
            deleted += int(await self._client.delete(*found[start : start + _SCAN_BATCH]))
        return deleted

    async def _keys(self, prefix: str) -> list[str]:
        return sorted(key.decode("utf-8") for key in await self._scan(prefix))

    async def _incr(self, key: str, amount: int, ttl_s: float | None) -> int:
        value: Any = await self._incr_script(keys=[key], args=[amount, _milliseconds(ttl_s) or 0])
        return int(value)

    async def _append(self, log: str, record: bytes) -> int:
        length = await self._client.rpush(log + _LOG_MARK, record)
        return int(length) - 1

    async def _read_log(self, log: str, start: int, limit: int | None) -> list[bytes]:
        if limit == 0:
            return []
        stop = -1 if limit is None else start + limit - 1
        return cast("list[bytes]", await self._client.lrange(log + _LOG_MARK, start, stop))

    async def _close(self) -> None:
        await self._client.aclose()


def _milliseconds(ttl_s: float | None) -> int | None:
    # Round up: a positive ttl must never become 0 ms, which Redis rejects, or expire sooner than asked.
    return None if ttl_s is None else max(1, math.ceil(ttl_s * 1000))


def _escape_glob(text: str) -> str:
    # SCAN MATCH is a glob: escape its special characters so a prefix matches literally.
    return "".join("\\" + char if char in "*?[]\\^" else char for char in text)
