"""`EventFeed`: bounded, drop-oldest, fed from any thread; `event_json` for every run and node event."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from armorer_ray import tool
from armorer_ray.errors import ConfigError, ToolError
from armorer_ray.events import Event, EventHub
from armorer_ray.ui import EventFeed, event_json
from armorer_ray.workflow import Node, NodeRun, create_workflow


async def test_a_slow_reader_loses_the_oldest_events_and_is_told_how_many() -> None:
    hub = EventHub()
    with EventFeed(hub, max_queued=3) as feed:
        for index in range(10):
            hub.emit("node.queued", {"run_id": "r", "workflow": "w", "node": f"n{index}"})
        reads = [await feed.get() for _ in range(3)]
    assert [(dropped, item["node"]) for dropped, item in reads] == [(7, "n7"), (0, "n8"), (0, "n9")]
    assert not hub.wants("node.queued")  # leaving the block unsubscribed


async def test_only_run_and_node_events_are_fed() -> None:
    hub = EventHub()
    with EventFeed(hub) as feed:
        hub.emit("progress", {"percent": 5})
        hub.emit("run.started", {"run_id": "r", "workflow": "w"})
        dropped, item = await feed.get()
    assert (dropped, item["type"], item["node"], item["status"]) == (0, "run.started", None, "started")


async def test_events_emitted_on_another_thread_wake_the_reader() -> None:
    hub = EventHub()
    with EventFeed(hub, max_queued=100) as feed:
        reader = asyncio.ensure_future(feed.get())
        await asyncio.sleep(0)  # the reader is now waiting

        def emit_all() -> None:
            for i in range(50):
                hub.emit("node.started", {"run_id": "r", "node": f"n{i}"})

        thread = threading.Thread(target=emit_all)
        thread.start()
        thread.join()
        first = await asyncio.wait_for(reader, 10)
        rest = [await asyncio.wait_for(feed.get(), 10) for _ in range(49)]
    assert [item["node"] for _, item in [first, *rest]] == [f"n{i}" for i in range(50)]


def test_a_workflow_run_is_fed_in_order_with_node_runs_as_json() -> None:
    @tool
    def double(x: int) -> int:
        "Double a number."
        return 2 * x

    wf = create_workflow(nodes={"a": double, "b": Node(double, inputs={"x": "a"})}, edges=[("a", "b")], inputs=["x"])

    async def follow() -> list[dict[str, Any]]:
        with EventFeed(wf.events) as feed:
            run = await wf.run({"x": 2})
            items = [(await feed.get())[1] for _ in range(8)]
        assert {item["run_id"] for item in items} == {run.run_id}
        return items

    items = asyncio.run(follow())
    assert [(item["type"], item["node"]) for item in items] == [
        ("run.started", None), ("node.queued", "a"), ("node.queued", "b"), ("node.started", "a"),
        ("node.succeeded", "a"), ("node.started", "b"), ("node.succeeded", "b"), ("run.finished", None)]
    assert items[6]["run"]["output"] == 8 and items[-1]["status"] == "succeeded"


def test_event_json_keeps_retries_errors_and_unserialisable_outputs_readable() -> None:
    error = ToolError(code="UPSTREAM_503", category="transient", retryable=True, message="503")
    retrying = event_json(Event("node.retrying", {"run_id": "r", "node": "a", "attempt": 2, "error": error}))
    assert retrying["status"] == "retrying" and retrying["attempt"] == 2
    assert retrying["error"]["code"] == "UPSTREAM_503"  # type: ignore[index,call-overload]
    odd: dict[str, Any] = event_json(Event("node.succeeded", {"run_id": "r", "node": "a", "run": NodeRun("a", "succeeded",
                                                                                          output=object())}))
    assert odd["status"] == "succeeded"
    assert odd["run"]["node"] == "a" and "JSON" in odd["run"]["unserialisable"]


def test_the_bound_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="max_queued"):
        EventFeed(EventHub(), max_queued=0)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2**53, 2**53) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)


@settings(max_examples=150, deadline=None)
@given(output=JSON_VALUES, node=st.text(min_size=1, max_size=12),
       status=st.sampled_from(["succeeded", "failed", "skipped", "cancelled", "paused"]))
def test_event_json_round_trips_through_json(output: object, node: str, status: str) -> None:
    item = event_json(Event(f"node.{status}", {"run_id": "r", "workflow": "w", "node": node,
                                                "run": NodeRun(node, status, output=output)}))  # type: ignore[arg-type]
    assert json.loads(json.dumps(item)) == item
    assert (item["node"], item["status"]) == (node, status)
    assert item["run"]["output"] == output  # type: ignore[index,call-overload]
