"""`TenantView`: one tenant's window on a shared toolbox, for listing, searching, exporting and calling."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

from pydantic import JsonValue

from armorer_ray._sync import run_sync
from armorer_ray.errors import ConfigError
from armorer_ray.pipeline import CallOptions
from armorer_ray.query import LexicalIndex
from armorer_ray.results import Caller, ToolCall, ToolResult
from armorer_ray.toolbox import CallInput, Toolbox
from armorer_ray.tools import Tool
from armorer_ray.toolsets.wrapper import WrapperToolset

if TYPE_CHECKING:
    from armorer_ray.embeddings.filters import ToolFilter
    from armorer_ray.embeddings.index import SearchHit

__all__ = ["TenantView"]


@dataclass(frozen=True, eq=False)
class TenantView(WrapperToolset):
    """A toolbox as one tenant sees it: only the tools its visibility rules show the tenant, and calls made as it.

    A toolset view (see `armorer_ray.toolsets`): every listing goes through `tools`, which keeps the tools
    ``inner.is_visible`` shows the tenant, so `query`, `search`, `to_json` and the provider adapters
    (``to_openai(view)``...) all agree. Calls (``execute``, ``execute_sync``, ``stream``) are stamped with the
    tenant by `prepare` and run by ``inner.call_tool``, whose resolution applies the same rules: the view adds
    no second way to run a tool. Over a toolbox without visibility rules (no `TenantAccess`), it shows every tool.

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

    inner: Toolbox
    tenant_id: str
    caller: Caller = field(init=False)
    _lexical: tuple[int, LexicalIndex] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.tenant_id, str) or not self.tenant_id:
            raise ConfigError(f"TenantView needs a non-empty tenant id, got {self.tenant_id!r}")
        object.__setattr__(self, "caller", Caller(tenant_id=self.tenant_id))

    def __repr__(self) -> str:
        return f"TenantView({self.inner.name!r}, tenant_id={self.tenant_id!r})"

    # -- the view: what it lists and resolves, and how its calls are made --------------------------------

    def tools(self) -> list[Tool]:
        """The tools this tenant may see, in registration order."""
        return self.inner.tools(caller=self.caller)

    def get_tool(self, name_or_id: str) -> Tool | None:
        """Resolve a name as the toolbox does for this tenant's calls (None for a hidden tool)."""
        return self.inner.get_tool(name_or_id, caller=self.caller)

    def prepare(self, item: CallInput) -> CallInput:
        """The call made as this tenant.

        Raises:
            ConfigError: when the call already names another tenant (an application bug: nothing runs).
        """
        claimed = item.tenant_id if isinstance(item, ToolCall) else item.get("tenant_id")
        if claimed is not None and claimed != self.tenant_id:
            raise ConfigError(f"a call for tenant {claimed!r} was sent through the view of tenant {self.tenant_id!r}")
        if isinstance(item, ToolCall):
            return item if claimed is not None else item.model_copy(update={"tenant_id": self.tenant_id})
        return {**item, "tenant_id": self.tenant_id}

    async def call_tool(self, call: ToolCall, options: CallOptions) -> ToolResult:
        """Run one call as this tenant; the toolbox's resolution applies the tenant's visibility rules."""
        return await self.inner.call_tool(cast(ToolCall, self.prepare(call)), options)

    # -- listings the toolbox indexes: reuse its index, keep only this tenant's tools --------------------

    def _lexical_index(self, tools: list[Tool]) -> LexicalIndex:
        """The BM25 index `query` ranks with: over the tenant's tools alone, so hidden tools do not even shift the
        scores, and kept until the toolbox's tools change.

        Example:
            >>> from armorer_ray import Toolbox
            >>> from armorer_ray.tenancy import TenantAccess, TenantGrant
            >>> from armorer_ray.testing import mock_tool
            >>> box = Toolbox([mock_tool("a", tags=["x"]), mock_tool("b", tags=["x"])],
            ...               policy=TenantAccess({"acme": TenantGrant(tools={"a"})}))
            >>> TenantView(box, "acme").query(tags_any=["x"], select="name")
            ['a']
        """
        if self._lexical is None or self._lexical[0] != self.inner.version:
            object.__setattr__(self, "_lexical", (self.inner.version, LexicalIndex(tools)))
        assert self._lexical is not None
        return self._lexical[1]

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

    # -- approvals -------------------------------------------------------------------------------------

    async def resume(self, token: str, *, approved: bool = True, input: JsonValue = None, by: str | None = None,
                     reason: str | None = None) -> ToolResult:
        """`Toolbox.resume` as this tenant: only calls this tenant paused resume (others: an invalid token).

        Raises:
            Conflict: for an unknown, used, or other tenant's token.
        """
        return await self.inner.resume(token, approved=approved, input=input, by=by, reason=reason,
                                       caller=self.caller)

    def resume_sync(self, token: str, *, approved: bool = True, input: JsonValue = None, by: str | None = None,
                    reason: str | None = None) -> ToolResult:
        """Blocking form of `resume`."""
        return run_sync(self.resume(token, approved=approved, input=input, by=by, reason=reason), "view.resume")
