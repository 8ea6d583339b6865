"""RedisStore against the shared-store contract, on the Redis at 127.0.0.1:6379."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest

from armorer_ray.errors import StoreError
from armorer_ray.stores import RedisOptions, RedisStore, Store, open_store
from tests.contracts.store import SharedStoreContract

pytestmark = pytest.mark.services


class TestRedisStore(SharedStoreContract):
    @pytest.fixture
    async def store(self, redis_url: str, redis_key_prefix: str) -> AsyncIterator[Store]:
        async with RedisStore(RedisOptions(url=redis_url, key_prefix=redis_key_prefix)) as store:
            yield store


async def test_keys_and_ttls_are_native_redis(redis_url: str, redis_key_prefix: str) -> None:
    import redis

    async with open_store(f"{redis_url}?key_prefix={redis_key_prefix}") as store:
        await store.set("session", b"state", ttl_s=30)
        await store.append("audit", {"n": 1})
    raw = redis.Redis.from_url(redis_url)
    try:
        assert raw.get(f"{redis_key_prefix}session") == b"state"
        assert 0 < raw.pttl(f"{redis_key_prefix}session") <= 30_000
        assert raw.lrange(f"{redis_key_prefix}audit\x00log", 0, -1) == [b'{"n":1}']
    finally:
        raw.close()


async def test_an_unreachable_server_is_a_store_error_with_the_cause() -> None:
    import redis

    with socket.socket() as probe:  # a port that was just free on loopback, so nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with RedisStore(RedisOptions(url=f"redis://127.0.0.1:{port}/0", connect_timeout_s=2)) as store:
        with pytest.raises(StoreError) as caught:
            await store.get("k")
    assert isinstance(caught.value.__cause__, (redis.RedisError, OSError))


async def test_a_foreign_key_that_is_not_utf8_is_a_store_error(redis_url: str, redis_key_prefix: str) -> None:
    import redis

    raw = redis.Redis.from_url(redis_url)
    try:
        raw.set(redis_key_prefix.encode() + b"\xff\xfe", b"written by another program")
    finally:
        raw.close()
    async with RedisStore(RedisOptions(url=redis_url, key_prefix=redis_key_prefix)) as store:
        with pytest.raises(StoreError) as caught:
            await store.keys()
    assert isinstance(caught.value.__cause__, UnicodeDecodeError)
