"""Each node call runs in an ``armorer.workflow.node`` span that joins the caller's trace, on both executors."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider

from armorer_ray.workflow import LocalWorkflowExecutor, Node, WorkflowExecutor, create_workflow
from tests.workflow import spans
from tests.workflow import tools as t


@pytest.fixture
def span_file(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "spans.jsonl"
    spans.record_spans(path)  # this process's spans: the local executor's
    yield path
    spans.record_spans(None)


async def test_node_calls_get_spans_under_the_callers_span(executor: WorkflowExecutor, span_file: Path,
                                                           tmp_path: Path) -> None:
    wf = create_workflow(
        nodes={"first": Node(t.stumble, arguments={"name": "first"}, retry=2),
               "each": Node(t.traced, inputs={"label": "$inputs.labels"}, map_over="label")},
        toolbox=spans.traced_toolbox(str(span_file), str(tmp_path)))
    if not isinstance(executor, LocalWorkflowExecutor):
        from armorer_ray.workflow.ray_executor import RayWorkflowExecutor

        # The factory runs in each worker, where it records that process's spans into the same file.
        executor = RayWorkflowExecutor(num_cpus=0.5, toolbox_factory=partial(spans.traced_toolbox, str(span_file),
                                                                             str(tmp_path)))
    tracer = TracerProvider().get_tracer("agent")  # the caller's own provider: only its context matters here
    with tracer.start_as_current_span("agent") as agent:
        run = await wf.run({"labels": ["a", "b"]}, executor=executor)
    assert run.status == "succeeded", {n: r.error for n, r in run.nodes.items()}
    root = agent.get_span_context()
    trace_id, agent_id = format(root.trace_id, "032x"), format(root.span_id, "016x")
    recorded = [s for s in spans.read_spans(span_file) if s["trace"] == trace_id]
    nodes = [s for s in recorded if s["name"].startswith("armorer.workflow.node")]
    assert sorted((s["name"], s["attributes"]["armorer.workflow.attempt"], s["status"]) for s in nodes) == [
        ("armorer.workflow.node each", 1, "UNSET"), ("armorer.workflow.node each", 1, "UNSET"),
        ("armorer.workflow.node first", 1, "ERROR"), ("armorer.workflow.node first", 2, "UNSET")]
    assert all(s["parent"] == agent_id for s in nodes)
    first = next(s["attributes"] for s in nodes if s["status"] == "ERROR")
    assert first["armorer.workflow.node"] == "first" and first["armorer.workflow.run_id"] == run.run_id
    assert first["armorer.tool.id"] == "default:stumble" and first["error.type"] == "TRANSIENT_ERROR"
    inner = [s for s in recorded if s["name"] == "inside-tool"]
    each_ids = {s["span"] for s in nodes if s["attributes"]["armorer.workflow.node"] == "each"}
    assert len(inner) == 2 and {s["parent"] for s in inner} == each_ids  # body spans are the node spans' children
