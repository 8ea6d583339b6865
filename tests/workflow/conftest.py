"""Fixtures: every semantic test runs on both executors; Ray ones share the session runtime."""

from __future__ import annotations

from typing import Any

import pytest

from armorer_ray.events import Event
from armorer_ray.workflow import LocalWorkflowExecutor, RunResult, WorkflowExecutor


@pytest.fixture(params=["local", pytest.param("ray", marks=pytest.mark.ray)])
def executor(request: pytest.FixtureRequest) -> WorkflowExecutor:
    """The local executor, and the Ray executor with 2 CPUs a node task (at most 4 tasks at once here)."""
    if request.param == "local":
        return LocalWorkflowExecutor(concurrency=8)
    request.getfixturevalue("ray_runtime")
    from armorer_ray.workflow.ray_executor import RayWorkflowExecutor

    return RayWorkflowExecutor(num_cpus=2)


def outline(run: RunResult) -> dict[str, Any]:
    """What must match across executors: each node's status, output, call outcomes and error code (no timings)."""
    return {
        name: (node.status, node.output, [r.outcome for r in node.results], node.error.code if node.error else None,
               node.attempts)
        for name, node in sorted(run.nodes.items())
    }


def per_node(events: list[Event]) -> dict[str, list[str]]:
    """Each node's event kinds (``node.`` dropped), in the order they came."""
    out: dict[str, list[str]] = {}
    for event in events:
        if event.type.startswith("node."):
            out.setdefault(event.detail["node"], []).append(event.type.removeprefix("node."))
    return out
