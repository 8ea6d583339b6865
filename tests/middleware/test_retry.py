"""Retry: exponential backoff with jitter, only for retryable failures of tools that may run twice."""

from __future__ import annotations

import asyncio

import pytest

from armorer_ray import CallContext, ConfigError, NotFound, TimedOut, Toolbox, ToolCall, Transient, tool
from armorer_ray.middleware import Retry
from armorer_ray.testing import mock_tool
from tests.middleware.conftest import FakeClock


async def test_recovers_after_transient_failures_waiting_longer_each_time(clock: FakeClock) -> None:
    fetch = mock_tool("fetch", outcomes=[Transient("503"), TimedOut("slow"), {"ok": True}], idempotent=True)
    retry = Retry(attempts=4, base_delay_s=0.1, multiplier=2, jitter="none", sleep=clock.sleep)
    box = Toolbox([fetch], middleware=[retry])
    seen: list[int] = []
    box.on("call.retrying", lambda event: seen.append(event.detail["attempt"]))
    result = await box.execute(ToolCall(name="fetch"))
    assert result.result == {"ok": True} and result.attempts == 3 and len(fetch.calls) == 3
    assert clock.sleeps == pytest.approx([0.1, 0.2])
    assert seen == [1, 2]


async def test_gives_up_after_the_last_attempt_and_reports_how_many_ran(clock: FakeClock) -> None:
    down = mock_tool("down", idempotent=True)
    down.mock_reject(Transient("still down"))
    result = await Toolbox([down], middleware=[Retry(attempts=3, sleep=clock.sleep)]).execute(ToolCall(name="down"))
    assert result.error is not None and result.error.message == "still down"
    assert result.attempts == 3 and len(down.calls) == 3


def test_backoff_is_capped_and_jittered() -> None:
    full = Retry(base_delay_s=1, multiplier=3, max_delay_s=5, jitter="full", rng=lambda: 0.5)
    equal = Retry(base_delay_s=1, multiplier=3, max_delay_s=5, jitter="equal", rng=lambda: 0.0)
    assert [full.delay_s(n) for n in (1, 2, 3)] == [0.5, 1.5, 2.5]
    assert [equal.delay_s(n) for n in (1, 2, 3)] == [0.5, 1.5, 2.5]
    assert Retry(base_delay_s=1, jitter="full", rng=lambda: 0.999).delay_s(1) < 1


async def test_non_idempotent_tools_are_not_retried_unless_asked(clock: FakeClock) -> None:
    send = mock_tool("send", outcomes=[Transient("503"), "sent"])
    box = Toolbox([send], middleware=[Retry(sleep=clock.sleep)])
    assert (await box.execute(ToolCall(name="send"))).error is not None
    assert len(send.calls) == 1
    send = mock_tool("send", outcomes=[Transient("503"), "sent"])
    box = Toolbox([send], middleware=[Retry(retry_non_idempotent=True, sleep=clock.sleep)])
    assert (await box.execute(ToolCall(name="send"))).result == "sent"


async def test_read_only_tools_count_as_idempotent(clock: FakeClock) -> None:
    read = mock_tool("read", outcomes=[Transient("503"), "data"], read_only=True)
    result = await Toolbox([read], middleware=[Retry(sleep=clock.sleep)]).execute(ToolCall(name="read"))
    assert result.result == "data"


@pytest.mark.parametrize("failure", [NotFound("no such user"), ValueError("bug"), Transient("no", retryable=False)])
async def test_errors_that_are_not_retryable_return_at_once(clock: FakeClock, failure: Exception) -> None:
    lookup = mock_tool("lookup", outcomes=[failure, "never"], idempotent=True)
    result = await Toolbox([lookup], middleware=[Retry(sleep=clock.sleep)]).execute(ToolCall(name="lookup"))
    assert result.error is not None and len(lookup.calls) == 1 and clock.sleeps == []


async def test_categories_to_retry_are_configurable(clock: FakeClock) -> None:
    lookup = mock_tool("lookup", outcomes=[TimedOut("slow"), "never"], idempotent=True)
    box = Toolbox([lookup], middleware=[Retry(on={"transient"}, sleep=clock.sleep)])
    assert (await box.execute(ToolCall(name="lookup"))).error is not None and len(lookup.calls) == 1


async def test_retry_after_is_waited_for_or_returned_when_too_long(clock: FakeClock) -> None:
    limited = mock_tool("limited", outcomes=[Transient("slow down", details={"retry_after_s": 2.5}), "ok"],
                        idempotent=True)
    box = Toolbox([limited], middleware=[Retry(base_delay_s=0.1, max_delay_s=5, sleep=clock.sleep)])
    assert (await box.execute(ToolCall(name="limited"))).result == "ok"
    assert clock.sleeps == [2.5]
    closed = mock_tool("closed", outcomes=[Transient("open", details={"retry_after_s": 60}), "ok"], idempotent=True)
    box = Toolbox([closed], middleware=[Retry(max_delay_s=5, sleep=clock.sleep)])
    result = await box.execute(ToolCall(name="closed"))
    assert result.error is not None and len(closed.calls) == 1


async def test_max_elapsed_bounds_the_whole_retry_loop() -> None:
    clock = FakeClock(advance_on_sleep=True)
    down = mock_tool("down", idempotent=True)
    down.mock_reject(Transient("down"))
    retry = Retry(attempts=100, base_delay_s=1, multiplier=1, jitter="none", max_elapsed_s=3.5,
                  sleep=clock.sleep, clock=clock)
    result = await Toolbox([down], middleware=[retry]).execute(ToolCall(name="down"))
    assert result.error is not None and len(down.calls) == 4 and clock.sleeps == [1, 1, 1]


async def test_the_body_sees_which_attempt_it_is(clock: FakeClock) -> None:
    seen: list[int] = []

    @tool(idempotent=True)
    def counted(ctx: CallContext) -> str:
        "Fail twice."
        seen.append(ctx.attempt)
        if ctx.attempt < 3:
            raise Transient("not yet")
        return "third"

    result = await Toolbox([counted], middleware=[Retry(sleep=clock.sleep)]).execute(ToolCall(name="counted"))
    assert result.result == "third" and seen == [1, 2, 3]


@pytest.mark.parametrize(
    ("options", "message"),
    [({"attempts": 0}, "attempts"), ({"base_delay_s": -1}, "base_delay_s"), ({"multiplier": 0.5}, "multiplier"),
     ({"jitter": "some"}, "jitter"), ({"max_elapsed_s": 0}, "max_elapsed_s")],
)
def test_bad_options_are_refused(options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Retry(**options)  # type: ignore[arg-type]


async def test_a_tool_deadline_is_retried_with_a_fresh_run() -> None:
    delays = [10.0, 0.0]

    async def body() -> str:
        await asyncio.sleep(delays.pop(0))
        return "second run"

    slow_once = mock_tool("slow_once", impl=body, idempotent=True, timeout_s=0.5)  # the 2nd run must fit
    result = await Toolbox([slow_once], middleware=[Retry(base_delay_s=0)]).execute(ToolCall(name="slow_once"))
    assert result.result == "second run" and result.attempts == 2
