"""The controller dies or no replica is left: handles follow a restarted controller (a new epoch), calls that find
no live replica end with a retryable ``REPLICA_UNAVAILABLE`` instead of waiting for ever, and shutdown reports and
kills every replica it finds."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
import ray

from armorer_ray import Toolbox, ToolCall, tool
from armorer_ray.actors import ActorOptions, Deployment, DeploymentOptions, DeploymentStats, deploy
from armorer_ray.actors._private.snapshot import controller_name, replica_prefix
from tests.actors.conftest import by_value

by_value(__name__)
pytestmark = pytest.mark.ray


@tool(read_only=True, idempotent=True)
async def echo(i: int) -> int:
    """Return ``i``."""
    return i


def named_replicas(dep: Deployment) -> list[str]:
    prefix = replica_prefix(dep.name)
    return [e["name"] for e in ray.util.list_named_actors(all_namespaces=True)
            if e.get("namespace") == dep.namespace and e["name"].startswith(prefix)]


async def until(dep: Deployment, check: Callable[[DeploymentStats], bool], what: str,
                timeout_s: float = 120.0) -> DeploymentStats:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        try:
            stats = await dep.stats()
            if check(stats):
                return stats
        except Exception as exc:  # the controller is restarting
            stats = exc  # type: ignore[assignment]
        if loop.time() > deadline:
            raise AssertionError(f"{what} not within {timeout_s}s: {stats}")
        await asyncio.sleep(0.2)


async def test_a_restarted_controller_is_followed_by_existing_handles(launch: Callable[..., Deployment]) -> None:
    dep = launch(Toolbox([echo]), replicas=1, health_period_s=0.5, unhealthy_after=1)
    await dep.ready()
    before = await dep.stats()
    # The replica `deploy` made is replaced by one the controller makes (and owns: it dies with the controller).
    ray.kill(ray.get_actor(before.replicas[0].actor_name, namespace=dep.namespace), no_restart=True)
    replaced = await until(dep, lambda s: s.replacements >= 1 and s.healthy_replicas == 1, "replacement")
    controller = ray.get_actor(controller_name(dep.name), namespace=dep.namespace)
    ray.kill(controller, no_restart=False)  # Ray restarts it: a new epoch, whose versions count from zero again

    after = await until(dep, lambda s: s.epoch != before.epoch and s.healthy_replicas == 1, "a new controller life")
    assert after.replicas[0].replica_id != replaced.replicas[0].replica_id  # the owned replica died with it
    results = await dep.execute([ToolCall(name="echo", arguments={"i": i}) for i in range(50)])
    assert [r.result for r in results] == list(range(50))  # the old handle follows, no hang
    assert (await dep.execute(ToolCall(name="echo", arguments={"i": 7}))).result == 7


async def test_a_call_with_no_live_replica_ends_replica_unavailable(launch: Callable[..., Deployment]) -> None:
    # Supervision is slowed right down, so nothing replaces the killed replica while the call waits.
    dep = launch(Toolbox([echo]), replicas=1, health_period_s=3_600, unavailable_timeout_s=1.0)
    await dep.ready()
    ray.kill(ray.get_actor((await dep.stats()).replicas[0].actor_name, namespace=dep.namespace), no_restart=True)
    result = await dep.execute(ToolCall(name="echo", arguments={"i": 1}))  # fails over, then finds no replica
    assert result.error is not None and result.error.code == "REPLICA_UNAVAILABLE" and result.error.retryable


async def test_shutdown_reports_each_replica_and_leaves_none(ray_runtime: object) -> None:
    dep = deploy(Toolbox([echo]), replicas=2, options=DeploymentOptions(health_period_s=3_600),
                 actor_options=ActorOptions(num_cpus=0, max_restarts=0))
    await dep.ready()
    assert len(named_replicas(dep)) == 2
    report = await dep.shutdown(timeout_s=5)
    assert report.ok and len(report.stopped) == 2 and not report.killed
    await names_released(dep)


async def test_shutdown_without_a_controller_still_removes_the_replicas(ray_runtime: object) -> None:
    dep = deploy(Toolbox([echo]), replicas=2, options=DeploymentOptions(health_period_s=3_600),
                 actor_options=ActorOptions(num_cpus=0, max_restarts=0))
    await dep.ready()
    ray.kill(ray.get_actor(controller_name(dep.name), namespace=dep.namespace), no_restart=True)
    report = await dep.shutdown(timeout_s=5)
    assert report.ok and sorted(report.killed) == sorted(named_replicas(dep) or report.killed)
    assert len(report.killed) == 2
    await names_released(dep)


async def names_released(dep: Deployment) -> None:
    for _ in range(300):  # ray.kill is asynchronous: bounded poll until the names are released
        if not named_replicas(dep):
            return
        await asyncio.sleep(0.1)
    assert named_replicas(dep) == []


def test_controller_placement_is_validated() -> None:
    from pydantic import ValidationError

    from armorer_ray.actors import ControllerOptions

    with pytest.raises(ValidationError, match="node_id"):
        ControllerOptions(placement="node")
    assert ControllerOptions(placement="node", node_id="abc").soft


async def test_controller_runs_where_asked(launch: Callable[..., Deployment], ray_runtime: Any) -> None:
    from armorer_ray.actors import ControllerOptions

    node = ray.get_runtime_context().get_node_id()
    dep = deploy(Toolbox([echo]), replicas=1, controller=ControllerOptions(placement="node", node_id=node, soft=False),
                 actor_options=ActorOptions(num_cpus=0, max_restarts=0))
    try:
        await dep.ready()
        assert (await dep.execute(ToolCall(name="echo", arguments={"i": 3}))).result == 3
    finally:
        await dep.shutdown(drain=False, timeout_s=5)
