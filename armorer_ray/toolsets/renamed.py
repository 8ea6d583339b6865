"""`RenamedToolset` and `PrefixedToolset`: the same tools under other names; calls are mapped back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from armorer_ray.errors import ConfigError
from armorer_ray.toolsets.base import not_found
from armorer_ray.toolsets.wrapper import WrapperToolset

if TYPE_CHECKING:
    from armorer_ray.pipeline import CallOptions
    from armorer_ray.results import ToolCall, ToolResult
    from armorer_ray.tools import Tool

__all__ = ["PrefixedToolset", "RenamedToolset"]


@dataclass(frozen=True, eq=False)
class RenamedToolset(WrapperToolset):
    """Lists tools under new names (``names``: new name -> inner name; others keep theirs) and runs calls to a
    new name as calls to the inner one; results carry the new name.

    Listed tools are renamed copies (made once per change of the inner set); the inner tool runs, through the
    inner toolset's pipeline.

    Example:
        >>> from armorer_ray import Toolbox
        >>> from armorer_ray.testing import mock_tool
        >>> view = RenamedToolset(Toolbox([mock_tool("search_v2")]), {"search": "search_v2"})
        >>> [t.name for t in view.tools()], view.execute_sync({"name": "search"}).tool_name
        (['search'], 'search')
        >>> view.execute_sync({"name": "search_v2"}).error.category
        'not_found'
    """

    names: Mapping[str, str] = field(default_factory=dict)
    _copies: dict[str, tuple[int, Tool]] = field(default_factory=dict, init=False, repr=False)

    def outer_name(self, inner_name: str) -> str:
        """The name a tool of the inner set is listed under."""
        for new, old in self.names.items():
            if old == inner_name:
                return new
        return inner_name

    def inner_name(self, outer_name: str) -> str | None:
        """The inner name a listed name stands for (None: no listed tool has it)."""
        if outer_name in self.names:
            return self.names[outer_name]
        return None if outer_name in self.names.values() else outer_name

    def tools(self) -> list[Tool]:
        return [self._renamed(found) for found in self.inner.tools()]

    def get_tool(self, name_or_id: str) -> Tool | None:
        inner = self.inner_name(name_or_id)
        found = self.inner.get_tool(inner) if inner is not None else None
        return self._renamed(found) if found is not None else None

    async def call_tool(self, call: ToolCall, options: CallOptions) -> ToolResult:
        inner = self.inner_name(call.name)
        if inner is None or self.inner.get_tool(inner) is None:
            return not_found(call, [t.name for t in self.tools()])
        result = await self.inner.call_tool(call.model_copy(update={"name": inner}), options)
        outer = self.outer_name(result.tool_name)
        return result if outer == result.tool_name else result.replace(tool_name=outer)

    def _renamed(self, found: Tool) -> Tool:
        outer = self.outer_name(found.name)
        if outer == found.name:
            return found
        version = self.inner.version
        cached = self._copies.get(found.id)
        if cached is None or cached[0] != version:
            cached = self._copies[found.id] = (version, found.replace(name=outer))
        return cached[1]


@dataclass(frozen=True, eq=False)
class PrefixedToolset(RenamedToolset):
    """Lists every tool as ``<prefix>_<name>``, so sets with clashing names can be offered side by side.

    Example:
        >>> from armorer_ray import Toolbox
        >>> from armorer_ray.testing import mock_tool
        >>> crm = PrefixedToolset(Toolbox([mock_tool("search")]), prefix="crm")
        >>> [t.name for t in crm.tools()], crm.execute_sync({"name": "crm_search"}).tool_name
        (['crm_search'], 'crm_search')
    """

    prefix: str = ""

    def __post_init__(self) -> None:
        if not self.prefix:
            raise ConfigError("PrefixedToolset needs a non-empty prefix")

    def outer_name(self, inner_name: str) -> str:
        return f"{self.prefix}_{inner_name}"

    def inner_name(self, outer_name: str) -> str | None:
        head = f"{self.prefix}_"
        return outer_name[len(head):] if outer_name.startswith(head) else None
