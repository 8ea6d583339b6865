"""`FilteredToolset`: only the tools a predicate keeps are listed, resolved and run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from armorer_ray.toolsets.base import not_found
from armorer_ray.toolsets.wrapper import WrapperToolset

if TYPE_CHECKING:
    from armorer_ray.pipeline import CallOptions
    from armorer_ray.results import ToolCall, ToolResult
    from armorer_ray.tools import Tool

__all__ = ["FilteredToolset"]


@dataclass(frozen=True, eq=False)
class FilteredToolset(WrapperToolset):
    """Hides, and so refuses to run, every tool ``keep`` rejects: a call naming one is ``not_found``.

    Example:
        >>> from armorer_ray import Toolbox
        >>> from armorer_ray.testing import mock_tool
        >>> box = Toolbox([mock_tool("read", read_only=True), mock_tool("drop", dangerous=True)])
        >>> safe = FilteredToolset(box, lambda tool: not tool.is_dangerous)
        >>> safe.ids(), safe.execute_sync({"name": "drop"}).error.category
        (['default:read'], 'not_found')
    """

    keep: Callable[[Tool], bool]

    def tools(self) -> list[Tool]:
        return [found for found in self.inner.tools() if self.keep(found)]

    def get_tool(self, name_or_id: str) -> Tool | None:
        found = self.inner.get_tool(name_or_id)
        return found if found is not None and self.keep(found) else None

    async def call_tool(self, call: ToolCall, options: CallOptions) -> ToolResult:
        found = self.get_tool(call.name)
        if found is None:
            return not_found(call, [t.name for t in self.tools()])
        return await self.inner.call_tool(call, options)
