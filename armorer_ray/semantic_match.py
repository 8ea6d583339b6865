"""Embeddings in text filters (reference §12 and §14): a tool passes lexically, or by meaning.

`semantic_text_filter` returns a predicate for `query` / `query_tools` (``predicate=``): a tool matches when the
text matches it lexically (`armorer_ray.text_match`, ``contains`` mode), or else when the cosine similarity
between the query's embedding and the tool's stored embedding reaches ``threshold`` (0.7 by default, as in
Armorer, in every mode). Tools are embedded by a `armorer_ray.embeddings.ToolIndex` (its embedder and store);
a tool the index could not embed is found lexically only.

Example:
    >>> import asyncio
    >>> from armorer_ray import Toolbox, tool
    >>> from armorer_ray.embeddings.index import ToolIndex
    >>> from armorer_ray.embeddings.testing import HashingEmbedder
    >>> box = Toolbox([tool(name="send-email", description="Send an email.")(lambda to: to)])
    >>> matches = asyncio.run(semantic_text_filter(ToolIndex(box, embedder=HashingEmbedder()), "mail"))
    >>> box.query(predicate=matches, select="name")
    ['send-email']
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from armorer_ray.errors import ConfigError
from armorer_ray.text_match import TextQuery, score_text_match

if TYPE_CHECKING:
    from armorer_ray.embeddings.index import ToolIndex
    from armorer_ray.tools import Tool

__all__ = ["semantic_text_filter"]


async def semantic_text_filter(index: ToolIndex, text: str | TextQuery, *,
                               threshold: float | None = None) -> Callable[[Tool], bool]:
    """A predicate: lexical match first, else embedding similarity at least ``threshold``.

    Args:
        index: The index whose embedder and store hold the tools' vectors (synced here first).
        text: The query, or a `TextQuery` (its mode, fields and threshold apply to the lexical part).
        threshold: Least cosine similarity (default: the `TextQuery`'s threshold, 0.7).

    Returns:
        ``(tool) -> bool``; a blank query matches every tool.

    Raises:
        ConfigError: for a threshold outside [0, 1].
    """
    spec = text if isinstance(text, TextQuery) else TextQuery(query=text)
    least = spec.threshold if threshold is None else threshold
    if not 0.0 <= least <= 1.0:
        raise ConfigError(f"threshold must be within [0, 1], got {least}")
    if spec.is_blank():
        return lambda tool: True
    await index.sync()
    query = np.asarray((await index.embedder.embed([spec.query], kind="query"))[0], dtype=np.float32)
    similarity: dict[str, float] = {}
    norm = float(np.linalg.norm(query))
    if query.shape == (index.embedder.dimension,) and norm > 0:
        store = index.store
        for row in await store.get(await store.ids()):
            vector = np.asarray(row.vector, dtype=np.float32)
            scale = float(np.linalg.norm(vector)) * norm
            if vector.shape == query.shape and scale > 0:
                similarity[row.id] = float(vector @ query) / scale

    def matches(tool: Tool) -> bool:
        return score_text_match(tool, spec).score > 0 or similarity.get(tool.id, 0.0) >= least

    return matches
