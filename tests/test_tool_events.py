"""Events on a single tool (reference §5.1), custom event details, settled and step-error details."""

from __future__ import annotations

import asyncio
import gc

from armorer_ray import CallContext, Tool, Toolbox, ToolExecutionError, tool
from armorer_ray.compose import pipe
from armorer_ray.events import Event, EventHub
from armorer_ray.testing import mock_tool


def pinger() -> Tool:
    @tool
    def ping(ctx: CallContext) -> str:
        "Emit pings and reply pong."
        ctx.emit("ping", 1)
        ctx.emit("ping", {"n": 2})
        ctx.emit("ping", ["a", None])
        return "pong"

    return ping


def test_a_tool_can_be_subscribed_to_like_a_toolbox() -> None:
    ping = pinger()
    seen: list[Event] = []
    stop = ping.on(["execute-start", "settled"], seen.append)
    assert ping.execute_sync().result == "pong"
    assert [e.type for e in seen] == ["execute-start", "settled"]
    stop()
    ping.execute_sync()
    assert len(seen) == 2


def test_a_tools_listeners_hear_its_calls_in_any_toolbox_and_only_its_own() -> None:
    ping, other = pinger(), mock_tool("other", impl=lambda: 1)
    box = Toolbox([ping, other])
    on_tool: list[Event] = []
    on_box: list[Event] = []
    ping.on("*", on_tool.append)
    box.on("settled", on_box.append)
    box.execute_sync([{"name": "ping"}, {"name": "other"}])
    assert {e.detail["tool"].name for e in on_tool} == {"ping"}
    assert "call.finished" in [e.type for e in on_tool]
    assert [e.detail["tool"].name for e in on_box] == ["ping", "other"] or {
        e.detail["tool"].name for e in on_box} == {"ping", "other"}


def test_custom_events_take_any_json_detail() -> None:
    ping = pinger()
    values: list[object] = []
    ping.on("ping", lambda event: values.append(event.detail.get("value", event.detail.get("n"))))
    ping.execute_sync()
    assert values == [1, 2, ["a", None]]


def test_settled_offers_the_raw_value_and_the_tool_result() -> None:
    box = Toolbox([mock_tool("one", impl=lambda: {"x": 1}), mock_tool("boom", impl=lambda: 1 / 0)])
    settled: list[Event] = []
    box.on("settled", settled.append)
    box.execute_sync([{"name": "one"}, {"name": "boom"}], mode="sequential")
    ok, failed = settled
    assert ok.detail["value"] == {"x": 1} and ok.detail["result"].outcome == "success" and ok.detail["error"] is None
    assert failed.detail["value"] is None and failed.detail["error"].category == "internal"


def test_step_error_carries_an_exception_as_well_as_the_tool_error() -> None:
    first = mock_tool("first", impl=lambda: {"n": 1})
    second = mock_tool("second", parameters={"n": int}, impl=lambda n: 1 / 0)
    composed = pipe(first, second)
    errors: list[Event] = []
    composed.on("step.failed", errors.append)
    assert composed.execute_sync().outcome == "error"
    [event] = errors
    assert isinstance(event.detail["exception"], ToolExecutionError)
    assert event.detail["exception"].error == event.detail["error"]
    assert event.detail["step_index"] == 1


def test_tool_listeners_cost_nothing_once_removed_or_collected() -> None:
    gc.collect()  # tools of earlier tests, with listeners never removed, leave the registry when collected
    assert not EventHub().wants("validate-success")
    ping = pinger()
    stop = ping.on("validate-success", lambda event: None)
    assert EventHub().wants("validate-success")
    stop()
    assert not EventHub().wants("validate-success")
    forgotten = pinger()
    forgotten.on("validate-error", lambda event: None)
    assert EventHub().wants("validate-error")
    del forgotten
    gc.collect()
    assert not EventHub().wants("validate-error")


def test_async_tool_listeners_run() -> None:
    ping = pinger()
    heard = asyncio.Event()

    async def listen(event: Event) -> None:
        heard.set()

    ping.on("settled", listen)

    async def run() -> None:
        await ping.execute()
        await asyncio.wait_for(heard.wait(), 30)

    asyncio.run(run())
