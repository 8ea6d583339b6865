"""Events: the order each outcome produces, progress from inside tools, subscriptions sync and async."""

from __future__ import annotations

import asyncio
import re
import warnings

import pytest
from pydantic import BaseModel

from armorer_ray import Budget, CallContext, Decision, Event, EventHub, Toolbox, events, tool
from armorer_ray.events import CATALOGUE, CallFinished, CallRefused


class Out(BaseModel):
    n: int


ARMORER_NAMES = ["tool.started", "execute-start", "validate-success", "validate-error", "policy-denied",
                 "policy-action-required", "output-validate-success", "output-validate-error", "execute-success",
                 "execute-error", "settled", "tool.finished"]


def record(box: Toolbox, names: str | list[str] = "*") -> list[str]:
    seen: list[str] = []
    box.on(names, lambda event: seen.append(event.type))
    return seen


async def outcome_orders(box: Toolbox, call: dict[str, object], **options: object) -> tuple[list[str], list[str]]:
    """The canonical names a ``*`` listener hears, and the Armorer names their listeners hear, for one call."""
    canonical, armorer = record(box), record(box, ARMORER_NAMES)
    await box.execute(call, **options)  # type: ignore[call-overload]
    return canonical, armorer


async def test_success_order() -> None:
    box = Toolbox([tool(name="ok", description="Ok.", output_model=Out)(lambda: {"n": 1})])
    assert await outcome_orders(box, {"name": "ok"}) == (
        ["call.admitted", "call.started", "arguments.validated", "output.validated", "call.finished"],
        ["tool.started", "execute-start", "validate-success", "output-validate-success", "execute-success",
         "settled", "tool.finished"])


async def test_validation_failure_order() -> None:
    box = Toolbox([tool(name="ok", description="Ok.")(lambda n: n)])
    assert await outcome_orders(box, {"name": "ok", "arguments": {}}) == (
        ["call.admitted", "call.started", "arguments.invalid", "call.finished"],
        ["tool.started", "execute-start", "validate-error", "settled", "tool.finished"])


async def test_denial_order() -> None:
    box = Toolbox([tool(name="ok", description="Ok.")(lambda: 1)], policy=lambda ctx: False)
    assert await outcome_orders(box, {"name": "ok"}) == (
        ["call.admitted", "call.started", "arguments.validated", "policy.denied", "call.finished"],
        ["tool.started", "execute-start", "validate-success", "policy-denied", "execute-error", "settled",
         "tool.finished"])


async def test_action_required_order() -> None:
    box = Toolbox([tool(name="ok", description="Ok.")(lambda: 1)], policy=lambda ctx: Decision.needs_approval())
    assert await outcome_orders(box, {"name": "ok"}) == (
        ["call.admitted", "call.started", "arguments.validated", "call.paused", "call.finished"],
        ["tool.started", "execute-start", "validate-success", "policy-action-required", "tool.finished"])


async def test_runtime_error_and_timeout_order() -> None:
    async def slow() -> None:
        await asyncio.sleep(1)

    box = Toolbox([tool(name="bad", description="Bad.")(lambda: 1 / 0), tool(name="slow", description="S.")(slow)])
    expected = (["call.admitted", "call.started", "arguments.validated", "call.finished"],
                ["tool.started", "execute-start", "validate-success", "execute-error", "settled", "tool.finished"])
    assert await outcome_orders(box, {"name": "bad"}) == expected
    assert await outcome_orders(Toolbox([box.get_tool("slow")]), {"name": "slow"}, timeout_s=0.01) == expected  # type: ignore[list-item]


async def test_a_pre_aborted_call_starts_and_finishes_cancelled() -> None:
    from armorer_ray import AbortSignal

    box = Toolbox([tool(name="ok", description="Ok.")(lambda: 1)])
    signal = AbortSignal()
    signal._abort("stop")
    canonical, armorer = await outcome_orders(box, {"name": "ok"}, signal=signal)
    assert canonical == ["call.admitted", "call.started", "call.finished"]
    assert armorer == ["tool.started", "execute-error", "settled", "tool.finished"]


async def test_typed_payloads_by_class() -> None:
    box = Toolbox([tool(name="ok", description="Ok.")(lambda: 7)])
    finished: list[CallFinished] = []
    box.on(CallFinished, lambda event: finished.append(event.detail))
    result = await box.execute({"id": "c1", "name": "ok"})
    [payload] = finished
    assert (payload.status, payload.stage, payload.value, payload.result) == ("success", "body", 7, result)
    assert payload["status"] == "success" and dict(payload)["call"].id == "c1"


async def test_refused_calls_announce_themselves() -> None:
    box = Toolbox([tool(name="ok", description="Ok.")(lambda: 1)], budget=Budget(max_calls=1))
    refused: list[CallRefused] = []
    box.on(CallRefused, lambda event: refused.append(event.detail))
    await box.execute([{"name": "ok"}, {"name": "ok"}, {"name": "nope"}], mode="sequential")
    assert [(p.result.error.code, p.tool is None) for p in refused if p.result.error] == [
        ("BUDGET_EXCEEDED", False), ("NOT_FOUND", True)]


def test_old_names_still_deliver_and_warn_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events, "_warned", set())  # the warning is once per process; start this test afresh
    box = Toolbox([tool(name="ok", description="Ok.")(lambda: 1)])
    with pytest.warns(DeprecationWarning, match="'complete' is deprecated; subscribe to 'call.finished'"):
        seen = record(box, ["call", "complete", "error", "not-found"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        box.on("complete", lambda event: None)  # once per name
        box.on("settled", lambda event: None)  # Armorer's names never warn
    box.execute_sync([{"name": "ok"}, {"name": "nope"}], mode="sequential")
    assert seen == ["call", "complete", "not-found"]


def test_every_canonical_name_has_one_style_and_a_payload() -> None:
    assert set(CATALOGUE) >= {"call.admitted", "call.started", "call.finished", "call.refused"}
    for name, payload in CATALOGUE.items():
        assert re.fullmatch(r"[a-z]+\.[a-z-]+", name), name
        assert payload.name == name
    finishing = [name for name in CATALOGUE if any(word in name for word in ("finish", "settled", "complete"))]
    assert finishing == ["call.finished"]


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

    box.on("call.finished", listener)

    async def consume() -> list[str]:
        got = []
        async for event in box.events.stream("call.admitted", "call.finished"):
            got.append(event.type)
            if len(got) == 4:
                return got
        return got

    consumer = asyncio.ensure_future(consume())
    await asyncio.sleep(0)
    await box.execute([{"name": "ok"}, {"name": "ok"}])
    assert sorted(await asyncio.wait_for(consumer, 30)) == ["call.admitted", "call.admitted", "call.finished",
                                                            "call.finished"]
    await box.events.flush()
    assert received == ["call.finished", "call.finished"]


def test_listener_errors_do_not_break_calls() -> None:
    box = Toolbox([tool(name="ok", description="Ok.")(lambda: 1)])
    box.on("call.admitted", lambda e: 1 / 0)
    errors: list[str] = []
    box.on("listener.failed", lambda e: errors.append(e.detail["event"]))
    assert box.execute_sync({"name": "ok"}).ok
    assert errors == ["call.admitted"]


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
