"""A full queue sheds load at once and stays bounded; cancelled calls stop their bodies inside the replica."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import ray

from armorer_ray import AbortController, CallContext, Toolbox, ToolCall, tool
from armorer_ray.actors import Deployment
from tests.actors.conftest import CounterActor, by_value, read

by_value(__name__)
pytestmark = pytest.mark.ray


@tool
async def slow(ctx: CallContext) -> str:
    """Take a while."""
    await asyncio.sleep(0.3)
    return "done"


async def test_a_full_queue_sheds_with_backpressure_and_memory_stays_bounded(
        launch: Callable[..., Deployment]) -> None:
    dep = launch(Toolbox([slow]), max_concurrency=2, batch_size=2, max_queued=10)
    await dep.ready()
    results = await asyncio.gather(*(dep.execute(ToolCall(name="slow")) for _ in range(200)))
    shed = [r for r in results if not r.ok]
    assert len(results) == 200
    assert sum(r.ok for r in results) == 12  # 2 running + 10 queued
    assert len(shed) == 188
    assert all(r.error is not None and r.error.code == "BACKPRESSURE" and r.error.category == "transient"
               and r.error.retryable for r in shed)
    stats = await dep.stats()
    assert stats.handle.peak_queued == 10  # never more waiting than max_queued, however many arrive
    assert stats.handle.shed == 188 and stats.handle.queued == 0 and stats.handle.in_flight == 0


@tool
async def block(ctx: CallContext) -> str:
    """Wait until cancelled, reporting start and stop."""
    counter = ctx["counter"]
    await counter.log.remote(f"started:{ctx.call.id}")
    try:
        await asyncio.sleep(60)
    except asyncio.CancelledError:
        await counter.log.remote(f"stopped:{ctx.call.id}")
        raise
    return "finished"


async def wait_for_event(counter: Any, event: str, deadline_s: float = 90.0) -> None:
    # Generous: the first test of the module also waits for the replicas to start, which on a loaded 2-core
    # machine took longer than the 10 s this allowed before.
    loop = asyncio.get_running_loop()
    give_up = loop.time() + deadline_s
    while loop.time() < give_up:
        if event in read(counter)["events"]:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{event} never happened within {deadline_s} s: {read(counter)['events']}")


@pytest.fixture(scope="module")
def counter(module_counter: Any) -> Any:
    return module_counter


@pytest.fixture(scope="module")
def blocking(module_launch: Callable[..., Deployment], module_counter: Any) -> Deployment:
    return module_launch(Toolbox([block], context={"counter": module_counter}), max_concurrency=16, batch_size=16)


async def test_an_abort_signal_cancels_the_body_and_returns_a_cancelled_result(blocking: Deployment,
                                                                               counter: Any) -> None:
    controller = AbortController()
    task = asyncio.ensure_future(blocking.execute(ToolCall(id="s1", name="block"), signal=controller.signal))
    await wait_for_event(counter, "started:s1")
    controller.abort("user pressed stop")
    result = await task
    assert result.error is not None and result.error.category == "cancelled"
    assert result.error.message == "user pressed stop"
    await wait_for_event(counter, "stopped:s1")


async def test_cancelling_the_awaiting_task_stops_the_body_in_the_replica(blocking: Deployment,
                                                                          counter: Any) -> None:
    task = asyncio.ensure_future(blocking.execute(ToolCall(id="t1", name="block")))
    await wait_for_event(counter, "started:t1")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await wait_for_event(counter, "stopped:t1")
    assert (await blocking.stats()).handle.in_flight == 0


async def test_ray_cancel_on_a_submitted_ref_resolves_to_cancelled(blocking: Deployment, counter: Any) -> None:
    ref = blocking.submit(ToolCall(id="r1", name="block"))
    await wait_for_event(counter, "started:r1")
    ray.cancel(ref)
    result = await blocking.resolve(ref)
    assert (result.call_id, result.error.category if result.error else None) == ("r1", "cancelled")
    await wait_for_event(counter, "stopped:r1")


async def test_aborting_a_batch_cancels_every_call(blocking: Deployment, counter: Any) -> None:
    controller = AbortController()
    calls = [ToolCall(id=f"b{i}", name="block") for i in range(6)]
    task = asyncio.ensure_future(blocking.execute(calls, signal=controller.signal))
    for call in calls:
        await wait_for_event(counter, f"started:{call.id}")
    controller.abort("stop all")
    results = await task
    assert [r.call_id for r in results] == [c.id for c in calls]
    assert {r.error.category for r in results if r.error} == {"cancelled"} and not any(r.ok for r in results)
    for call in calls:
        await wait_for_event(counter, f"stopped:{call.id}")


@tool
async def hold(ctx: CallContext) -> str:
    """Report the start, then wait until the test logs ``release``."""
    gate = ctx["gate"]
    await gate.log.remote(f"started:{ctx.call.id}")
    while "release" not in (await gate.snapshot.remote())["events"]:  # noqa: ASYNC110 - the gate is another actor
        await asyncio.sleep(0.05)
    return ctx.call.id


@pytest.fixture
def gate(ray_runtime: object) -> Iterator[Any]:
    """A counter of its own per test: once ``release`` is logged, every `hold` call finishes."""
    actor = CounterActor.remote()
    yield actor
    ray.kill(actor)


async def wait_until_queued(dep: Deployment, queued: int) -> None:
    for _ in range(400):
        if (await dep.stats()).handle.queued == queued:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never {queued} queued: {(await dep.stats()).handle}")


async def test_a_submit_past_a_full_queue_evicts_a_queued_call_of_lower_priority(
        launch: Callable[..., Deployment], gate: Any) -> None:
    dep = launch(Toolbox([hold], context={"gate": gate}), max_concurrency=1, batch_size=1, max_queued=1)
    await dep.ready()
    running = asyncio.ensure_future(dep.execute(ToolCall(id="running", name="hold")))
    await wait_for_event(gate, "started:running")
    queued = asyncio.ensure_future(dep.execute(ToolCall(id="queued", name="hold", priority=1)))
    await wait_until_queued(dep, 1)  # the replica is at its cap and the queue is full
    same = await dep.submit(ToolCall(id="same", name="hold", priority=1))
    assert same.error is not None and same.error.code == "BACKPRESSURE"  # equal priority does not outrank
    urgent = dep.submit(ToolCall(id="urgent", name="hold", priority=5))
    evicted = await queued
    assert evicted.error is not None and evicted.error.code == "BACKPRESSURE" and evicted.error.retryable
    await gate.log.remote("release")
    assert (await dep.resolve(urgent)).result == "urgent" and (await running).result == "running"
    assert (await dep.stats()).handle.shed == 2


async def test_a_submitted_call_runs_ahead_of_calls_queued_by_execute_whatever_their_priority(
        launch: Callable[..., Deployment], gate: Any) -> None:
    dep = launch(Toolbox([hold], context={"gate": gate}), max_concurrency=1, batch_size=1, max_queued=4)
    await dep.ready()
    running = asyncio.ensure_future(dep.execute(ToolCall(id="running", name="hold")))
    await wait_for_event(gate, "started:running")
    queued = asyncio.ensure_future(dep.execute(ToolCall(id="queued", name="hold", priority=9)))
    await wait_until_queued(dep, 1)
    submitted = dep.submit(ToolCall(id="submitted", name="hold", priority=0))  # sent now, past the cap
    await gate.log.remote("release")
    results = [await running, await dep.resolve(submitted), await queued]
    assert [r.result for r in results] == ["running", "submitted", "queued"]
    starts = [e for e in read(gate)["events"] if e.startswith("started:")]
    assert starts == ["started:running", "started:submitted", "started:queued"]
