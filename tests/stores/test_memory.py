"""MemoryStore against the Store contract, plus what is particular to it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from armorer_ray.stores import MemoryOptions, MemoryStore, Store
from tests.contracts.store import StoreContract


class TestMemoryStore(StoreContract):
    @pytest.fixture
    async def store(self) -> AsyncIterator[Store]:
        async with MemoryStore() as store:
            yield store


async def test_separate_memory_stores_share_nothing() -> None:
    async with MemoryStore() as first, MemoryStore() as second:
        await first.set("k", b"v")
        await first.append("audit", 1)
        assert await second.get("k") is None
        assert await second.read_log("audit") == []


async def test_key_prefix_is_applied_and_hidden() -> None:
    async with MemoryStore(MemoryOptions(key_prefix="tenant/")) as store:
        await store.set("k", b"v")
        assert await store.keys() == ["k"]
        assert await store.keys("tenant/") == []
