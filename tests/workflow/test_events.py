"""Node events: the same per-node sequences on both executors, and an async stream a UI can follow."""

from __future__ import annotations

import asyncio

from armorer_ray import Toolbox
from armorer_ray.events import Event
from armorer_ray.workflow import Condition, Edge, Node, WorkflowExecutor, create_workflow
from tests.workflow import tools as t

BOX = Toolbox([t.forecast, t.warmest, t.coldest, t.explode, t.plan_searches, t.search, t.gather])


def per_node(events: list[Event]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for event in events:
        if event.type.startswith("node."):
            out.setdefault(event.detail["node"], []).append(event.type.removeprefix("node."))
    return out


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
