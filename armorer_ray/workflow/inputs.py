"""How a node decides whether to run, and what arguments it runs with, from its upstream nodes' runs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from armorer_ray.workflow.graph import INPUTS, PlanNode, parse_source
from armorer_ray.workflow.results import NodeRun
from armorer_ray.workflow.spec import lookup

__all__ = ["gate", "gather_arguments"]


def gate(plan_node: PlanNode, upstream: Mapping[str, NodeRun]) -> tuple[list[tuple[str, Any]], str | None]:
    """The taken incoming edges, as ``(source, output)`` in edge order, and why the node is skipped (or None).

    An edge is taken when its source succeeded and its condition passes. ``trigger="all"`` needs every edge
    taken; ``trigger="any"`` needs one. A node without upstream nodes always runs.

    Raises:
        Exception: whatever a condition raised (the node then fails).
    """
    taken: list[tuple[str, Any]] = []
    blocked: list[str] = []
    for link in plan_node.upstream:
        run = upstream[link.source]
        if run.status != "succeeded":
            blocked.append(f"upstream {link.source} {run.status}")
        elif link.when is not None and not link.when(run.output):
            blocked.append(f"condition on {link.source} -> {plan_node.id} is false")
        else:
            taken.append((link.source, run.output))
    if plan_node.upstream and (not taken or (plan_node.node.trigger == "all" and blocked)):
        return taken, blocked[0]
    return taken, None


def gather_arguments(plan_node: PlanNode, base: Mapping[str, Any], run_inputs: Mapping[str, Any],
                     taken: list[tuple[str, Any]]) -> dict[str, Any]:
    """The node's arguments: merged upstream outputs (or ``base`` for a root), or its mapping; then constants.

    Args:
        plan_node: The node.
        base: What a root node merges: the run's inputs, or the arguments of the node an expansion replaced.
        run_inputs: The run's inputs, for ``$inputs`` sources.
        taken: The outputs of the taken incoming edges.

    Returns:
        Keyword arguments for the call (merged keys the tool does not accept are left out).

    Raises:
        KeyError: when a mapped path does not exist in its source.
    """
    node = plan_node.node
    args: dict[str, Any]
    if node.inputs is not None:
        outputs = dict(taken)
        args = {}
        for param, source in node.inputs.items():
            head, path = parse_source(source)
            if head == INPUTS:
                args[param] = lookup(run_inputs, path)
            elif head in outputs:
                args[param] = lookup(outputs[head], path)
            # else: the edge from that node was not taken (trigger="any"); the parameter keeps its default
    else:
        merged: dict[str, Any] = {} if plan_node.upstream else dict(base)
        for source, output in taken:
            merged.update(_fields(output, source))
        args = merged if plan_node.accepts_extra else {k: v for k, v in merged.items() if k in plan_node.params}
    args.update(node.arguments)
    return args


def _fields(output: Any, source: str) -> Mapping[str, Any]:
    if isinstance(output, Mapping):
        return output
    if isinstance(output, BaseModel):
        return dict(output.__dict__)
    return {source: output}
