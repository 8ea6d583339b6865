"""Spans recorded from any process into one file: the test driver's, and Ray workers' (via a toolbox factory).

An in-memory exporter cannot be read back from a Ray worker, and spans end after the node task has returned its
result, so each process appends its finished spans to a JSON-lines file the test then reads.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from armorer_ray import Toolbox
from tests.workflow import tools as t


class FileSpanExporter(SpanExporter):
    """Appends each finished span to ``path`` as one JSON line (nothing while ``path`` is None)."""

    def __init__(self) -> None:
        self.path: Path | None = None

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self.path is None:
            return SpanExportResult.SUCCESS
        lines = "".join(json.dumps({
            "name": s.name, "trace": format(s.context.trace_id, "032x"), "span": format(s.context.span_id, "016x"),
            "parent": format(s.parent.span_id, "016x") if s.parent else None, "status": s.status.status_code.name,
            "attributes": dict(s.attributes or {}),
        }) + "\n" for s in spans if s.context is not None)
        try:
            with open(self.path, "a") as handle:  # one small append per span: whole lines even from many processes
                handle.write(lines)
        except OSError:  # a later test's spans in a reused worker, after this test's directory went away
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS


_exporter: FileSpanExporter | None = None  # one per process: the SDK provider can be set globally only once


def record_spans(path: Path | None) -> None:
    """Send this process's spans (through the global provider, made an SDK one if unset) to ``path``; None stops."""
    global _exporter
    if _exporter is None:
        if not isinstance(trace.get_tracer_provider(), TracerProvider):
            trace.set_tracer_provider(TracerProvider())
        provider = trace.get_tracer_provider()
        if not isinstance(provider, TracerProvider):
            raise RuntimeError(f"the global tracer provider is a {type(provider).__name__}, not the SDK's")
        _exporter = FileSpanExporter()
        provider.add_span_processor(SimpleSpanProcessor(_exporter))
    _exporter.path = path


def read_spans(path: Path) -> list[dict[str, Any]]:
    """The spans recorded in ``path``."""
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def traced_toolbox(path: str, log_dir: str) -> Toolbox:
    """A toolbox factory for Ray workers: records the worker's spans to ``path``, then builds the toolbox."""
    record_spans(Path(path))
    return Toolbox([t.stumble, t.traced], context={"log_dir": log_dir})
