"""Toolboxes for nodes: a per-node variant when a node adds policies, and a picklable recipe for Ray workers."""

from __future__ import annotations

from dataclasses import dataclass, field

from armorer_ray.options import ToolboxOptions
from armorer_ray.policy import as_policies
from armorer_ray.toolbox import Toolbox
from armorer_ray.tools import Tool
from armorer_ray.workflow.graph import PlanNode

__all__ = ["ToolboxRecipe", "node_toolbox"]


def node_toolbox(base: Toolbox, plan_node: PlanNode, cache: dict[int, Toolbox]) -> Toolbox:
    """The toolbox a node's calls go through: ``base``, or a copy whose copy of the node's tool adds its policies.

    The copy keeps the base's options and middleware instances, so limits and breakers are shared with it.
    """
    if plan_node.node.policy is None:
        return base
    found = cache.get(id(plan_node.node))
    if found is None:
        tool = base.get_tool(plan_node.tool_id)
        if tool is None:  # the plan was validated against this toolbox's tools
            raise LookupError(f"tool {plan_node.tool_id} left the toolbox")
        variant = tool.replace(policy=[*tool.policy, *as_policies(plan_node.node.policy)])
        found = cache[id(plan_node.node)] = base.extend(variant)
    return found


@dataclass(frozen=True)
class ToolboxRecipe:
    """A toolbox as picklable data: its tools (with aliases) and the options that make sense in another process.

    Calling the recipe builds an equal toolbox. Per-process state stays behind: the approval book, budget,
    lifecycle hooks and the executor (each worker makes its own); middleware instances are copied, so their
    state (a rate limit's window, a breaker's count) is per worker.

    Example:
        >>> from armorer_ray import tool
        >>> box = Toolbox([tool(name="one", description="Return 1.")(lambda: 1)], timeout_s=5, name="ones")
        >>> rebuilt = ToolboxRecipe.of(box)()
        >>> rebuilt.name, rebuilt.timeout_s, [t.name for t in rebuilt.tools()]
        ('ones', 5.0, ['one'])
    """

    tools: tuple[tuple[Tool, tuple[str, ...]], ...] = ()
    options: ToolboxOptions = field(default_factory=ToolboxOptions)

    @classmethod
    def of(cls, toolbox: Toolbox) -> ToolboxRecipe:
        """Capture a toolbox's tools, aliases and portable options."""
        options = toolbox.options.model_copy(update=_PER_PROCESS)
        return cls(tuple((t, toolbox.aliases(t.id)) for t in toolbox.tools()), options)

    def __call__(self) -> Toolbox:
        """Build the toolbox."""
        box = Toolbox(options=self.options)
        for item, aliases in self.tools:
            box.register(item, aliases=aliases)
        return box


# What a recipe leaves behind: each worker makes its own (a fresh book, executor and budget; no hooks).
_PER_PROCESS: dict[str, object] = {"approvals": None, "executor": None, "budget": None, "on_start": (),
                                   "on_drain": (), "on_stop": ()}
