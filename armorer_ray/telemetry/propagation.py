"""Trace-context propagation: the caller's span travels inside `ToolCall.trace_context` to wherever it runs.

The sending side injects the current span's W3C context into the call (`inject_trace_context`); the receiving
side, a Ray actor, opens `remote_span` around the call, so every span made while it runs (the toolbox's
``execute_tool`` span, spans inside the tool body) joins the caller's trace.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import propagate, trace

from armorer_ray.results import ToolCall

__all__ = ["current_trace_context", "inject_trace_context", "remote_span"]

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
