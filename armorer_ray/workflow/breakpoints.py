"""Breakpoints: a run pauses before chosen nodes, as a checkpointed pause that `Workflow.resume` continues.

A breakpoint is a toolbox policy: before a node's call runs, it answers ``needs_approval`` when the run has a
breakpoint on that node, so the node ends ``paused`` and its checkpoint records the call (id and argument
digest) exactly as an approval pause does. Continuing is a resume whose decision for that node is
`continue_from` 's `Approval`: it carries ``{"breakpoint": node}`` and, optionally, edited arguments.

The policy *consumes* that decision: later policies of the call (a tool that itself needs approval) see no
approval, so passing a breakpoint never approves anything else. The same object is also a middleware that, for a
call continued with edited arguments, sends the edited call on; the pipeline validates a rewritten call against
the tool's schema like any other, so bad edits fail the node with a ``validation`` error (check them first with
`check_arguments`).

```python
points = Breakpoints()
debug = with_breakpoints(workflow, points)              # same structure, same checkpoints, one more policy
points.set(run_id, {"score"})
await debug.run(inputs, run_id=run_id, checkpoint=store)                      # pauses before "score"
points.set(run_id, set())
await debug.resume(run_id, checkpoint=store, approvals={"score": continue_from("score", {"x": 2})})
```
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import JsonValue, ValidationError

from armorer_ray.context import Approval, CallContext
from armorer_ray.middleware.base import Next
from armorer_ray.policy import Decision, PolicyContext
from armorer_ray.results import ToolCall, ToolResult
from armorer_ray.toolbox import Toolbox
from armorer_ray.workflow.errors import WorkflowConfigError
from armorer_ray.workflow.workflow import Workflow, create_workflow

__all__ = ["BREAKPOINT_MESSAGE", "Breakpoints", "call_node", "check_arguments", "continue_from", "with_breakpoints"]

BREAKPOINT_MESSAGE = "breakpoint before node "
_ITEM = re.compile(r"\[\d+\]$")


def call_node(call_id: str) -> tuple[str, str] | None:
    """The run id and node name a workflow call id names (``<run>/<node>`` or ``<run>/<node>[<item>]``).

    Example:
        >>> call_node("r1/fetch"), call_node("r1/square[3]"), call_node("r1/gen/child"), call_node("plain")
        (('r1', 'fetch'), ('r1', 'square'), ('r1', 'gen/child'), None)
    """
    run_id, slash, node = call_id.partition("/")
    if not slash or not run_id or not node:
        return None
    return run_id, _ITEM.sub("", node)


def continue_from(node: str, arguments: Mapping[str, Any] | None = None, *, by: str | None = None) -> Approval:
    """The decision that continues a run paused at ``node`` 's breakpoint, with edited ``arguments`` if given.

    Example:
        >>> continue_from("score", {"x": 2}, by="ada")
        Approval(granted=True, input={'breakpoint': 'score', 'arguments': {'x': 2}}, by='ada', reason=None)
    """
    data: dict[str, JsonValue] = {"breakpoint": node}
    if arguments is not None:
        data["arguments"] = dict(arguments)
    return Approval(True, data, by)


def _breakpoint_input(approval: Approval | None) -> Mapping[str, Any] | None:
    if approval is None or not approval.granted or not isinstance(approval.input, Mapping):
        return None
    return approval.input if "breakpoint" in approval.input else None


class Breakpoints:
    """The breakpoints of runs, by run id; a toolbox policy (pause before) and middleware (edited arguments).

    Example:
        >>> points = Breakpoints()
        >>> points.set("r1", ["b"])
        >>> points.get("r1"), points.get("r2")
        (frozenset({'b'}), frozenset())
    """

    def __init__(self) -> None:
        self._by_run: dict[str, frozenset[str]] = {}

    def set(self, run_id: str, nodes: Iterable[str]) -> None:
        """Replace the run's breakpoints (an empty set clears them)."""
        found = frozenset(nodes)
        if found:
            self._by_run[run_id] = found
        else:
            self._by_run.pop(run_id, None)

    def get(self, run_id: str) -> frozenset[str]:
        """The nodes the run pauses before."""
        return self._by_run.get(run_id, frozenset())

    def before_execute(self, ctx: PolicyContext) -> Decision | None:
        """Pause a call of a node with a breakpoint; let a call continued from its breakpoint through."""
        if _breakpoint_input(ctx.approval) is not None:
            ctx.approval = None  # consumed here: a later policy that needs approval still asks
            return None
        named = call_node(ctx.call.id)
        if named is not None and named[1] in self.get(named[0]):
            return Decision.needs_approval(BREAKPOINT_MESSAGE + named[1])
        return None

    async def __call__(self, call: ToolCall, ctx: CallContext, next: Next) -> ToolResult:
        found = _breakpoint_input(ctx.approval)
        edited = found.get("arguments") if found is not None else None
        if isinstance(edited, Mapping):
            # A new call object: the pipeline validates it against the tool's schema before the body runs.
            return await next(call.model_copy(update={"arguments": dict(edited)}), ctx)
        return await next(call, ctx)


def with_breakpoints(workflow: Workflow, points: Breakpoints) -> Workflow:
    """The workflow with ``points`` as the first policy and outermost middleware of a copy of its toolbox.

    The structure and tools are the same, so its runs checkpoint and resume interchangeably with the original's.

    Example:
        >>> from armorer_ray import tool
        >>> from armorer_ray.stores import MemoryStore
        >>> double = tool(name="double", description="Double x.")(lambda x: 2 * x)
        >>> points = Breakpoints()
        >>> debug = with_breakpoints(create_workflow(nodes={"d": double}, name="dbl"), points)
        >>> points.set("r1", ["d"])
        >>> store = MemoryStore()
        >>> debug.run_sync({"x": 2}, run_id="r1", checkpoint=store).status
        'paused'
        >>> points.set("r1", [])
        >>> debug.resume_sync("r1", checkpoint=store, approvals={"d": continue_from("d", {"x": 5})}).outputs
        {'d': 10}
    """
    box = workflow.toolbox
    copy = Toolbox(policy=[points, *box._user_policies], middleware=[points, *box.middleware],
                   context=box.context, read_only=box.risk.read_only, allow_mutation=box.risk.allow_mutation,
                   allow_dangerous=box.risk.allow_dangerous, budget=box.budget, timeout_s=box.timeout_s,
                   tool_concurrency=box.tool_concurrency, executor=box.executor, resources=box.resources,
                   digests=box.digests, output=box.output, name=box.name)
    for item in box.tools():
        copy.register(item, aliases=box.aliases(item.id))
    plan = workflow.plan
    return create_workflow(nodes=workflow.nodes, edges=workflow.edges, toolbox=copy, name=workflow.name,
                           inputs=None if plan.inputs is None else sorted(plan.inputs),
                           entry=None if plan.entry is None else list(plan.entry))


def check_arguments(workflow: Workflow, node: str, arguments: Mapping[str, Any]) -> list[str]:
    """Check edited arguments of ``node`` against its tool's schema; the problems, as messages (none: valid).

    Raises:
        WorkflowConfigError: when the workflow has no node ``node``.

    Example:
        >>> from armorer_ray import tool
        >>> @tool
        ... def double(x: int) -> int:
        ...     "Double x."
        ...     return 2 * x
        >>> wf = create_workflow(nodes={"d": double})
        >>> check_arguments(wf, "d", {"x": 3}), check_arguments(wf, "d", {"x": "three"})
        ([], ['x: Input should be a valid integer, unable to parse string as an integer'])
    """
    plan_node = workflow.plan.nodes.get(node)
    if plan_node is None:
        raise WorkflowConfigError(f"workflow {workflow.name!r} has no node {node!r}")
    found = workflow.toolbox.get_tool(plan_node.tool_id)
    if found is None:
        raise WorkflowConfigError(f"tool {plan_node.tool_id} left the toolbox")
    try:
        found.validate_arguments(dict(arguments))
    except ValidationError as exc:
        return [f"{'.'.join(str(part) for part in error['loc']) or '(arguments)'}: {error['msg']}"
                for error in exc.errors()]
    return []
