"""`create_search_tool`: a tool agents call to find other tools by what they want to do."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field

from armorer_ray.context import CallContext
from armorer_ray.tools import Tool

if TYPE_CHECKING:
    from armorer_ray.toolbox import Toolbox

__all__ = ["create_search_tool"]

DESCRIPTION = (
    "Find the tools that can do what you describe. Describe the task in plain words; optionally restrict to "
    "tags. Returns tool names, descriptions and relevance scores, best first."
)


def create_search_tool(toolbox: Toolbox, *, name: str = "search_tools", default_k: int = 5,
                       register: bool = True, tags: tuple[str, ...] = ()) -> Tool:
    """A read-only tool that runs `Toolbox.search` and returns real relevance scores.

    It searches the toolbox at call time, so it finds tools registered after it (and never returns itself).
    It answers as the caller sees the toolbox: a hit the toolbox's visibility rules hide from the calling
    tenant (`armorer_ray.tenancy.TenantAccess`) is left out, name, id and description alike, exactly as a call
    naming it would not resolve. (Scores are still computed over every tool's text, so hiding a tool can shift
    another's score; no hidden name, id or description is ever returned.)

    Args:
        toolbox: The toolbox to search.
        name: The tool's name.
        default_k: Results when the caller gives no ``k``.
        register: Also register the tool in ``toolbox``.
        tags: Extra tags for the search tool.

    Returns:
        The search tool.

    Example:
        >>> from armorer_ray import Toolbox, tool
        >>> from armorer_ray.embeddings.index import ToolIndex
        >>> from armorer_ray.embeddings.testing import HashingEmbedder, HashingOptions
        >>> box = Toolbox([tool(name="refund_order", description="Refund a customer's order.")(lambda: 1)])
        >>> box.set_tool_index(ToolIndex(box, embedder=HashingEmbedder(HashingOptions(dimension=64))))
        >>> finder = create_search_tool(box)
        >>> box.execute_sync({"name": "search_tools", "arguments": {"query": "refund an order"}}).result[0]["name"]
        'refund_order'
    """

    async def search_tools(
        ctx: CallContext,
        query: Annotated[str, Field(min_length=1, description="What you want to do, in plain words.")],
        k: Annotated[int | None, Field(ge=1, le=50, description="How many tools to return.")] = None,
        tags: Annotated[list[str] | None, Field(description="Only tools with any of these tags.")] = None,
    ) -> list[dict[str, Any]]:
        from armorer_ray.embeddings.filters import ToolFilter

        want = k or default_k
        filters = ToolFilter(tags_any=frozenset(tags)) if tags else None
        out: list[dict[str, Any]] = []
        depth = want + 1  # one extra, in case the search tool itself is among the hits
        while True:
            hits = await toolbox.search(query, depth, filters)
            out = []
            for hit in hits:
                # The same rule every listing uses: resolve the hit's id as this caller's call would.
                found = toolbox.get_tool(hit.id, caller=ctx.call)
                if found is None or found.name == name:
                    continue
                out.append({"name": found.name, "id": found.id, "description": found.description,
                            "tags": list(found.tags), "score": round(hit.score, 6), "reasons": hit.reasons})
            if len(out) >= want or len(hits) < depth:
                return out[:want]
            depth *= 4

    search = Tool(search_tools, name=name, description=DESCRIPTION, read_only=True,
                  tags=("utility", "search", *tags))
    if register:
        toolbox.register(search, replace=True)
    return search
