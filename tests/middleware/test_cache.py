"""Cache: hits under the caller's id, conditional caching, ttl, bounds, keys, invalidation, warming, outages."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from armorer_ray import ConfigError, Event, Toolbox, ToolCall, ToolResult, Transient
from armorer_ray.middleware import Cache, Dedupe, MemoryCacheStore
from armorer_ray.testing import mock_tool
from tests.middleware.conftest import FakeClock


def weather_tool(**options: object):  # type: ignore[no-untyped-def]
    options.setdefault("read_only", True)
    return mock_tool("weather", impl=lambda city: f"sunny in {city}", **options)  # type: ignore[arg-type]


def ask(city: str = "Oslo", call_id: str | None = None, **options: object) -> ToolCall:
    return ToolCall(id=call_id or "", name="weather", arguments={"city": city}, **options)  # type: ignore[arg-type]


async def test_a_hit_skips_the_body_and_carries_the_current_call_id_and_timing() -> None:
    weather = weather_tool()
    cache = Cache(ttl_s=60)
    box = Toolbox([weather], middleware=[cache])
    events: list[str] = []
    box.on(["cache.hit", "cache.missed"], lambda event: events.append(event.type))
    first = await box.execute(ask(call_id="a"))
    await asyncio.sleep(0.01)
    second = await box.execute(ask(call_id="b"))
    assert (second.call_id, second.result, second.content) == ("b", "sunny in Oslo", "sunny in Oslo")
    assert second.started_at > first.started_at
    assert len(weather.calls) == 1
    assert events == ["cache.missed", "cache.hit"]
    stats = cache.stats
    assert (stats.hits, stats.misses, stats.writes, stats.hit_rate) == (1, 1, 1, 0.5)
    cache.reset_stats()
    assert cache.stats.hits == 0


@pytest.mark.parametrize(
    ("options", "cached"),
    [({}, True), ({"read_only": False}, False), ({"metadata": {"cache": False}}, False),
     ({"read_only": False, "metadata": {"cache": True}}, True)],
)
async def test_only_read_only_tools_are_cached_unless_metadata_says_otherwise(options: dict[str, object],
                                                                           cached: bool) -> None:
    weather = weather_tool(**options)
    box = Toolbox([weather], middleware=[Cache()])
    await box.execute(ask())
    await box.execute(ask())
    assert len(weather.calls) == (1 if cached else 2)


async def test_errors_and_dry_runs_are_not_cached() -> None:
    weather = mock_tool("weather", outcomes=[Transient("down")], impl=lambda city: "ok", read_only=True,
                        dry_run=lambda city: "dry")
    box = Toolbox([weather], middleware=[Cache()])
    assert (await box.execute(ask())).error is not None
    assert (await box.execute(ask(), dry_run=True)).result == "dry"
    assert (await box.execute(ask())).result == "ok"
    assert (await box.execute(ask())).result == "ok"
    assert len(weather.calls) == 2


async def test_entries_expire_after_the_ttl_and_a_tool_may_set_its_own(clock: FakeClock) -> None:
    weather = weather_tool()
    short = mock_tool("short", impl=lambda: "x", read_only=True, metadata={"cache_ttl_s": 1})
    box = Toolbox([weather, short], middleware=[Cache(MemoryCacheStore(clock=clock), ttl_s=10)])
    await box.execute(ask())
    await box.execute(ToolCall(name="short"))
    clock.advance(5)
    await box.execute(ask())
    await box.execute(ToolCall(name="short"))
    assert (len(weather.calls), len(short.calls)) == (1, 2)
    clock.advance(5)
    await box.execute(ask())
    assert len(weather.calls) == 2


async def test_tenants_never_share_entries_by_default() -> None:
    weather = weather_tool()
    box = Toolbox([weather], middleware=[Cache()])
    await box.execute(ask(tenant_id="acme"))
    await box.execute(ask(tenant_id="globex"))
    await box.execute(ask(tenant_id="acme"))
    assert len(weather.calls) == 2


async def test_a_custom_key_decides_which_calls_share_an_entry() -> None:
    quote = mock_tool("quote", impl=lambda symbol, request_id: symbol, read_only=True)
    cache = Cache(key=lambda call, ctx: f"quote:{call.arguments['symbol']}")
    box = Toolbox([quote], middleware=[cache])
    for request_id in range(3):
        await box.execute(ToolCall(name="quote", arguments={"symbol": "ACME", "request_id": request_id}))
    assert len(quote.calls) == 1
    assert await cache.invalidate(key="quote:ACME") == 1
    await box.execute(ToolCall(name="quote", arguments={"symbol": "ACME", "request_id": 9}))
    assert len(quote.calls) == 2


async def test_invalidation_by_tool_name_id_tag_and_call() -> None:
    weather = weather_tool(tags=["geo"])
    other = mock_tool("other", impl=lambda: 1, read_only=True)
    cache = Cache()
    box = Toolbox([weather, other], middleware=[cache])

    async def fill() -> None:
        await box.execute(ask("Oslo"))
        await box.execute(ask("Rome"))
        await box.execute(ToolCall(name="other"))

    await fill()
    assert await cache.invalidate(tool="weather") == 2
    await fill()
    assert await cache.invalidate(tool=weather) == 2
    await fill()
    assert await cache.invalidate(tool="default:weather") == 2
    await fill()
    assert await cache.invalidate(tag="geo") == 2
    await fill()
    assert await cache.invalidate(key=cache.key_of(box, ask("Rome"))) == 1
    await fill()
    assert (len(weather.calls), len(other.calls)) == (11, 1)
    with pytest.raises(ConfigError, match="exactly one"):
        await cache.invalidate(tool="weather", tag="geo")
    with pytest.raises(KeyError):
        cache.key_of(box, ToolCall(name="missing"))


async def test_warming_fills_the_cache_and_refresh_replaces_entries() -> None:
    counter = {"n": 0}

    def rate(pair: str) -> int:
        counter["n"] += 1
        return counter["n"]

    cache = Cache()
    box = Toolbox([mock_tool("rate", impl=rate, read_only=True)], middleware=[cache])
    calls = [ToolCall(name="rate", arguments={"pair": pair}) for pair in ("EURUSD", "USDJPY")]
    assert [r.result for r in await cache.warm(box, calls)] == [1, 2]
    assert [r.result for r in await cache.warm(box, calls)] == [1, 2]
    assert [r.result for r in await cache.warm(box, calls, refresh=True)] == [3, 4]
    assert (await box.execute(calls[0])).result == 3
    assert (await box.execute(calls[0])).result == 3, "refresh applies only inside warm()"


class BrokenStore:
    """A store whose backend is down."""

    async def get(self, key: str) -> ToolResult | None:
        raise ConnectionError("cache server unreachable")

    async def set(self, key: str, result: ToolResult, *, ttl_s: float | None, labels: Sequence[str]) -> None:
        raise ConnectionError("cache server unreachable")

    async def delete(self, key: str) -> bool:
        return False

    async def invalidate(self, label: str) -> int | None:
        return None

    async def clear(self) -> None:
        return None


async def test_a_failing_store_never_fails_a_call() -> None:
    weather = weather_tool()
    cache = Cache(BrokenStore())
    box = Toolbox([weather], middleware=[cache])
    errors: list[Event] = []
    box.on("cache.failed", errors.append)
    assert [(await box.execute(ask())).result for _ in range(2)] == ["sunny in Oslo"] * 2
    assert cache.stats.errors == 4 and len(errors) == 4 and len(weather.calls) == 2


async def test_with_dedupe_inside_concurrent_misses_run_once() -> None:
    weather = mock_tool("weather", impl=lambda city: city, delay_s=0.02, read_only=True)
    box = Toolbox([weather], middleware=[Cache(), Dedupe()])
    results = await asyncio.gather(*(box.execute(ask(call_id=f"c{i}")) for i in range(20)))
    assert len(weather.calls) == 1 and [r.call_id for r in results] == [f"c{i}" for i in range(20)]


def test_bad_ttl_is_refused() -> None:
    with pytest.raises(ConfigError, match="ttl_s"):
        Cache(ttl_s=0)
