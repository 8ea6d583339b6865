"""Quota: per-tenant usage over calendar and rolling windows, on every Store backend, never overrun."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from armorer_ray import ConfigError, Toolbox, ToolCall
from armorer_ray.events import Event
from armorer_ray.middleware import CalendarWindow, Quota, RollingWindow
from armorer_ray.stores import (
    MemoryStore,
    PostgresOptions,
    PostgresStore,
    RedisOptions,
    RedisStore,
    SqliteOptions,
    SqliteStore,
    Store,
)
from armorer_ray.testing import mock_tool
from tests.middleware.conftest import FakeClock

NOON = datetime(2025, 3, 14, 11, 59, 30, tzinfo=timezone.utc).timestamp()  # 30 s before the hour turns

StoreMaker = Callable[[], Store]


@pytest.fixture(params=["memory", "sqlite", pytest.param("redis", marks=pytest.mark.services),
                        pytest.param("postgres", marks=pytest.mark.services)])
async def open_shared(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StoreMaker]:
    """Opens connections to one shared backend, as replicas each would; all are closed after the test."""
    opened: list[Store] = []
    memory = MemoryStore()
    if request.param == "redis":
        url, prefix = request.getfixturevalue("redis_url"), request.getfixturevalue("redis_key_prefix")
    if request.param == "postgres":
        dsn, schema = request.getfixturevalue("postgres_dsn"), request.getfixturevalue("postgres_schema")

    def make() -> Store:
        store: Store
        if request.param == "memory":
            return memory
        if request.param == "sqlite":
            store = SqliteStore(SqliteOptions(path=tmp_path / "quota.db"))
        elif request.param == "redis":
            store = RedisStore(RedisOptions(url=url, key_prefix=prefix))
        else:
            store = PostgresStore(PostgresOptions(dsn=dsn, schema_name=schema))
        opened.append(store)
        return store

    yield make
    for store in [*opened, memory]:
        await store.close()


async def test_concurrent_calls_on_several_replicas_never_overrun_the_quota(open_shared: StoreMaker) -> None:
    clock = FakeClock(NOON - 3000)
    replicas = [Toolbox([mock_tool("search")], middleware=[Quota(open_shared(), 25, CalendarWindow("hour"),
                                                                 clock=clock)]) for _ in range(3)]
    calls = [replicas[n % 3].execute(ToolCall(name="search", tenant_id="acme")) for n in range(60)]
    calls += [replicas[n % 3].execute(ToolCall(name="search", tenant_id="globex")) for n in range(10)]
    results = await asyncio.gather(*calls)
    acme, globex = results[:60], results[60:]
    assert sum(r.ok for r in acme) == 25
    assert {r.error.code for r in acme if r.error} == {"QUOTA_EXCEEDED"}
    assert all(r.ok for r in globex)
    ran = [len(box.get_tool("search").calls) for box in replicas]  # type: ignore[union-attr]
    assert sum(ran) == 35


async def test_concurrent_costly_calls_on_a_rolling_window_never_overrun(open_shared: StoreMaker) -> None:
    clock = FakeClock(NOON)
    cost = lambda call, ctx: int(call.arguments["units"])  # noqa: E731
    replicas = [Toolbox([mock_tool("render")], middleware=[
        Quota(open_shared(), 50, RollingWindow(60, buckets=6), cost=cost, clock=clock)]) for _ in range(2)]
    units = [1, 2, 3, 5, 8] * 8
    results = await asyncio.gather(*(replicas[n % 2].execute(
        ToolCall(name="render", tenant_id="acme", arguments={"units": u})) for n, u in enumerate(units)))
    used = sum(u for u, r in zip(units, results, strict=True) if r.ok)
    assert 0 < used <= 50
    assert all(r.error.code == "QUOTA_EXCEEDED" for r in results if r.error)


async def test_the_refusal_says_when_the_calendar_window_resets_and_the_count_starts_over() -> None:
    clock = FakeClock(NOON)
    box = Toolbox([mock_tool("search")], middleware=[Quota(MemoryStore(), 1, CalendarWindow("hour"), clock=clock)])
    assert (await box.execute(ToolCall(name="search", tenant_id="acme"))).ok
    refused = await box.execute(ToolCall(name="search", tenant_id="acme"))
    assert refused.error is not None and refused.error.retryable and refused.error.category == "conflict"
    assert refused.error.details == {"retry_after_s": 30.0, "limit": 1, "used": 1, "cost": 1, "window": "hour",
                                     "tenant_id": "acme"}
    assert "Quota exceeded for tenant \"acme\": 1 of 1 units used this hour window" in refused.error.message
    clock.advance(30)
    assert (await box.execute(ToolCall(name="search", tenant_id="acme"))).ok


async def test_a_rolling_window_frees_usage_as_its_bucket_leaves() -> None:
    clock = FakeClock(6000.0)  # on a bucket boundary
    box = Toolbox([mock_tool("search")], middleware=[
        Quota(MemoryStore(), 3, RollingWindow(60, buckets=6), clock=clock)])
    call = ToolCall(name="search", tenant_id="acme")
    assert all(r.ok for r in await box.execute([call] * 3))
    clock.advance(30)
    refused = await box.execute(call)
    assert refused.error is not None and refused.error.details == {
        "retry_after_s": 30.0, "limit": 3, "used": 3, "cost": 1, "window": "rolling 60s", "tenant_id": "acme"}
    clock.advance(29.5)
    assert not (await box.execute(call)).ok, "still inside the 60 s window"
    clock.advance(0.5)
    assert (await box.execute(call)).ok


async def test_tenant_limits_and_per_tool_counting() -> None:
    quota = Quota(MemoryStore(), 1, CalendarWindow("day"), limits={"pro": 3, "blocked": 0}, per_tool=True)
    box = Toolbox([mock_tool("a"), mock_tool("b")], middleware=[quota])

    async def run(name: str, tenant: str | None, times: int) -> list[bool]:
        return [(await box.execute(ToolCall(name=name, tenant_id=tenant))).ok for _ in range(times)]

    assert await run("a", "free", 2) == [True, False]
    assert await run("b", "free", 2) == [True, False], "each tool has its own count"
    assert await run("a", "pro", 4) == [True, True, True, False]
    assert await run("a", "blocked", 1) == [False]
    assert await run("a", None, 2) == [True, False], "calls without a tenant share one count"


async def test_all_tools_share_one_count_by_default() -> None:
    box = Toolbox([mock_tool("a"), mock_tool("b")], middleware=[Quota(MemoryStore(), 1, CalendarWindow("day"))])
    assert (await box.execute(ToolCall(name="a", tenant_id="acme"))).ok
    assert not (await box.execute(ToolCall(name="b", tenant_id="acme"))).ok


async def test_a_call_too_costly_is_refused_without_using_the_quota() -> None:
    cost = lambda call, ctx: ctx.params.units  # noqa: E731
    render = mock_tool("render", parameters={"units": (int, ...)})
    box = Toolbox([render], middleware=[Quota(MemoryStore(), 10, CalendarWindow("day"), cost=cost)])

    async def spend(units: int) -> bool:
        return (await box.execute(ToolCall(name="render", tenant_id="acme", arguments={"units": units}))).ok

    assert [await spend(7), await spend(5), await spend(3), await spend(0), await spend(1)] == [
        True, False, True, True, False]


async def test_thresholds_alert_once_per_window_and_refusals_alert_each_time() -> None:
    box = Toolbox([mock_tool("search")], middleware=[
        Quota(MemoryStore(), 4, CalendarWindow("day"), alerts=(0.5, 1.0), name="api")])
    events: list[Event] = []
    box.on(["quota.threshold", "quota.exceeded"], events.append)
    for _ in range(6):
        await box.execute(ToolCall(name="search", tenant_id="acme"))
    seen = [(e.type, e.detail.get("threshold"), e.detail["used"]) for e in events]
    assert seen == [("quota.threshold", 0.5, 2), ("quota.threshold", 1.0, 4), ("quota.exceeded", None, 4),
                    ("quota.exceeded", None, 4)]
    assert events[0].detail["tenant_id"] == "acme" and events[0].detail["quota"] == "api"


async def test_a_failing_cost_function_or_store_fails_only_that_call() -> None:
    def broken(call: ToolCall, ctx: object) -> int:
        raise RuntimeError("no price list")

    for cost, code in [(broken, "QUOTA_COST_INVALID"), (lambda call, ctx: -1, "QUOTA_COST_INVALID"),
                       (lambda call, ctx: 1.5, "QUOTA_COST_INVALID")]:
        box = Toolbox([mock_tool("a")], middleware=[Quota(MemoryStore(), 5, CalendarWindow("day"), cost=cost)])  # type: ignore[arg-type]
        result = await box.execute(ToolCall(name="a", tenant_id="acme"))
        assert result.error is not None and result.error.code == code
    closed = MemoryStore()
    await closed.close()
    search = mock_tool("search")
    result = await Toolbox([search], middleware=[Quota(closed, 5, CalendarWindow("day"))]).execute(
        ToolCall(name="search", tenant_id="acme"))
    assert result.error is not None and result.error.code == "QUOTA_UNAVAILABLE" and result.error.retryable
    assert search.calls == [], "the quota fails closed"


@pytest.mark.parametrize("options", [{"limit": -1}, {"limit": 1.5}, {"limits": {"pro": -2}}, {"alerts": (0,)},
                                     {"alerts": (float("nan"),)}, {"name": ""}, {"window": "day"}])
def test_bad_quota_options_are_config_errors(options: dict[str, object]) -> None:
    arguments: dict[str, object] = {"limit": 1, "window": CalendarWindow("day"), **options}
    with pytest.raises(ConfigError):
        Quota(MemoryStore(), **arguments)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [lambda: CalendarWindow("year"), lambda: RollingWindow(0),  # type: ignore[arg-type]
                                 lambda: RollingWindow(60, buckets=0), lambda: RollingWindow(float("inf"))])
def test_bad_windows_are_config_errors(bad: Callable[[], object]) -> None:
    with pytest.raises(ConfigError):
        bad()


@settings(max_examples=40, deadline=None)
@given(limit=st.integers(0, 30), costs=st.lists(st.integers(0, 12), max_size=25))
def test_one_at_a_time_a_call_is_admitted_exactly_when_it_still_fits(limit: int, costs: list[int]) -> None:
    box = Toolbox([mock_tool("t")], middleware=[
        Quota(MemoryStore(), limit, CalendarWindow("month"), cost=lambda call, ctx: int(call.arguments["n"]))])
    used, expected = 0, []
    for cost in costs:
        fits = cost == 0 or used + cost <= limit
        used += cost if fits else 0
        expected.append(fits)
    results = box.execute_sync([ToolCall(name="t", tenant_id="x", arguments={"n": c}) for c in costs],
                               mode="sequential")
    assert [r.ok for r in results] == expected


@given(now=st.floats(0, 4e9), unit=st.sampled_from(["minute", "hour", "day", "week", "month"]))
def test_a_calendar_slot_contains_its_moment_and_one_counter_covers_it(now: float, unit: str) -> None:
    window = CalendarWindow(unit)  # type: ignore[arg-type]
    slot = window.slot(now)
    assert now < slot.leaves_at <= now + 31 * 86_400 and slot.ttl_s > slot.leaves_at - now
    assert window.slot(slot.leaves_at - 0.5).counter == slot.counter
    assert window.slot(slot.leaves_at).counter != slot.counter


@given(now=st.floats(0, 4e9), seconds=st.floats(0.5, 1e6), buckets=st.integers(1, 50))
def test_a_rolling_slot_spans_the_window(now: float, seconds: float, buckets: int) -> None:
    slot = RollingWindow(seconds, buckets).slot(now)
    assert len(slot.earlier) == buckets - 1
    assert now < slot.leaves_at <= now + seconds * (1 + 1e-9)
    leaving = [at for _, at in slot.earlier] + [slot.leaves_at]
    assert leaving == sorted(set(leaving)), "older buckets leave first"
