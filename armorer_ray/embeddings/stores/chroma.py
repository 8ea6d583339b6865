"""Chroma: an ephemeral (in-process) or persistent (local directory) collection, or a Chroma server.

We always pass our own vectors and ``embedding_function=None``: Chroma's default embedding function
downloads an ONNX model on first use, which fails offline and would embed with a model we did not choose.
Telemetry is off. Chroma's metadata is flat, so the exact JSON rides along under one key and the
filterable fields (namespace, tags, top-level scalars) sit beside it, where ``where`` clauses reach them.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, model_validator

from armorer_ray.embeddings._extras import require
from armorer_ray.embeddings.filters import ToolFilter
from armorer_ray.embeddings.rows import Hit, Vector, VectorRow
from armorer_ray.embeddings.stores._client import ClientVectorStore
from armorer_ray.embeddings.stores._common import (
    FilterDocument,
    batches,
    check_stored_dimension,
    filter_document,
    flat_metadata,
    similarity_from_distance,
    unflat_metadata,
)

__all__ = ["ChromaOptions", "ChromaVectorStore"]

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


def _any(clauses: list[FilterDocument]) -> FilterDocument:
    return clauses[0] if len(clauses) == 1 else {"$or": clauses}


class ChromaVectorStore(ClientVectorStore[ChromaOptions, Any, FilterDocument]):
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

    backend = "chroma"
    max_fetch = 10_000

    def __init__(self, options: ChromaOptions) -> None:
        require("chromadb", "vector store 'chroma'", "chroma")
        super().__init__(options)

    async def _connect(self) -> Any:
        return await asyncio.to_thread(self._open_collection)

    async def _prepare(self, collection: Any) -> None:
        sample = await asyncio.to_thread(collection.peek, 1)
        embeddings = sample.get("embeddings")
        stored = len(embeddings[0]) if embeddings is not None and len(embeddings) else None
        check_stored_dimension(stored, self._options.dimension, f"Chroma collection {self._options.collection!r}")

    def _open_collection(self) -> Any:
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
        return client.get_or_create_collection(
            options.collection, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
        )

    async def _disconnect(self, collection: Any) -> None:
        """Nothing to release: Chroma keeps one shared client per path for the process."""

    def _translate(self, where: ToolFilter) -> tuple[FilterDocument | None, ToolFilter]:
        tags: list[FilterDocument] = []
        if where.tags_any:
            tags.append(_any([{"tags": {"$contains": tag}} for tag in sorted(where.tags_any)]))
        tags += [{"tags": {"$contains": tag}} for tag in sorted(where.tags_all)]
        tags += [{"tags": {"$not_contains": tag}} for tag in sorted(where.tags_none)]
        document, pushed = filter_document(where, tags)
        return document, where.without(tags=True, namespaces=True, metadata_keys=pushed)

    async def _search(self, collection: Any, vector: Vector, size: int, native: FilterDocument | None) -> list[Hit]:
        def search() -> list[Hit]:
            n_results = min(size, collection.count())
            if n_results == 0:
                return []
            found = collection.query(
                query_embeddings=[vector], n_results=n_results, where=native, include=["metadatas", "distances"]
            )
            return [
                Hit(row_id, similarity_from_distance(distance), unflat_metadata(metadata))
                for row_id, distance, metadata in zip(
                    found["ids"][0], found["distances"][0], found["metadatas"][0], strict=True
                )
            ]

        return await asyncio.to_thread(search)

    async def _upsert(self, rows: list[VectorRow]) -> None:
        def write(collection: Any) -> None:
            for batch in batches(rows, _BATCH):
                collection.upsert(
                    ids=[row.id for row in batch],
                    embeddings=[row.vector for row in batch],
                    metadatas=[flat_metadata(row.metadata) for row in batch],
                )

        await self._in_thread(write)

    async def _delete(self, ids: list[str]) -> None:
        await self._in_thread(lambda collection: collection.delete(ids=ids))

    async def _get(self, ids: list[str]) -> list[VectorRow]:
        found = await self._in_thread(lambda collection: collection.get(ids=ids, include=["embeddings", "metadatas"]))
        return [
            VectorRow(row_id, embedding, unflat_metadata(metadata))
            for row_id, embedding, metadata in zip(found["ids"], found["embeddings"], found["metadatas"], strict=True)
        ]

    async def count(self) -> int:
        """The number of rows in the collection."""
        return await self._in_thread(lambda collection: int(collection.count()))

    async def ids(self) -> list[str]:
        """Every id in the collection."""
        found = await self._in_thread(lambda collection: collection.get(include=[]))
        return [str(row_id) for row_id in found["ids"]]

    async def persist(self) -> None:
        """Nothing to do: a persistent Chroma client writes through on every call."""
