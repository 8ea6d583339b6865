"""`ToolIndex`: hybrid (BM25 + vector) search over a toolbox's tools, kept in sync incrementally.

Each tool is embedded once from `tool_text` and stored with a content hash (text + embedder model id) in a
`VectorStore`; a sync re-embeds only tools whose hash changed and deletes rows of removed tools, so an index
persisted by its store reloads without re-embedding. A search fuses two rankings — BM25 over the tools' terms
(`armorer_ray.query.LexicalIndex`) and cosine similarity of embeddings — as a weighted sum of min-max normalised
scores, also scoring each part of a multi-part request (see `FusionWeights`), and says why each hit matched.

Example:
    >>> import asyncio
    >>> from armorer_ray import Toolbox, tool
    >>> from armorer_ray.embeddings.testing import HashingEmbedder, HashingOptions
    >>> box = Toolbox([
    ...     tool(name="send_email", description="Send an email message to a contact.")(lambda to: to),
    ...     tool(name="get_forecast", description="Weather forecast for a city.")(lambda city: city),
    ... ])
    >>> index = ToolIndex(box, embedder=HashingEmbedder(HashingOptions(dimension=64)))
    >>> [hit.name for hit in asyncio.run(index.search("email a contact", k=1))]
    ['send_email']
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, JsonValue, NonNegativeFloat, PositiveInt

from armorer_ray._sync import run_sync
from armorer_ray.embeddings._dense import DenseMatrix
from armorer_ray.embeddings.batching import embed_batched
from armorer_ray.embeddings.filters import ToolFilter
from armorer_ray.embeddings.fusion import Turn, adaptive_weights, conversation_text
from armorer_ray.embeddings.protocols import Embedder, VectorStore
from armorer_ray.embeddings.rows import VectorRow
from armorer_ray.errors import ConfigError
from armorer_ray.query import LexicalIndex
from armorer_ray.text import english_stopwords, split_subqueries, tokenize

logger = logging.getLogger("armorer_ray.embeddings")

if TYPE_CHECKING:
    from armorer_ray.tools import Tool

__all__ = ["FusionWeights", "IndexSync", "SearchHit", "ToolIndex", "tool_metadata", "tool_text"]


class FusionWeights(BaseModel):
    """How the lexical (BM25) and vector rankings are combined.

    For a query ``q`` each ranking's top ``candidates`` scores are min-max normalised to [0, 1] (a tool absent from
    a list gets 0 from it) and combined: ``F(q, t) = lexical * bm25 + vector * cosine``. A request that asks for
    several things ("find X, then email Y") is also split into parts ``s_i`` and scored
    ``S(t) = F(q, t) + subquery * max_i F(s_i, t)``, so each part's tool can surface.

    Ranking by ``S`` alone tends to fill the top ``k`` with near-duplicates for the part that matches best
    (four restaurant finders, no flight search). So for multi-part requests the ``k`` hits are picked greedily,
    weighing each candidate's combined score against how much it adds to parts not yet covered (explicit
    query-aspect diversification, after xQuAD): ``(1 - coverage) * S(t) / max S + coverage * mean_i c_i * F(s_i, t)``
    where a part's remaining need ``c_i`` (starting at 1) shrinks by ``1 - F(s_i, p)`` for every pick ``p``.

    These defaults were chosen on half of the BFCL dev categories and confirmed on the other half
    (docs/retrieval-research.md): they sit on a flat region (any lexical weight 0.4-0.7 and any depth 20-2000 is
    within 0.008 recall@5 of the best; coverage 0.25-0.9 within 0.003).

    Attributes:
        lexical: Weight of the normalised BM25 score.
        vector: Weight of the normalised cosine similarity.
        subquery: Weight of the best part's score for multi-part requests (0 disables splitting).
        coverage: For multi-part requests, how much picking favours parts not yet covered (0: rank by ``S``).
        candidates: How deep each ranking is read.
        context: Weight of the request read together with its conversation (``search(..., context=...)``):
            ``S(t) += context * F(turns + q, t)``; 0 ignores the context.
        context_turns: How many of the latest earlier turns are read with the request.
        adaptive: Weigh each ranking per query by how clearly it separates its best candidates from the rest
            (`adaptive_weights`), instead of the fixed ``lexical`` / ``vector`` split.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    lexical: NonNegativeFloat = 0.5
    vector: NonNegativeFloat = 0.5
    subquery: NonNegativeFloat = 1.0
    coverage: float = Field(default=0.5, ge=0.0, le=1.0)
    candidates: PositiveInt = 100
    context: NonNegativeFloat = 0.5
    context_turns: PositiveInt = 2
    adaptive: bool = False


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One tool found by a search, with its fused score and why it matched.

    Attributes:
        id: The tool's id.
        name: The tool's name.
        score: Fused score ``S`` (higher is better; comparable within one search). Hits come in rank order; for a
            multi-part request the order also weighs covering each part (`FusionWeights.coverage`), so a later
            hit can score higher than an earlier one.
        lexical_rank: 1-based rank in the BM25 list, None if the tool shares no word with the query.
        vector_rank: 1-based rank by embedding similarity, None if outside the candidate depth.
        similarity: Cosine similarity of query and tool embeddings, when ranked.
        matched_terms: Query words found in the tool's name, description, parameters or tags.
    """

    id: str
    name: str
    score: float
    lexical_rank: int | None
    vector_rank: int | None
    similarity: float | None
    matched_terms: tuple[str, ...] = ()

    @property
    def reasons(self) -> list[str]:
        """Why it matched, in words (``terms: ...``, ``semantic: 0.71``)."""
        out = []
        if self.matched_terms:
            out.append("terms: " + ", ".join(self.matched_terms))
        if self.similarity is not None:
            out.append(f"semantic: {self.similarity:.2f}")
        return out


@dataclass(frozen=True, slots=True)
class IndexSync:
    """What a sync did."""

    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    ids: tuple[str, ...] = field(default=(), repr=False)


def tool_text(tool: Tool) -> str:
    """The text a tool is embedded from: its name as words, description, parameter names as words, and tags.

    Parameter descriptions are left out: on BFCL they help BM25 but dilute the embedding
    (docs/retrieval-research.md).

    Example:
        >>> from armorer_ray import tool
        >>> print(tool_text(tool(name="getWeather", description="Forecast.", tags=["geo"])(lambda city_name: 1)))
        get weather. Forecast. city name. Tags: geo.
    """
    parts = [f"{' '.join(tokenize(tool.name))}. {tool.description}"]
    params = [" ".join(tokenize(name)) for name in tool.parameters.model_fields]
    if params:
        parts.append(" ".join(params) + ".")
    if tool.tags:
        parts.append("Tags: " + ", ".join(tool.tags) + ".")
    return " ".join(parts)


def tool_metadata(tool: Tool, content_hash: str) -> dict[str, JsonValue]:
    """Row metadata for a tool: what filters push down to stores, plus its scalar metadata values.

    The risk keys hold the tool's resolved `ToolRisk`, under each metadata spelling, whatever the tool's own
    metadata says: ``ToolFilter(metadata_eq={"dangerous": False})`` agrees with ``tool.risk`` for a tool declared
    dangerous by option or tag too.

    Example:
        >>> from armorer_ray import tool
        >>> row = tool_metadata(tool(name="rm", description="Remove.", tags=["dangerous"])(lambda: 1), "h")
        >>> row["dangerous"], row["readOnly"], row["tags"]
        (True, False, ['dangerous'])
    """
    metadata: dict[str, JsonValue] = {
        key: value for key, value in tool.metadata.items()
        if isinstance(value, str | int | float | bool) and key not in ("name", "namespace", "tags", "content_hash")
    }
    risk = tool.risk
    metadata.update({"name": tool.name, "namespace": tool.namespace, "tags": list(tool.tags),
                     "content_hash": content_hash, "readOnly": risk.read_only, "read_only": risk.read_only,
                     "mutates": risk.mutates, "dangerous": risk.dangerous})
    return metadata


@runtime_checkable
class FollowedTools(Protocol):
    """A changing set of tools an index follows: a `Toolbox` is one (its ``version`` bumps on every change)."""

    @property
    def version(self) -> int:
        """A counter bumped on every change of the tool set."""
        ...

    def tools(self) -> list[Tool]:
        """The tools, in registration order."""
        ...

    def lexical_index(self) -> LexicalIndex:
        """The BM25 index over the current tools."""
        ...


class ToolIndex:
    """Hybrid search over the tools of a toolbox (or a fixed list of tools).

    Args:
        tools: A `Toolbox` (followed as tools are registered and removed) or an iterable of tools.
        embedder: The embedder (default: the embedded default, `load_embedder()`).
        store: The vector store (default: in-memory, sized to the embedder).
        weights: Fusion weights and candidate depth.

    Raises:
        ConfigError: when the store's dimension differs from the embedder's.
    """

    def __init__(self, tools: FollowedTools | Iterable[Tool], *, embedder: Embedder | None = None,
                 store: VectorStore | None = None, weights: FusionWeights | None = None) -> None:
        if embedder is None:
            from armorer_ray.embeddings.registry import load_embedder

            embedder = load_embedder()
        self.embedder = embedder
        self._toolbox = tools if isinstance(tools, FollowedTools) else None
        self._fixed: list[Tool] | None = None if isinstance(tools, FollowedTools) else list(tools)
        self._store = store
        self.weights = weights or FusionWeights()
        self._synced: int | None = None
        self._lock: asyncio.Lock | None = None
        self._tools: list[Tool] = []
        self._lexical: LexicalIndex | None = None
        self._row_metadata: list[dict[str, JsonValue]] = []
        self._names: dict[str, str] = {}
        self._positions: dict[str, int] = {}
        self._dense: DenseMatrix | None = None
        self._ids: list[str] = []
        self._dense_ids: list[str] = []

    @property
    def store(self) -> VectorStore:
        """The vector store (created on first use when none was given)."""
        if self._store is None:
            from armorer_ray.embeddings.registry import load_vector_store

            self._store = load_vector_store("memory", {"dimension": self.embedder.dimension})
        return self._store

    def _current(self) -> tuple[int, list[Tool]]:
        if self._toolbox is not None:
            return self._toolbox.version, self._toolbox.tools()
        return 0, list(self._fixed or [])

    async def sync(self, *, progress: bool = False) -> IndexSync:
        """Bring the store up to date with the tools: embed new or changed tools, delete removed ones.

        Args:
            progress: Show a progress bar while embedding (useful for thousands of tools).

        Returns:
            Counts of added, updated, removed and unchanged tools.

        Raises:
            ConfigError: when the store and embedder dimensions differ.
            StoreError: when the store fails.
        """
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            version, tools = self._current()
            if self.store.dimension != self.embedder.dimension:
                raise ConfigError(f"vector store dimension {self.store.dimension} differs from the embedder's "
                                  f"{self.embedder.dimension} ({self.embedder.model_id})")
            texts = [tool_text(t) for t in tools]
            hashes = [hashlib.sha256(f"{self.embedder.model_id}\n{text}".encode()).hexdigest() for text in texts]
            wanted = {t.id: i for i, t in enumerate(tools)}
            stored_ids = set(await self.store.ids())
            present = await self.store.get([i for i in wanted if i in stored_ids]) if stored_ids else []
            stored_hash = {row.id: row.metadata.get("content_hash") for row in present}
            stale = [i for i, t in enumerate(tools) if stored_hash.get(t.id) != hashes[i]]
            removed = sorted(stored_ids - set(wanted))
            if removed:
                await self.store.delete(removed)
            by_id = {row.id: row.vector for row in present}
            # Built once: VectorRow keeps its own deep copy, so the index's filter rows stay private.
            row_metadata = [tool_metadata(t, h) for t, h in zip(tools, hashes, strict=True)]
            if stale:
                vectors = await _usable_vectors(self.embedder, [texts[i] for i in stale], progress)
                rows = [VectorRow(tools[i].id, vector, row_metadata[i])
                        for vector, i in zip(vectors, stale, strict=True) if vector is not None]
                if rows:
                    await self.store.upsert(rows)
                for vector, i in zip(vectors, stale, strict=True):
                    if vector is None:
                        by_id.pop(tools[i].id, None)  # an old row of a changed tool must not be scored
                    else:
                        by_id[tools[i].id] = vector
            # Tools without a usable vector are found lexically only, as in the store.
            self._dense_ids = [t.id for t in tools if t.id in by_id]
            self._dense = DenseMatrix(np.array([by_id[i] for i in self._dense_ids], dtype=np.float32).reshape(
                len(self._dense_ids), self.embedder.dimension))
            self._tools = tools
            self._row_metadata = row_metadata
            self._ids = [t.id for t in tools]  # Tool.id is computed on each access; searches read it per candidate
            self._names = {t.id: t.name for t in tools}
            self._positions = {t.id: n for n, t in enumerate(tools)}
            self._lexical = (self._toolbox.lexical_index() if self._toolbox is not None else LexicalIndex(tools))
            self._synced = version
            added = sum(1 for i in stale if tools[i].id not in stored_hash)
            return IndexSync(added=added, updated=len(stale) - added, removed=len(removed),
                             unchanged=len(tools) - len(stale), ids=tuple(tools[i].id for i in stale))

    async def _ensure_synced(self) -> None:
        version = self._toolbox.version if self._toolbox is not None else 0  # cheap: no tool list per search
        if self._synced != version or self._lexical is None:
            await self.sync()

    async def search(self, query: str, k: int = 5, filters: ToolFilter | None = None, *,
                     context: Sequence[Turn] | None = None) -> list[SearchHit]:
        """The ``k`` tools best matching ``query``, best first.

        Args:
            query: What the agent wants to do, in natural language.
            k: How many tools to return.
            filters: Tags, namespaces and metadata the tools must have (pushed down to the store).
            context: Earlier turns of the conversation, oldest first: strings, or chat messages with ``role`` and
                ``content``. The request is also scored together with the latest of them
                (`FusionWeights.context`), so a follow-up such as "and cancel the other one" finds its tool.

        Returns:
            Hits with scores and reasons; fewer than ``k`` when fewer tools pass the filters.

        Raises:
            ConfigError: for ``k < 1``, a query that is not a string, or malformed context turns.
        """
        if not isinstance(query, str):
            raise ConfigError(f"query must be a string, got {type(query).__name__}")
        if k < 1:
            raise ConfigError(f"k must be at least 1, got {k}")
        w = self.weights
        history = conversation_text(context, w.context_turns) if context and w.context > 0 else ""
        await self._ensure_synced()
        if not self._tools or not query.strip():
            return []
        depth = max(w.candidates, k)
        where = filters if filters is not None and not filters.is_empty else None
        parts = split_subqueries(query) if w.subquery > 0 else []
        texts = [query, *parts, *([f"{history}\n{query}"] if history else [])]
        vectors = await self.embedder.embed(texts, kind="query") if w.vector > 0 else None
        fused: list[dict[str, float]] = []
        first: tuple[dict[str, float], dict[str, float]] = ({}, {})
        for n, text in enumerate(texts):
            lexical = self._lexical_scores(text, depth, where)
            vector = await self._vector_scores(vectors[n], depth, where) if vectors is not None else {}
            if n == 0:
                first = (lexical, vector)
            fused.append(self._combine(lexical, vector))
        total = dict(fused[0])
        parts_fused = fused[1:1 + len(parts)]
        if parts_fused:
            for tool_id in set().union(*parts_fused):
                best_part = max(part.get(tool_id, 0.0) for part in parts_fused)
                total[tool_id] = total.get(tool_id, 0.0) + w.subquery * best_part
        if history:
            for tool_id, score in fused[-1].items():
                total[tool_id] = total.get(tool_id, 0.0) + w.context * score
        lexical_rank = {tool_id: rank for rank, tool_id in enumerate(first[0], 1)}
        vector_rank = {tool_id: rank for rank, tool_id in enumerate(first[1], 1)}
        best = sorted(total, key=lambda i: (-total[i], lexical_rank.get(i, 1 << 30), vector_rank.get(i, 1 << 30)))
        if parts_fused and w.coverage > 0 and len(best) > k:
            best = self._cover_parts(best, total, parts_fused, k)
        return self._hits(best[:k], total, lexical_rank, vector_rank, first[1], set(tokenize(query)))

    def _cover_parts(self, best: list[str], total: dict[str, float], parts: list[dict[str, float]],
                     k: int) -> list[str]:
        """Pick ``k`` of ``best`` (ranked by combined score) so that every part of the request gets its tools."""
        w = self.weights
        # Candidates: the head of the combined ranking plus each part's own top k (a part's best tool may sit deep
        # in the combined ranking when another part has many near-duplicates).
        pool = best[:max(4 * k, 20)]
        seen = set(pool)
        for part in parts:
            for tool_id in sorted(part, key=part.__getitem__, reverse=True)[:k]:
                if tool_id not in seen:
                    seen.add(tool_id)
                    pool.append(tool_id)
        scale = (w.lexical + w.vector) or 1.0  # part scores to [0, 1] whatever the weights sum to
        relevance = np.array([[part.get(t, 0.0) / scale for t in pool] for part in parts])
        combined = np.array([total[t] for t in pool])
        combined /= combined.max() or 1.0
        need = np.ones(len(parts))
        free = np.ones(len(pool), dtype=bool)
        picked: list[str] = []
        for n in range(min(k, len(pool))):
            # The first hit stays the best combined match: coverage only decides what follows it.
            gain = (1 - w.coverage) * combined + w.coverage * (need @ relevance) / len(parts) if n else combined
            choice = int(np.argmax(np.where(free, gain, -np.inf)))  # first maximum: ties keep the ranking order
            free[choice] = False
            picked.append(pool[choice])
            need *= 1.0 - relevance[:, choice]
        return picked

    async def _vector_scores(self, vector: np.ndarray, depth: int, where: ToolFilter | None) -> dict[str, float]:
        if not np.any(vector):
            return {}
        if np.shape(vector) != (self.embedder.dimension,):
            logger.warning("query vector has shape %s, not (%d,): ranking lexically only",
                           np.shape(vector), self.embedder.dimension)
            return {}
        if where is None and self._dense is not None:
            positions, scores = self._dense.top(vector, depth)
            return {self._dense_ids[p]: float(score) for p, score in zip(positions.tolist(), scores.tolist(),
                                                                         strict=True)}
        return {hit.id: hit.score for hit in await self.store.query(vector, depth, where=where)}

    def _lexical_scores(self, text: str, depth: int, where: ToolFilter | None) -> dict[str, float]:
        if self.weights.lexical == 0 or self._lexical is None:
            return {}
        scores = self._lexical.scores(text)
        positive = np.flatnonzero(scores > 0)
        if positive.size == 0:
            return {}
        if where is None and positive.size > depth:
            # Common words match thousands of tools: keep the best ``depth`` in O(n) before sorting them (a tie at
            # the cut may keep a later-registered tool over an earlier one; both score the same).
            positive = positive[np.argpartition(-scores[positive], depth - 1)[:depth]]
        # Sort only the tools that share a term, best first, registration order on ties.
        order = positive[np.lexsort((positive, -scores[positive]))]
        out: dict[str, float] = {}
        for position in order:
            if where is not None and not where.matches(self._row_metadata[position]):
                continue
            out[self._ids[position]] = float(scores[position])
            if len(out) >= depth:
                break
        return out

    def _combine(self, lexical: dict[str, float], vector: dict[str, float]) -> dict[str, float]:
        w = self.weights
        rankings = [(w.lexical, lexical), (w.vector, vector)]
        weights = adaptive_weights(rankings) if w.adaptive else [w.lexical, w.vector]
        combined: dict[str, float] = {}
        for weight, (_, scores) in zip(weights, rankings, strict=True):
            if not scores or weight == 0:
                continue
            low, high = min(scores.values()), max(scores.values())
            span = high - low
            for tool_id, score in scores.items():
                # One candidate (or all equal) normalises to 1: it is the best this ranking has.
                combined[tool_id] = combined.get(tool_id, 0.0) + weight * ((score - low) / span if span else 1.0)
        return combined

    def _hits(self, ranked: list[str], total: dict[str, float], lexical_rank: dict[str, int],
              vector_rank: dict[str, int], similarity: dict[str, float], words: set[str]) -> list[SearchHit]:
        stopwords = english_stopwords()
        words = {w for w in words if w not in stopwords}
        hits = []
        for tool_id in ranked:
            position = self._positions.get(tool_id)
            terms = self._lexical.matched_terms(position, words) if self._lexical and position is not None else ()
            hits.append(SearchHit(id=tool_id, name=self._names.get(tool_id, tool_id), score=total[tool_id],
                                  lexical_rank=lexical_rank.get(tool_id), vector_rank=vector_rank.get(tool_id),
                                  similarity=similarity.get(tool_id), matched_terms=terms))
        return hits

    def search_sync(self, query: str, k: int = 5, filters: ToolFilter | None = None, *,
                    context: Sequence[Turn] | None = None) -> list[SearchHit]:
        """Blocking form of `search`."""
        return run_sync(self.search(query, k, filters, context=context), "index.search")

    async def persist(self) -> None:
        """Make the store durable (for stores with a path); a reload then re-embeds nothing."""
        await self.store.persist()


async def _usable_vectors(embedder: Embedder, texts: list[str], progress: bool) -> list[np.ndarray | None]:
    """One vector per text, None where it cannot be searched: all zeros (no direction for cosine similarity) or
    not of the declared dimension. Those tools are skipped with a warning and found lexically only (Armorer
    likewise leaves a tool without embeddings when its vectors are invalid)."""
    try:
        raw: list[np.ndarray] = list(await embed_batched(embedder, texts, progress=progress))
    except ValueError:  # rows of another width cannot be stacked: embed one at a time to find them
        raw = [np.asarray((await embedder.embed([text]))[0]) for text in texts]
    out: list[np.ndarray | None] = []
    for text, vector in zip(texts, raw, strict=True):
        array = np.asarray(vector, dtype=np.float32)
        if array.shape != (embedder.dimension,) or not np.isfinite(array).all() or not array.any():
            logger.warning("skipping the embedding of %r from %s: shape %s (declared dimension %d)%s", text[:60],
                           embedder.model_id, array.shape, embedder.dimension,
                           ", all zeros" if array.size and not array.any() else "")
            out.append(None)
        else:
            out.append(array)
    return out
