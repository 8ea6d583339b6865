"""The profiler from the outside: which stages each kind of call reaches, memory peaks, the report."""

from __future__ import annotations

import tracemalloc

import pytest

from armorer_ray import CallContext, Decision, Toolbox, ToolCall, ToolResult, Transient, tool
from armorer_ray.middleware.base import Next
from armorer_ray.middleware.retry import Retry
from armorer_ray.telemetry import STAGES, Profiler, ProfileReport, StageProfile, profile
from armorer_ray.testing import mock_tool


def build_box() -> Toolbox:
    square = tool(name="square", description="Square.")(lambda n: n * n)
    gated = tool(name="gated", description="Gated.")(lambda: 1)
    banned = tool(name="banned", description="Banned.")(lambda: 1)

    def policy(ctx: object) -> Decision | None:
        name = ctx.tool.name  # type: ignore[attr-defined]
        return Decision.needs_approval() if name == "gated" else Decision.deny("no") if name == "banned" else None

    return Toolbox([square, gated, banned], policy=policy)


async def test_each_kind_of_call_reaches_its_stages() -> None:
    box = build_box()
    with profile(box) as profiler:
        await box.execute([{"name": "square", "arguments": {"n": 2}}, {"name": "square", "arguments": {"n": "x"}},
                           {"name": "gated"}, {"name": "banned"}], mode="sequential")
    report = profiler.report()
    assert report.tools["default:square"].calls == 2
    assert list(report.tools["default:square"].stages_ms) == list(STAGES)
    assert list(report.tools["default:gated"].stages_ms) == ["validation", "policy"]
    assert list(report.tools["default:banned"].stages_ms) == ["validation", "policy"]
    assert all(ms >= 0 for profile_ in report.tools.values() for ms in profile_.stages_ms.values())
    assert report.tools["default:square"].peak_memory_bytes is None


async def test_a_result_made_by_middleware_spends_nothing_in_the_body() -> None:
    async def cached(call: ToolCall, ctx: CallContext, next: Next) -> ToolResult:
        return ToolResult(call_id=call.id, tool_name=ctx.tool.name, tool_id=ctx.tool.id, outcome="success", result=4)

    square = tool(name="square", description="Square.", middleware=[cached])(lambda n: n * n)
    box = Toolbox([square])
    with profile(box) as profiler:
        assert (await box.execute({"name": "square", "arguments": {"n": 2}})).result == 4
    stages = profiler.report().tools["default:square"].stages_ms
    assert stages["body"] == 0.0 and stages["shaping"] == 0.0


async def test_retried_bodies_and_timings_come_after_tool_finished() -> None:
    flaky = mock_tool("flaky", outcomes=[Transient("503"), {"ok": True}], read_only=True)
    box = Toolbox([flaky], middleware=[Retry(attempts=2, base_delay_s=0)])
    seen: list[str] = []
    box.on(["tool.finished", "call.timings"], lambda event: seen.append(event.type))
    with profile(box) as profiler:
        result = await box.execute({"name": "flaky"})
    assert result.ok and result.attempts == 2 and len(flaky.calls) == 2
    assert seen == ["tool.finished", "call.timings"]
    assert list(profiler.report().tools["default:flaky"].stages_ms) == list(STAGES)


async def test_memory_profiling_records_the_body_peak_and_stops_tracing() -> None:
    was_tracing = tracemalloc.is_tracing()
    hungry = tool(name="hungry", description="Allocates.")(lambda size: len(bytearray(size)))
    box = Toolbox([hungry])
    with profile(box, memory=True) as profiler:
        assert (await box.execute({"name": "hungry", "arguments": {"size": 4_000_000}})).result == 4_000_000
        await box.execute({"name": "hungry", "arguments": {"size": 10}})
    assert (profiler.report().tools["default:hungry"].peak_memory_bytes or 0) >= 4_000_000
    assert tracemalloc.is_tracing() == was_tracing


def test_detach_removes_the_listener_and_is_idempotent() -> None:
    box = build_box()
    profiler = Profiler()
    detach = profiler.attach(box)
    assert box.events.wants("timings")
    detach()
    detach()
    assert not box.events.wants("timings")
    box.execute_sync({"name": "square", "arguments": {"n": 2}})
    assert profiler.report().tools == {}


def test_report_names_the_bottleneck_and_reset_forgets() -> None:
    report = ProfileReport(tools={
        "default:fetch": StageProfile(calls=4, stages_ms={"validation": 1.0, "body": 60.0, "shaping": 3.0}),
        "default:rank": StageProfile(calls=4, stages_ms={"validation": 1.0, "middleware": 35.0}),
    })
    found = report.bottleneck
    assert found is not None and (found.tool, found.stage, found.share) == ("default:fetch", "body", 0.6)
    text = report.text()
    assert "bottleneck: body of default:fetch, 60.0% of profiled time" in text and "default:rank" in text
    assert ProfileReport.model_validate_json(report.model_dump_json()) == report
    assert ProfileReport().bottleneck is None and "no calls profiled" in ProfileReport().text()
    assert report.tools["default:fetch"].mean_ms("body") == 15.0


def test_profiler_report_of_real_calls_renders() -> None:
    box = build_box()
    with profile(box) as profiler:
        box.execute_sync({"name": "square", "arguments": {"n": 2}})
    report = profiler.report()
    assert report.bottleneck is not None and report.bottleneck.tool == "default:square"
    assert report.bottleneck.stage in STAGES and "default:square" in report.text()
    profiler.reset()
    assert profiler.report().tools == {}


@pytest.mark.parametrize("memory", [False, True])
def test_two_attachments_share_one_tracemalloc_session(memory: bool) -> None:
    was_tracing = tracemalloc.is_tracing()
    profiler = Profiler(memory=memory)
    first, second = profiler.attach(build_box()), profiler.attach(build_box())
    first()
    assert tracemalloc.is_tracing() == (memory or was_tracing)
    second()
    assert tracemalloc.is_tracing() == was_tracing
