"""A workflow's structure as JSON (tools by id, functions by import path) and as a Mermaid flowchart."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import JsonValue

from armorer_ray.tools import Tool
from armorer_ray.workflow.errors import WorkflowConfigError
from armorer_ray.workflow.spec import Condition, Edge, Node, NodeRetry

if TYPE_CHECKING:
    # Only a type here: the graph is built from the spec and the expansion, which is built on this module.
    from armorer_ray.workflow.graph import Plan

__all__ = ["FORMAT", "mermaid", "read_structure", "structure_json"]

FORMAT = "armorer-workflow/1"


def _import_path(value: object, what: str) -> str:
    module, qualname = getattr(value, "__module__", None), getattr(value, "__qualname__", None)
    if module and qualname and "<" not in qualname and module != "__main__":
        try:
            found = _resolve(f"{module}:{qualname}")
        except (ImportError, AttributeError):
            found = None
        if found is value:
            return f"{module}:{qualname}"
    raise WorkflowConfigError(f"{what} is {value!r}, which has no import path; use a Condition or a module-level "
                              "function to export it")


def _resolve(path: str) -> Any:
    module, _, qualname = path.partition(":")
    found: Any = importlib.import_module(module)
    for part in qualname.split("."):
        found = getattr(found, part)
    return found


def _callable_json(value: object, what: str, strict: bool) -> JsonValue:
    if isinstance(value, Condition):
        return value.model_dump(exclude_defaults=True)
    try:
        return {"import": _import_path(value, what)}
    except WorkflowConfigError:
        if strict:
            raise
        return {"opaque": getattr(value, "__qualname__", type(value).__name__)}


def structure_json(nodes: Mapping[str, Node], edges: Sequence[Edge], *, strict: bool = True) -> dict[str, JsonValue]:
    """The JSON form of nodes and edges.

    Args:
        nodes: Node definitions by name.
        edges: The edges.
        strict: Refuse functions without an import path (else each is written as ``{"opaque": qualname}``: stable
            enough to fingerprint a structure, but not readable back).

    Returns:
        ``{"nodes": {...}, "edges": [...]}`` with default fields left out.

    Raises:
        WorkflowConfigError: in strict mode, for a lambda or local function in ``when`` or ``policy``.
    """
    out_nodes: dict[str, JsonValue] = {}
    for name, node in nodes.items():
        entry: dict[str, JsonValue] = {"tool": node.tool.id if isinstance(node.tool, Tool) else node.tool}
        if node.inputs is not None:
            entry["inputs"] = dict(node.inputs)
        if node.arguments:
            entry["arguments"] = dict(node.arguments)
        if node.map_over is not None:
            entry["map_over"] = node.map_over
        if node.trigger != "all":
            entry["trigger"] = node.trigger
        if node.retry_policy is not None:
            entry["retry"] = node.retry_policy.to_json()
        if node.timeout_s is not None:
            entry["timeout_s"] = node.timeout_s
        if node.policy is not None:
            policies = node.policy if isinstance(node.policy, list | tuple) else [node.policy]
            entry["policy"] = [_callable_json(p, f"node {name!r} policy", strict) for p in policies]
        out_nodes[name] = entry
    out_edges: list[JsonValue] = []
    for edge in edges:
        item: dict[str, JsonValue] = {
            "from": edge.source if isinstance(edge.source, str) else list(edge.source),
            "to": edge.target if isinstance(edge.target, str) else list(edge.target),
        }
        if edge.when is not None:
            item["when"] = _callable_json(edge.when, f"edge {edge.source} -> {edge.target} when=", strict)
        out_edges.append(item)
    return {"nodes": out_nodes, "edges": out_edges}


def _read_callable(data: Any, what: str) -> Any:
    if isinstance(data, Mapping) and set(data) == {"import"}:
        try:
            return _resolve(str(data["import"]))
        except (ImportError, AttributeError) as exc:
            raise WorkflowConfigError(f"{what}: cannot import {data['import']!r}: {exc}") from exc
    if isinstance(data, Mapping) and "opaque" not in data:
        return Condition.model_validate(data)
    raise WorkflowConfigError(f"{what}: {data!r} is neither a condition nor an import path")


def read_structure(data: Mapping[str, Any]) -> tuple[dict[str, Node], list[Edge]]:
    """Nodes and edges from `structure_json`'s form (tools stay names, resolved when the workflow is built).

    Raises:
        WorkflowConfigError: for malformed entries.
    """
    nodes: dict[str, Node] = {}
    for name, entry in dict(data.get("nodes") or {}).items():
        if not isinstance(entry, Mapping) or not isinstance(entry.get("tool"), str):
            raise WorkflowConfigError(f"node {name!r}: expected an object with a 'tool' id, got {entry!r}")
        policy = [_read_callable(p, f"node {name!r} policy") for p in entry.get("policy", ())] or None
        retry = entry.get("retry")
        nodes[name] = Node(entry["tool"], inputs=entry.get("inputs"), arguments=entry.get("arguments", {}),
                           map_over=entry.get("map_over"), trigger=entry.get("trigger", "all"),
                           retry=NodeRetry(**retry) if isinstance(retry, Mapping) else retry,
                           timeout_s=entry.get("timeout_s"), policy=policy)
    edges = []
    for item in data.get("edges") or ():
        if not isinstance(item, Mapping) or "from" not in item or "to" not in item:
            raise WorkflowConfigError(f"an edge needs 'from' and 'to', got {item!r}")
        when = item.get("when")
        edges.append(Edge(item["from"], item["to"],
                          _read_callable(when, f"edge {item['from']} -> {item['to']}") if when is not None else None))
    return nodes, edges


def _label(text: str) -> str:
    return text.replace('"', "#quot;")


def mermaid(plan: Plan) -> str:
    """A Mermaid flowchart of a plan: a box per node (name and tool), a double box for fan-outs, an arrow per
    edge labelled with its condition.

    Returns:
        The diagram source, starting ``flowchart TD``.
    """
    ids = {name: f"n{index}" for index, name in enumerate(plan.order)}
    lines = ["flowchart TD"]
    for name in plan.order:
        plan_node = plan.nodes[name]
        label = _label(f"{name}<br/>{plan_node.tool_id}")
        if plan_node.node.map_over is not None:
            lines.append(f'    {ids[name]}[["{label}<br/>for each {_label(plan_node.node.map_over)}"]]')
        else:
            lines.append(f'    {ids[name]}["{label}"]')
    for name in plan.order:
        for link in plan.nodes[name].upstream:
            arrow = "-->"
            if link.when is not None:
                arrow = f'-->|"{_label(_describe(link.when))}"|'
            lines.append(f"    {ids[link.source]} {arrow} {ids[name]}")
    return "\n".join(lines)


def _describe(when: Condition | Callable[[Any], bool]) -> str:
    if isinstance(when, Condition):
        return when.describe()
    return "when " + getattr(when, "__name__", "condition").replace("<lambda>", "lambda")
