"""Each deliberate difference from Armorer has a switch to Armorer's behaviour (docs/armorer-compatibility.md)."""

from __future__ import annotations

import asyncio

import pytest

from armorer_ray import AbortController, AbortSignal, Cache, CallContext, ConfigError, Tool, Toolbox, ToolResult, tool
from armorer_ray.compose import pipe, retry
from armorer_ray.testing import mock_tool


def test_extra_arguments_strip_drops_unknown_arguments_and_reject_refuses_them() -> None:
    def search(query: str) -> str:
        "Search."
        return query

    stripped = tool(extra_arguments="strip")(search)
    assert stripped.execute_sync({"query": "q", "unknown": 1}).result == "q"
    rejected = tool(extra_arguments="reject")(search)
    assert rejected.execute_sync({"query": "q", "unknown": 1}).error.category == "validation"  # type: ignore[union-attr]
    fields = tool(name="f", description="F.", parameters={"a": int}, extra_arguments="strip")(lambda a: a)
    assert fields.execute_sync({"a": 1, "b": 2}).result == 1
    with pytest.raises(ConfigError, match="extra_arguments must be one of"):
        tool(extra_arguments="loose")(search)  # type: ignore[typeddict-item]


def test_cache_can_cache_every_tool() -> None:
    counter = mock_tool("count", impl=lambda: 1)  # not read-only: not cached by default
    default = Toolbox([counter], middleware=[Cache()])
    default.execute_sync([{"name": "count"}, {"name": "count"}], mode="sequential")
    assert len(counter.calls) == 2
    everything = Toolbox([counter], middleware=[Cache(should_cache=lambda tool: True)])
    everything.execute_sync([{"name": "count"}, {"name": "count"}], mode="sequential")
    assert len(counter.calls) == 3


def test_retry_can_retry_every_failure() -> None:
    flaky = mock_tool("flaky", outcomes=[ValueError("bad"), ValueError("bad"), "ok"])
    assert retry(flaky, attempts=3).execute_sync().error.code == "ValueError"  # type: ignore[union-attr]
    flaky = mock_tool("flaky", outcomes=[ValueError("bad"), ValueError("bad"), "ok"])
    assert retry(flaky, attempts=3, should_retry=lambda state: True).execute_sync().result == "ok"


def test_a_duplicate_id_can_replace_the_registered_tool() -> None:
    one = tool(name="echo", description="One.")(lambda: 1)
    two = tool(name="echo", description="Two.")(lambda: 2)
    box = Toolbox([one])
    with pytest.raises(ConfigError, match="already registered"):
        box.register(two)
    assert box.register(two, replace=True).execute_sync({"name": "echo"}).result == 2


def test_pipe_errors_can_be_armorers_pipeline_error() -> None:
    first = mock_tool("first", impl=lambda: {"n": 1})
    second = mock_tool("second", parameters={"n": int}, impl=lambda n: 1 / 0)
    ours = pipe(first, second).execute_sync().error
    theirs = pipe(first, second, errors="armorer").execute_sync().error
    assert ours is not None and ours.code == "ZeroDivisionError"
    assert theirs is not None and (theirs.code, theirs.category) == ("PipelineError", "internal")
    assert theirs.message.startswith("PipelineError: Pipeline failed at step 1 (second)")
    with pytest.raises(ConfigError):
        pipe(first, second, errors="loud")  # type: ignore[arg-type]


def _signal_probe() -> tuple[Tool, list[AbortSignal], asyncio.Event]:
    seen: list[AbortSignal] = []
    started = asyncio.Event()

    @tool
    async def wait(ctx: CallContext) -> str:
        "Wait until stopped."
        seen.append(ctx.signal)
        started.set()
        await asyncio.sleep(60)
        return "never"

    return wait, seen, started


def test_by_default_the_body_sees_a_signal_derived_from_the_callers_and_the_deadline_aborts_it() -> None:
    wait, seen, _ = _signal_probe()
    controller = AbortController()
    result = Toolbox([wait]).execute_sync({"name": "wait"}, timeout_s=0.2, signal=controller.signal)
    assert result.error is not None and result.error.code == "TIMEOUT"
    [body_signal] = seen
    assert body_signal is not controller.signal
    assert body_signal.aborted and "timed out" in str(body_signal.reason)
    assert not controller.signal.aborted  # the deadline never aborts the caller's signal


def test_body_signal_caller_hands_the_body_the_callers_own_signal_as_armorer_does() -> None:
    wait, seen, started = _signal_probe()
    box = Toolbox([wait], body_signal="caller")
    controller = AbortController()
    timed_out = box.execute_sync({"name": "wait"}, timeout_s=0.2, signal=controller.signal)
    assert timed_out.error is not None and timed_out.error.code == "TIMEOUT"  # the body is still stopped
    assert seen == [controller.signal] and not controller.signal.aborted

    async def abort_while_running() -> ToolResult:
        other = AbortController()
        started.clear()
        running = asyncio.ensure_future(box.execute({"name": "wait"}, signal=other.signal))
        await started.wait()
        other.abort("stop now")
        result = await running
        assert seen[-1] is other.signal
        return result

    cancelled = asyncio.run(abort_while_running())
    assert cancelled.error is not None
    assert (cancelled.error.category, cancelled.error.message) == ("cancelled", "stop now")


def test_body_signal_survives_copies_and_refuses_unknown_values() -> None:
    box = Toolbox(body_signal="caller")
    assert box.extend().options.body_signal == "caller"
    with pytest.raises(ConfigError, match="body_signal"):
        Toolbox(body_signal="mine")  # type: ignore[typeddict-item]
