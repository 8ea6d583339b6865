"""Limits that hold across replicas: a shared rate limit leased in blocks, and per-tool concurrency caps."""

from __future__ import annotations

import asyncio
import pickle
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from armorer_ray import CallContext, ConfigError, Toolbox, ToolCall, tool
from armorer_ray.actors import ClusterConcurrencyLimit, ClusterRateLimit, Deployment
from tests.actors.conftest import by_value, read

by_value(__name__)
pytestmark = pytest.mark.ray


@tool(read_only=True)
async def search(q: str) -> str:
    """Search."""
    return q


@tool
async def slow_write(ctx: CallContext) -> str:
    """A write that must not run more than twice at once anywhere."""
    counter = ctx["counter"]
    await counter.enter.remote("slow_write")
    await asyncio.sleep(0.1)
    await counter.leave.remote("slow_write")
    return "ok"


@pytest.fixture(scope="module")
def limited(module_launch: Callable[..., Deployment], module_counter: Any) -> Iterator[dict[str, Any]]:
    """Two replicas sharing a rate limit on ``search`` (a tool-level layer) and a cap on ``slow_write``."""
    suffix = uuid.uuid4().hex[:6]
    limit = ClusterRateLimit(5, per_s=3600, name=f"search-{suffix}", block_size=2)
    cap = ClusterConcurrencyLimit({"slow_write": 2}, name=f"writes-{suffix}")
    toolbox = Toolbox([search.replace(middleware=[limit]), slow_write], middleware=[cap],
                      context={"counter": module_counter})
    dep = module_launch(toolbox, replicas=2, max_concurrency=8, batch_size=2)
    yield {"dep": dep, "limit": limit, "cap": cap, "counter": module_counter}
    limit.shutdown()
    cap.shutdown()


async def test_a_rate_limit_holds_across_replicas(limited: dict[str, Any]) -> None:
    dep: Deployment = limited["dep"]
    limit: ClusterRateLimit = limited["limit"]
    assert pickle.loads(pickle.dumps(limit)).name == limit.name
    results = await dep.execute([ToolCall(name="search", arguments={"q": str(i)}) for i in range(20)])
    assert sum(r.ok for r in results) == 5  # five tokens in the whole cluster, however they were leased
    refused = [r for r in results if not r.ok]
    assert all(r.error is not None and r.error.code == "RATE_LIMITED" and r.error.retryable for r in refused)
    assert all(r.error.details["retry_after_s"] > 0 for r in refused)  # type: ignore[union-attr,index,operator]
    assert (await dep.health()).ok  # probes are never counted against the limit


async def test_a_concurrency_limit_holds_across_replicas(limited: dict[str, Any]) -> None:
    dep: Deployment = limited["dep"]
    results = await dep.execute([ToolCall(name="slow_write") for _ in range(12)])
    assert all(r.ok for r in results)
    assert read(limited["counter"])["peak"]["slow_write"] == 2  # both replicas busy, never more than two at once
    assert (await limited["cap"].peaks()) == {"slow_write": 2}
    stats = await dep.stats()
    assert all(r.completed for r in stats.replicas)  # the calls were spread over both replicas


def test_limits_refuse_bad_settings(ray_runtime: object) -> None:
    with pytest.raises(ConfigError):
        ClusterRateLimit(0, name="bad")
    with pytest.raises(ConfigError):
        ClusterConcurrencyLimit({"x": 0}, name="bad")
