"""Qdrant: qdrant-client's local mode (in memory, or a directory) or a Qdrant server by URL.

Qdrant point ids must be integers or UUIDs, so each row id maps to a UUIDv5 and travels in the payload as
``{"id": ..., "tags": [...], "namespace": ..., "metadata": {...}}``. ``tags`` and ``namespace`` are the
normalised values `ToolFilter` reads (Qdrant would match ``"tags": "x"``, a string, as the tag ``x``);
``metadata_eq`` becomes a condition on ``metadata.<key>``, and keys Qdrant would read as a path (with dots)
are post-filtered.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, SecretStr, model_validator

from armorer_ray.embeddings._extras import require
from armorer_ray.embeddings.filters import ToolFilter, row_tags
from armorer_ray.embeddings.rows import Hit, VectorLike, VectorRow
from armorer_ray.embeddings.stores._common import (
    check_ids,
    check_k,
    check_query_vector,
    check_rows,
    driver_errors,
    pushable_eq_keys,
    verified_query,
)
from armorer_ray.errors import ConfigError

__all__ = ["QdrantOptions", "QdrantVectorStore"]

_BATCH = 500
_MAX_FETCH = 10_000
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


def _filter(where: ToolFilter) -> tuple[Any, ToolFilter]:
    """The Qdrant ``Filter`` for ``where`` and the clauses left to post-filter."""
    from qdrant_client import models

    must: list[Any] = []
    must_not: list[Any] = []
    if where.tags_any:
        must.append(models.FieldCondition(key="tags", match=models.MatchAny(any=sorted(where.tags_any))))
    must += [models.FieldCondition(key="tags", match=models.MatchValue(value=tag)) for tag in sorted(where.tags_all)]
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


def _payload(row: VectorRow) -> dict[str, Any]:
    payload: dict[str, Any] = {"id": row.id, "tags": sorted(row_tags(row.metadata)), "metadata": row.metadata}
    namespace = row.metadata.get("namespace")
    if isinstance(namespace, str):
        payload["namespace"] = namespace
    return payload


class QdrantVectorStore:
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

    def __init__(self, options: QdrantOptions) -> None:
        require("qdrant_client", "vector store 'qdrant'", "qdrant")
        self._options = options
        self._client: Any = None
        self._opening: asyncio.Lock | None = None

    @property
    def dimension(self) -> int:
        """The vector length this store accepts."""
        return self._options.dimension

    @property
    def options(self) -> QdrantOptions:
        """The options the store was built with."""
        return self._options

    def _new_client(self) -> Any:
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

    async def _open(self) -> Any:
        if self._client is not None:
            return self._client
        self._opening = self._opening or asyncio.Lock()
        async with self._opening:
            if self._client is None:
                from qdrant_client import models

                name, dimension = self._options.collection, self._options.dimension
                client = self._new_client()
                try:
                    with driver_errors("qdrant"):
                        if await client.collection_exists(name):
                            info = await client.get_collection(name)
                            stored = info.config.params.vectors.size
                        else:
                            params = models.VectorParams(size=dimension, distance=models.Distance.COSINE)
                            await client.create_collection(name, vectors_config=params)
                            stored = dimension
                    if stored != dimension:
                        raise ConfigError(
                            f"Qdrant collection {name!r} holds {stored}-dimensional vectors but the store was "
                            f"opened with dimension={dimension}"
                        )
                except BaseException:
                    await client.close()
                    raise
                self._client = client
        return self._client

    async def upsert(self, rows: Sequence[VectorRow]) -> int:
        """Insert or replace rows by id.

        Args:
            rows: The rows; a later row with the same id wins.

        Returns:
            The number of distinct ids written.

        Raises:
            ConfigError: If an item is not a `VectorRow` or has the wrong dimension.
            StoreError: If Qdrant fails.
        """
        checked = check_rows(rows, self._options.dimension)
        if not checked:
            return 0
        from qdrant_client import models

        client = await self._open()
        with driver_errors("qdrant"):
            for start in range(0, len(checked), _BATCH):
                points = [
                    models.PointStruct(id=point_id(row.id), vector=row.vector.tolist(), payload=_payload(row))
                    for row in checked[start : start + _BATCH]
                ]
                await client.upsert(self._options.collection, points=points, wait=True)
        return len(checked)

    async def delete(self, ids: Sequence[str]) -> None:
        """Remove rows by id; unknown ids are ignored.

        Args:
            ids: The ids to remove.

        Raises:
            ConfigError: If ``ids`` is a bare string or holds a non-string.
            StoreError: If Qdrant fails.
        """
        wanted = check_ids(ids)
        if not wanted:
            return
        from qdrant_client import models

        client = await self._open()
        with driver_errors("qdrant"):
            selector = models.PointIdsList(points=[point_id(row_id) for row_id in wanted])
            await client.delete(self._options.collection, points_selector=selector, wait=True)

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
            StoreError: If Qdrant fails.
        """
        query_vector = check_query_vector(vector, self._options.dimension).tolist()
        check_k(k)
        client = await self._open()
        native, residual = _filter(where) if where is not None else (None, None)

        async def fetch(size: int) -> list[Hit]:
            with driver_errors("qdrant"):
                found = await client.query_points(
                    self._options.collection, query=query_vector, limit=size, query_filter=native, with_payload=True
                )
            return [Hit(point.payload["id"], float(point.score), point.payload["metadata"]) for point in found.points]

        return await verified_query(fetch, k, where, residual=residual, max_fetch=_MAX_FETCH)

    async def count(self) -> int:
        """The number of rows stored.

        Returns:
            The number of rows stored.

        Raises:
            StoreError: If Qdrant fails.
        """
        client = await self._open()
        with driver_errors("qdrant"):
            return int((await client.count(self._options.collection, exact=True)).count)

    async def get(self, ids: Sequence[str]) -> list[VectorRow]:
        """The stored rows for ``ids`` in the order asked; unknown ids are skipped.

        Args:
            ids: The ids to read.

        Returns:
            The rows found, in the order asked.

        Raises:
            ConfigError: If ``ids`` is a bare string or holds a non-string.
            StoreError: If Qdrant fails.
        """
        wanted = check_ids(ids)
        if not wanted:
            return []
        client = await self._open()
        found: dict[str, VectorRow] = {}
        with driver_errors("qdrant"):
            for start in range(0, len(wanted), _BATCH):
                points = await client.retrieve(
                    self._options.collection,
                    ids=[point_id(row_id) for row_id in wanted[start : start + _BATCH]],
                    with_payload=True,
                    with_vectors=True,
                )
                for point in points:
                    row_id = point.payload["id"]
                    found[row_id] = VectorRow(row_id, point.vector, point.payload["metadata"])
        return [found[row_id] for row_id in wanted if row_id in found]

    async def ids(self) -> list[str]:
        """Every stored id.

        Returns:
            Every stored id, in no particular order.

        Raises:
            StoreError: If Qdrant fails.
        """
        client = await self._open()
        ids: list[str] = []
        offset = None
        with driver_errors("qdrant"):
            while True:
                points, offset = await client.scroll(
                    self._options.collection, limit=1_000, offset=offset, with_payload=["id"], with_vectors=False
                )
                ids += [point.payload["id"] for point in points]
                if offset is None:
                    return ids

    async def persist(self) -> None:
        """Nothing to do: local mode writes each call through to its directory, a server persists itself."""

    async def close(self) -> None:
        """Close the client, releasing local mode's directory lock."""
        client, self._client = self._client, None
        if client is not None:
            with driver_errors("qdrant"):
                await client.close()
