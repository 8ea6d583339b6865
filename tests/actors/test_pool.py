"""Resource pools: leases, health on borrow and in the background, no leaks under contention, shared pool actor."""

from __future__ import annotations

import asyncio
import pickle
import random
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import ray
from hypothesis import given, settings
from hypothesis import strategies as st

from armorer_ray import CallContext, TimedOut, Toolbox, ToolCall, Transient, tool
from armorer_ray.actors import Deployment, ResourcePool, create_resource_pool
from tests.actors.conftest import by_value, read

by_value(__name__)


class Conn:
    """A fake connection that knows whether it was closed and can break."""

    def __init__(self, number: int) -> None:
        self.number = number
        self.closed = False
        self.broken = False

    async def ping(self) -> bool:
        return not self.broken


class Factory:
    """Makes `Conn`s and remembers every one, so tests can count opens and closes."""

    def __init__(self) -> None:
        self.made: list[Conn] = []

    async def __call__(self) -> Conn:
        conn = Conn(len(self.made))
        self.made.append(conn)
        return conn


async def close(conn: Conn) -> None:
    conn.closed = True


def make_pool(factory: Factory, **options: Any) -> ResourcePool[Conn]:
    options.setdefault("health_period_s", None)
    return create_resource_pool(factory, health_check=Conn.ping, close=close, name="db", **options)


async def test_leases_are_reused_and_bounded() -> None:
    factory = Factory()
    pool = make_pool(factory, max_size=2)
    async with pool.lease() as first, pool.lease() as second:
        assert first is not second
        with pytest.raises(TimedOut, match="no 'db' resource free"):
            await pool.acquire(timeout_s=0.05)
    async with pool.lease() as again:
        assert again in (first, second)
    assert pool.stats().created == 2
    await pool.drain()
    assert pool.stats().closed == 2 and all(c.closed for c in factory.made)
    with pytest.raises(Transient, match="draining"):
        await pool.acquire()


async def fail_while_holding(pool: ResourcePool[Conn]) -> Conn:
    held: list[Conn] = []
    try:
        async with pool.lease() as conn:
            held.append(conn)
            conn.broken = True
            raise RuntimeError("query failed")
    except RuntimeError:
        pass
    return held[0]


async def test_a_broken_resource_is_replaced_on_borrow_and_after_a_failure() -> None:
    factory = Factory()
    pool = make_pool(factory, max_size=1)
    async with pool.lease() as conn:
        conn.broken = True
    async with pool.lease() as fresh:  # the idle one failed its check on borrow: closed and replaced
        assert fresh is not conn and conn.closed
    third = await fail_while_holding(pool)
    assert third is fresh and third.closed  # checked at once after the failure, and discarded
    stats = pool.stats()
    assert (stats.created, stats.broken, stats.closed, stats.idle) == (2, 2, 2, 0)
    await pool.drain()


async def test_background_sweep_closes_idle_and_broken_and_refills() -> None:
    factory = Factory()
    pool = make_pool(factory, min_size=1, max_size=3, max_idle_s=0.05)
    await pool.start()
    leases = [await pool.acquire() for _ in range(3)]
    for lease in leases:
        await lease.release()
    leases[0].resource.broken = True
    await asyncio.sleep(0.06)
    await pool.sweep()
    stats = pool.stats()
    assert stats.idle == 1 and stats.broken >= 0 and stats.closed == 2  # down to min_size
    await pool.drain()
    assert pool.stats().created == pool.stats().closed


async def test_a_pool_under_contention_leaks_nothing() -> None:
    factory = Factory()
    pool = make_pool(factory, min_size=1, max_size=4, acquire_timeout_s=5)
    rng = random.Random(7)

    async def borrower(i: int) -> None:
        try:
            async with pool.lease() as conn:
                await asyncio.sleep(rng.random() / 500)
                if i % 7 == 0:
                    conn.broken = True
                if i % 11 == 0:
                    raise ValueError("tool failed")
        except ValueError:
            pass

    tasks = [asyncio.ensure_future(borrower(i)) for i in range(300)]
    await asyncio.sleep(0.01)
    tasks[5].cancel()  # a borrower cancelled mid-wait or mid-lease must not leak either
    await asyncio.gather(*tasks, return_exceptions=True)
    assert pool.stats().in_use == 0 and pool.stats().created <= 300
    await pool.drain()
    stats = pool.stats()
    assert stats.created == stats.closed == len(factory.made) and all(c.closed for c in factory.made)


async def test_drain_waits_for_leases_and_closes_late_returns() -> None:
    factory = Factory()
    pool = make_pool(factory, max_size=2)
    held = await pool.acquire()
    drained = asyncio.ensure_future(pool.drain(timeout_s=5))
    await asyncio.sleep(0.01)
    assert not drained.done()
    await held.release()
    await drained
    assert held.resource.closed and pool.stats().created == pool.stats().closed == 1


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.booleans()), max_size=30), st.integers(1, 3))
def test_any_borrow_pattern_balances_created_and_closed(pattern: list[tuple[int, bool]], size: int) -> None:
    async def run() -> None:
        factory = Factory()
        pool = make_pool(factory, max_size=size, acquire_timeout_s=1)

        async def borrow(hold: int, breaks: bool) -> None:
            async with pool.lease() as conn:
                await asyncio.sleep(hold / 1000)
                conn.broken = breaks

        await asyncio.gather(*(borrow(h, b) for h, b in pattern))
        await pool.drain()
        assert pool.stats().created == pool.stats().closed == len(factory.made)

    asyncio.run(run())


def test_a_pool_travels_as_its_factory() -> None:
    factory = Factory()
    pool = make_pool(factory, max_size=3)

    async def warm() -> None:
        async with pool.lease():
            pass

    asyncio.run(warm())
    copy = pickle.loads(pickle.dumps(pool))
    assert copy.stats().created == 0 and copy.options == pool.options and copy.name == "db"


@ray.remote(num_cpus=0)
class Model:
    """Stands for a model-serving actor: the pooled thing is itself a remote handle."""

    def predict(self, x: int) -> int:
        return x * 10


@tool
async def infer(x: int, ctx: CallContext) -> int:
    """Borrow a model from the shared pool."""
    async with ctx.resources["models"].lease() as model:
        return int(await model.predict.remote(x))


@pytest.mark.ray
async def test_a_shared_pool_actor_serves_two_deployments_and_leaks_nothing(
        launch: Callable[..., Deployment], counter: Any) -> None:
    def make_model() -> Any:
        ray.get(counter.hit.remote("created"))
        return Model.remote()

    def retire(model: Any) -> None:
        ray.get(counter.hit.remote("closed"))
        ray.kill(model)

    pool = create_resource_pool(make_model, close=retire, max_size=2, shared=True,
                                name=f"models-{uuid.uuid4().hex[:6]}")
    first = launch(Toolbox([infer], resources={"models": pool}), max_concurrency=8, batch_size=8)
    second = launch(Toolbox([infer], resources={"models": pool}), max_concurrency=8, batch_size=8)
    calls = [ToolCall(name="infer", arguments={"x": i}) for i in range(20)]
    both = await asyncio.gather(first.execute(calls), second.execute(calls))
    assert [r.result for r in both[0]] == [r.result for r in both[1]] == [i * 10 for i in range(20)]
    assert (await pool.stats()).created <= 2
    await first.shutdown()
    await second.shutdown()  # holders give back their leases; the shared pool lives on
    assert (await pool.health()).ok
    final = await pool.shutdown()
    counts = read(counter)["counts"]
    assert final.created == final.closed == counts["created"] == counts["closed"] >= 1
