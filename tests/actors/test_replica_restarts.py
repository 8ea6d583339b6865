"""A replica that Ray restarts in place (same name, id and handle, a new process) after its calls were lost.

A failed-over call waits for a replica life other than the one it was lost on; a restarted replica is such a life,
so calls lost with the only replica (or with every replica of a node, which Ray restarts elsewhere) complete on it
instead of waiting for a replacement that never comes. Calls handed out by `submit` fail over the same way, with
their own options.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable
from typing import Any

import pytest

from armorer_ray import CallContext, Toolbox, ToolCall, tool
from armorer_ray.actors import ActorOptions, Deployment
from tests.actors.conftest import by_value, read

by_value(__name__)
pytestmark = pytest.mark.ray

RESTARTABLE = ActorOptions(num_cpus=0, max_restarts=2)


async def _hold_if(block_pid: int, tag: str, ctx: CallContext) -> list[object]:
    await ctx["counter"].hit.remote(f"{tag}:{ctx.call.id}:{os.getpid()}")
    if os.getpid() == block_pid:  # the first life holds its calls until the test kills it
        await asyncio.sleep(600)
    return [tag, os.getpid()]


async def _dry(i: int, block_pid: int, ctx: CallContext) -> list[object]:
    return await _hold_if(block_pid, "dry", ctx)


@tool(idempotent=True, dry_run=_dry)
async def lookup(i: int, block_pid: int, ctx: CallContext) -> list[object]:
    """An idempotent read that the first replica life never finishes."""
    return await _hold_if(block_pid, "body", ctx)


async def _first_life(dep: Deployment) -> int:
    await dep.ready(timeout_s=90)
    pid = (await dep.stats()).replicas[0].pid
    assert pid is not None
    return pid


async def _started(counter: Any, count: int) -> None:
    for _ in range(3_000):
        if len(read(counter)["counts"]) >= count:
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"fewer than {count} calls started")


async def test_calls_lost_with_the_only_replica_finish_on_its_restarted_life(
        launch: Callable[..., Deployment], counter: Any) -> None:
    dep = launch(Toolbox([lookup], context={"counter": counter}), replicas=1, actor_options=RESTARTABLE,
                 max_concurrency=8, batch_size=8, health_period_s=0.5, unavailable_timeout_s=90)
    first = await _first_life(dep)
    calls = [ToolCall(id=f"c{i}", name="lookup", arguments={"i": i, "block_pid": first}) for i in range(24)]
    batch = asyncio.ensure_future(dep.execute(calls))
    await _started(counter, 8)  # the first chunk is held by the first life
    os.kill(first, signal.SIGKILL)  # Ray restarts the replica in place
    results = await batch

    assert [r.call_id for r in results] == [c.id for c in calls]
    assert all(r.ok for r in results), sorted({r.error.code for r in results if r.error})
    assert {r.result[1] for r in results} == {(await dep.stats()).replicas[0].pid} != {first}
    stats = await dep.stats()
    assert stats.handle.failovers >= 8 and len(stats.replicas) == 1


async def test_a_submitted_call_fails_over_like_execute_with_its_own_options(
        launch: Callable[..., Deployment], counter: Any) -> None:
    dep = launch(Toolbox([lookup], context={"counter": counter}), replicas=1, actor_options=RESTARTABLE,
                 health_period_s=0.5, unavailable_timeout_s=90)
    first = await _first_life(dep)
    ref = dep.submit(ToolCall(id="s1", name="lookup", arguments={"i": 1, "block_pid": first}), dry_run=True)
    await _started(counter, 1)
    os.kill(first, signal.SIGKILL)
    result = await dep.resolve(ref)

    assert result.ok, result.error
    tag, pid = result.result
    assert tag == "dry" and pid != first  # failed over to the restarted life, still a dry run
    assert sorted(read(counter)["counts"]) == sorted([f"dry:s1:{first}", f"dry:s1:{pid}"])
    assert (await dep.stats()).handle.failovers == 1
