"""Workflow errors: what `create_workflow` refuses, and what a finished run can raise on request.

```
ArmorerError
├── ConfigError
│   └── WorkflowConfigError        an invalid workflow, found when it is built (or a spliced expansion validated)
│       ├── UnknownNodeError       an edge or an input mapping names a node the workflow does not have
│       ├── UnknownToolError       a node names a tool its toolbox does not hold
│       ├── CycleError             the edges form a cycle; ``cycle`` lists it
│       ├── UnreachableNodeError   no entry node leads to a node, or a node is connected to nothing
│       ├── MissingInputError      a required parameter of a node's tool has no source
│       └── NotCompilableError     the compiled Ray path cannot run this workflow (a fan-out, an expansion)
└── WorkflowError                  base of the run-time workflow errors
    ├── WorkflowFailed             `RunResult.raise_for_status` on a run that did not succeed; carries the run
    └── CheckpointError            a checkpoint could not be written, or belongs to another workflow or inputs
```

A node's own failure never raises: it is a failed `NodeRun` holding the `ToolResult` and its `ToolError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from armorer_ray.errors import ArmorerError, ConfigError

if TYPE_CHECKING:
    from armorer_ray.workflow.results import RunResult

__all__ = [
    "CheckpointError",
    "CycleError",
    "MissingInputError",
    "NotCompilableError",
    "UnknownNodeError",
    "UnknownToolError",
    "UnreachableNodeError",
    "WorkflowConfigError",
    "WorkflowError",
    "WorkflowFailed",
]


class WorkflowError(ArmorerError):
    """Base of the errors a workflow raises while it runs (never for a node's own failure)."""


class WorkflowConfigError(WorkflowError, ConfigError):
    """Raised when a workflow is built (or an expansion spliced in) with an invalid structure or options."""


class UnknownNodeError(WorkflowConfigError):
    """An edge, an entry or an input mapping names a node that is not in ``nodes``.

    Attributes:
        node: The unknown name.
    """

    def __init__(self, message: str, node: str) -> None:
        super().__init__(message)
        self.node = node


class UnknownToolError(WorkflowConfigError):
    """A node names a tool that its toolbox does not hold.

    Attributes:
        node: The node.
        tool: The name it gave.
    """

    def __init__(self, message: str, node: str, tool: str) -> None:
        super().__init__(message)
        self.node, self.tool = node, tool


class CycleError(WorkflowConfigError):
    """The edges form a cycle, so no order runs every node after its upstream nodes.

    Attributes:
        cycle: The nodes of one cycle, the first repeated at the end (``["a", "b", "a"]``).
    """

    def __init__(self, cycle: Sequence[str]) -> None:
        super().__init__("workflow edges form a cycle: " + " -> ".join(cycle))
        self.cycle = list(cycle)


class UnreachableNodeError(WorkflowConfigError):
    """A node can never receive data: no entry node leads to it, or it is connected to no other node.

    Attributes:
        nodes: The unreachable nodes, sorted.
    """

    def __init__(self, message: str, nodes: Sequence[str]) -> None:
        super().__init__(message)
        self.nodes = list(nodes)


class MissingInputError(WorkflowConfigError):
    """A required parameter of a node's tool has no source: no upstream output, mapping, argument or input.

    Attributes:
        node: The node.
        parameter: The parameter nothing provides.
    """

    def __init__(self, message: str, node: str, parameter: str) -> None:
        super().__init__(message)
        self.node, self.parameter = node, parameter


class NotCompilableError(WorkflowConfigError):
    """The compiled Ray path (`armorer_ray.workflow.compiled.CompiledRayExecutor`) cannot run this workflow: its
    shape is not fixed before it runs. Run it with ``executor="ray"`` (or give the executor a ``fallback``).

    Attributes:
        node: The node that makes the shape depend on runtime data.
        reason: ``"fan_out"`` (``Node(map_over=...)``: one call per item of a list known only at run time) or
            ``"expansion"`` (its tool returns an `Expansion`, which splices in nodes at run time).
    """

    def __init__(self, message: str, node: str, reason: Literal["fan_out", "expansion"]) -> None:
        super().__init__(message)
        self.node, self.reason = node, reason

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (str(self), self.node, self.reason))


class WorkflowFailed(WorkflowError):
    """Raised by `RunResult.raise_for_status` when a run failed, was cancelled or is paused.

    Attributes:
        run: The `RunResult`, with every node's `NodeRun`.
    """

    def __init__(self, message: str, run: RunResult) -> None:
        super().__init__(message)
        self.run = run

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (str(self), self.run))


class CheckpointError(WorkflowError):
    """A checkpoint could not be written (an output that is not JSON), or the stored run belongs to a workflow
    with another structure or to other inputs, so resuming it would mix two runs."""
