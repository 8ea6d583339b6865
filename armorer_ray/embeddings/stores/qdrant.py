"""Qdrant: qdrant-client's local mode (in memory, or a directory) or a Qdrant server by URL.

Qdrant point ids must be integers or UUIDs, so each row id maps to a UUIDv5 and travels in the payload as
``{"id": ..., "tags": [...], "namespace": ..., "metadata": {...}}``. ``tags`` and ``namespace`` are the
normalised values `ToolFilter` reads (Qdrant would match ``"tags": "x"``, a string, as the tag ``x``);
``metadata_eq`` becomes a condition on ``metadata.<key>``, and keys Qdrant would read as a path (with dots)
are post-filtered.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, SecretStr, model_validator

from armorer_ray.embeddings._extras import require
from armorer_ray.embeddings.filters import ToolFilter, row_tags
from armorer_ray.embeddings.rows import Hit, Vector, VectorRow
from armorer_ray.embeddings.stores._client import ClientVectorStore
from armorer_ray.embeddings.stores._common import batches, check_stored_dimension, pushable_eq_keys

__all__ = ["QdrantOptions", "QdrantVectorStore"]

_BATCH = 500
_ID_NAMESPACE = uuid.UUID("9a4c8b2e-5f0d-4f61-9a55-3d7c0b1e2f40")  # fixed, so ids map the same in every process


class QdrantOptions(BaseModel):
    """Options of `QdrantVectorStore`; with neither ``path`` nor ``url`` the collection lives in memory.

    Attributes:
        dimension: The vector length the collection holds.
        collection: The collection name.
        path: A directory for qdrant-client's local persistent mode (one process at a time).
        url: A Qdrant server, such as ``http://localhost:6333``.
        api_key: The server's API key.
        timeout_s: Request timeout for a server.

    Example:
        >>> QdrantOptions(dimension=384, url="http://localhost:6333").collection
        'tools'
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    dimension: PositiveInt
    collection: str = Field(default="tools", pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,254}$")
    path: Path | None = None
    url: str | None = None
    api_key: SecretStr | None = None
    timeout_s: PositiveInt = 10

    @model_validator(mode="after")
    def _one_location(self) -> QdrantOptions:
        if self.path is not None and self.url is not None:
            raise ValueError("give either path (local mode) or url (server), not both")
        return self


def point_id(row_id: str) -> str:
    """The Qdrant point id (a UUIDv5) for a row id.

    Args:
        row_id: Our id.

    Returns:
        A UUID string, the same in every process.

    Example:
        >>> point_id("crm:send_email") == point_id("crm:send_email") != point_id("crm:send_sms")
        True
    """
    return str(uuid.uuid5(_ID_NAMESPACE, row_id))


def _payload(row: VectorRow) -> dict[str, Any]:
    payload: dict[str, Any] = {"id": row.id, "tags": sorted(row_tags(row.metadata)), "metadata": row.metadata}
    namespace = row.metadata.get("namespace")
    if isinstance(namespace, str):
        payload["namespace"] = namespace
    return payload


class QdrantVectorStore(ClientVectorStore[QdrantOptions, Any, Any]):
    """A `VectorStore` on a Qdrant collection with cosine distance; needs ``pip install 'armorer-ray[qdrant]'``.

    Uses ``AsyncQdrantClient``, so no call blocks the event loop on the network; local mode computes in
    process (exact search over numpy).

    Args:
        options: Dimension, collection and location.

    Raises:
        MissingExtraError: If qdrant-client is not installed.

    Example:
        >>> import asyncio
        >>> store = QdrantVectorStore(QdrantOptions(dimension=2))
        >>> async def demo() -> list[str]:
        ...     await store.upsert([VectorRow("a", [1, 0], {"tags": ["x"]}), VectorRow("b", [0, 1])])
        ...     hits = await store.query([0, 1], k=2, where=ToolFilter(tags_any={"x"}))
        ...     await store.close()
        ...     return [hit.id for hit in hits]
        >>> asyncio.run(demo())
        ['a']
    """

    backend = "qdrant"
    max_fetch = 10_000

    def __init__(self, options: QdrantOptions) -> None:
        require("qdrant_client", "vector store 'qdrant'", "qdrant")
        super().__init__(options)

    async def _connect(self) -> Any:
        from qdrant_client import AsyncQdrantClient

        options = self._options
        if options.url is not None:
            return AsyncQdrantClient(
                url=options.url,
                api_key=options.api_key.get_secret_value() if options.api_key else None,
                timeout=options.timeout_s,
                # The version check is a request at construction; keep construction free of network calls.
                check_compatibility=False,
            )
        if options.path is not None:
            return AsyncQdrantClient(path=str(options.path))
        return AsyncQdrantClient(location=":memory:")

    async def _prepare(self, client: Any) -> None:
        from qdrant_client import models

        name, dimension = self._options.collection, self._options.dimension
        if await client.collection_exists(name):
            stored = (await client.get_collection(name)).config.params.vectors.size
            check_stored_dimension(stored, dimension, f"Qdrant collection {name!r}")
        else:
            params = models.VectorParams(size=dimension, distance=models.Distance.COSINE)
            await client.create_collection(name, vectors_config=params)

    async def _disconnect(self, client: Any) -> None:
        """Close the client, releasing local mode's directory lock."""
        await client.close()

    def _translate(self, where: ToolFilter) -> tuple[Any, ToolFilter]:
        from qdrant_client import models

        must: list[Any] = []
        must_not: list[Any] = []
        if where.tags_any:
            must.append(models.FieldCondition(key="tags", match=models.MatchAny(any=sorted(where.tags_any))))
        for tag in sorted(where.tags_all):
            must.append(models.FieldCondition(key="tags", match=models.MatchValue(value=tag)))
        if where.tags_none:
            must_not.append(models.FieldCondition(key="tags", match=models.MatchAny(any=sorted(where.tags_none))))
        if where.namespaces:
            must.append(models.FieldCondition(key="namespace", match=models.MatchAny(any=sorted(where.namespaces))))
        pushed = pushable_eq_keys(where)
        for key in sorted(pushed):
            value = where.metadata_eq[key]
            if isinstance(value, str | bool):
                must.append(models.FieldCondition(key=f"metadata.{key}", match=models.MatchValue(value=value)))
            else:
                # MatchValue(1) misses a stored 1.0; a closed range compares numerically, as JSON does.
                must.append(models.FieldCondition(key=f"metadata.{key}", range=models.Range(gte=value, lte=value)))
        residual = where.without(tags=True, namespaces=True, metadata_keys=pushed)
        native = models.Filter(must=must or None, must_not=must_not or None) if must or must_not else None
        return native, residual

    async def _search(self, client: Any, vector: Vector, size: int, native: Any) -> list[Hit]:
        found = await client.query_points(
            self._options.collection, query=vector.tolist(), limit=size, query_filter=native, with_payload=True
        )
        return [Hit(point.payload["id"], float(point.score), point.payload["metadata"]) for point in found.points]

    async def _upsert(self, rows: list[VectorRow]) -> None:
        from qdrant_client import models

        async with self._using() as client:
            for batch in batches(rows, _BATCH):
                points = [
                    models.PointStruct(id=point_id(row.id), vector=row.vector.tolist(), payload=_payload(row))
                    for row in batch
                ]
                await client.upsert(self._options.collection, points=points, wait=True)

    async def _delete(self, ids: list[str]) -> None:
        from qdrant_client import models

        selector = models.PointIdsList(points=[point_id(row_id) for row_id in ids])
        async with self._using() as client:
            await client.delete(self._options.collection, points_selector=selector, wait=True)

    async def _get(self, ids: list[str]) -> list[VectorRow]:
        rows: list[VectorRow] = []
        async with self._using() as client:
            for batch in batches(ids, _BATCH):
                points = await client.retrieve(
                    self._options.collection,
                    ids=[point_id(row_id) for row_id in batch],
                    with_payload=True,
                    with_vectors=True,
                )
                rows += [VectorRow(point.payload["id"], point.vector, point.payload["metadata"]) for point in points]
        return rows

    async def count(self) -> int:
        """The number of points in the collection (an exact count)."""
        async with self._using() as client:
            return int((await client.count(self._options.collection, exact=True)).count)

    async def ids(self) -> list[str]:
        """Every id in the collection, read from the points' payloads."""
        ids: list[str] = []
        offset = None
        async with self._using() as client:
            while True:
                points, offset = await client.scroll(
                    self._options.collection, limit=1_000, offset=offset, with_payload=["id"], with_vectors=False
                )
                ids += [point.payload["id"] for point in points]
                if offset is None:
                    return ids

    async def persist(self) -> None:
        """Nothing to do: local mode writes each call through to its directory, a server persists itself."""
