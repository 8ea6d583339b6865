"""OpenTelemetry spans and metrics from `instrument`, including a parent trace carried on the call."""

from __future__ import annotations

import logging

import pytest

pytest.importorskip("opentelemetry.sdk", reason="pip install 'armorer-ray[otel]' for the OpenTelemetry SDK")

from opentelemetry.propagate import inject
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from armorer_ray import Budget, Decision, Toolbox, ToolCall, tool
from armorer_ray.telemetry import instrument


def setup() -> tuple[TracerProvider, InMemorySpanExporter, MeterProvider, InMemoryMetricReader]:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    return tracer_provider, exporter, MeterProvider(metric_readers=[reader]), reader


async def test_spans_per_outcome_and_metrics(caplog: pytest.LogCaptureFixture) -> None:
    tracer_provider, exporter, meter_provider, reader = setup()
    ok = tool(name="ok", description="Ok.")(lambda: 1)
    bad = tool(name="bad", description="Bad.")(lambda: 1 / 0)
    gated = tool(name="gated", description="Gated.")(lambda: 1)
    box = Toolbox([ok, bad, gated], policy=lambda ctx: Decision.needs_approval() if ctx.tool.name == "gated" else None,
                  budget=Budget(max_calls=4))
    stop = instrument(box, tracer_provider=tracer_provider, meter_provider=meter_provider)
    with caplog.at_level(logging.WARNING):
        await box.execute([{"id": "1", "name": "ok"}, {"id": "2", "name": "bad"}, {"id": "3", "name": "gated"},
                           {"id": "5", "name": "nope"}, {"id": "4", "name": "ok"}, {"id": "6", "name": "ok"}],
                          mode="sequential")
    stop()
    assert not [r for r in caplog.records if r.name.startswith("opentelemetry")], caplog.text
    spans = {s.attributes["gen_ai.tool.call.id"]: s for s in exporter.get_finished_spans()}
    assert set(spans) == {"1", "2", "3", "4", "5", "6"}
    first = spans["1"]
    assert first.name == "execute_tool ok" and first.status.status_code == StatusCode.UNSET
    assert first.attributes["gen_ai.tool.type"] == "function" and first.attributes["gen_ai.tool.description"] == "Ok."
    assert first.attributes["gen_ai.operation.name"] == "execute_tool" and "error.type" not in first.attributes
    assert spans["2"].status.status_code == StatusCode.ERROR and spans["2"].attributes["error.type"] == "ZeroDivisionError"
    assert spans["3"].status.status_code == StatusCode.UNSET and spans["3"].attributes["armorer.status"] == "paused"
    assert spans["3"].status.description is None
    assert spans["5"].name == "execute_tool nope" and spans["5"].status.status_code == StatusCode.ERROR
    assert spans["5"].attributes["error.type"] == "NOT_FOUND"
    assert spans["6"].attributes["error.type"] == "BUDGET_EXCEEDED"
    points: dict[tuple[str, str], int] = {}
    durations = {}
    for metric in reader.get_metrics_data().resource_metrics[0].scope_metrics[0].metrics:
        if metric.name == "armorer.tool.calls":
            for point in metric.data.data_points:
                key = (point.attributes["gen_ai.tool.name"], point.attributes["armorer.outcome"])
                points[key] = points.get(key, 0) + point.value
        if metric.name == "armorer.tool.duration":
            assert metric.unit == "s"
            durations = {p.attributes["gen_ai.tool.name"]: p for p in metric.data.data_points}
    assert points == {("ok", "success"): 2, ("bad", "error"): 1, ("gated", "action_required"): 1,
                      ("nope", "error"): 1, ("ok", "error"): 1}
    assert durations["ok"].count == 3 and durations["nope"].count == 1
    # Seconds: these calls take well under a second each (a loose bound, not a timing assertion).
    assert durations["ok"].max < 60


async def test_a_call_carrying_trace_context_gets_a_child_span() -> None:
    tracer_provider, exporter, meter_provider, _ = setup()
    box = Toolbox([tool(name="ok", description="Ok.")(lambda: 1)])
    instrument(box, tracer_provider=tracer_provider, meter_provider=meter_provider)
    tracer = tracer_provider.get_tracer("caller")
    with tracer.start_as_current_span("agent step") as parent:
        carrier: dict[str, str] = {}
        inject(carrier)
    await box.execute(ToolCall(name="ok", trace_context=carrier))
    child = next(s for s in exporter.get_finished_spans() if s.name == "execute_tool ok")
    assert child.parent is not None and child.parent.span_id == parent.get_span_context().span_id
    assert child.context.trace_id == parent.get_span_context().trace_id
