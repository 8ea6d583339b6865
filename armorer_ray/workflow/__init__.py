"""Workflows: DAGs of tool calls, each node a `ToolCall` through a toolbox's pipeline, run locally or on Ray.

```python
wf = create_workflow(
    nodes={"auth": authenticate, "fetch": fetch_data, "a": process_a, "b": process_b, "combine": combine},
    edges=[("auth", "fetch"), ("fetch", "a"), ("fetch", "b"), {"from": ["a", "b"], "to": "combine"}],
)
run = await wf.run({"user": "ada"}, executor="ray")
```

Nodes take their arguments from their upstream nodes' outputs (merged, or mapped with ``Node(inputs=...)``);
edges may carry conditions (``when=``); a node may fan out over a list (``Node(map_over=...)``) and the next
node joins the results; a node's tool may return an `Expansion` to splice new nodes in. `create_workflow`
validates the whole graph first. Runs report node events on ``wf.events`` and can checkpoint into any `Store`.
The Ray executor (``executor="ray"``) imports Ray only when it is asked for.

Example:
    >>> from armorer_ray import tool
    >>> @tool
    ... def numbers(n: int) -> list[int]:
    ...     "The numbers 1..n."
    ...     return list(range(1, n + 1))
    >>> @tool
    ... def square(x: int) -> int:
    ...     "Square a number."
    ...     return x * x
    >>> @tool
    ... def total(values: list[int]) -> int:
    ...     "Add numbers up."
    ...     return sum(values)
    >>> wf = create_workflow(
    ...     nodes={"numbers": numbers, "square": Node(square, inputs={"x": "numbers"}, map_over="x"),
    ...            "total": Node(total, inputs={"values": "square"})},
    ...     edges=[("numbers", "square"), ("square", "total")])
    >>> wf.run_sync({"n": 4}).outputs
    {'total': 30}
"""

from armorer_ray.workflow.approvals import ApprovalLike, CallApprovals, PausedNode, WaitingCall
from armorer_ray.workflow.errors import (
    CheckpointError,
    CycleError,
    MissingInputError,
    NotCompilableError,
    UnknownNodeError,
    UnknownToolError,
    UnreachableNodeError,
    WorkflowConfigError,
    WorkflowError,
    WorkflowFailed,
)
from armorer_ray.workflow.executor import CallTarget, OnError, RunSetup, WorkflowExecutor
from armorer_ray.workflow.expansion import Expansion
from armorer_ray.workflow.local import LocalWorkflowExecutor
from armorer_ray.workflow.results import NodeRun, NodeStatus, RunResult, RunStatus
from armorer_ray.workflow.spec import Condition, Edge, Node, NodeRetry
from armorer_ray.workflow.toolboxes import ToolboxRecipe
from armorer_ray.workflow.workflow import Workflow, create_workflow

__all__ = [
    "ApprovalLike",
    "CallApprovals",
    "CallTarget",
    "CheckpointError",
    "Condition",
    "CycleError",
    "Edge",
    "Expansion",
    "LocalWorkflowExecutor",
    "MissingInputError",
    "Node",
    "NodeRetry",
    "NodeRun",
    "NodeStatus",
    "NotCompilableError",
    "OnError",
    "PausedNode",
    "RunResult",
    "RunSetup",
    "RunStatus",
    "ToolboxRecipe",
    "UnknownNodeError",
    "UnknownToolError",
    "UnreachableNodeError",
    "WaitingCall",
    "Workflow",
    "WorkflowConfigError",
    "WorkflowError",
    "WorkflowExecutor",
    "WorkflowFailed",
    "create_workflow",
]
