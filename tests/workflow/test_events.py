"""Node events: the same per-node sequences on both executors, and an async stream a UI can follow."""

from __future__ import annotations

import asyncio
from pathlib import Path

from armorer_ray import Toolbox
from armorer_ray.events import Event
from armorer_ray.workflow import Condition, Edge, Node, NodeRetry, WorkflowExecutor, create_workflow
from tests.workflow import tools as t
from tests.workflow.conftest import per_node

BOX = Toolbox([t.forecast, t.warmest, t.coldest, t.explode, t.plan_searches, t.search, t.gather])




async def test_node_event_sequences(executor: WorkflowExecutor) -> None:
    wf = create_workflow(
        nodes={"forecast": t.forecast, "warmest": t.warmest, "coldest": t.coldest, "bad": t.explode,
               "plan": Node(t.plan_searches, inputs={"queries": "$inputs.queries"})},
        edges=[("forecast", "warmest"), Edge("forecast", "coldest", when=Condition(path="sunny", op="falsy")),
               ("forecast", "bad"), ("forecast", "plan")], toolbox=BOX)
    seen: list[Event] = []
    wf.events.on("*", seen.append)
    run = await wf.run({"city": "Oslo", "queries": ["a"]}, executor=executor)
    assert seen[0].type == "run.started" and seen[-1].type == "run.finished"
    assert seen[-1].detail["result"] is run
    assert all(e.detail["run_id"] == run.run_id for e in seen)
    sequences = per_node(seen)
    assert sequences == {
        "forecast": ["queued", "started", "succeeded"], "warmest": ["queued", "started", "succeeded"],
        "coldest": ["queued", "skipped"], "bad": ["queued", "started", "failed"],
        "plan": ["queued", "started", "succeeded"], "plan/s0": ["started", "succeeded"],
        "plan/join": ["started", "succeeded"],
    }
    finished = [e for e in seen if e.type == "node.failed"]
    assert finished[0].detail["run"].error.message == "RuntimeError: boom"


async def test_retries_report_the_same_events_on_every_executor(executor: WorkflowExecutor, tmp_path: Path) -> None:
    box = Toolbox([t.stumble, t.plan_stumbles], context={"log_dir": str(tmp_path)})
    wf = create_workflow(
        nodes={"once": Node(t.stumble, arguments={"name": "once"}, retry=NodeRetry(attempts=3)),
               "each": Node(t.stumble, inputs={"name": "$inputs.names"}, map_over="name", retry=2),
               "spliced": Node(t.plan_stumbles, arguments={"names": ["deep"]})},
        toolbox=box)
    seen: list[Event] = []
    wf.events.on("*", seen.append)
    run = await wf.run({"names": ["x", "y"]}, executor=executor)
    assert run.status == "succeeded", {n: r.error for n, r in run.nodes.items()}
    assert per_node(seen) == {
        "once": ["queued", "started", "retrying", "succeeded"],
        "each": ["queued", "started", "retrying", "retrying", "succeeded"],
        "spliced": ["queued", "started", "succeeded"], "spliced/s0": ["started", "retrying", "succeeded"],
    }
    retried = [(e.detail["node"], e.detail["attempt"], e.detail["error"].code) for e in seen if e.type == "node.retrying"]
    assert sorted(retried) == [("each", 1, "TRANSIENT_ERROR"), ("each", 1, "TRANSIENT_ERROR"),
                               ("once", 1, "TRANSIENT_ERROR"), ("spliced/s0", 1, "TRANSIENT_ERROR")]
    assert run.nodes["once"].attempts == 2 and run.nodes["each"].attempts == 4
    assert all(not node.retries for node in run.nodes.values())  # reported as events, not kept on the run


async def test_events_stream_to_an_async_consumer() -> None:
    wf = create_workflow(nodes={"forecast": t.forecast, "warmest": t.warmest}, edges=[("forecast", "warmest")],
                         toolbox=BOX)

    async def follow() -> list[tuple[str, str | None]]:
        out = []
        async for event in wf.events.stream():
            out.append((event.type, event.detail.get("node")))
            if event.type == "run.finished":
                return out
        return out

    consumer = asyncio.ensure_future(follow())
    await asyncio.sleep(0)  # let the consumer subscribe
    await wf.run({"city": "Oslo"})
    assert await consumer == [
        ("run.started", None), ("node.queued", "forecast"), ("node.queued", "warmest"),
        ("node.started", "forecast"), ("node.succeeded", "forecast"), ("node.started", "warmest"),
        ("node.succeeded", "warmest"), ("run.finished", None)]
