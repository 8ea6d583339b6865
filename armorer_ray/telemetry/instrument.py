"""`instrument`: OpenTelemetry spans and metrics for a toolbox's calls, driven by its events.

Every call gets a span and metrics, a call naming an unknown tool included. Spans follow the GenAI semantic
conventions: named ``execute_tool {name}``, with ``gen_ai.operation.name``, ``gen_ai.tool.name``,
``gen_ai.tool.type`` (``function``), ``gen_ai.tool.description``, ``gen_ai.tool.call.id`` and, on failure,
``error.type`` (the error code) and an ERROR status. Other outcomes leave the status UNSET, as OpenTelemetry
asks of instrumentation libraries (a paused call is not an error: ``armorer.status`` says ``paused``). A call
carrying a W3C ``traceparent`` in ``trace_context`` gets its span parented to the caller's, so spans made
inside a Ray actor join the driver's trace. Metrics: ``armorer.tool.calls`` (counter by tool, outcome and
error) and ``armorer.tool.duration`` (histogram, seconds, as the semantic conventions measure durations).

Only the OpenTelemetry API is a core dependency; install an SDK (``pip install 'armorer-ray[otel]'``) and
configure exporters to send the data somewhere.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from opentelemetry import metrics, trace
from opentelemetry.propagate import extract
from opentelemetry.trace import SpanKind, Status, StatusCode

from armorer_ray.errors import ToolError
from armorer_ray.events import Event
from armorer_ray.results import ToolResult

if TYPE_CHECKING:
    from armorer_ray.toolbox import Toolbox

__all__ = ["instrument"]

_FAILED = {"error", "denied"}  # statuses whose span is marked ERROR; the others stay UNSET


def instrument(toolbox: Toolbox, *, tracer_provider: Any = None, meter_provider: Any = None,
               record_arguments: bool = False) -> Callable[[], None]:
    """Trace and measure every call of ``toolbox``.

    Args:
        toolbox: The toolbox to observe.
        tracer_provider: OpenTelemetry tracer provider (default: the global one).
        meter_provider: OpenTelemetry meter provider (default: the global one).
        record_arguments: Put the call's arguments on the span (off by default: they may hold personal data).

    Returns:
        A function that stops the instrumentation (open spans are ended).

    Example:
        >>> from armorer_ray import Toolbox, tool
        >>> box = Toolbox([tool(name="t", description="T.")(lambda: 1)])
        >>> stop = instrument(box)   # spans go to the globally configured provider
        >>> box.execute_sync({"name": "t"}).ok
        True
        >>> stop()
    """
    tracer = trace.get_tracer("armorer_ray", tracer_provider=tracer_provider)
    meter = metrics.get_meter("armorer_ray", meter_provider=meter_provider)
    calls = meter.create_counter("armorer.tool.calls", unit="{call}", description="Tool calls by outcome")
    duration = meter.create_histogram("armorer.tool.duration", unit="s", description="Tool call duration")
    spans: dict[str, Any] = {}

    def start(call: Any, name: str, attributes: dict[str, Any]) -> Any:
        parent = extract(call.trace_context) if call.trace_context else None
        span = tracer.start_span(f"execute_tool {name}", context=parent, kind=SpanKind.INTERNAL, attributes={
            "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name, "gen_ai.tool.type": "function",
            "gen_ai.tool.call.id": call.id, "armorer.toolbox": toolbox.name, **attributes})
        if call.tenant_id:
            span.set_attribute("armorer.tenant_id", call.tenant_id)
        if record_arguments:
            span.set_attribute("gen_ai.tool.call.arguments", str(call.arguments))
        return span

    def on_call(event: Event) -> None:
        call, tool = event.detail["call"], event.detail["tool"]
        spans[call.id] = start(call, tool.name, {"gen_ai.tool.description": tool.description,
                                                 "armorer.tool.id": tool.id})

    def measure(result: Any, status: str, span: Any) -> None:
        attributes = {"gen_ai.tool.name": result.tool_name, "armorer.outcome": result.outcome}
        if result.error is not None:
            attributes["error.type"] = result.error.code
            attributes["armorer.error.category"] = result.error.category
        calls.add(1, attributes)
        duration.record(result.duration_ms / 1000, {"gen_ai.tool.name": result.tool_name})
        if span is None:
            return
        span.set_attribute("armorer.status", status)
        if result.error is not None:
            span.set_attribute("error.type", result.error.code)
        if status in _FAILED:
            span.set_status(Status(StatusCode.ERROR, result.error.message if result.error else None))
        if result.action is not None:
            span.set_attribute("armorer.action", result.action.type)
        span.end()

    def on_finished(event: Event) -> None:
        result = event.detail["result"]
        measure(result, event.detail.get("status", "error"), spans.pop(result.call_id, None))

    def on_refused(event: Event) -> None:
        result, call = event.detail["result"], event.detail["call"]
        if event.detail["tool"] is None:
            # No tool resolved, so no "call.admitted": the span and metrics are made here, with the name called.
            span = start(call, call.name, {})
            error = ToolError.of("not_found", f"Tool not found: {call.name}")
            measure(ToolResult.failure(call.id, call.name, error), "error", span)
        elif result.call_id in spans:
            # Budget refusals come after "call.admitted" and never reach "call.finished": close their spans here.
            measure(result, "error", spans.pop(result.call_id))

    stops = [toolbox.on("call.admitted", on_call), toolbox.on("call.finished", on_finished),
             toolbox.on("call.refused", on_refused)]

    def stop() -> None:
        for unsubscribe in stops:
            unsubscribe()
        for span in spans.values():
            span.end()
        spans.clear()

    return stop
