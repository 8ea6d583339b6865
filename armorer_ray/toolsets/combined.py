"""`CombinedToolset`: several toolsets offered as one; each call runs in the first set that resolves its name."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from armorer_ray.toolsets.base import Toolset, ToolsetView, not_found

if TYPE_CHECKING:
    from armorer_ray.pipeline import CallOptions
    from armorer_ray.results import ToolCall, ToolResult
    from armorer_ray.tools import Tool

__all__ = ["CombinedToolset"]


@dataclass(frozen=True, eq=False)
class CombinedToolset(ToolsetView):
    """The tools of several toolsets; a name two of them resolve belongs to the first (the later one's is not
    listed). Each set keeps its own pipeline, unlike `combine_toolboxes`, which copies tools into one toolbox.

    Example:
        >>> from armorer_ray import Toolbox
        >>> from armorer_ray.testing import mock_tool
        >>> both = CombinedToolset([Toolbox([mock_tool("a")]), Toolbox([mock_tool("b"), mock_tool("a")])])
        >>> [t.name for t in both.tools()], both.execute_sync({"name": "b"}).outcome
        (['a', 'b'], 'success')
    """

    toolsets: Sequence[Toolset]
    label: str = "combined"

    @property
    def name(self) -> str:
        return self.label

    @property
    def version(self) -> int:
        return sum(toolset.version for toolset in self.toolsets)

    def tools(self) -> list[Tool]:
        seen: set[str] = set()
        out: list[Tool] = []
        for toolset in self.toolsets:
            for found in toolset.tools():
                if found.name not in seen and found.id not in seen:
                    seen.update((found.name, found.id))
                    out.append(found)
        return out

    def get_tool(self, name_or_id: str) -> Tool | None:
        owner = self._owner(name_or_id)
        return owner.get_tool(name_or_id) if owner is not None else None

    def aliases(self, tool_id: str) -> tuple[str, ...]:
        owner = self._owner(tool_id)
        return owner.aliases(tool_id) if owner is not None else ()

    async def call_tool(self, call: ToolCall, options: CallOptions) -> ToolResult:
        owner = self._owner(call.name)
        if owner is None:
            return not_found(call, [t.name for t in self.tools()])
        return await owner.call_tool(call, options)

    def _owner(self, name_or_id: str) -> Toolset | None:
        for toolset in self.toolsets:
            if toolset.get_tool(name_or_id) is not None:
                return toolset
        return None
