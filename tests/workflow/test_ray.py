"""Ray-only behaviour: calls on a Deployment's replicas, toolbox factories, cancellation, a light import."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from armorer_ray import Approval, ConfigError, Decision, Toolbox
from armorer_ray.sanitize import ArgumentBounds
from armorer_ray.stores import MemoryStore
from armorer_ray.workflow import LocalWorkflowExecutor, Node, create_workflow
from tests.workflow import tools as t
from tests.workflow.conftest import outline

pytestmark = pytest.mark.ray

# Bulk data between nodes: 200,000 numbers is over the default ArgumentBounds (100,000 items), meant for
# model-written calls; a toolbox that moves bulk data raises it.
BOX = Toolbox([t.forecast, t.warmest, t.coldest, t.summary, t.numbers, t.square, t.total, t.nap, t.explode,
               t.plan_searches, t.search, t.gather], policy=ArgumentBounds(max_items=1_000_000))


def weather() -> Any:
    return create_workflow(
        nodes={"forecast": t.forecast, "warmest": t.warmest, "coldest": t.coldest, "summary": t.summary,
               "numbers": Node(t.numbers, arguments={"n": 4}),
               "square": Node(t.square, inputs={"x": "numbers"}, map_over="x"),
               "plan": Node(t.plan_searches, inputs={"queries": "$inputs.queries"})},
        edges=[("forecast", "warmest"), ("forecast", "coldest"), (["warmest", "coldest"], "summary"),
               ("numbers", "square"), ("forecast", "plan")],
        toolbox=BOX)


@pytest.fixture(scope="module")
def deployment(ray_runtime: Any) -> Iterator[Any]:
    from armorer_ray.actors import ActorOptions, deploy

    dep = deploy(BOX, replicas=1, name="workflow-tests", actor_options=ActorOptions(num_cpus=0))
    yield dep
    dep.shutdown_sync()


async def test_nodes_run_on_a_deployments_replicas(deployment: Any) -> None:
    from armorer_ray.workflow.ray_executor import RayWorkflowExecutor

    wf = weather()
    inputs = {"city": "Oslo", "queries": ["x", "y"]}
    reference = await wf.run(inputs)
    on_tasks = await wf.run(inputs, executor=RayWorkflowExecutor(deployment=deployment, num_cpus=0.5))
    on_loop = await wf.run(inputs, executor=LocalWorkflowExecutor(deployment=deployment))
    assert reference.status == "succeeded"
    assert outline(on_tasks) == outline(on_loop) == outline(reference)
    stats = await deployment.stats()
    assert sum(replica.completed for replica in stats.replicas) >= 2 * 13  # both runs' calls ran on the replica


@pytest.fixture(scope="module")
def gated(ray_runtime: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Toolbox, Path]]:
    """A deployed toolbox whose ledger calls named ``gated...`` pause for approval, logging calls in a directory."""
    from armorer_ray.actors import ActorOptions, deploy

    log_dir = tmp_path_factory.mktemp("gated")
    box = Toolbox([t.ledger], policy=t.ask_for_gated, context={"log_dir": str(log_dir)})
    dep = deploy(box, replicas=1, name="workflow-gated", actor_options=ActorOptions(num_cpus=0))
    yield dep, box, log_dir
    dep.shutdown_sync()


async def test_approvals_reach_a_deployments_replicas(gated: tuple[Any, Toolbox, Path]) -> None:
    from armorer_ray.workflow.ray_executor import RayWorkflowExecutor

    dep, box, log_dir = gated
    wf = create_workflow(nodes={"publish": Node(t.ledger, arguments={"name": "gated-publish"}),
                                "notify": Node(t.ledger, arguments={"name": "notify"})},
                         edges=[("publish", "notify")], toolbox=box, name="deployed")
    store = MemoryStore()
    for run_id, executor in (("on-tasks", RayWorkflowExecutor(deployment=dep, num_cpus=0.5)),
                             ("on-loop", LocalWorkflowExecutor(deployment=dep))):
        assert (await wf.run(executor=executor, checkpoint=store, run_id=run_id)).status == "paused"
        done = await wf.resume(run_id, checkpoint=store, executor=executor,
                               approvals={"publish": Approval(True, by="ada")})
        assert done.status == "succeeded" and done.nodes["publish"].approval == Approval(True, by="ada")
    assert Counter((log_dir / "calls").read_text().split()) == Counter({"gated-publish": 2, "notify": 2})


async def test_node_policies_cannot_go_to_a_deployment(deployment: Any) -> None:
    from armorer_ray.workflow.ray_executor import RayWorkflowExecutor

    wf = create_workflow(nodes={"a": Node(t.square, arguments={"x": 1}, policy=lambda ctx: Decision.allow())},
                         toolbox=BOX)
    with pytest.raises(ConfigError, match="node 'a' has a policy"):
        await wf.run(executor=RayWorkflowExecutor(deployment=deployment))
    with pytest.raises(ConfigError, match="node 'a' has a policy"):
        await wf.run(executor=LocalWorkflowExecutor(deployment=deployment))


async def test_a_toolbox_factory_builds_the_workers_toolbox(ray_runtime: Any) -> None:
    from armorer_ray.workflow.ray_executor import RayWorkflowExecutor

    wf = create_workflow(nodes={"forecast": t.forecast, "warmest": t.warmest}, edges=[("forecast", "warmest")],
                         toolbox=BOX)
    run = await wf.run({"city": "Oslo"}, executor=RayWorkflowExecutor(toolbox_factory=t.weather_toolbox))
    assert run.outputs == {"warmest": 15}


async def test_fail_fast_cancels_running_tasks(ray_runtime: Any) -> None:
    from armorer_ray.workflow.ray_executor import RayWorkflowExecutor

    wf = create_workflow(nodes={"bad": Node(t.explode), "slow": Node(t.nap, arguments={"seconds": 60}),
                                "after": Node(t.square, arguments={"x": 2})},
                         edges=[("slow", "after")], entry=["bad", "slow"], toolbox=BOX)
    run = await wf.run(executor=RayWorkflowExecutor(num_cpus=0.5), on_error="fail_fast")
    assert run.nodes["bad"].status == "failed"
    assert run.nodes["slow"].status == "cancelled" and run.nodes["after"].status == "cancelled"
    assert run.nodes["slow"].reason == "run stopped: node bad failed"


async def test_large_outputs_flow_between_workers(ray_runtime: Any) -> None:
    from armorer_ray.workflow.ray_executor import RayWorkflowExecutor

    wf = create_workflow(nodes={"numbers": t.numbers, "total": Node(t.total, inputs={"values": "numbers"})},
                         edges=[("numbers", "total")], toolbox=BOX)
    run = await wf.run({"n": 200_000}, executor=RayWorkflowExecutor(num_cpus=1))
    assert run.outputs == {"total": 200_000 * 200_001 // 2}, {n: (r.status, r.error, r.reason) for n, r in run.nodes.items()}


async def test_node_tasks_carry_the_callers_span_and_identity(ray_runtime: Any) -> None:
    from opentelemetry.sdk.trace import TracerProvider

    from armorer_ray import Caller
    from armorer_ray.workflow.ray_executor import RayWorkflowExecutor

    wf = create_workflow(nodes={"me": Node(t.whoami, arguments={"label": "me"})}, toolbox=Toolbox([t.whoami]))
    tracer = TracerProvider().get_tracer("agent")  # our own provider: other tests may install a global one
    with tracer.start_as_current_span("agent") as agent:
        run = await wf.run(executor=RayWorkflowExecutor(num_cpus=0.5), caller=Caller(tenant_id="acme"))
    trace_id = format(agent.get_span_context().trace_id, "032x")
    label, traceparent = run.nodes["me"].output.rsplit("/", 1)
    assert label == "me:acme/None/None/0" and traceparent.split("-")[1] == trace_id


def test_importing_workflows_does_not_import_ray() -> None:
    code = "import sys, armorer_ray.workflow, armorer_ray.streaming; print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


async def test_a_toolbox_that_cannot_travel_asks_for_a_factory(ray_runtime: Any) -> None:
    import threading

    from armorer_ray import tool
    from armorer_ray.workflow.ray_executor import RayWorkflowExecutor

    lock = threading.Lock()
    locked = tool(name="locked", description="Use a lock.")(lambda: lock.locked())
    wf = create_workflow(nodes={"a": locked}, toolbox=Toolbox([locked], context={"lock": lock}))
    with pytest.raises(ConfigError, match="cannot travel to Ray workers"):
        await wf.run(executor=RayWorkflowExecutor())


async def test_one_task_per_node_and_level_batches_end_alike(ray_runtime: Any) -> None:
    from armorer_ray.workflow.ray_executor import RayWorkflowExecutor

    wf = weather()
    inputs = {"city": "Oslo", "queries": ["x", "y"]}
    reference = await wf.run(inputs)
    batched = RayWorkflowExecutor(num_cpus=0.5)
    runs = [await wf.run(inputs, executor=executor) for executor in
            (RayWorkflowExecutor(num_cpus=0.5, batch=False), batched, batched)]  # batched twice: durations known
    assert all(outline(run) == outline(reference) for run in runs)
