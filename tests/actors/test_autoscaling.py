"""Autoscaling: the decision rule without Ray, then a deployment that grows under a burst and shrinks when idle,
draining replicas before removing them, with exactly one result per call throughout."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import ray
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from armorer_ray import CallContext, Toolbox, ToolCall, tool
from armorer_ray.actors import ActorOptions, Autoscaling, Deployment, DeploymentStats, deploy
from armorer_ray.actors._private.handles import HandleBook
from armorer_ray.actors._private.placement import NodeInfo, choose_node
from armorer_ray.actors._private.scaling import ScalingDecider
from armorer_ray.errors import DeploymentError
from tests.actors.conftest import by_value, read

by_value(__name__)


# -- the decision, without Ray -------------------------------------------------------------------------


def test_bounds_are_validated() -> None:
    with pytest.raises(ValidationError, match="must not exceed"):
        Autoscaling(min_replicas=3, max_replicas=2)
    with pytest.raises(ValidationError):
        Autoscaling(min_replicas=0)


def test_a_wish_must_hold_for_its_delay() -> None:
    decider = ScalingDecider(Autoscaling(max_replicas=8, target_ongoing_calls=2, upscale_delay_s=5,
                                         downscale_delay_s=10))
    assert decider.observe(now=0, load=10, current=1) == 1  # wants 5, starts waiting
    assert decider.observe(now=3, load=10, current=1) == 1
    assert decider.observe(now=4, load=1, current=1) == 1  # the wish is gone: the wait starts again
    assert decider.observe(now=5, load=10, current=1) == 1
    assert decider.observe(now=10, load=16, current=1) == 8  # held for 5 s; follows the latest need
    assert decider.observe(now=11, load=0, current=8) == 8
    assert decider.observe(now=21, load=3, current=8) == 2  # down only as far as the load still asks


@given(load=st.floats(min_value=0, max_value=1e6), current=st.integers(min_value=-3, max_value=50),
       low=st.integers(min_value=1, max_value=10), extra=st.integers(min_value=0, max_value=10))
def test_the_target_never_leaves_the_bounds(load: float, current: int, low: int, extra: int) -> None:
    policy = Autoscaling(min_replicas=low, max_replicas=low + extra, upscale_delay_s=0, downscale_delay_s=0)
    target = ScalingDecider(policy).observe(now=0.0, load=load, current=current)
    assert policy.min_replicas <= target <= policy.max_replicas


def test_handles_are_forgotten_when_silent() -> None:
    book = HandleBook()
    book.seen("a", version=2, now=0.0)
    book.note_backlog("b", 5, now=0.0)
    assert book.lagging(3, now=1.0) == ["a", "b"] and book.backlog(now=1.0) == 5
    book.seen("a", version=3, now=100.0)
    assert book.lagging(3, now=100.0) == [] and book.backlog(now=100.0) == 0  # "b" went quiet


def test_a_lost_bundle_is_placed_among_live_nodes_by_strategy() -> None:
    nodes = [NodeInfo("head", {"CPU": 2}), NodeInfo("w1", {"CPU": 2}), NodeInfo("small", {"CPU": 0.5})]
    spread = choose_node(ActorOptions(num_cpus=1, placement_strategy="STRICT_SPREAD"), nodes, ["w1"])
    assert (spread.node_id, spread.soft, spread.group) == ("head", False, None)  # "small" does not fit
    with pytest.raises(DeploymentError, match="STRICT_SPREAD"):
        choose_node(ActorOptions(num_cpus=1, placement_strategy="STRICT_SPREAD"), nodes, ["w1", "head"])
    assert choose_node(ActorOptions(placement_strategy="SPREAD"), nodes, ["w1", "head", "small"]).node_id is None
    packed = choose_node(ActorOptions(placement_strategy="STRICT_PACK"), nodes, ["w1", "w1", "head"])
    assert (packed.node_id, packed.soft) == ("w1", False)
    assert choose_node(ActorOptions(placement_strategy="PACK"), nodes, []).node_id is None  # all were lost
    assert choose_node(ActorOptions(), nodes, ["w1"]).node_id is None  # DEFAULT: Ray chooses


# -- a deployment that scales --------------------------------------------------------------------------


class Gates:
    """Named gates tools wait on, and a count of runs per call id."""

    def __init__(self) -> None:
        self.open: dict[str, asyncio.Event] = {}
        self.counts: dict[str, int] = {}

    def _gate(self, name: str) -> asyncio.Event:
        return self.open.setdefault(name, asyncio.Event())

    async def wait(self, name: str, call_id: str) -> None:
        self.counts[call_id] = self.counts.get(call_id, 0) + 1
        await self._gate(name).wait()

    async def release(self, name: str) -> None:
        self._gate(name).set()

    async def snapshot(self) -> dict[str, Any]:
        return {"counts": dict(self.counts)}


@tool(read_only=True, idempotent=True)
async def held(gate: str, ctx: CallContext) -> str:
    """Wait until ``gate`` opens."""
    await ctx["gates"].wait.remote(gate, ctx.call.id)
    return ctx.call.id


@pytest.fixture
def gates(ray_runtime: object) -> Iterator[Any]:
    actor: Any = ray.remote(num_cpus=0)(Gates).remote()
    yield actor
    ray.kill(actor)


async def until(dep: Deployment, check: Callable[[DeploymentStats], bool], what: str,
                timeout_s: float = 150.0) -> DeploymentStats:
    """Poll ``dep.stats()`` until ``check`` holds (a generous bound: the machine may be loaded)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        stats = await dep.stats()
        if check(stats):
            return stats
        if loop.time() > deadline:
            raise AssertionError(f"{what} not within {timeout_s}s: {len(stats.replicas)} replicas, "
                                 f"events {stats.scaling}")
        await asyncio.sleep(0.2)


@pytest.mark.ray
@pytest.mark.slow
async def test_a_burst_grows_the_set_and_idleness_shrinks_it_without_cutting_a_call(gates: Any) -> None:
    policy = Autoscaling(min_replicas=1, max_replicas=3, target_ongoing_calls=2, upscale_delay_s=0,
                         downscale_delay_s=1.0, metrics_period_s=0.2)
    dep = deploy(Toolbox([held], context={"gates": gates}), autoscaling=policy,
                 actor_options=ActorOptions(num_cpus=0, max_restarts=0),
                 options=_options(max_concurrency=8, batch_size=8, drain_timeout_s=120))
    try:
        await dep.ready()
        assert len((await dep.stats()).replicas) == 1

        # A burst of 40 held calls: 8 run, 32 wait in this handle's queue; load 40 over a target of 2 -> 3.
        burst = asyncio.ensure_future(dep.execute([ToolCall(id=f"b{i}", name="held", arguments={"gate": "burst"})
                                                   for i in range(40)]))
        grown = await until(dep, lambda s: len(s.replicas) == 3 and s.healthy_replicas == 3, "scale-up")
        assert any(e.direction == "up" and e.to_replicas == 3 for e in grown.scaling)
        await gates.release.remote("burst")
        results = await burst
        assert [r.call_id for r in results] == [f"b{i}" for i in range(40)] and all(r.ok for r in results)

        # Three calls held across the replicas: load 3 wants 2 replicas, so one is removed while it may hold a
        # call; the removal waits for it (drain), and none of the three is cut.
        held_calls = asyncio.ensure_future(dep.execute([ToolCall(id=f"h{i}", name="held", arguments={"gate": "h"})
                                                        for i in range(3)]))
        await until(dep, lambda s: len(s.replicas) == 2, "scale-down to 2 under load")
        await gates.release.remote("h")
        assert all(r.ok for r in await held_calls)

        # Idle: down to min_replicas.
        idle = await until(dep, lambda s: len(s.replicas) == 1, "scale-down when idle")
        assert idle.target_replicas == 1 and any(e.direction == "down" for e in idle.scaling)
        counts = read(gates)["counts"]
        assert all(counts[f"b{i}"] == 1 for i in range(40)) and all(counts[f"h{i}"] == 1 for i in range(3))
        assert (await dep.execute(ToolCall(name="held", arguments={"gate": "burst"}))).ok  # still serving
    finally:
        report = await dep.shutdown(drain=False, timeout_s=5)
    assert report.ok and len(report.stopped) + len(report.killed) >= 1


def _options(**values: Any) -> Any:
    from armorer_ray.actors import DeploymentOptions

    return DeploymentOptions(**values)
