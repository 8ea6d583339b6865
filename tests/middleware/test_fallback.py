"""Fallback: a chosen failure is answered by another tool, run through the same toolbox's pipeline."""

from __future__ import annotations

import pytest

from armorer_ray import ConfigError, Decision, Denied, Toolbox, ToolCall, Transient
from armorer_ray.middleware import Fallback, RateLimit
from armorer_ray.testing import RecordingToolbox, mock_tool


def prices(live_outcome: object) -> tuple[object, object]:
    live = mock_tool("live", outcomes=[live_outcome])
    cached = mock_tool("cached", impl=lambda symbol: {"symbol": symbol, "stale": True})
    return live, cached


async def test_a_transient_failure_is_answered_by_the_fallback_under_the_original_id() -> None:
    live, cached = prices(Transient("exchange down"))
    box = RecordingToolbox([live, cached], middleware=[Fallback({"live": "cached"})])  # type: ignore[list-item]
    events: list[dict[str, object]] = []
    box.on("fallback.used", lambda event: events.append(dict(event.detail)))
    result = await box.execute(ToolCall(id="c1", name="live", arguments={"symbol": "ACME"}))
    assert (result.call_id, result.tool_name, result.result) == ("c1", "cached", {"symbol": "ACME", "stale": True})
    assert events[0]["fallback"] == "cached"
    assert [r.call.name for r in box.history] == ["cached", "live"], "the fallback ran as a call of its own"


async def test_the_fallback_call_carries_the_original_caller() -> None:
    live, cached = prices(Transient("exchange down"))
    box = RecordingToolbox([live, cached], middleware=[Fallback({"live": "cached"})])  # type: ignore[list-item]
    traceparent = "00-" + "1" * 32 + "-" + "2" * 16 + "-01"
    await box.execute(ToolCall(name="live", arguments={"symbol": "ACME"}, tenant_id="acme", session_id="s1",
                               user_id="ada", priority=2, trace_context={"traceparent": traceparent}))
    fallback = box.history[0].call
    assert fallback.name == "cached"
    assert (fallback.tenant_id, fallback.session_id, fallback.user_id, fallback.priority, fallback.trace_context) == (
        "acme", "s1", "ada", 2, {"traceparent": traceparent})


async def test_other_categories_pass_through() -> None:
    live, cached = prices(Denied("not your account"))
    box = Toolbox([live, cached], middleware=[Fallback("cached")])  # type: ignore[list-item]
    result = await box.execute(ToolCall(name="live", arguments={"symbol": "ACME"}))
    assert result.error is not None and result.error.category == "permission" and not cached.calls  # type: ignore[attr-defined]


async def test_when_the_fallback_fails_too_the_original_failure_is_returned() -> None:
    live = mock_tool("live", outcomes=[Transient("exchange down")])
    cached = mock_tool("cached", outcomes=[Transient("cache down")])
    box = Toolbox([live, cached], middleware=[Fallback("cached")])
    failed: list[object] = []
    box.on("fallback.failed", lambda event: failed.append(event.detail["fallback_error"]))
    result = await box.execute(ToolCall(name="live"))
    assert result.error is not None and result.error.message == "exchange down" and len(failed) == 1


async def test_the_fallback_goes_through_policy_and_middleware() -> None:
    live, cached = prices(Transient("exchange down"))
    deny_cached = lambda ctx: Decision.deny("no stale prices today") if ctx.tool.name == "cached" else None  # noqa: E731
    box = Toolbox([live, cached], policy=deny_cached, middleware=[Fallback("cached")])  # type: ignore[list-item]
    result = await box.execute(ToolCall(name="live", arguments={"symbol": "ACME"}))
    assert result.error is not None and result.error.message == "exchange down" and not cached.calls  # type: ignore[attr-defined]
    live, cached = prices(Transient("exchange down"))
    limited = cached.replace(middleware=[RateLimit(1, per_s=3600)])  # type: ignore[attr-defined]
    box = Toolbox([live, limited], middleware=[Fallback("cached")])  # type: ignore[list-item]
    await box.execute(ToolCall(name="cached", arguments={"symbol": "X"}))
    result = await box.execute(ToolCall(name="live", arguments={"symbol": "ACME"}))
    assert result.error is not None and result.error.message == "exchange down"


async def test_routes_that_loop_back_stop() -> None:
    a = mock_tool("a")
    b = mock_tool("b")
    a.mock_reject(Transient("a down"))
    b.mock_reject(Transient("b down"))
    box = Toolbox([a, b], middleware=[Fallback({"a": "b", "b": "a"})])
    result = await box.execute(ToolCall(name="a"))
    assert result.error is not None and result.error.message == "a down"
    assert (len(a.calls), len(b.calls)) == (1, 1)


async def test_arguments_can_be_mapped_for_the_fallback() -> None:
    live = mock_tool("live", outcomes=[Transient("down")])
    archive = mock_tool("archive", impl=lambda ticker: ticker)
    fallback = Fallback("archive", arguments=lambda call: {"ticker": call.arguments["symbol"]})
    box = Toolbox([live, archive], middleware=[fallback])
    assert (await box.execute(ToolCall(name="live", arguments={"symbol": "ACME"}))).result == "ACME"


def test_bad_routes_are_refused() -> None:
    with pytest.raises(ConfigError):
        Fallback("")
    with pytest.raises(ConfigError):
        Fallback("x", on=[])
