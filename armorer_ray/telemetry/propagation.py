"""Trace-context propagation: the caller's span travels inside `ToolCall.trace_context` to wherever it runs.

The sending side injects the current span's W3C context into the call (`inject_trace_context`); the receiving
side, a Ray actor, opens `remote_span` around the call, so every span made while it runs (the toolbox's
``execute_tool`` span, spans inside the tool body) joins the caller's trace. `call_span` is the in-process
form, for a caller that runs a call itself (a workflow node): its parent is the carried context when the call has
one, else the current span.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from opentelemetry import propagate, trace
from opentelemetry.util.types import AttributeValue

from armorer_ray.results import ToolCall, ToolResult

__all__ = ["call_span", "current_trace_context", "inject_trace_context", "record_outcome", "remote_span"]

_tracer = trace.get_tracer("armorer_ray.actors")


def current_trace_context() -> dict[str, str]:
    """The current span's context as a W3C carrier (``traceparent``, ``tracestate``...); empty without a span.

    Example:
        >>> current_trace_context()     # no span is active here
        {}
    """
    if not trace.get_current_span().get_span_context().is_valid:
        return {}  # the common case without tracing: skip the propagator entirely
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def inject_trace_context(call: ToolCall, carrier: dict[str, str] | None = None) -> ToolCall:
    """``call`` carrying the current trace context (or ``carrier``); unchanged when it has one or none is active.

    Args:
        call: The call about to leave this process.
        carrier: A context already read with `current_trace_context` (saves reading it per call of a batch).

    Returns:
        The call, or a copy with ``trace_context`` set.

    Example:
        >>> call = ToolCall(name="search")
        >>> inject_trace_context(call) is call
        True
        >>> inject_trace_context(call, {"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"}).trace_context
        {'traceparent': '00-11111111111111111111111111111111-2222222222222222-01'}
    """
    if call.trace_context:
        return call
    context = current_trace_context() if carrier is None else carrier
    if not context:
        return call
    return call.model_copy(update={"trace_context": context})


@contextmanager
def remote_span(call: ToolCall, name: str = "armorer.replica") -> Iterator[None]:
    """Run the block inside a server span whose parent is the caller's context carried by ``call``.

    Without a carried context the block runs as is (no span is made).

    Args:
        call: The call that arrived, with its ``trace_context``.
        name: Span name; the tool name is appended.

    Example:
        >>> with remote_span(ToolCall(name="search")):
        ...     pass
    """
    if not call.trace_context:
        yield
        return
    parent = propagate.extract(call.trace_context)
    attributes = {"gen_ai.tool.name": call.name, "gen_ai.tool.call.id": call.id}
    if call.tenant_id:
        attributes["armorer.tenant_id"] = call.tenant_id
    with _tracer.start_as_current_span(f"{name} {call.name}", context=parent, kind=trace.SpanKind.SERVER,
                                       attributes=attributes):
        yield


@contextmanager
def call_span(call: ToolCall, name: str, attributes: Mapping[str, AttributeValue], *,
              tracer: trace.Tracer | None = None) -> Iterator[trace.Span]:
    """Run the block inside an internal span for ``call``, current while it runs, so spans made in it are children.

    Its parent is the context ``call`` carries (the caller's, from another process), else the current span. Unlike
    `remote_span`, it opens a span either way: with no SDK configured that span records nothing and costs little.

    Args:
        call: The call the block runs.
        name: The span's name.
        attributes: Attributes beyond the call's (``gen_ai.tool.name``, ``gen_ai.tool.call.id``, tenant).
        tracer: Where the span is made (default: the ``armorer_ray.actors`` tracer of the global provider).

    Yields:
        The span, for the block to record how the call ended (`record_outcome`).

    Example:
        >>> with call_span(ToolCall(name="search"), "armorer.workflow.node search", {"armorer.attempt": 1}) as span:
        ...     span is trace.get_current_span()     # current while the block runs
        True
    """
    parent = propagate.extract(call.trace_context) if call.trace_context else None
    base: dict[str, AttributeValue] = {"gen_ai.tool.name": call.name, "gen_ai.tool.call.id": call.id}
    if call.tenant_id:
        base["armorer.tenant_id"] = call.tenant_id
    with (tracer or _tracer).start_as_current_span(name, context=parent, kind=trace.SpanKind.INTERNAL,
                                                   attributes={**base, **attributes}) as span:
        yield span


def record_outcome(span: trace.Span, result: ToolResult) -> None:
    """Put a call's outcome on its span: ``armorer.outcome``, and for an error ``error.type`` and an error status.

    Example:
        >>> from armorer_ray.errors import ToolError
        >>> record_outcome(trace.INVALID_SPAN, ToolResult.failure("1", "search", ToolError.of("timeout", "slow")))
    """
    span.set_attribute("armorer.outcome", result.outcome)
    if result.error is not None:
        span.set_attribute("error.type", result.error.code)
        span.set_status(trace.Status(trace.StatusCode.ERROR, result.error.message))
