"""The handle's router without Ray: caps, power-of-two choices, priority queue, shedding, cancellation."""

from __future__ import annotations

import asyncio
import random
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from armorer_ray.actors._private.router import Refusal, ReplicaSlot, Router


def router(replicas: int = 2, cap: int = 2, queued: int = 4) -> Router:
    made = Router(cap, queued, rng=random.Random(1))
    made.set_replicas([(f"r{i}", f"actor{i}", True) for i in range(replicas)])
    return made


async def test_calls_spread_over_replicas_and_respect_the_cap() -> None:
    r = router(replicas=2, cap=2)
    grants = [await r.acquire(1) for _ in range(4)]
    assert all(isinstance(g, ReplicaSlot) for g in grants)
    assert sorted(s.in_flight for s in r.replicas()) == [2, 2]
    waiting = asyncio.ensure_future(r.acquire(1))
    await asyncio.sleep(0)
    assert not waiting.done() and r.stats().queued == 1
    r.release(grants[0], 1)  # type: ignore[arg-type]
    assert await waiting is grants[0]


async def test_queue_serves_higher_priority_first_then_arrival_order() -> None:
    r = router(replicas=1, cap=1, queued=10)
    held = await r.acquire(1)
    order: list[str] = []

    async def wait(label: str, priority: int) -> None:
        slot = await r.acquire(1, priority)
        order.append(label)
        await asyncio.sleep(0)
        r.release(slot, 1)  # type: ignore[arg-type]

    tasks = [asyncio.ensure_future(wait(label, p)) for label, p in
             [("low-1", 0), ("high-1", 5), ("low-2", 0), ("high-2", 5), ("mid", 2)]]
    await asyncio.sleep(0)
    r.release(held, 1)  # type: ignore[arg-type]
    await asyncio.gather(*tasks)
    assert order == ["high-1", "high-2", "mid", "low-1", "low-2"]


async def test_a_full_queue_sheds_new_calls_or_evicts_lower_priority_ones() -> None:
    r = router(replicas=1, cap=1, queued=2)
    await r.acquire(1)
    low = [asyncio.ensure_future(r.acquire(1, 0)) for _ in range(2)]
    await asyncio.sleep(0)
    shed = await r.acquire(1, 0)
    assert isinstance(shed, Refusal) and shed.code == "BACKPRESSURE" and shed.retryable
    urgent = asyncio.ensure_future(r.acquire(1, 9))  # evicts the newest low-priority waiter
    await asyncio.sleep(0)
    evicted = await low[1]
    assert isinstance(evicted, Refusal) and not low[0].done() and not urgent.done()
    stats = r.stats()
    assert stats.queued == 2 and stats.peak_queued == 2 and stats.shed == 2
    for task in (low[0], urgent):
        task.cancel()


async def test_a_cancelled_waiter_leaves_the_queue_and_frees_any_granted_slot() -> None:
    r = router(replicas=1, cap=1, queued=5)
    held = await r.acquire(1)
    waiter = asyncio.ensure_future(r.acquire(1))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert r.stats().queued == 0
    granted_then_cancelled = asyncio.ensure_future(r.acquire(1))
    await asyncio.sleep(0)
    r.release(held, 1)  # type: ignore[arg-type]   # grants the waiter...
    granted_then_cancelled.cancel()  # ...which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await granted_then_cancelled
    assert r.stats().in_flight == 0 and isinstance(await r.acquire(1), ReplicaSlot)


async def test_failed_and_unhealthy_replicas_are_avoided() -> None:
    r = Router(4, 10, rng=random.Random(3))
    r.set_replicas([("ok", "a", True), ("sick", "b", False), ("dead", "c", True)])
    dead = next(s for s in r.replicas() if s.replica_id == "dead")
    r.mark_failed(dead, dead=True)
    picked = {(await r.acquire(1)).replica_id for _ in range(4)}  # type: ignore[union-attr]
    assert picked == {"ok"}
    waiting = asyncio.ensure_future(r.acquire(1))  # the healthy one is full: wait rather than use the sick one
    await asyncio.sleep(0)
    assert not waiting.done()
    r.set_replicas([("ok", "a", True), ("new", "d", True)])
    assert (await waiting).replica_id == "new"  # type: ignore[union-attr]


async def test_submit_overflow_counts_against_the_queue_bound() -> None:
    r = router(replicas=1, cap=1, queued=2)
    assert Router(1, 1).acquire_now(1) is None  # no replicas known yet
    slots = [r.acquire_now(1) for _ in range(3)]
    assert all(isinstance(s, ReplicaSlot) for s in slots)
    refused = r.acquire_now(1)
    assert isinstance(refused, Refusal) and refused.code == "BACKPRESSURE"
    r.refuse_all(Refusal("DEPLOYMENT_STOPPED", "stopped", retryable=False))
    assert (await r.acquire(1)).code == "DEPLOYMENT_STOPPED"  # type: ignore[union-attr]


async def test_a_submit_past_a_full_queue_evicts_only_lower_priority_waiters() -> None:
    r = router(replicas=1, cap=1, queued=1)
    await r.acquire(1)
    queued = asyncio.ensure_future(r.acquire(1, 2))
    await asyncio.sleep(0)
    assert isinstance(r.acquire_now(1, 2), Refusal)  # the same priority does not outrank a queued call
    urgent = r.acquire_now(1, 3)
    assert isinstance(urgent, ReplicaSlot) and urgent.in_flight == 2  # sent past the cap, ahead of the queue
    evicted = await queued
    assert isinstance(evicted, Refusal) and evicted.code == "BACKPRESSURE"
    stats = r.stats()
    assert stats.queued == 0 and stats.shed == 2


async def test_grants_cross_threads_and_loops() -> None:
    r = router(replicas=1, cap=1, queued=4)
    held = await r.acquire(1)
    waiter = asyncio.ensure_future(r.acquire(1))
    await asyncio.sleep(0)
    thread = threading.Thread(target=r.release, args=(held, 1))  # as a Ray completion callback would
    thread.start()
    thread.join()
    assert await asyncio.wait_for(waiter, 2) is held


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(1, 2)), min_size=1, max_size=40),
       st.integers(1, 3), st.integers(0, 6))
def test_counts_balance_and_the_queue_never_exceeds_its_bound(calls: list[tuple[int, int]], cap: int,
                                                              queued: int) -> None:
    async def run() -> None:
        r = router(replicas=2, cap=max(cap, 2), queued=queued)

        async def one(priority: int, weight: int) -> None:
            slot = await r.acquire(weight, priority)
            assert r.stats().queued <= queued
            if isinstance(slot, ReplicaSlot):
                assert slot.in_flight <= max(cap, 2)
                await asyncio.sleep(0)
                r.release(slot, weight)

        await asyncio.gather(*(one(p, w) for p, w in calls))
        stats = r.stats()
        assert stats.in_flight == 0 and stats.queued == 0 and stats.peak_queued <= queued
        assert stats.admitted + stats.shed == sum(w for _, w in calls)

    asyncio.run(run())


async def test_try_acquire_takes_only_free_room_and_never_overtakes_a_waiting_call() -> None:
    r = router(replicas=1, cap=2, queued=10)
    first = r.try_acquire(2)
    assert isinstance(first, ReplicaSlot) and first.in_flight == 2
    assert r.try_acquire(1) is None  # full: the caller must wait with acquire()
    waiting = asyncio.ensure_future(r.acquire(1))
    await asyncio.sleep(0)
    r.release(first, 1)
    assert await waiting is first  # the room went to the call that waited, not to a later try_acquire
    assert r.try_acquire(1) is None


async def test_a_batch_chunk_may_queue_on_a_busy_replica_up_to_twice_its_cap_within_max_queued() -> None:
    r = router(replicas=2, cap=4, queued=6)
    running = [r.try_acquire(4), r.try_acquire(4)]
    assert all(isinstance(slot, ReplicaSlot) for slot in running)
    ahead = r.try_acquire_ahead(4)
    assert isinstance(ahead, ReplicaSlot) and ahead.in_flight == 8  # queued behind the chunk it runs
    assert r.try_acquire_ahead(4) is None  # 4 more past the caps would exceed max_queued (6)
    other = next(slot for slot in r.replicas() if slot is not ahead)
    assert r.try_acquire_ahead(2) is other  # the least loaded busy replica takes the next one
    assert r.try_acquire_ahead(1) is None  # both at twice their cap or the backlog full
    r.release(ahead, 4)
    waiting = asyncio.ensure_future(r.acquire(4))
    await asyncio.sleep(0)
    assert not waiting.done() and r.try_acquire_ahead(1) is None  # a waiting call is never overtaken
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
