"""The compiled Ray path: same runs as the other executors for fixed-shape workflows, a typed refusal otherwise."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from armorer_ray import Toolbox
from armorer_ray.events import Event
from armorer_ray.stores import MemoryStore
from armorer_ray.workflow import Edge, Node, NodeRetry, NotCompilableError, create_workflow
from tests.workflow import tools as t
from tests.workflow.conftest import outline, per_node

pytestmark = pytest.mark.ray

BOX = Toolbox([t.forecast, t.warmest, t.coldest, t.summary, t.numbers, t.square, t.total, t.explode,
               t.plan_searches, t.search, t.gather])


@pytest.fixture(scope="module")
def compiled(ray_runtime: Any) -> Iterator[Any]:
    """One executor for the module: each workflow is compiled once (actors and all), as a user would keep it."""
    from armorer_ray.workflow.compiled import CompiledRayExecutor

    executor = CompiledRayExecutor(actors=2, max_graphs=2)
    yield executor
    executor.close_sync()


def weather() -> Any:
    return create_workflow(
        nodes={"forecast": t.forecast, "warmest": t.warmest, "coldest": t.coldest, "summary": t.summary,
               "bad": Node(t.explode, retry=NodeRetry(attempts=2, on=["internal"])),
               "after_bad": Node(t.square, arguments={"x": 3}),
               "sunny": Node(t.square, arguments={"x": 2})},
        edges=[("forecast", "warmest"), ("forecast", "coldest"), (["warmest", "coldest"], "summary"),
               ("forecast", "bad"), ("bad", "after_bad"), Edge("forecast", "sunny", when=t.is_sunny)],
        toolbox=BOX, name="compiled-weather")


async def test_a_compiled_run_ends_as_a_local_run_with_the_same_events(compiled: Any) -> None:
    wf = weather()
    seen: list[Event] = []
    wf.events.on("*", seen.append)
    inputs = {"city": "Oslo"}
    reference = await wf.run(inputs)
    local_events, seen[:] = per_node(seen), []
    first = await wf.run(inputs, executor=compiled)
    first_events, seen[:] = per_node(seen), []
    again = await wf.run(inputs, executor=compiled)  # the compiled graph is reused
    assert outline(first) == outline(again) == outline(reference)
    assert first.status == "failed" and first.nodes["after_bad"].status == "skipped"
    assert first.nodes["bad"].attempts == 2 and first.outputs == reference.outputs
    assert first_events == per_node(seen) == local_events  # every node's events in order, retries included
    assert local_events["bad"] == ["queued", "started", "retrying", "failed"]


async def test_fan_outs_and_expansions_are_refused_with_a_reason(compiled: Any) -> None:
    fans = create_workflow(nodes={"numbers": t.numbers, "square": Node(t.square, inputs={"x": "numbers"},
                                                                       map_over="x")},
                           edges=[("numbers", "square")], toolbox=BOX)
    with pytest.raises(NotCompilableError, match="fans out over 'x'") as refused:
        await fans.run({"n": 3}, executor=compiled)
    assert (refused.value.node, refused.value.reason) == ("square", "fan_out")
    expands = create_workflow(nodes={"plan": t.plan_searches}, toolbox=BOX)
    with pytest.raises(NotCompilableError, match="returns an Expansion") as refused:
        await expands.run({"queries": ["a"]}, executor=compiled)
    assert (refused.value.node, refused.value.reason) == ("plan", "expansion")


async def test_a_fallback_runs_what_cannot_be_compiled(ray_runtime: Any) -> None:
    from armorer_ray.workflow.compiled import CompiledRayExecutor
    from armorer_ray.workflow.ray_executor import RayWorkflowExecutor

    wf = create_workflow(nodes={"numbers": t.numbers, "square": Node(t.square, inputs={"x": "numbers"},
                                                                     map_over="x"),
                                "total": Node(t.total, inputs={"values": "square"})},
                         edges=[("numbers", "square"), ("square", "total")], toolbox=BOX)
    executor = CompiledRayExecutor(fallback=RayWorkflowExecutor(num_cpus=0.5))
    try:
        run = await wf.run({"n": 4}, executor=executor)
    finally:
        await executor.close()
    assert run.outputs == {"total": 30}


async def test_a_run_resumes_from_checkpoints_without_running_restored_nodes(compiled: Any, tmp_path: Path) -> None:
    box = Toolbox([t.ledger], context={"log_dir": str(tmp_path)})
    wf = create_workflow(nodes={"a": Node(t.ledger, arguments={"name": "a"}),
                                "b": Node(t.ledger, arguments={"name": "b"}),
                                "c": Node(t.ledger, arguments={"name": "c"})},
                         edges=[("a", "b"), ("a", "c")], toolbox=box, name="compiled-ledger")
    (tmp_path / "fail-b").touch()
    store = MemoryStore()
    first = await wf.run(checkpoint=store, run_id="r1", executor=compiled)
    assert (first.nodes["a"].status, first.nodes["b"].status, first.nodes["c"].status) == \
        ("succeeded", "failed", "succeeded")
    (tmp_path / "fail-b").unlink()
    again = await wf.resume("r1", checkpoint=store, executor=compiled)
    assert again.status == "succeeded" and again.nodes["a"].restored and again.nodes["c"].restored
    assert Counter((tmp_path / "calls").read_text().split()) == Counter({"a": 1, "b": 2, "c": 1})


def test_compilable_needs_no_ray_runtime() -> None:
    from armorer_ray.workflow.compiled import compilable

    wf = weather()
    compilable(wf.plan, wf.toolbox)  # a fixed shape: nothing raised
    expands = create_workflow(nodes={"plan": t.plan_searches}, toolbox=BOX)
    with pytest.raises(NotCompilableError):
        compilable(expands.plan, expands.toolbox)
