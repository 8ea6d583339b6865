"""`TenantView`: one tenant's window on a shared toolbox, for listing, searching, exporting and calling."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from armorer_ray._sync import run_sync
from armorer_ray.errors import ConfigError
from armorer_ray.query import LexicalIndex, Select, ToolQuery, query_tools
from armorer_ray.results import Caller, ToolCall
from armorer_ray.toolbox import CallInput, Toolbox
from armorer_ray.tools import Tool

if TYPE_CHECKING:
    from armorer_ray.embeddings.filters import ToolFilter
    from armorer_ray.embeddings.index import SearchHit

__all__ = ["TenantView"]


class TenantView:
    """A toolbox as one tenant sees it: only the tools its visibility rules show the tenant, and calls made as it.

    Every listing goes through `tools`, which keeps the tools ``inner.is_visible`` shows the tenant, so `query`,
    `search`, `to_json` and the provider adapters (``to_openai(view)``...) all agree. Calls are stamped with the
    tenant and run by ``inner.execute``, whose resolution applies the same rules: the view adds no second way
    to run a tool. Over a toolbox without visibility rules (no `TenantAccess`), the view shows every tool.

    Args:
        inner: The shared toolbox.
        tenant_id: The tenant this view serves.

    Raises:
        ConfigError: for an empty tenant id.

    Example:
        >>> from armorer_ray import Toolbox
        >>> from armorer_ray.adapters import to_openai
        >>> from armorer_ray.tenancy import TenantAccess, TenantGrant
        >>> from armorer_ray.testing import mock_tool
        >>> box = Toolbox([mock_tool("contacts", tags=["crm"]), mock_tool("payroll", tags=["hr"])],
        ...               policy=TenantAccess({"acme": TenantGrant(tags={"crm"})}))
        >>> acme = TenantView(box, "acme")
        >>> [t.name for t in acme.tools()], [d["function"]["name"] for d in to_openai(acme)]
        (['contacts'], ['contacts'])
        >>> acme.execute_sync({"name": "contacts"}).outcome, acme.execute_sync({"name": "payroll"}).error.category
        ('success', 'not_found')
    """

    __slots__ = ("_lexical", "caller", "inner", "tenant_id")

    def __init__(self, inner: Toolbox, tenant_id: str) -> None:
        if not isinstance(tenant_id, str) or not tenant_id:
            raise ConfigError(f"TenantView needs a non-empty tenant id, got {tenant_id!r}")
        self.inner = inner
        self.tenant_id = tenant_id
        self.caller = Caller(tenant_id=tenant_id)
        self._lexical: tuple[int, LexicalIndex] | None = None

    def __repr__(self) -> str:
        return f"TenantView({self.inner.name!r}, tenant_id={self.tenant_id!r})"

    @property
    def name(self) -> str:
        """The toolbox's name (what `create_mcp_server` and the UI label a view with)."""
        return self.inner.name

    # -- listings: all of them go through tools() ------------------------------------------------------

    def tools(self) -> list[Tool]:
        """The tools this tenant may see, in registration order."""
        return self.inner.tools(caller=self.caller)

    def get_tool(self, name_or_id: str) -> Tool | None:
        """Resolve a name as the toolbox does for this tenant's calls (None for a hidden tool)."""
        return self.inner.get_tool(name_or_id, caller=self.caller)

    def ids(self) -> list[str]:
        """Ids of the tools this tenant may see."""
        return [found.id for found in self.tools()]

    def to_json(self) -> list[dict[str, Any]]:
        """Provider-neutral definitions of this tenant's tools, with their aliases (as `Toolbox.to_json`)."""
        shown = set(self.ids())
        return [definition for definition in self.inner.to_json() if definition["id"] in shown]

    def __contains__(self, name_or_id: object) -> bool:
        return isinstance(name_or_id, str) and self.get_tool(name_or_id) is not None

    def __len__(self) -> int:
        return len(self.tools())

    def __iter__(self) -> Iterator[Tool]:
        return iter(self.tools())

    def query(self, query: ToolQuery | None = None, /, *, offset: int = 0, limit: int | None = None,
              select: Select = "tool", **criteria: Any) -> list[Any]:
        """`Toolbox.query` over this tenant's tools only.

        BM25 statistics come from the tenant's tools alone, so hidden tools do not even shift the scores.

        Example:
            >>> from armorer_ray import Toolbox
            >>> from armorer_ray.tenancy import TenantAccess, TenantGrant
            >>> from armorer_ray.testing import mock_tool
            >>> box = Toolbox([mock_tool("a", tags=["x"]), mock_tool("b", tags=["x"])],
            ...               policy=TenantAccess({"acme": TenantGrant(tools={"a"})}))
            >>> TenantView(box, "acme").query(tags_any=["x"], select="name")
            ['a']
        """
        tools = self.tools()
        index = None
        if (query and query.text) or criteria.get("text"):
            if self._lexical is None or self._lexical[0] != self.inner.version:
                self._lexical = (self.inner.version, LexicalIndex(tools))
            index = self._lexical[1]
        return query_tools(tools, query, offset=offset, limit=limit, select=select, index=index, **criteria)

    async def search(self, query: str, k: int = 5, filters: ToolFilter | None = None) -> list[SearchHit]:
        """`Toolbox.search` returning only this tenant's tools: the best ``k`` of them, best first.

        The toolbox's index ranks every tool; the view asks it for more hits until ``k`` visible ones come back
        or the index has no more.
        """
        shown = set(self.ids())
        depth = k
        while True:
            hits = await self.inner.search(query, depth, filters)
            mine = [hit for hit in hits if hit.id in shown]
            if len(mine) >= k or len(hits) < depth:
                return mine[:k]
            depth *= 4

    def search_sync(self, query: str, k: int = 5, filters: ToolFilter | None = None) -> list[SearchHit]:
        """Blocking form of `search`."""
        return run_sync(self.search(query, k, filters), "view.search")

    # -- calls -----------------------------------------------------------------------------------------

    async def execute(self, calls: CallInput | Sequence[CallInput], /, **options: Any) -> Any:
        """`Toolbox.execute` with every call made as this tenant (same options, same results).

        Raises:
            ConfigError: when a call already names another tenant (an application bug: nothing runs).
            ToolExecutionError: only with ``error_mode="fail_fast"``.
        """
        if isinstance(calls, ToolCall | Mapping):
            return await self.inner.execute(self._own(calls), **options)
        if isinstance(calls, str | bytes):
            raise ConfigError("execute() takes a ToolCall, a mapping, or a sequence of them, not a string")
        return await self.inner.execute([self._own(item) for item in calls], **options)

    def execute_sync(self, calls: CallInput | Sequence[CallInput], /, **options: Any) -> Any:
        """Blocking form of `execute`; refuses inside a running event loop."""
        return run_sync(self.execute(calls, **options), "view.execute")

    async def resume(self, token: str, **options: Any) -> Any:
        """`Toolbox.resume` as this tenant: only calls this tenant paused resume (others: an invalid token).

        Raises:
            Conflict: for an unknown, used, or other tenant's token.
        """
        return await self.inner.resume(token, caller=self.caller, **options)

    def resume_sync(self, token: str, **options: Any) -> Any:
        """Blocking form of `resume`."""
        return run_sync(self.resume(token, **options), "view.resume")

    def stream(self, call: CallInput, /, **options: Any) -> AsyncGenerator[object, None]:
        """`Toolbox.stream` made as this tenant: the chunks, then the `ToolResult`."""
        return self.inner.stream(self._own(call), **options)

    def _own(self, item: CallInput) -> CallInput:
        claimed = item.tenant_id if isinstance(item, ToolCall) else item.get("tenant_id")
        if claimed is not None and claimed != self.tenant_id:
            raise ConfigError(f"a call for tenant {claimed!r} was sent through the view of tenant {self.tenant_id!r}")
        if isinstance(item, ToolCall):
            return item if claimed is not None else item.model_copy(update={"tenant_id": self.tenant_id})
        return {**item, "tenant_id": self.tenant_id}
