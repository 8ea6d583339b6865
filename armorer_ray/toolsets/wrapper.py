"""`WrapperToolset`: a view that delegates everything to the toolset it wraps; variants override one method."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from armorer_ray.toolsets.base import Toolset, ToolsetView

if TYPE_CHECKING:
    from armorer_ray.pipeline import CallOptions
    from armorer_ray.results import ToolCall, ToolResult
    from armorer_ray.tools import Tool

__all__ = ["WrapperToolset"]


@dataclass(frozen=True, eq=False)
class WrapperToolset(ToolsetView):
    """Shows ``inner`` unchanged; subclasses override `tools`, `get_tool` or `call_tool` to vary it.

    Example:
        >>> from armorer_ray import Toolbox
        >>> from armorer_ray.testing import mock_tool
        >>> view = WrapperToolset(Toolbox([mock_tool("a")]))
        >>> view.ids(), view.execute_sync({"name": "a"}).outcome
        (['default:a'], 'success')
    """

    inner: Toolset

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def version(self) -> int:
        return self.inner.version

    def tools(self) -> list[Tool]:
        return self.inner.tools()

    def get_tool(self, name_or_id: str) -> Tool | None:
        return self.inner.get_tool(name_or_id)

    def aliases(self, tool_id: str) -> tuple[str, ...]:
        return self.inner.aliases(tool_id)

    async def call_tool(self, call: ToolCall, options: CallOptions) -> ToolResult:
        return await self.inner.call_tool(call, options)
