"""Breakpoints (armorer_ray.workflow.breakpoints) and run history (armorer_ray.workflow.history), used directly."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from armorer_ray import Decision, tool
from armorer_ray.stores import MemoryStore
from armorer_ray.workflow import Node, Workflow, create_workflow
from armorer_ray.workflow.breakpoints import Breakpoints, call_node, continue_from, with_breakpoints
from armorer_ray.workflow.checkpoints import Checkpoints
from armorer_ray.workflow.history import list_runs, read_run


@tool
def double(x: int) -> int:
    "Double x."
    return 2 * x


@tool(policy=lambda ctx: Decision.needs_approval("publish?"))
def publish(double: int) -> str:
    "Publish a number (needs approval)."
    return f"published {double}"


def _debug() -> tuple[Breakpoints, Workflow, MemoryStore]:
    points = Breakpoints()
    wf = create_workflow(nodes={"double": double, "publish": publish}, edges=[("double", "publish")], name="pub")
    return points, with_breakpoints(wf, points), MemoryStore()


async def test_continuing_a_breakpoint_approves_nothing_else() -> None:
    points, debug, store = _debug()
    points.set("r1", ["publish"])
    first = await debug.run({"x": 2}, run_id="r1", checkpoint=store)
    assert first.nodes["publish"].status == "paused" and first.nodes["publish"].reason == "breakpoint before node publish"
    points.set("r1", [])
    second = await debug.resume("r1", checkpoint=store, approvals={"publish": continue_from("publish")})
    assert second.nodes["publish"].status == "paused" and second.nodes["publish"].reason == "publish?"
    third = await debug.resume("r1", checkpoint=store, approvals={"publish": True})
    assert third.outputs == {"publish": "published 4"} and third.nodes["double"].restored


async def test_edited_arguments_are_validated_by_the_pipeline() -> None:
    points, debug, store = _debug()
    points.set("r2", ["double"])
    await debug.run({"x": 2}, run_id="r2", checkpoint=store)
    points.set("r2", [])
    bad = await debug.resume("r2", checkpoint=store, approvals={"double": continue_from("double", {"x": "two"})})
    assert bad.nodes["double"].status == "failed" and bad.nodes["double"].error.category == "validation"


async def test_history_orders_runs_and_marks_unfinished_ones() -> None:
    store = MemoryStore()
    wf = create_workflow(nodes={"double": double, "twice": Node(double, inputs={"x": "double"})},
                         edges=[("double", "twice")], name="dbl")
    await wf.run({"x": 1}, run_id="done", checkpoint=store)
    await Checkpoints(store, "dbl", "crashed").open("fingerprint", {"x": 5})  # a process that died mid-run
    runs = await list_runs(store, "dbl")
    assert [(run.run_id, run.status) for run in runs] == [("crashed", "unfinished"), ("done", "succeeded")]
    done = await read_run(store, "dbl", "done")
    assert done is not None and done.nodes["twice"]["output"] == 4 and done.finished_at is not None
    assert await read_run(store, "dbl", "never") is None


@given(st.text(alphabet=st.characters(blacklist_characters="/"), min_size=1),
       st.text(min_size=1).filter(lambda name: not name.endswith("]")), st.integers(min_value=0, max_value=10_000))
def test_call_ids_name_their_run_and_node(run_id: str, node: str, item: int) -> None:
    assert call_node(f"{run_id}/{node}") == (run_id, node)
    assert call_node(f"{run_id}/{node}[{item}]") == (run_id, node)
