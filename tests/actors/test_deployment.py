"""A deployed toolbox answers like the in-process one: single calls, batches, ObjectRefs, attach, lifecycle."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Any

import pytest
import ray

from armorer_ray import (
    Approval,
    CallContext,
    ConfigError,
    Conflict,
    Decision,
    DeploymentError,
    PolicyContext,
    Toolbox,
    ToolCall,
    tool,
)
from armorer_ray.actors import ActorOptions, Deployment, create_resource_pool, deploy, get_deployment
from tests.actors.conftest import by_value, read

by_value(__name__)
pytestmark = pytest.mark.ray


@tool(read_only=True)
async def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@tool(read_only=True)
def where(ctx: CallContext) -> dict[str, Any]:
    """Report the process and the caller's identity."""
    return {"pid": os.getpid(), "tenant": ctx.tenant_id, "session": ctx.session_id, "user": ctx.user_id}


@tool
async def query(ctx: CallContext) -> bool:
    """Use a pooled connection."""
    async with ctx.resources["db"].lease() as conn:
        await asyncio.sleep(0.01)
        return bool(conn["open"])


@ray.remote(num_cpus=0)
def double(result: Any) -> int:
    # Receives the ToolResult itself: Ray resolved the ref inside this task, not in the driver.
    return int(result.result) * 2


def large_transfers(ctx: PolicyContext) -> Decision | None:
    return Decision.needs_approval("transfers over 100 need a supervisor") if ctx.params["amount"] > 100 else None


@tool(mutates=True, policy=large_transfers)
def wire(amount: int) -> str:
    """Wire money."""
    return f"sent {amount}"


@pytest.fixture(scope="module")
def shared(module_launch: Callable[..., Deployment]) -> Deployment:
    """One two-replica deployment for the tests that only make calls."""
    return module_launch(Toolbox([add, where, wire]), replicas=2, name="shared-dep", max_concurrency=8,
                         batch_size=8)


async def test_single_call_batch_and_submit_match_the_local_toolbox(shared: Deployment) -> None:
    local = Toolbox([add, where])
    call = ToolCall(id="c1", name="add", arguments={"a": 2, "b": 3})
    remote = await shared.execute(call)
    assert (remote.call_id, remote.outcome, remote.result) == ("c1", "success", 5)
    assert remote.content == (await local.execute(call)).content
    invalid = await shared.execute({"name": "add", "arguments": {"a": "two"}})
    assert invalid.error is not None and invalid.error.category == "validation"
    missing = await shared.execute({"name": "nope"})
    assert missing.error is not None and missing.error.code == "NOT_FOUND"
    batch = [ToolCall(id=str(i), name="add", arguments={"a": i, "b": 1}) for i in range(100)]
    results = await shared.execute(batch)
    assert [r.call_id for r in results] == [str(i) for i in range(100)]
    assert [r.result for r in results] == [i + 1 for i in range(100)]
    ref = shared.submit(ToolCall(name="add", arguments={"a": 20, "b": 1}))
    assert ray.get(double.remote(ref)) == 42  # the ref composes without a driver round trip


async def test_context_ids_travel_and_both_replicas_serve(shared: Deployment) -> None:
    calls = [ToolCall(name="where", tenant_id="acme", session_id="s1", user_id=f"u{i}") for i in range(40)]
    results = await shared.execute(calls)
    assert {r.result["tenant"] for r in results} == {"acme"}
    assert [r.result["user"] for r in results] == [f"u{i}" for i in range(40)]
    assert len({r.result["pid"] for r in results}) == 2
    assert os.getpid() not in {r.result["pid"] for r in results}


def test_execute_sync_refuses_inside_a_loop_and_works_outside(shared: Deployment) -> None:
    assert shared.execute_sync({"name": "add", "arguments": {"a": 1, "b": 1}}).result == 2

    async def inside() -> None:
        with pytest.raises(RuntimeError, match="await deployment.execute"):
            shared.execute_sync({"name": "add", "arguments": {"a": 1, "b": 1}})

    asyncio.run(inside())


async def test_attach_by_name_and_pickled_handles(shared: Deployment) -> None:
    other = get_deployment("shared-dep")
    assert (await other.execute({"name": "add", "arguments": {"a": 1, "b": 2}})).result == 3

    @ray.remote(num_cpus=0)
    def use(handle: Deployment) -> int:
        return int(handle.execute_sync({"name": "add", "arguments": {"a": 40, "b": 2}}).result)

    assert await use.remote(shared) == 42
    with pytest.raises(ConfigError, match="already exists"):
        deploy(Toolbox([add]), name="shared-dep")
    with pytest.raises(DeploymentError, match="no deployment"):
        get_deployment("never-deployed")


async def test_a_paused_call_resumes_on_its_replica_exactly_once(shared: Deployment) -> None:
    paused = await shared.execute([ToolCall(name="wire", arguments={"amount": 500}) for _ in range(4)])
    assert {r.outcome for r in paused} == {"action_required"}
    tokens = [r.action.resume_token for r in paused if r.action and r.action.resume_token]
    resumed = [await shared.resume(token, by="supervisor") for token in tokens]
    assert [r.result for r in resumed] == ["sent 500"] * 4
    with pytest.raises(Conflict):
        await shared.resume(tokens[0])
    rejected = await shared.execute(ToolCall(name="wire", arguments={"amount": 900}))
    assert rejected.action is not None and rejected.action.resume_token is not None
    refusal = await shared.resume(rejected.action.resume_token, approved=False, reason="no")
    assert refusal.error is not None and refusal.error.code == "APPROVAL_REJECTED"


async def test_an_approval_travels_to_the_replica_with_execute_and_submit(shared: Deployment) -> None:
    call = ToolCall(id="w1", name="wire", arguments={"amount": 700})
    assert (await shared.execute(call)).outcome == "action_required"
    approved = await shared.execute(call, approval=Approval(True, by="supervisor"))
    assert (approved.call_id, approved.outcome, approved.result) == ("w1", "success", "sent 700")
    batch = await shared.execute([ToolCall(name="wire", arguments={"amount": a}) for a in (300, 400)],
                                 approval=Approval(True))
    assert [r.result for r in batch] == ["sent 300", "sent 400"]
    assert (await shared.submit(call, approval=Approval(True))).result == "sent 700"
    rejected = await shared.execute(call, approval=Approval(False, reason="too much"))
    assert rejected.error is not None and rejected.error.code == "APPROVAL_REJECTED"
    assert rejected.error.message == "Approval rejected: too much"


async def test_health_and_stats(shared: Deployment) -> None:
    await shared.ready()
    before = (await shared.stats()).handle.admitted
    await shared.execute([{"name": "add", "arguments": {"a": i, "b": i}} for i in range(10)])
    health = await shared.health()
    assert health.ok and health.detail == "2/2 replicas healthy"
    stats = await shared.stats()
    assert stats.healthy_replicas == 2 and all(r.responding and r.pid for r in stats.replicas)
    assert stats.handle.admitted == before + 10 and stats.handle.in_flight == 0
    assert {r.actor_name.rsplit("-", 2)[0] for r in stats.replicas} == {"armorer.deployment:shared-dep:replica"}


def connect_counting(counter: Any) -> Callable[[], dict[str, Any]]:
    def connect() -> dict[str, Any]:
        ray.get(counter.hit.remote("created"))
        return {"open": True}

    return connect


def close_counting(counter: Any) -> Callable[[dict[str, Any]], None]:
    def close(conn: dict[str, Any]) -> None:
        ray.get(counter.hit.remote("closed"))

    return close


def test_graceful_shutdown_runs_hooks_in_order_once_and_drains_pools(launch: Callable[..., Deployment],
                                                                     counter: Any) -> None:
    pool = create_resource_pool(connect_counting(counter), close=close_counting(counter), min_size=1, max_size=3,
                                name="db")
    toolbox = Toolbox(
        [add, query], resources={"db": pool},
        on_start=[lambda: counter.log.remote(f"start:{os.getpid()}")],
        on_drain=[lambda: counter.log.remote(f"drain:{os.getpid()}")],
        on_stop=[lambda: counter.log.remote(f"stop:{os.getpid()}")],
    )
    dep = launch(toolbox, replicas=2)
    results = dep.execute_sync([{"name": "query"}] * 60)
    assert all(r.result is True for r in results), {r.content for r in results}
    stats = asyncio.run(dep.stats())
    assert all(r.pools["db"].created >= 1 for r in stats.replicas)
    dep.shutdown_sync(drain=True)
    dep.shutdown_sync()  # harmless twice
    late = dep.execute_sync({"name": "add", "arguments": {"a": 1, "b": 1}})
    assert late.error is not None and late.error.code == "DEPLOYMENT_STOPPED"
    state = read(counter)
    by_pid: dict[str, list[str]] = {}
    for event in state["events"]:
        phase, pid = event.split(":")
        by_pid.setdefault(pid, []).append(phase)
    assert len(by_pid) == 2
    assert all(phases == ["start", "drain", "stop"] for phases in by_pid.values()), by_pid
    assert state["counts"]["created"] == state["counts"]["closed"] >= 2


def test_a_replica_ray_restarts_runs_on_start_again_once(launch: Callable[..., Deployment], counter: Any) -> None:
    @tool
    def crash() -> None:
        """Kill this replica's process."""
        os._exit(1)

    dep = launch(Toolbox([add, crash], on_start=[lambda: counter.log.remote(f"start:{os.getpid()}")]),
                 actor_options=ActorOptions(num_cpus=0, max_restarts=1), health_period_s=0.2)
    assert dep.execute_sync({"name": "add", "arguments": {"a": 1, "b": 1}}).ok
    died = dep.execute_sync({"name": "crash"})
    assert died.error is not None and died.error.code == "REPLICA_DIED"
    for _ in range(900):  # calls after the restart succeed (up to ~90 s: restarts are slow under load)
        if dep.execute_sync({"name": "add", "arguments": {"a": 1, "b": 1}}).ok and len(read(counter)["events"]) == 2:
            break
        asyncio.run(asyncio.sleep(0.1))
    starts = read(counter)["events"]
    assert len(starts) == 2 and starts[0] != starts[1], starts
    for _ in range(300):  # the supervisor notices the new life at its next passing probe (slow under load)
        replica = asyncio.run(dep.stats()).replicas[0]
        if replica.restarts:
            break
        asyncio.run(asyncio.sleep(0.1))
    assert replica.restarts == 1 and replica.healthy


async def test_a_failed_start_is_reported_and_refuses_calls(launch: Callable[..., Deployment]) -> None:
    def broken() -> None:
        raise RuntimeError("database unreachable")

    dep = launch(Toolbox([add], on_start=[broken]))
    with pytest.raises(DeploymentError, match="database unreachable"):
        await dep.ready()
    result = await dep.execute({"name": "add", "arguments": {"a": 1, "b": 1}})
    assert result.error is not None and result.error.code == "DEPLOYMENT_FAILED"
    assert not (await dep.health()).ok


def test_execute_sync_fails_an_idempotent_call_over_when_its_replica_dies(launch: Callable[..., Deployment],
                                                                         counter: Any) -> None:
    @tool(idempotent=True)
    async def lookup(ctx: CallContext) -> int:
        """Kill the first replica that runs this; answer on the next."""
        if await ctx["counter"].hit.remote("lookup") == 1:
            os._exit(1)
        return os.getpid()

    dep = launch(Toolbox([lookup], context={"counter": counter}), replicas=2, health_period_s=0.2)
    asyncio.run(dep.ready())
    result = dep.execute_sync({"name": "lookup"})  # one actor call and ray.get; the retry goes to the other replica
    assert result.ok, result.content
    assert read(counter)["counts"]["lookup"] == 2
    handle = asyncio.run(dep.stats()).handle
    assert handle.failovers == 1 and handle.replica_died == 0
