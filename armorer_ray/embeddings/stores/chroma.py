"""Chroma: an ephemeral (in-process) or persistent (local directory) collection, or a Chroma server.

We always pass our own vectors and ``embedding_function=None``: Chroma's default embedding function
downloads an ONNX model on first use, which fails offline and would embed with a model we did not choose.
Telemetry is off. Chroma's metadata is flat, so the exact JSON rides along under one key and the
filterable fields (namespace, tags, top-level scalars) sit beside it, where ``where`` clauses reach them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, model_validator

from armorer_ray.embeddings._extras import require
from armorer_ray.embeddings.filters import ToolFilter
from armorer_ray.embeddings.rows import Hit, VectorLike, VectorRow
from armorer_ray.embeddings.stores._common import (
    check_ids,
    check_k,
    check_query_vector,
    check_rows,
    driver_errors,
    flat_metadata,
    pushable_eq_keys,
    unflat_metadata,
    verified_query,
)
from armorer_ray.errors import ConfigError

__all__ = ["ChromaOptions", "ChromaVectorStore"]

T = TypeVar("T")
_MAX_FETCH = 10_000
_BATCH = 1_000  # rows per Chroma call; its server mode caps a request's size


class ChromaOptions(BaseModel):
    """Options of `ChromaVectorStore`.

    Attributes:
        dimension: The vector length the collection holds.
        collection: The collection name. Ephemeral clients in one process share collections by name.
        path: A directory for a persistent local client; None with no ``host`` is an ephemeral client.
        host: A Chroma server host, for an HTTP client (exclusive with ``path``).
        port: The server port.
        ssl: Use HTTPS for the server.

    Example:
        >>> ChromaOptions(dimension=256).collection
        'tools'
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    dimension: PositiveInt
    collection: str = Field(default="tools", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{1,510}[A-Za-z0-9]$")
    path: Path | None = None
    host: str | None = None
    port: PositiveInt = 8000
    ssl: bool = False

    @model_validator(mode="after")
    def _one_location(self) -> ChromaOptions:
        if self.path is not None and self.host is not None:
            raise ValueError("give either path (local persistent) or host (server), not both")
        return self


def _where(where: ToolFilter) -> tuple[dict[str, Any] | None, ToolFilter]:
    """The Chroma ``where`` document for ``where``, and the clauses left to post-filter."""
    clauses: list[dict[str, Any]] = []
    if where.tags_any:
        clauses.append(_any([{"tags": {"$contains": tag}} for tag in sorted(where.tags_any)]))
    clauses += [{"tags": {"$contains": tag}} for tag in sorted(where.tags_all)]
    clauses += [{"tags": {"$not_contains": tag}} for tag in sorted(where.tags_none)]
    if where.namespaces:
        clauses.append({"namespace": {"$in": sorted(where.namespaces)}})
    pushed = pushable_eq_keys(where)
    clauses += [{key: {"$eq": where.metadata_eq[key]}} for key in sorted(pushed)]
    residual = where.without(tags=True, namespaces=True, metadata_keys=pushed)
    if not clauses:
        return None, residual
    return (clauses[0] if len(clauses) == 1 else {"$and": clauses}), residual


def _any(clauses: list[dict[str, Any]]) -> dict[str, Any]:
    return clauses[0] if len(clauses) == 1 else {"$or": clauses}


class ChromaVectorStore:
    """A `VectorStore` on a Chroma collection with cosine space; needs ``pip install 'armorer-ray[chroma]'``.

    Chroma's client is synchronous, so every call runs in a worker thread. Its HNSW index is approximate;
    results on a few thousand rows match exact search in our tests, but this is not guaranteed.

    Args:
        options: Dimension, collection and where the data lives.

    Raises:
        MissingExtraError: If chromadb is not installed.

    Example:
        >>> import asyncio
        >>> store = ChromaVectorStore(ChromaOptions(dimension=2, collection="doctest-tools"))
        >>> async def demo() -> list[str]:
        ...     await store.upsert([VectorRow("a", [1, 0], {"namespace": "crm"}), VectorRow("b", [0, 1])])
        ...     hits = await store.query([0, 1], k=2, where=ToolFilter(namespaces={"crm"}))
        ...     await store.delete(["a", "b"])
        ...     return [hit.id for hit in hits]
        >>> asyncio.run(demo())
        ['a']
    """

    def __init__(self, options: ChromaOptions) -> None:
        require("chromadb", "vector store 'chroma'", "chroma")
        self._options = options
        self._collection: Any = None
        self._opening: asyncio.Lock | None = None

    @property
    def dimension(self) -> int:
        """The vector length this store accepts."""
        return self._options.dimension

    @property
    def options(self) -> ChromaOptions:
        """The options the store was built with."""
        return self._options

    def _connect(self) -> Any:
        import chromadb
        from chromadb.config import Settings

        settings = Settings(anonymized_telemetry=False)
        options = self._options
        if options.host is not None:
            client = chromadb.HttpClient(host=options.host, port=options.port, ssl=options.ssl, settings=settings)
        elif options.path is not None:
            client = chromadb.PersistentClient(path=str(options.path), settings=settings)
        else:
            client = chromadb.EphemeralClient(settings=settings)
        collection = client.get_or_create_collection(
            options.collection, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
        )
        sample = collection.peek(1)
        embeddings = sample.get("embeddings")
        stored = len(embeddings[0]) if embeddings is not None and len(embeddings) else None
        if stored is not None and stored != options.dimension:
            raise ConfigError(
                f"Chroma collection {options.collection!r} holds {stored}-dimensional vectors but the store "
                f"was opened with dimension={options.dimension}"
            )
        return collection

    async def _call(self, work: Callable[[Any], T]) -> T:
        """Run ``work(collection)`` in a worker thread, opening the collection first if needed."""
        if self._collection is None:
            self._opening = self._opening or asyncio.Lock()
            async with self._opening:
                if self._collection is None:
                    with driver_errors("chroma"):
                        self._collection = await asyncio.to_thread(self._connect)
        collection = self._collection
        with driver_errors("chroma"):
            return await asyncio.to_thread(work, collection)

    async def upsert(self, rows: Sequence[VectorRow]) -> int:
        """Insert or replace rows by id.

        Args:
            rows: The rows; a later row with the same id wins.

        Returns:
            The number of distinct ids written.

        Raises:
            ConfigError: If an item is not a `VectorRow` or has the wrong dimension.
            StoreError: If Chroma fails.
        """
        checked = check_rows(rows, self._options.dimension)

        def write(collection: Any) -> None:
            for start in range(0, len(checked), _BATCH):
                batch = checked[start : start + _BATCH]
                collection.upsert(
                    ids=[row.id for row in batch],
                    embeddings=[row.vector for row in batch],
                    metadatas=[flat_metadata(row.metadata) for row in batch],
                )

        if checked:
            await self._call(write)
        return len(checked)

    async def delete(self, ids: Sequence[str]) -> None:
        """Remove rows by id; unknown ids are ignored.

        Args:
            ids: The ids to remove.

        Raises:
            ConfigError: If ``ids`` is a bare string or holds a non-string.
            StoreError: If Chroma fails.
        """
        wanted = check_ids(ids)
        if wanted:
            await self._call(lambda collection: collection.delete(ids=wanted))

    async def query(self, vector: VectorLike, k: int, where: ToolFilter | None = None) -> list[Hit]:
        """The ``k`` rows most similar to ``vector`` that pass ``where``, best first.

        Args:
            vector: The query vector.
            k: The most hits to return.
            where: An optional filter.

        Returns:
            Up to ``k`` hits, best first, each passing ``where``.

        Raises:
            ConfigError: If ``k < 1`` or the vector has the wrong dimension.
            StoreError: If Chroma fails.
        """
        query_vector = check_query_vector(vector, self._options.dimension)
        check_k(k)
        native, residual = _where(where) if where is not None else (None, None)

        def search(collection: Any, size: int) -> list[Hit]:
            size = min(size, collection.count())
            if size == 0:
                return []
            found = collection.query(
                query_embeddings=[query_vector], n_results=size, where=native, include=["metadatas", "distances"]
            )
            # Chroma's cosine space reports distance = 1 - similarity.
            return [
                Hit(row_id, 1.0 - float(distance), unflat_metadata(metadata))
                for row_id, distance, metadata in zip(
                    found["ids"][0], found["distances"][0], found["metadatas"][0], strict=True
                )
            ]

        async def fetch(size: int) -> list[Hit]:
            return await self._call(lambda collection: search(collection, size))

        return await verified_query(fetch, k, where, residual=residual, max_fetch=_MAX_FETCH)

    async def count(self) -> int:
        """The number of rows stored.

        Returns:
            The number of rows stored.

        Raises:
            StoreError: If Chroma fails.
        """
        return await self._call(lambda collection: int(collection.count()))

    async def get(self, ids: Sequence[str]) -> list[VectorRow]:
        """The stored rows for ``ids`` in the order asked; unknown ids are skipped.

        Args:
            ids: The ids to read.

        Returns:
            The rows found, in the order asked.

        Raises:
            ConfigError: If ``ids`` is a bare string or holds a non-string.
            StoreError: If Chroma fails.
        """
        wanted = check_ids(ids)
        if not wanted:
            return []
        found = await self._call(lambda collection: collection.get(ids=wanted, include=["embeddings", "metadatas"]))
        rows = {
            row_id: VectorRow(row_id, embedding, unflat_metadata(metadata))
            for row_id, embedding, metadata in zip(found["ids"], found["embeddings"], found["metadatas"], strict=True)
        }
        return [rows[row_id] for row_id in wanted if row_id in rows]

    async def ids(self) -> list[str]:
        """Every stored id.

        Returns:
            Every stored id, in no particular order.

        Raises:
            StoreError: If Chroma fails.
        """
        found = await self._call(lambda collection: collection.get(include=[]))
        return [str(row_id) for row_id in found["ids"]]

    async def persist(self) -> None:
        """Nothing to do: a persistent Chroma client writes through on every call."""

    async def close(self) -> None:
        """Drop the collection handle; Chroma keeps one shared client per path for the process."""
        self._collection = None
