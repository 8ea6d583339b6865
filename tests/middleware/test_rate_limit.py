"""RateLimit: token bucket and sliding window, per tool and global, per key; waiting, refusing, cancelling."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from armorer_ray import ConfigError, Toolbox, ToolCall
from armorer_ray.middleware import RateLimit, per_tenant, per_user
from armorer_ray.middleware.rate_limiters import SlidingWindow, TokenBucket
from armorer_ray.testing import mock_tool
from tests.middleware.conftest import FakeClock


async def test_a_hundred_concurrent_callers_against_a_token_bucket(clock: FakeClock) -> None:
    search = mock_tool("search")
    limit = RateLimit(10, per_s=1.0, max_wait_s=1.0, clock=clock, sleep=clock.sleep)
    box = Toolbox([search], middleware=[limit])
    refused: list[float] = []
    box.on("rate-limit.exceeded", lambda event: refused.append(event.detail["retry_after_s"]))
    results = await asyncio.gather(*(box.execute(ToolCall(id=f"c{i}", name="search")) for i in range(100)))
    admitted = [r for r in results if r.ok]
    rejected = [r for r in results if not r.ok]
    assert len(admitted) == 20 and len(search.calls) == 20, "a burst of 10, then 10 more within the 1 s wait bound"
    assert [r.call_id for r in admitted] == [f"c{i}" for i in range(20)], "callers keep their arrival order"
    assert clock.sleeps == pytest.approx([0.1 * n for n in range(1, 11)])
    assert {r.error.code for r in rejected if r.error} == {"RATE_LIMITED"}
    assert all(r.error is not None and r.error.category == "transient" and r.error.retryable for r in rejected)
    assert all(r.error is not None and r.error.details["retry_after_s"] > 1.0 for r in rejected)  # type: ignore[index]
    assert len(refused) == 80
    clock.advance(10)
    assert (await box.execute(ToolCall(name="search"))).ok


async def test_a_hundred_concurrent_callers_against_a_sliding_window(clock: FakeClock) -> None:
    search = mock_tool("search")
    box = Toolbox([search], middleware=[RateLimit(10, per_s=1.0, algorithm="sliding_window", clock=clock)])
    results = await asyncio.gather(*(box.execute(ToolCall(name="search")) for _ in range(100)))
    assert sum(r.ok for r in results) == 10
    retry_after = {r.error.details["retry_after_s"] for r in results if r.error}  # type: ignore[index]
    assert retry_after == {1.0}
    clock.advance(0.5)
    assert not (await box.execute(ToolCall(name="search"))).ok
    clock.advance(0.5)
    results = await asyncio.gather(*(box.execute(ToolCall(name="search")) for _ in range(20)))
    assert sum(r.ok for r in results) == 10


async def test_per_tool_scope_gives_each_tool_a_bucket_and_global_scope_shares_one(clock: FakeClock) -> None:
    tools = [mock_tool("a"), mock_tool("b")]
    per_tool = Toolbox(tools, middleware=[RateLimit(2, per_s=60, clock=clock)])
    outcomes = [(await per_tool.execute(ToolCall(name=name))).ok for name in "abab" "ab"]
    assert outcomes == [True, True, True, True, False, False]
    shared = Toolbox(tools, middleware=[RateLimit(2, per_s=60, scope="global", clock=clock)])
    outcomes = [(await shared.execute(ToolCall(name=name))).ok for name in "abab"]
    assert outcomes == [True, True, False, False]


async def test_key_functions_split_buckets_per_tenant_and_user(clock: FakeClock) -> None:
    box = Toolbox([mock_tool("search")], middleware=[RateLimit(1, per_s=60, key=per_tenant, clock=clock)])
    assert (await box.execute(ToolCall(name="search", tenant_id="acme"))).ok
    assert not (await box.execute(ToolCall(name="search", tenant_id="acme", user_id="other"))).ok
    assert (await box.execute(ToolCall(name="search", tenant_id="globex"))).ok
    box = Toolbox([mock_tool("search")], middleware=[RateLimit(1, per_s=60, key=per_user, clock=clock)])
    assert (await box.execute(ToolCall(name="search", tenant_id="acme", user_id="ada"))).ok
    assert (await box.execute(ToolCall(name="search", tenant_id="acme", user_id="alan"))).ok
    assert not (await box.execute(ToolCall(name="search", tenant_id="acme", user_id="ada"))).ok


async def test_a_caller_cancelled_while_waiting_gives_its_turn_back() -> None:
    clock = FakeClock()
    gate = asyncio.Event()

    async def held_sleep(seconds: float) -> None:
        clock.sleeps.append(seconds)
        await gate.wait()

    limit = RateLimit(1, per_s=1.0, max_wait_s=5, clock=clock, sleep=held_sleep)
    box = Toolbox([mock_tool("search")], middleware=[limit])
    assert (await box.execute(ToolCall(name="search"))).ok
    waiting = asyncio.ensure_future(box.execute(ToolCall(name="search")))
    await asyncio.sleep(0.01)
    assert clock.sleeps == [1.0]
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    gate.set()
    await box.execute(ToolCall(name="search"))
    assert clock.sleeps == [1.0, 1.0], "the next caller waits 1 s, not 2 s: the cancelled turn was returned"


async def test_idle_buckets_are_dropped_past_max_keys(clock: FakeClock) -> None:
    limit = RateLimit(5, per_s=1, key=per_tenant, max_keys=10, clock=clock)
    box = Toolbox([mock_tool("search")], middleware=[limit])
    for tenant in range(30):
        await box.execute(ToolCall(name="search", tenant_id=str(tenant)))
        clock.advance(1)
    assert len(limit._buckets) <= 20


arrivals = st.lists(st.floats(min_value=0, max_value=5, allow_nan=False), min_size=1, max_size=60)


@settings(max_examples=200, deadline=None)
@given(arrivals, st.integers(1, 5), st.floats(0, 3))
def test_sliding_window_never_admits_more_than_the_limit_in_any_window(times: list[float], limit: int,
                                                                       max_wait: float) -> None:
    window = SlidingWindow(limit, window_s=1.0)
    turns = []
    for now in sorted(times):
        admitted, wait = window.reserve(now, max_wait)
        if admitted:
            turns.append(now + wait)
    turns.sort()
    for i in range(len(turns) - limit):
        assert turns[i + limit] - turns[i] >= 1.0 - 1e-6


@settings(max_examples=200, deadline=None)
@given(arrivals, st.integers(1, 5), st.floats(0.5, 20), st.floats(0, 3))
def test_token_bucket_admits_at_most_burst_plus_rate_times_elapsed(times: list[float], burst: int, rate: float,
                                                                   max_wait: float) -> None:
    bucket = TokenBucket(capacity=burst, rate_per_s=rate, now=0.0)
    turns = []
    for now in sorted(times):
        admitted, wait = bucket.reserve(now, max_wait)
        if admitted:
            assert wait <= max_wait + 1e-6
            turns.append(now + wait)
    turns.sort()
    for i in range(len(turns)):
        for j in range(i, len(turns)):
            assert j - i + 1 <= burst + rate * (turns[j] - turns[i]) + 1e-6


@pytest.mark.parametrize(
    "options",
    [{"limit": 0}, {"limit": 1, "per_s": 0}, {"limit": 1, "burst": 0}, {"limit": 1, "max_wait_s": -1},
     {"limit": 1, "algorithm": "leaky"}, {"limit": 1, "scope": "tenant"}],
)
def test_bad_options_are_refused(options: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        RateLimit(**options)  # type: ignore[arg-type]
