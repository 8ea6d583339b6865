"""Analytics from the outside: calls in through a toolbox, snapshots out."""

from __future__ import annotations

import asyncio
import json
import pickle
import threading

import pytest

from armorer_ray import Budget, Decision, Toolbox, ToolCall, ToolResult, Transient, tool
from armorer_ray.errors import ConfigError
from armorer_ray.telemetry import OTHER_TENANTS, Analytics, AnalyticsSnapshot
from armorer_ray.testing import mock_tool


def echo_box(**options: object) -> Toolbox:
    echo = tool(name="echo", description="Echo.", metadata={"cost": 0.25})(lambda text: text)
    gated = tool(name="gated", description="Gated.")(lambda: "never")
    return Toolbox([echo, gated, mock_tool("flaky", outcomes=[Transient("503"), {"ok": True}])],
                   policy=lambda ctx: Decision.needs_approval() if ctx.tool.name == "gated" else None,
                   **options)  # type: ignore[arg-type]


async def test_counts_outcomes_errors_bytes_and_metadata_cost_per_tool() -> None:
    box = echo_box()
    analytics = Analytics()
    analytics.attach(box)
    await box.execute([{"name": "echo", "arguments": {"text": "héllo"}}, {"name": "echo", "arguments": {}},
                       {"name": "flaky"}, {"name": "flaky"}, {"name": "gated"}], mode="sequential")
    tools = analytics.snapshot().by_tool()
    echo, flaky, gated = tools["default:echo"], tools["default:flaky"], tools["default:gated"]
    assert (echo.calls, echo.errors, echo.outcomes) == (2, 1, {"error": 1, "success": 1})
    assert echo.error_categories == {"validation": 1} and echo.error_codes == {"VALIDATION_ERROR": 1}
    assert echo.cost == 0.5  # metadata cost is per call, failed calls included
    assert echo.content_bytes > len("héllo")  # 6 bytes of text plus the validation error's message
    assert flaky.error_codes == {"TRANSIENT_ERROR": 1} and flaky.error_rate == 0.5 and flaky.cost == 0.0
    assert gated.outcomes == {"paused": 1} and gated.errors == 0
    assert echo.latency.count == 2 and echo.p50_ms is not None and echo.p99_ms is not None


async def test_per_tenant_cells_and_tenant_cap() -> None:
    box = echo_box()
    analytics = Analytics(max_tenants=2)
    analytics.attach(box)
    for tenant in ("acme", "acme", "globex", "initech", "umbrella", None):
        await box.execute(ToolCall(name="echo", arguments={"text": "x"}, tenant_id=tenant))
    snapshot = analytics.snapshot()
    tenants = {name: stats.calls for name, stats in snapshot.by_tenant().items()}
    assert tenants == {"acme": 2, "globex": 1, OTHER_TENANTS: 2}
    assert [(cell.tool, cell.tenant) for cell in snapshot.cells] == [
        ("default:echo", None), ("default:echo", OTHER_TENANTS), ("default:echo", "acme"), ("default:echo", "globex")]
    assert snapshot.total().calls == 6


async def test_cost_function_and_its_failures_do_not_lose_calls() -> None:
    def price(call: ToolCall, result: ToolResult) -> float:
        if call.arguments.get("text") == "boom":
            raise RuntimeError("price list unavailable")
        if call.arguments.get("text") == "nan":
            return float("nan")
        return len(str(result.content)) * 0.1

    box = echo_box()
    analytics = Analytics(cost=price)
    analytics.attach(box)
    for text in ("abcd", "boom", "nan", "ab"):
        result = await box.execute({"name": "echo", "arguments": {"text": text}})
        assert result.ok
    stats = analytics.snapshot().by_tool()["default:echo"]
    assert stats.calls == 4 and stats.cost_errors == 2 and stats.cost == pytest.approx(0.6)


async def test_budget_refusals_count_once_and_detach_stops_recording() -> None:
    box = echo_box(budget=Budget(max_calls=1))
    analytics = Analytics()
    detach = analytics.attach(box)
    await box.execute([{"name": "echo", "arguments": {"text": "a"}}, {"name": "echo", "arguments": {"text": "b"}}],
                      mode="sequential")
    detach()
    await box.execute({"name": "echo", "arguments": {"text": "c"}})
    stats = analytics.snapshot().by_tool()["default:echo"]
    assert stats.calls == 2 and stats.error_codes == {"BUDGET_EXCEEDED": 1}


async def test_reset_returns_the_closing_window_and_starts_empty() -> None:
    now = iter([100.0, 160.0, 170.0])
    box = echo_box()
    analytics = Analytics(clock=lambda: next(now))
    analytics.attach(box)
    await box.execute({"name": "echo", "arguments": {"text": "a"}})
    ended = analytics.reset()
    assert (ended.since, ended.until, ended.total().calls) == (100.0, 160.0, 1)
    after = analytics.snapshot()
    assert (after.since, after.until, after.cells) == (160.0, 170.0, [])


async def test_snapshot_round_trips_json_and_pickle_and_renders_a_report() -> None:
    box = echo_box()
    analytics = Analytics()
    analytics.attach(box)
    await box.execute([{"name": "echo", "arguments": {"text": "a"}, "tenant_id": "acme"}, {"name": "flaky"}])
    snapshot = analytics.snapshot()
    assert AnalyticsSnapshot.model_validate_json(snapshot.model_dump_json()) == snapshot
    assert pickle.loads(pickle.dumps(snapshot)) == snapshot
    assert json.loads(snapshot.model_dump_json())["cells"][0]["tool"] == "default:echo"
    report = snapshot.report()
    assert "default:echo" in report and "default:flaky" in report and "TRANSIENT_ERROR x1" in report
    assert "acme" in snapshot.report("tenant") and "default:echo [acme]" in snapshot.report("cell")


def test_threads_and_event_loops_share_one_analytics() -> None:
    box = echo_box()
    analytics = Analytics()
    analytics.attach(box)

    def worker() -> None:
        for _ in range(50):
            box.execute_sync({"name": "echo", "arguments": {"text": "x"}})

    async def concurrent() -> None:
        await asyncio.gather(*(box.execute({"name": "echo", "arguments": {"text": "x"}}) for _ in range(50)))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    threads.append(threading.Thread(target=lambda: asyncio.run(concurrent())))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stats = analytics.snapshot().by_tool()["default:echo"]
    assert stats.calls == 250 and stats.latency.count == 250 and stats.cost == pytest.approx(62.5)


def test_record_takes_results_from_elsewhere() -> None:
    analytics = Analytics()
    failed = ToolResult.from_exception(ToolCall(name="remote"), Transient("503"))
    analytics.record(ToolCall(name="remote", tenant_id="acme"), failed)
    stats = analytics.snapshot().by_tool()["remote"]
    assert stats.outcomes == {"error": 1} and stats.error_categories == {"transient": 1}


@pytest.mark.parametrize("options", [{"relative_accuracy": 0.5}, {"relative_accuracy": 0.0}, {"max_tenants": 0}])
def test_bad_options_are_refused(options: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        Analytics(**options)  # type: ignore[arg-type]
