"""Scaling decisions reach the driver as ``deployment.scaled`` events on the handle's `EventHub`."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import ray

from armorer_ray import CallContext, Toolbox, ToolCall, tool
from armorer_ray.actors import ActorOptions, Autoscaling, DeploymentOptions, ScalingEvent, deploy, get_deployment
from armorer_ray.events import Event
from tests.actors.conftest import by_value

by_value(__name__)
pytestmark = [pytest.mark.ray, pytest.mark.slow]


class Gate:
    def __init__(self) -> None:
        self.opened = asyncio.Event()

    async def wait(self) -> None:
        await self.opened.wait()

    async def open(self) -> None:
        self.opened.set()


@tool(read_only=True, idempotent=True)
async def held(ctx: CallContext) -> str:
    """Wait until the gate opens."""
    await ctx["gate"].wait.remote()
    return ctx.call.id


@pytest.fixture
def gate(ray_runtime: object) -> Iterator[Any]:
    actor: Any = ray.remote(num_cpus=0)(Gate).remote()
    yield actor
    ray.kill(actor)


async def _until(check: Callable[[], bool], what: str, timeout_s: float = 150.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"{what} not heard within {timeout_s}s")
        await asyncio.sleep(0.1)


async def test_each_scaling_decision_is_emitted_once_to_the_handles_listeners(gate: Any) -> None:
    policy = Autoscaling(min_replicas=1, max_replicas=2, target_ongoing_calls=2, upscale_delay_s=0,
                         downscale_delay_s=0.5, metrics_period_s=0.2)
    dep = deploy(Toolbox([held], context={"gate": gate}), autoscaling=policy,
                 actor_options=ActorOptions(num_cpus=0, max_restarts=0),
                 options=DeploymentOptions(max_concurrency=4, batch_size=4, drain_timeout_s=60))
    heard: list[Event] = []
    threads: set[int] = set()

    def listen(event: Event) -> None:
        heard.append(event)
        threads.add(threading.get_ident())

    stop = dep.on("deployment.scaled", listen)
    later: list[ScalingEvent] = []
    try:
        await dep.ready()
        burst = asyncio.ensure_future(dep.execute([ToolCall(id=f"b{i}", name="held") for i in range(12)]))
        await _until(lambda: any(e.detail["scaling"].direction == "up" for e in heard), "a scale-up")

        # A handle attached now hears later decisions only; the scale-up is history to it (it is in stats).
        other = get_deployment(dep.name, namespace=dep.namespace)
        other.on("deployment.scaled", lambda event: later.append(event.detail["scaling"]))
        await other.ready()

        await gate.open.remote()
        assert all(r.ok for r in await burst)
        await _until(lambda: any(e.detail["scaling"].direction == "down" for e in heard), "a scale-down")
        await _until(lambda: bool(later), "the scale-down, by the second handle")
        stats = await dep.stats()
    finally:
        stop()
        await dep.shutdown(drain=False, timeout_s=5)

    decisions = [event.detail["scaling"] for event in heard]
    assert all(event.type == "deployment.scaled" and event.detail["deployment"] == dep.name for event in heard)
    assert decisions == stats.scaling  # each decision once, in order, as the controller logged it
    assert [d.seq for d in decisions] == list(range(len(decisions)))
    assert [(d.direction, d.from_replicas, d.to_replicas) for d in decisions] == [("up", 1, 2), ("down", 2, 1)]
    assert threads == {threading.get_ident()}  # delivered on the loop that subscribed
    assert later == decisions[1:]
