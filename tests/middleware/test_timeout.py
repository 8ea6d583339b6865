"""Timeout: a hard deadline that really stops the body."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from armorer_ray import ConfigError, Toolbox, ToolCall, tool
from armorer_ray.middleware import Retry, Timeout
from armorer_ray.testing import mock_tool


async def test_a_slow_async_body_is_cancelled_and_reported_as_timeout() -> None:
    events: list[str] = []

    @tool
    async def slow() -> str:
        "Sleep, then answer."
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            events.append("cancelled")
            raise
        events.append("finished")
        return "late"

    result = await Toolbox([slow], middleware=[Timeout(0.02)]).execute(ToolCall(name="slow"))
    assert result.error is not None
    assert (result.error.category, result.error.code, result.error.retryable) == ("timeout", "TIMEOUT", True)
    assert result.error.details == {"timeout_s": 0.02}
    assert events == ["cancelled"]


async def test_a_sync_body_in_a_thread_is_interrupted() -> None:
    progress = {"steps": 0}
    stopped = threading.Event()

    @tool
    def spin() -> None:
        "Busy loop until stopped."
        try:
            while True:
                progress["steps"] += 1
        finally:
            stopped.set()

    result = await Toolbox([spin], middleware=[Timeout(0.05)]).execute(ToolCall(name="spin"))
    assert result.error is not None and result.error.code == "TIMEOUT"
    assert await asyncio.to_thread(stopped.wait, 5), "the worker thread kept running after the deadline"


async def test_fast_calls_pass_untouched() -> None:
    result = await Toolbox([mock_tool("quick", outcomes=[7])], middleware=[Timeout(5)]).execute(ToolCall(name="quick"))
    assert result.ok and result.result == 7


async def test_inside_retry_the_deadline_bounds_each_attempt() -> None:
    attempt_delays = [10.0, 0.0]

    async def body() -> str:
        await asyncio.sleep(attempt_delays.pop(0))
        return "second try"

    flaky = mock_tool("flaky", impl=body, idempotent=True)
    box = Toolbox([flaky], middleware=[Retry(attempts=2, base_delay_s=0), Timeout(0.5)])  # room on a loaded machine
    result = await box.execute(ToolCall(name="flaky"))
    assert result.result == "second try" and result.attempts == 2


async def test_outside_retry_the_deadline_bounds_all_attempts() -> None:
    slow = mock_tool("slow", delay_s=0.015, outcomes=[], idempotent=True)
    slow.mock_reject(TimeoutError("upstream timeout"))
    box = Toolbox([slow], middleware=[Timeout(0.05), Retry(attempts=100, base_delay_s=0)])
    started = time.perf_counter()
    result = await box.execute(ToolCall(name="slow"))
    assert result.error is not None and result.error.code == "TIMEOUT"
    assert len(slow.calls) < 100 and time.perf_counter() - started < 5


@pytest.mark.parametrize("seconds", [0, -1, float("inf"), float("nan")])
def test_bad_deadlines_are_refused(seconds: float) -> None:
    with pytest.raises(ConfigError, match="positive number of seconds"):
        Timeout(seconds)


async def test_one_calls_deadline_leaves_the_batch_signal_and_the_other_calls_alone() -> None:
    from armorer_ray import AbortController

    slow = mock_tool("slow", delay_s=5, timeout_s=0.02)
    steady = mock_tool("steady", delay_s=0.1, outcomes=["done"])
    controller = AbortController()
    results = await Toolbox([slow, steady]).execute([ToolCall(name="slow"), ToolCall(name="steady")],
                                                    signal=controller.signal)
    assert results[0].error is not None and results[0].error.code == "TIMEOUT"
    assert results[1].result == "done" and not controller.signal.aborted
