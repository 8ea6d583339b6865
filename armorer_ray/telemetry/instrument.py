"""`instrument`: OpenTelemetry spans and metrics for a toolbox's calls, driven by its events.

Spans follow the GenAI semantic conventions (``execute_tool {name}``, ``gen_ai.tool.name``,
``gen_ai.tool.call.id``); a call carrying a W3C ``traceparent`` in ``trace_context`` gets its span parented to
the caller's, so spans made inside a Ray actor join the driver's trace. Metrics: ``armorer.tool.calls``
(counter by tool, outcome and error category) and ``armorer.tool.duration`` (histogram, ms).

Only the OpenTelemetry API is a core dependency; install an SDK (``pip install 'armorer-ray[otel]'``) and
configure exporters to send the data somewhere.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from opentelemetry import metrics, trace
from opentelemetry.propagate import extract
from opentelemetry.trace import SpanKind, Status, StatusCode

from armorer_ray.events import Event

if TYPE_CHECKING:
    from armorer_ray.toolbox import Toolbox

__all__ = ["instrument"]

_STATUS = {"success": StatusCode.OK, "paused": StatusCode.OK, "error": StatusCode.ERROR,
           "denied": StatusCode.ERROR, "cancelled": StatusCode.UNSET}


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
    duration = meter.create_histogram("armorer.tool.duration", unit="ms", description="Tool call duration")
    spans: dict[str, Any] = {}

    def on_call(event: Event) -> None:
        call, tool = event.detail["call"], event.detail["tool"]
        parent = extract(call.trace_context) if call.trace_context else None
        span = tracer.start_span(f"execute_tool {tool.name}", context=parent, kind=SpanKind.INTERNAL, attributes={
            "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": tool.name, "gen_ai.tool.call.id": call.id,
            "armorer.tool.id": tool.id, "armorer.toolbox": toolbox.name,
        })
        if call.tenant_id:
            span.set_attribute("armorer.tenant_id", call.tenant_id)
        if record_arguments:
            span.set_attribute("gen_ai.tool.call.arguments", str(call.arguments))
        spans[call.id] = span

    def on_finished(event: Event) -> None:
        result = event.detail["result"]
        status = event.detail.get("status", "error")
        tool = event.detail.get("tool")
        attributes = {"gen_ai.tool.name": result.tool_name, "armorer.outcome": result.outcome}
        if result.error is not None:
            attributes["error.type"] = result.error.code
            attributes["armorer.error.category"] = result.error.category
        calls.add(1, attributes)
        duration.record(result.duration_ms, {"gen_ai.tool.name": result.tool_name})
        span = spans.pop(result.call_id, None)
        if span is None:
            return
        span.set_attribute("armorer.status", status)
        span.set_attribute("armorer.duration_ms", result.duration_ms)
        if result.error is not None:
            span.set_attribute("error.type", result.error.code)
        message = result.error.message if result.error else ("Paused (action required)" if status == "paused" else None)
        span.set_status(Status(_STATUS.get(status, StatusCode.ERROR), message if status != "success" else None))
        if tool is not None and result.action is not None:
            span.set_attribute("armorer.action", result.action.type)
        span.end()

    def on_error(event: Event) -> None:
        # Budget refusals emit "error" without "tool.finished": close their spans here.
        result = event.detail["result"]
        if result.call_id in spans and result.error is not None and result.error.code == "BUDGET_EXCEEDED":
            on_finished(Event("tool.finished", {**event.detail, "status": "error"}))

    stops = [toolbox.on("call", on_call), toolbox.on("tool.finished", on_finished), toolbox.on("error", on_error)]

    def stop() -> None:
        for unsubscribe in stops:
            unsubscribe()
        for span in spans.values():
            span.end()
        spans.clear()

    return stop
