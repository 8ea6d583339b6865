"""Toolboxes for nodes: a per-node variant when a node adds policies, and a picklable recipe for Ray workers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

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

    Calling the recipe builds an equal toolbox. Per-process state stays behind: the approval book, lifecycle hooks
    and the executor (each worker makes its own); middleware instances are copied, so their state (a rate limit's
    window, a breaker's count) is per worker.

    Example:
        >>> from armorer_ray import tool
        >>> box = Toolbox([tool(name="one", description="Return 1.")(lambda: 1)], timeout_s=5, name="ones")
        >>> rebuilt = ToolboxRecipe.of(box)()
        >>> rebuilt.name, rebuilt.timeout_s, [t.name for t in rebuilt.tools()]
        ('ones', 5, ['one'])
    """

    tools: tuple[tuple[Tool, tuple[str, ...]], ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, toolbox: Toolbox) -> ToolboxRecipe:
        """Capture a toolbox's tools, aliases and portable options."""
        options: dict[str, Any] = {
            "policy": list(toolbox._user_policies), "middleware": toolbox.middleware, "context": dict(toolbox.context),
            "read_only": toolbox.risk.read_only, "allow_mutation": toolbox.risk.allow_mutation,
            "allow_dangerous": toolbox.risk.allow_dangerous, "timeout_s": toolbox.timeout_s,
            "tool_concurrency": toolbox.tool_concurrency, "resources": dict(toolbox.resources),
            "digests": toolbox.digests, "output": toolbox.output, "name": toolbox.name,
        }
        return cls(tuple((t, toolbox.aliases(t.id)) for t in toolbox.tools()), options)

    def __call__(self) -> Toolbox:
        """Build the toolbox."""
        box = Toolbox(**self.options)
        for item, aliases in self.tools:
            box.register(item, aliases=aliases)
        return box
