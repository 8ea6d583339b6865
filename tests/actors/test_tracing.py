"""The caller's trace context travels with the call: spans made in the replica are children of the caller's span."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from armorer_ray import CallContext, Toolbox, ToolCall, tool
from armorer_ray.actors import Deployment
from armorer_ray.telemetry.propagation import inject_trace_context, remote_span
from tests.actors.conftest import by_value

by_value(__name__)


def install_exporter(toolbox: Toolbox) -> None:
    """on_start hook: record this replica's spans in memory (the replica is its own process)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    toolbox.resources["otel"]["exporter"] = exporter


@tool
async def traced() -> str:
    """Make a span inside the tool body."""
    with trace.get_tracer("tests").start_as_current_span("inside-tool"):
        return "ok"


@tool
def traced_in_thread() -> str:
    """Make a span inside a sync body (it runs in a worker thread)."""
    with trace.get_tracer("tests").start_as_current_span("inside-thread"):
        return "ok"


@tool
def spans(ctx: CallContext) -> list[dict[str, Any]]:
    """The spans this replica has finished."""
    return [{"name": s.name, "trace": s.context.trace_id, "span": s.context.span_id,
             "parent": s.parent.span_id if s.parent else None}
            for s in ctx.resources["otel"]["exporter"].get_finished_spans()]


def caller_tracer() -> tuple[trace.Tracer, InMemorySpanExporter]:
    # A provider of our own, not the global one: other tests in the session may install theirs.
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider.get_tracer("agent"), exporter


def test_remote_span_joins_the_carried_context_without_ray() -> None:
    tracer, _ = caller_tracer()
    with tracer.start_as_current_span("agent") as parent:
        call = inject_trace_context(ToolCall(name="search"))
    assert call.trace_context["traceparent"].split("-")[1] == format(parent.get_span_context().trace_id, "032x")
    with remote_span(call):  # no SDK provider globally: the current span is the carried (remote) parent
        current = trace.get_current_span().get_span_context()
    assert current.trace_id == parent.get_span_context().trace_id
    assert inject_trace_context(ToolCall(name="search")).trace_context == {}  # no span, nothing injected


@pytest.fixture(scope="module")
def dep(module_launch: Callable[..., Deployment]) -> Deployment:
    return module_launch(Toolbox([traced, traced_in_thread, spans], resources={"otel": {}},
                                 on_start=[install_exporter]))


@pytest.mark.ray
async def test_spans_in_the_replica_are_children_of_the_callers_span(dep: Deployment) -> None:
    tracer, _ = caller_tracer()
    with tracer.start_as_current_span("agent") as agent:
        assert (await dep.execute(ToolCall(name="traced"))).ok
        batch = await dep.execute([ToolCall(name="traced")])
        assert batch[0].ok
    recorded = (await dep.execute(ToolCall(name="spans"))).result
    root = agent.get_span_context()
    agent_trace = root.trace_id
    servers = [s for s in recorded if s["name"] == "armorer.replica traced" and s["trace"] == agent_trace]
    inner = [s for s in recorded if s["name"] == "inside-tool" and s["trace"] == agent_trace]
    assert len(servers) == 2 and len(inner) == 2
    assert all(s["trace"] == root.trace_id and s["parent"] == root.span_id for s in servers)
    assert {s["parent"] for s in inner} == {s["span"] for s in servers}
    assert all(s["trace"] == root.trace_id for s in inner)


@pytest.mark.ray
async def test_spans_in_sync_bodies_are_children_too(dep: Deployment) -> None:
    tracer, _ = caller_tracer()
    with tracer.start_as_current_span("agent"):
        assert (await dep.execute(ToolCall(name="traced_in_thread"))).ok
    recorded = (await dep.execute(ToolCall(name="spans"))).result
    server = next(s for s in recorded if s["name"] == "armorer.replica traced_in_thread")
    inner = next(s for s in recorded if s["name"] == "inside-thread")
    assert inner["parent"] == server["span"]
