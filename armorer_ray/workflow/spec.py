"""The words of a workflow definition: `Node`, `Edge`, `Condition` and `NodeRetry` (`Expansion` is in
`armorer_ray.workflow.expansion`).

These are plain, frozen and picklable: a node travels to Ray workers as it is. `create_workflow` accepts the
short forms too: a `Tool` or a tool name for a node, ``("a", "b")`` or ``{"from": "a", "to": "b"}`` for an edge.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, JsonValue

from armorer_ray.errors import ErrorCategory
from armorer_ray.policy import Policies
from armorer_ray.tools import Tool
from armorer_ray.workflow.errors import WorkflowConfigError

__all__ = ["Condition", "Edge", "EdgeLike", "Node", "NodeLike", "NodeRetry", "Predicate", "Trigger",
           "as_edges", "as_node", "lookup"]

Predicate = Callable[[Any], bool]
Trigger = Literal["all", "any"]
ConditionOp = Literal["truthy", "falsy", "exists", "eq", "ne", "gt", "ge", "lt", "le", "in", "not_in"]

_COMPARE: Mapping[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq, "ne": operator.ne, "gt": operator.gt, "ge": operator.ge, "lt": operator.lt, "le": operator.le,
    "in": lambda left, right: left in right, "not_in": lambda left, right: left not in right,
}
_MISSING = object()


def lookup(value: Any, path: str) -> Any:
    """Follow a dotted path into mappings, model attributes and list indexes.

    Args:
        value: Where to start.
        path: ``""`` for the value itself, else keys or indexes joined by dots (``"rows.0.name"``).

    Returns:
        What the path reaches.

    Raises:
        KeyError: when a step is missing (the message names the step).

    Example:
        >>> lookup({"rows": [{"name": "ada"}]}, "rows.0.name")
        'ada'
    """
    for step in path.split(".") if path else ():
        if isinstance(value, Mapping):
            found = value.get(step, _MISSING)
        elif isinstance(value, list | tuple) and step.lstrip("-").isdigit():
            index = int(step)
            found = value[index] if -len(value) <= index < len(value) else _MISSING
        else:
            found = getattr(value, step, _MISSING) if isinstance(value, BaseModel) else _MISSING
        if found is _MISSING:
            raise KeyError(f"no {step!r} in {type(value).__name__}")
        value = found
    return value


class Condition(BaseModel):
    """A JSON-serialisable test of an upstream node's output, for ``Edge(when=...)``.

    Attributes:
        path: Dotted path into the output (see `lookup`); ``""`` tests the whole output.
        op: ``truthy``, ``falsy``, ``exists``, or a comparison with ``value``: ``eq``, ``ne``, ``gt``, ``ge``,
            ``lt``, ``le``, ``in``, ``not_in``.
        value: The right-hand side of a comparison.

    Example:
        >>> Condition(path="status", op="eq", value="ok")({"status": "ok"})
        True
        >>> Condition(path="missing")({"status": "ok"})
        False
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str = ""
    op: ConditionOp = "truthy"
    value: JsonValue = None

    def __call__(self, output: Any) -> bool:
        """Whether ``output`` passes; a path that does not exist passes only ``falsy``."""
        try:
            found = lookup(output, self.path)
        except KeyError:
            return self.op == "falsy"
        if self.op == "truthy" or self.op == "exists":
            return self.op == "exists" or bool(found)
        if self.op == "falsy":
            return not found
        try:
            return bool(_COMPARE[self.op](found, self.value))
        except TypeError:
            return False

    def describe(self) -> str:
        """A short text for diagrams: ``status eq 'ok'``."""
        subject = self.path or "output"
        return f"{subject} {self.op}" if self.op in ("truthy", "falsy", "exists") else \
            f"{subject} {self.op} {self.value!r}"


@dataclass(frozen=True)
class NodeRetry:
    """How a node retries a failed call (each attempt goes through the pipeline again).

    Args:
        attempts: Most runs in total, the first included.
        backoff_s: Wait before the first retry; each later wait doubles.
        on: Error categories worth retrying; None retries errors marked ``retryable`` (transient, timeout).

    Raises:
        WorkflowConfigError: for fewer than one attempt or a negative backoff.

    Example:
        >>> NodeRetry(attempts=3, on=("transient", "internal")).to_json()
        {'attempts': 3, 'on': ['transient', 'internal']}
    """

    attempts: int = 3
    backoff_s: float = 0.0
    on: tuple[ErrorCategory, ...] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.attempts, int) or self.attempts < 1:
            raise WorkflowConfigError(f"retry attempts must be at least 1, got {self.attempts}")
        if not (0 <= self.backoff_s < math.inf):
            raise WorkflowConfigError(f"retry backoff_s must be a non-negative number, got {self.backoff_s}")
        if self.on is not None:
            object.__setattr__(self, "on", tuple(self.on))

    def to_json(self) -> dict[str, JsonValue]:
        """The settings that differ from the defaults, as JSON."""
        out: dict[str, JsonValue] = {"attempts": self.attempts}
        if self.backoff_s:
            out["backoff_s"] = self.backoff_s
        if self.on is not None:
            out["on"] = list(self.on)
        return out


@dataclass(frozen=True)
class Node:
    """One step of a workflow: a tool called through the toolbox's pipeline, with how it gets its arguments.

    By default a node's arguments merge its upstream nodes' outputs, in edge order (a mapping output gives its
    keys; any other output is given under the upstream node's name), keeping the keys the tool accepts; a node
    with no upstream node takes the run's inputs. ``inputs`` replaces that merge with an explicit mapping.

    Args:
        tool: The `Tool`, or its name, id or alias in the workflow's toolbox.
        inputs: Explicit sources, ``{parameter: source}``; a source is ``"node"`` (its whole output),
            ``"node.path.to.field"``, or ``"$inputs.key"`` (the run's inputs). The node must be a direct upstream.
        arguments: Constant arguments, applied over merged or mapped ones.
        map_over: Fan out: the named argument must be a list, and the tool is called once per item (the output is
            the list of the calls' outputs, in order).
        trigger: ``all`` (run only when every incoming edge is satisfied) or ``any`` (run when at least one is,
            after every upstream node settled): the join after a conditional branch.
        retry: Attempts (an int) or a `NodeRetry`.
        timeout_s: Deadline of each call, overriding the tool's and the toolbox's.
        policy: Policies added after the tool's own for this node (see `armorer_ray.policy`).

    Raises:
        WorkflowConfigError: for a bad retry, timeout or trigger.

    Example:
        >>> from armorer_ray import tool
        >>> @tool
        ... def square(x: int) -> int:
        ...     "Square a number."
        ...     return x * x
        >>> Node(square, map_over="x", retry=2).retry.attempts
        2
    """

    tool: Tool | str
    inputs: Mapping[str, str] | None = None
    arguments: Mapping[str, Any] = field(default_factory=dict)
    map_over: str | None = None
    trigger: Trigger = "all"
    retry: NodeRetry | int | None = None
    timeout_s: float | None = None
    policy: Policies = None

    def __post_init__(self) -> None:
        if not isinstance(self.tool, Tool | str) or not self.tool:
            raise WorkflowConfigError(f"a node's tool must be a Tool or a tool name, got {self.tool!r}")
        if isinstance(self.retry, int) and not isinstance(self.retry, bool):
            object.__setattr__(self, "retry", NodeRetry(attempts=self.retry))
        elif self.retry is not None and not isinstance(self.retry, NodeRetry):
            raise WorkflowConfigError(f"retry must be an int or a NodeRetry, got {self.retry!r}")
        if self.timeout_s is not None and not (0 < self.timeout_s < math.inf):
            raise WorkflowConfigError(f"timeout_s must be a positive number, got {self.timeout_s}")
        if self.trigger not in ("all", "any"):
            raise WorkflowConfigError(f"trigger must be 'all' or 'any', got {self.trigger!r}")
        object.__setattr__(self, "arguments", dict(self.arguments))
        if self.inputs is not None:
            object.__setattr__(self, "inputs", dict(self.inputs))

    @property
    def retry_policy(self) -> NodeRetry | None:
        """The retry settings as a `NodeRetry` (None: one attempt)."""
        return self.retry if isinstance(self.retry, NodeRetry) else None


@dataclass(frozen=True)
class Edge:
    """Data and order from ``source`` to ``target``, taken only when ``when`` passes.

    Args:
        source: The upstream node, or several (each gets an edge).
        target: The downstream node, or several.
        when: A `Condition` or a function of the source's output; when it fails the edge is not taken, and a
            target with ``trigger="all"`` is skipped.

    Example:
        >>> Edge(["a", "b"], "join").pairs()
        [('a', 'join'), ('b', 'join')]
    """

    source: str | Sequence[str]
    target: str | Sequence[str]
    when: Condition | Predicate | None = None

    def pairs(self) -> list[tuple[str, str]]:
        """Every ``(source, target)`` pair this edge stands for."""
        sources = [self.source] if isinstance(self.source, str) else list(self.source)
        targets = [self.target] if isinstance(self.target, str) else list(self.target)
        return [(s, t) for s in sources for t in targets]


NodeLike = Node | Tool | str
EdgeLike = Edge | tuple[Any, ...] | Mapping[str, Any]


def as_node(value: NodeLike) -> Node:
    """A `Node` from a node, a tool or a tool name.

    Raises:
        WorkflowConfigError: for anything else.

    Example:
        >>> as_node("search").tool
        'search'
    """
    if isinstance(value, Node):
        return value
    if isinstance(value, Tool | str):
        return Node(value)
    raise WorkflowConfigError(f"a node must be a Node, a Tool or a tool name, got {type(value).__name__}")


def as_edges(values: Sequence[EdgeLike]) -> list[Edge]:
    """Edges from `Edge` objects, ``(source, target[, when])`` tuples or ``{"from", "to", "when"?}`` mappings.

    Raises:
        WorkflowConfigError: for a malformed edge.

    Example:
        >>> [e.pairs() for e in as_edges([("a", "b"), {"from": ["b", "c"], "to": "d"}])]
        [[('a', 'b')], [('b', 'd'), ('c', 'd')]]
    """
    edges = []
    for value in values:
        if isinstance(value, Edge):
            edges.append(value)
        elif isinstance(value, tuple) and len(value) in (2, 3):
            edges.append(Edge(*value))
        elif isinstance(value, Mapping) and {"from", "to"} <= set(value) <= {"from", "to", "when"}:
            edges.append(Edge(value["from"], value["to"], value.get("when")))
        else:
            raise WorkflowConfigError(f"an edge is an Edge, (from, to[, when]) or {{'from', 'to', 'when'?}}; "
                                      f"got {value!r}")
        for source, target in edges[-1].pairs():
            if not isinstance(source, str) or not isinstance(target, str):
                raise WorkflowConfigError(f"edge endpoints are node names, got {source!r} -> {target!r}")
    return edges
