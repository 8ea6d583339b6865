"""From a definition to a `Plan`: tools resolved, edges checked, nodes in topological order, inputs accounted for.

Everything `create_workflow` refuses is found here, before anything runs: unknown nodes and tools, cycles,
unreachable nodes, bad mappings and required parameters that nothing provides.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, is_typeddict

from pydantic import BaseModel

from armorer_ray.policy import as_policies
from armorer_ray.results import Caller
from armorer_ray.toolbox import Toolbox
from armorer_ray.tools import Tool
from armorer_ray.workflow.errors import (
    CycleError,
    MissingInputError,
    UnknownNodeError,
    UnknownToolError,
    UnreachableNodeError,
    WorkflowConfigError,
)
from armorer_ray.workflow.expansion import Expansion
from armorer_ray.workflow.spec import Condition, Edge, Node, Predicate

__all__ = ["Link", "Plan", "PlanNode", "build_plan", "parse_source"]

_NODE_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")
INPUTS = "$inputs"


@dataclass(frozen=True, slots=True)
class Link:
    """An incoming edge of a node: where data comes from, and the condition that gates it."""

    source: str
    when: Condition | Predicate | None = None


@dataclass(frozen=True, slots=True)
class PlanNode:
    """A node ready to run: its definition, its resolved tool id and parameters, its links."""

    id: str
    node: Node
    tool_id: str
    params: frozenset[str]
    required: frozenset[str]
    accepts_extra: bool
    upstream: tuple[Link, ...]
    downstream: tuple[str, ...]
    sources: tuple[str, ...]  # distinct upstream node names, in edge order


@dataclass(frozen=True, slots=True)
class Plan:
    """A validated workflow graph. ``prefix`` names spliced expansions (``"planner/"``); ``""`` at the top."""

    name: str
    nodes: Mapping[str, PlanNode]
    order: tuple[str, ...]
    sinks: tuple[str, ...]
    inputs: frozenset[str] | None
    entry: tuple[str, ...] | None
    edges: tuple[Edge, ...]
    prefix: str = ""

    def full_id(self, node: str) -> str:
        """The node's name in runs and events (prefixed inside an expansion)."""
        return self.prefix + node


def parse_source(source: str) -> tuple[str, str]:
    """Split a mapping source into (node or ``$inputs``, dotted path).

    Example:
        >>> parse_source("fetch.rows.0"), parse_source("$inputs.user")
        (('fetch', 'rows.0'), ('$inputs', 'user'))
    """
    head, _, path = source.partition(".")
    return head, path


def build_plan(name: str, nodes: Mapping[str, Node], edges: Sequence[Edge], toolbox: Toolbox, *,
               inputs: Sequence[str] | None = None, entry: Sequence[str] | None = None, prefix: str = "") -> Plan:
    """Validate a definition against a toolbox and order it.

    Args:
        name: The workflow's name.
        nodes: Node definitions by name.
        edges: The edges.
        toolbox: Where tool names resolve (every node's tool must be registered in it).
        inputs: The run inputs' names, when declared: root nodes are then checked against them.
        entry: The nodes a run starts from; every other node must be reachable from them.
        prefix: Prefix of spliced node names.

    Returns:
        The plan, nodes in a topological order (stable: definition order among independent nodes).

    Raises:
        WorkflowConfigError: and its subclasses, for the first problem found.
    """
    if not nodes:
        raise WorkflowConfigError("a workflow needs at least one node")
    for node_id in nodes:
        if not isinstance(node_id, str) or not _NODE_ID.match(node_id):
            raise WorkflowConfigError(f"node name {node_id!r} must be letters, digits, '_' or '-' (no dots)")
    incoming: dict[str, list[Link]] = {n: [] for n in nodes}
    outgoing: dict[str, list[str]] = {n: [] for n in nodes}
    seen: set[tuple[str, str]] = set()
    for edge in edges:
        for source, target in edge.pairs():
            for end in (source, target):
                if end not in nodes:
                    raise UnknownNodeError(f"edge {source} -> {target} names unknown node {end!r}; "
                                           f"nodes are: {', '.join(sorted(nodes))}", end)
            if (source, target) in seen:
                raise WorkflowConfigError(f"edge {source} -> {target} is given twice")
            seen.add((source, target))
            incoming[target].append(Link(source, edge.when))
            outgoing[source].append(target)
    order = _topological_order(list(nodes), incoming, outgoing)
    _check_reachable(list(nodes), incoming, outgoing, entry)
    declared = frozenset(inputs) if inputs is not None else None
    planned: dict[str, PlanNode] = {}
    for node_id in order:
        planned[node_id] = _plan_node(node_id, nodes[node_id], toolbox, tuple(incoming[node_id]),
                                      tuple(outgoing[node_id]))
    for plan_node in planned.values():
        _check_inputs(plan_node, planned, toolbox, declared)
    sinks = tuple(n for n in order if not outgoing[n])
    return Plan(name, planned, tuple(order), sinks, declared, tuple(entry) if entry is not None else None,
                tuple(edges), prefix)


def _topological_order(names: list[str], incoming: Mapping[str, list[Link]],
                       outgoing: Mapping[str, list[str]]) -> list[str]:
    waiting = {n: len(incoming[n]) for n in names}
    ready = [n for n in names if not waiting[n]]
    order: list[str] = []
    while ready:
        current = ready.pop(0)
        order.append(current)
        for target in outgoing[current]:
            waiting[target] -= 1
            if not waiting[target]:
                ready.append(target)
    if len(order) < len(names):
        raise CycleError(_find_cycle([n for n in names if waiting[n]], incoming))
    return order


def _find_cycle(candidates: list[str], incoming: Mapping[str, list[Link]]) -> list[str]:
    # Every node left by Kahn's algorithm kept an incoming edge from another left-over node, so walking those edges
    # backwards must revisit a node; the walk between the two visits, reversed, is a cycle.
    left = set(candidates)
    path: list[str] = []
    position: dict[str, int] = {}
    current = candidates[0]
    while current not in position:
        position[current] = len(path)
        path.append(current)
        current = next(link.source for link in incoming[current] if link.source in left)
    cycle = [*path[position[current]:], current]
    cycle.reverse()
    return cycle


def _check_reachable(names: list[str], incoming: Mapping[str, list[Link]], outgoing: Mapping[str, list[str]],
                     entry: Sequence[str] | None) -> None:
    if entry is None:
        if len(names) > 1 and any(outgoing.values()):
            isolated = sorted(n for n in names if not incoming[n] and not outgoing[n])
            if isolated:
                raise UnreachableNodeError(
                    f"node(s) {', '.join(isolated)} connect to no other node, so nothing flows into or out of "
                    "them; add an edge, or list the nodes a run starts from with entry=[...]", isolated)
        return
    for start in entry:
        if start not in incoming:
            raise UnknownNodeError(f"entry node {start!r} is not in the workflow", start)
        if incoming[start]:
            raise WorkflowConfigError(f"entry node {start!r} has incoming edges; entries are where runs start")
    reached = set(entry)
    frontier = list(entry)
    while frontier:
        for target in outgoing[frontier.pop()]:
            if target not in reached:
                reached.add(target)
                frontier.append(target)
    unreachable = sorted(set(names) - reached)
    if unreachable:
        raise UnreachableNodeError(f"no entry node ({', '.join(entry)}) leads to: {', '.join(unreachable)}",
                                   unreachable)


def _plan_node(node_id: str, node: Node, toolbox: Toolbox, upstream: tuple[Link, ...],
               downstream: tuple[str, ...]) -> PlanNode:
    key = node.tool.id if isinstance(node.tool, Tool) else node.tool
    found = toolbox.get_tool(key)
    if found is None:
        # Listed as an anonymous caller sees them: the plan is made for no tenant yet, and a toolbox with
        # visibility rules (TenantAccess) must not name its hidden tools in an error a model may read.
        known = ", ".join(sorted({t.name for t in toolbox.tools(caller=Caller())})[:20])
        raise UnknownToolError(f"node {node_id!r}: tool {key!r} is not in the toolbox (tools: {known})", node_id, key)
    model = found.parameters
    params = frozenset(name for name in model.model_fields)
    required = frozenset(name for name, info in model.model_fields.items() if info.is_required())
    accepts_extra = model.model_config.get("extra") == "allow"
    sources = tuple(dict.fromkeys(link.source for link in upstream))
    plan_node = PlanNode(node_id, node, found.id, params, required, accepts_extra, upstream, downstream, sources)
    as_policies(node.policy)  # refuse a bad policy now rather than on the first run
    for param in [*node.arguments, *(node.inputs or {}), *([node.map_over] if node.map_over else [])]:
        if param not in params and not accepts_extra:
            raise WorkflowConfigError(f"node {node_id!r}: tool {found.id} has no parameter {param!r} "
                                      f"(parameters: {', '.join(sorted(params)) or 'none'})")
    return plan_node


def _check_inputs(plan_node: PlanNode, planned: Mapping[str, PlanNode], toolbox: Toolbox,
                  declared: frozenset[str] | None) -> None:
    node, node_id = plan_node.node, plan_node.id
    sources = plan_node.sources
    if node.inputs is not None:
        _check_mapping(plan_node, planned, declared)
    provided = _provided(plan_node, planned, toolbox, declared)
    if provided is None:
        return
    for param in sorted(plan_node.required - provided):
        where = ("the workflow's inputs do" if not sources else
                 f"upstream {sources[0]} does" if len(sources) == 1 else f"upstreams {', '.join(sources)} do")
        raise MissingInputError(f"node {node_id!r}: required parameter {param!r} of {plan_node.tool_id} has no "
                                f"source ({where} not provide it); map it with inputs={{{param!r}: ...}} or set "
                                "it in arguments=", node_id, param)


def _check_mapping(plan_node: PlanNode, planned: Mapping[str, PlanNode], declared: frozenset[str] | None) -> None:
    node_id = plan_node.id
    for param, source in (plan_node.node.inputs or {}).items():
        head, path = parse_source(source)
        if head == INPUTS:
            if declared is not None and path.split(".")[0] not in declared:
                raise MissingInputError(f"node {node_id!r}: {param} <- {source}, but the workflow's inputs are "
                                        f"{', '.join(sorted(declared)) or 'none'}", node_id, param)
        elif head not in planned:
            raise UnknownNodeError(f"node {node_id!r}: input {param} <- {source} names unknown node {head!r}", head)
        elif head not in plan_node.sources:
            raise WorkflowConfigError(f"node {node_id!r}: input {param} <- {source} reads node {head!r}, which is "
                                      f"not upstream of it; add an edge {head} -> {node_id}")


def _provided(plan_node: PlanNode, planned: Mapping[str, PlanNode], toolbox: Toolbox,
              declared: frozenset[str] | None) -> set[str] | None:
    """The parameters some source provides; None when a source's keys cannot be known (then nothing is checked)."""
    node = plan_node.node
    provided = set(node.arguments)
    if node.inputs is not None:
        return provided | set(node.inputs)
    if not plan_node.upstream:
        return None if declared is None else provided | declared
    for source in plan_node.sources:
        keys = _output_keys(planned[source], toolbox)
        if keys is None:
            return None
        provided |= keys
    return provided


def _output_keys(upstream: PlanNode, toolbox: Toolbox) -> frozenset[str] | None:
    """The argument names an upstream node's output gives when merged; None when that cannot be known."""
    if upstream.node.map_over is not None:
        return frozenset({upstream.id})
    found = toolbox.get_tool(upstream.tool_id)
    annotation: Any = found.output_model if found is not None else None
    if annotation is None and found is not None and callable(found._body):
        try:
            annotation = typing.get_type_hints(found._body).get("return")
        except Exception:  # unresolvable hints: the output is unknown, not an error
            return None
    if annotation is None or annotation is Any or annotation is object:
        return None
    origin = typing.get_origin(annotation) or annotation
    if isinstance(origin, type):
        if issubclass(origin, BaseModel) and origin is not Expansion:
            return frozenset(origin.model_fields)
        if is_typeddict(origin):
            return frozenset(typing.get_type_hints(origin))
        if issubclass(origin, str | int | float | bool | list | tuple | bytes) and not issubclass(origin, Mapping):
            return frozenset({upstream.id})
    return None
