"""MemoryCacheStore: LRU and LFU eviction against reference models, byte bounds, ttl sweeps, labels."""

from __future__ import annotations

import asyncio
from collections import OrderedDict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from armorer_ray import ConfigError, ToolResult
from armorer_ray.middleware import CacheStore, MemoryCacheStore
from tests.middleware.conftest import FakeClock


def result(value: object) -> ToolResult:
    return ToolResult(call_id="c", tool_name="t", outcome="success", result=value, content=value)


operations = st.lists(st.tuples(st.sampled_from(["get", "set"]), st.integers(0, 6)), max_size=60)


@settings(max_examples=150, deadline=None)
@given(operations)
def test_lru_matches_a_reference_model(ops: list[tuple[str, int]]) -> None:
    store = MemoryCacheStore(max_entries=3, eviction="lru")
    model: OrderedDict[str, int] = OrderedDict()

    async def run() -> None:
        for step, (op, n) in enumerate(ops):
            key = f"k{n}"
            if op == "set":
                await store.set(key, result(step), ttl_s=None, labels=[])
                model[key] = step
                model.move_to_end(key)
                if len(model) > 3:
                    model.popitem(last=False)
            else:
                found = await store.get(key)
                assert (found.result if found else None) == model.get(key)
                if key in model:
                    model.move_to_end(key)
        assert len(store) == len(model)

    asyncio.run(run())


@settings(max_examples=150, deadline=None)
@given(operations)
def test_lfu_matches_a_reference_model(ops: list[tuple[str, int]]) -> None:
    store = MemoryCacheStore(max_entries=3, eviction="lfu")
    values: dict[str, int] = {}
    uses: dict[str, int] = {}
    last: dict[str, int] = {}

    async def run() -> None:
        for step, (op, n) in enumerate(ops):
            key = f"k{n}"
            if op == "set":
                await store.set(key, result(step), ttl_s=None, labels=[])
                values[key], uses[key], last[key] = step, 1, step
                if len(values) > 3:
                    # Least used first; among equals, least recently used; never the entry just written.
                    victim = min((k for k in values if k != key), key=lambda k: (uses[k], last[k]))
                    for table in (values, uses, last):
                        del table[victim]  # type: ignore[attr-defined]
            else:
                found = await store.get(key)
                assert (found.result if found else None) == values.get(key)
                if key in values:
                    uses[key] += 1
                    last[key] = step

    asyncio.run(run())


async def test_lfu_keeps_a_new_entry_over_old_entries_read_more_often() -> None:
    store = MemoryCacheStore(max_entries=2, eviction="lfu")
    for key in "ab":
        await store.set(key, result(key), ttl_s=None, labels=[])
        await store.get(key)
    await store.get("b")
    await store.set("c", result("c"), ttl_s=None, labels=[])
    assert [await store.get(k) is not None for k in "abc"] == [False, True, True]


async def test_byte_bound_evicts_and_refuses_oversized_results() -> None:
    small = result("x" * 50)
    size = len(small.model_dump_json())
    store = MemoryCacheStore(max_entries=None, max_bytes=size * 2)
    for key in "abc":
        await store.set(key, small, ttl_s=None, labels=[])
    assert [await store.get(k) is not None for k in "abc"] == [False, True, True]
    assert store.stats().bytes == size * 2 and store.stats().evictions == 1
    await store.set("huge", result("x" * size * 3), ttl_s=None, labels=[])
    assert await store.get("huge") is None and len(store) == 2


async def test_expired_entries_are_swept_and_never_answer(clock: FakeClock) -> None:
    store = MemoryCacheStore(clock=clock, eviction="lfu")
    await store.set("short", result(1), ttl_s=1, labels=["tool:t"])
    await store.set("long", result(2), ttl_s=100, labels=["tool:t"])
    await store.get("short")
    clock.advance(2)
    assert await store.get("short") is None
    await store.set("other", result(3), ttl_s=None, labels=[])
    stats = store.stats()
    assert (stats.entries, stats.expirations) == (2, 1)
    assert await store.delete("short") is False
    assert await store.invalidate("tool:t") == 1


async def test_evicted_entries_do_not_pile_up_in_the_expiry_heap(clock: FakeClock) -> None:
    store = MemoryCacheStore(max_entries=10, clock=clock)
    for n in range(1000):
        await store.set(f"k{n}", result(n), ttl_s=3600, labels=[])
    assert len(store) == 10 and len(store._expiries) <= 2 * 10 + 65
    clock.advance(3601)
    await store.set("fresh", result(0), ttl_s=None, labels=[])
    assert len(store) == 1 and store.stats().expirations == 10


async def test_rewriting_a_key_replaces_its_ttl(clock: FakeClock) -> None:
    store = MemoryCacheStore(clock=clock)
    await store.set("k", result(1), ttl_s=1, labels=[])
    await store.set("k", result(2), ttl_s=10, labels=[])
    clock.advance(5)
    found = await store.get("k")
    assert found is not None and found.result == 2


async def test_clear_drops_everything_and_keeps_the_protocol() -> None:
    store = MemoryCacheStore()
    assert isinstance(store, CacheStore)
    await store.set("a", result(1), ttl_s=None, labels=["tag:x"])
    await store.clear()
    assert len(store) == 0 and await store.invalidate("tag:x") == 0


@pytest.mark.parametrize("options", [{"max_entries": 0}, {"max_bytes": -1}, {"eviction": "fifo"}])
def test_bad_options_are_refused(options: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        MemoryCacheStore(**options)  # type: ignore[arg-type]
