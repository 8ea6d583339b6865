"""Events: the order each outcome produces, progress from inside tools, subscriptions sync and async."""

from __future__ import annotations

import asyncio

from pydantic import BaseModel

from armorer_ray import CallContext, Decision, Event, EventHub, Toolbox, tool


class Out(BaseModel):
    n: int


def record(box: Toolbox) -> list[str]:
    seen: list[str] = []
    box.on("*", lambda event: seen.append(event.type))
    return seen


async def test_success_order() -> None:
    box = Toolbox([tool(name="ok", description="Ok.", output_model=Out)(lambda: {"n": 1})])
    seen = record(box)
    await box.execute({"name": "ok"})
    assert seen == ["call", "tool.started", "execute-start", "validate-success", "output-validate-success",
                    "execute-success", "settled", "tool.finished", "complete"]


async def test_validation_failure_order() -> None:
    box = Toolbox([tool(name="ok", description="Ok.")(lambda n: n)])
    seen = record(box)
    await box.execute({"name": "ok", "arguments": {}})
    assert seen == ["call", "tool.started", "execute-start", "validate-error", "settled", "tool.finished", "error"]


async def test_denial_order() -> None:
    box = Toolbox([tool(name="ok", description="Ok.")(lambda: 1)], policy=lambda ctx: False)
    seen = record(box)
    await box.execute({"name": "ok"})
    assert seen == ["call", "tool.started", "execute-start", "validate-success", "policy-denied", "execute-error",
                    "settled", "tool.finished", "error"]


async def test_action_required_order() -> None:
    box = Toolbox([tool(name="ok", description="Ok.")(lambda: 1)], policy=lambda ctx: Decision.needs_approval())
    seen = record(box)
    await box.execute({"name": "ok"})
    assert seen == ["call", "tool.started", "execute-start", "validate-success", "policy-action-required",
                    "tool.finished", "complete"]


async def test_runtime_error_and_timeout_order() -> None:
    async def slow() -> None:
        await asyncio.sleep(1)

    box = Toolbox([tool(name="bad", description="Bad.")(lambda: 1 / 0), tool(name="slow", description="S.")(slow)])
    seen = record(box)
    await box.execute({"name": "bad"})
    expected = ["call", "tool.started", "execute-start", "validate-success", "execute-error", "settled",
                "tool.finished", "error"]
    assert seen == expected
    seen.clear()
    await box.execute({"name": "slow"}, timeout_s=0.01)
    assert seen == expected


async def test_tool_finished_statuses() -> None:
    box = Toolbox([tool(name="ok", description="Ok.")(lambda: 1)],
                  policy=lambda ctx: Decision.needs_approval() if ctx.call.id == "p" else ctx.call.id != "d")
    statuses: list[str] = []
    box.on("tool.finished", lambda e: statuses.append(e.detail["status"]))
    await box.execute([{"id": "s", "name": "ok"}, {"id": "d", "name": "ok"}, {"id": "p", "name": "ok"}],
                      mode="sequential")
    assert statuses == ["success", "denied", "paused"]


async def test_progress_from_inside_a_tool_carries_the_call() -> None:
    @tool
    async def job(ctx: CallContext) -> str:
        """Long job."""
        for percent in (25, 50, 100):
            ctx.progress(percent, f"{percent}%")
        ctx.emit("custom-thing", {"x": 1})
        return "done"

    box = Toolbox([job])
    progress: list[tuple[object, str]] = []
    box.on("progress", lambda e: progress.append((e.detail["percent"], e.detail["call"].id)))
    custom: list[Event] = []
    box.on("custom-thing", custom.append)
    await box.execute({"id": "job-1", "name": "job"})
    assert progress == [(25, "job-1"), (50, "job-1"), (100, "job-1")]
    assert custom[0].detail["x"] == 1


async def test_async_listeners_and_streams() -> None:
    box = Toolbox([tool(name="ok", description="Ok.")(lambda: 1)])
    received: list[str] = []

    async def listener(event: Event) -> None:
        await asyncio.sleep(0)
        received.append(event.type)

    box.on("complete", listener)

    async def consume() -> list[str]:
        got = []
        async for event in box.events.stream("call", "complete"):
            got.append(event.type)
            if len(got) == 4:
                return got
        return got

    consumer = asyncio.ensure_future(consume())
    await asyncio.sleep(0)
    await box.execute([{"name": "ok"}, {"name": "ok"}])
    assert sorted(await asyncio.wait_for(consumer, 2)) == ["call", "call", "complete", "complete"]
    await box.events.flush()
    assert received == ["complete", "complete"]


def test_listener_errors_do_not_break_calls() -> None:
    box = Toolbox([tool(name="ok", description="Ok.")(lambda: 1)])
    box.on("call", lambda e: 1 / 0)
    errors: list[str] = []
    box.on("listener-error", lambda e: errors.append(e.detail["event"]))
    assert box.execute_sync({"name": "ok"}).ok
    assert errors == ["call"]


def test_once_and_unsubscribe() -> None:
    hub = EventHub()
    seen: list[int] = []
    hub.on("x", lambda e: seen.append(1), once=True)
    listener = lambda e: seen.append(2)  # noqa: E731
    stop = hub.on(["x", "y"], listener)
    hub.on("x", listener)  # the same listener twice is a no-op
    hub.emit("x", {})
    hub.emit("x", {})
    stop()
    stop()
    hub.emit("y", {})
    assert seen == [1, 2, 2]
    assert not hub.wants("x")
