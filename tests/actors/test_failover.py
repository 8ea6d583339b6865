"""Replicas die or sicken mid-traffic: every call still gets exactly one result, and nothing runs twice unasked."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Any

import pytest
import ray

from armorer_ray import CallContext, Toolbox, ToolCall, Transient, tool
from armorer_ray.actors import Deployment
from tests.actors.conftest import by_value, read

by_value(__name__)
pytestmark = pytest.mark.ray


@tool(idempotent=True)
async def idem(i: int, ctx: CallContext) -> int:
    """A lookup: safe to run twice."""
    await ctx["counter"].hit.remote(f"idem:{ctx.call.id}")
    await asyncio.sleep(0.005)
    return i


@tool(mutates=True)
async def once(i: int, ctx: CallContext) -> int:
    """A write: must never run twice by accident."""
    await ctx["counter"].hit.remote(f"once:{ctx.call.id}")
    await asyncio.sleep(0.02)
    return i


async def test_killing_a_replica_mid_batch_loses_no_call_and_reruns_no_write(
        launch: Callable[..., Deployment], counter: Any) -> None:
    dep = launch(Toolbox([idem, once], context={"counter": counter}), replicas=2, max_concurrency=32,
                 batch_size=16, max_queued=2_000, health_period_s=0.3, unhealthy_after=1)
    await dep.ready()
    calls = [ToolCall(id=f"c{i}", name="idem" if i % 2 else "once", arguments={"i": i}) for i in range(1_000)]
    batch = asyncio.ensure_future(dep.execute(calls))
    for _ in range(500):  # wait until calls are running, then kill a replica under them
        if read(counter)["counts"]:
            break
        await asyncio.sleep(0.02)
    victim = (await dep.stats()).replicas[0]
    ray.kill(ray.get_actor(victim.actor_name, namespace=dep.namespace), no_restart=True)
    results = await batch

    assert [r.call_id for r in results] == [c.id for c in calls]  # exactly one result per call, in order
    counts = read(counter)["counts"]
    idempotent = [r for r in results if r.tool_name == "idem"]
    assert all(r.ok for r in idempotent), {r.content for r in idempotent if not r.ok}
    writes = [r for r in results if r.tool_name == "once"]
    died = [r for r in writes if not r.ok]
    assert died, "the killed replica had writes in flight"
    assert all(r.error is not None and r.error.code == "REPLICA_DIED" and r.error.retryable for r in died)
    assert all(counts.get(f"once:{r.call_id}", 0) <= 1 for r in writes)  # never run twice
    assert all(counts[f"once:{r.call_id}"] == 1 for r in writes if r.ok)
    stats = await dep.stats()
    assert stats.handle.replica_died == len(died) and stats.handle.failovers > 0
    assert stats.handle.in_flight == 0


@tool(idempotent=True)
def work(i: int) -> int:
    """Ordinary work."""
    return os.getpid()


@tool
def sicken(ctx: CallContext) -> int:
    """Make this replica fail its health probes from now on."""
    ctx.resources["flags"]["sick"] = True
    return os.getpid()


@tool(read_only=True)
def probe_db(ctx: CallContext) -> str:
    """A user probe: fails once the replica is sick."""
    if ctx.resources["flags"].get("sick"):
        raise Transient("database connection lost")
    return "ok"


async def test_an_unhealthy_replica_is_replaced_while_calls_continue(launch: Callable[..., Deployment]) -> None:
    dep = launch(Toolbox([work, sicken, probe_db], resources={"flags": {}}), replicas=2, health_period_s=0.2,
                 unhealthy_after=2, probe=ToolCall(name="probe_db"))
    await dep.ready()
    before = {r.pid: r.replica_id for r in (await dep.stats()).replicas}
    sick_pid = (await dep.execute(ToolCall(name="sicken"))).result
    results = []
    for _ in range(200):
        results += await dep.execute([ToolCall(name="work", arguments={"i": i}) for i in range(10)])
        stats = await dep.stats()
        now = {r.replica_id for r in stats.replicas}
        if stats.replacements and before[sick_pid] not in now and stats.healthy_replicas == 2:
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail(f"the sick replica was not replaced: {stats}")
    assert all(r.ok for r in results)
    assert len(results) > 10  # calls kept flowing while the replica was sick and being replaced
    assert len(stats.replicas) == 2 and stats.replacements == 1
    survivor = next(rid for pid, rid in before.items() if pid != sick_pid)
    assert survivor in now
    assert (await dep.health()).ok
