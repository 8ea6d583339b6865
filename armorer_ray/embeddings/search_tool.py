"""`create_search_tool`: a tool agents call to find other tools by what they want to do."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field

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
        query: Annotated[str, Field(min_length=1, description="What you want to do, in plain words.")],
        k: Annotated[int | None, Field(ge=1, le=50, description="How many tools to return.")] = None,
        tags: Annotated[list[str] | None, Field(description="Only tools with any of these tags.")] = None,
    ) -> list[dict[str, Any]]:
        from armorer_ray.embeddings.filters import ToolFilter

        wanted = (k or default_k) + 1  # one extra, in case the search tool itself is among the hits
        filters = ToolFilter(tags_any=frozenset(tags)) if tags else None
        hits = [hit for hit in await toolbox.search(query, wanted, filters) if hit.name != name]
        out = []
        for hit in hits[: k or default_k]:
            found = toolbox.get_tool(hit.id)
            out.append({"name": hit.name, "id": hit.id, "description": found.description if found else "",
                        "tags": list(found.tags) if found else [], "score": round(hit.score, 6),
                        "reasons": hit.reasons})
        return out

    search = Tool(search_tools, name=name, description=DESCRIPTION, read_only=True,
                  tags=("utility", "search", *tags))
    if register:
        toolbox.register(search, replace=True)
    return search
