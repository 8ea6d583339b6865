"""Pinecone: the official ``pinecone`` client's async data plane against one index host.

The index (dimension, cosine metric) is created outside this store, in the Pinecone console or with the
control-plane client; this store only reads and writes vectors in one Pinecone namespace of it. Pinecone
metadata is flat, so the exact JSON rides along under one key and the filterable fields beside it.
``tags_none`` is post-filtered: whether Pinecone's ``$nin`` admits a record without the field is not
something we can check offline, and dropping such a record silently would be wrong.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, SecretStr, field_validator

from armorer_ray.embeddings._extras import require
from armorer_ray.embeddings.filters import ToolFilter
from armorer_ray.embeddings.rows import Hit, Vector, VectorRow
from armorer_ray.embeddings.stores._client import ClientVectorStore
from armorer_ray.embeddings.stores._common import (
    FilterDocument,
    batches,
    check_stored_dimension,
    driver_errors,
    filter_document,
    flat_metadata,
    unflat_metadata,
)
from armorer_ray.errors import ConfigError

__all__ = ["PineconeOptions", "PineconeVectorStore"]

_DELETE_BATCH = 1_000  # ids per delete request, Pinecone's ceiling
_FETCH_BATCH = 100  # ids per fetch: they travel in the query string


class PineconeOptions(BaseModel):
    """Options of `PineconeVectorStore`.

    Attributes:
        dimension: The index's dimension (checked against the index on first use).
        host: The index host, such as ``https://tools-abc123.svc.aped-1234.pinecone.io``.
        api_key: The Pinecone API key.
        namespace: The Pinecone namespace (a partition of the index) holding the rows; ``""`` is the default.
        timeout_s: Per-request timeout.
        batch_size: Vectors per upsert request (Pinecone caps a request at 1000 vectors and 2 MB).

    Example:
        >>> PineconeOptions(dimension=384, host="https://tools-abc.svc.pinecone.io", api_key="pc-...").namespace
        ''
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    dimension: PositiveInt
    host: str
    api_key: SecretStr
    namespace: str = ""
    timeout_s: PositiveFloat = 30.0
    batch_size: int = Field(default=100, ge=1, le=1000)

    @field_validator("host")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("host must be the index's URL, starting with https:// (or http:// for a local server)")
        return value.rstrip("/")


@contextmanager
def _pinecone_errors() -> Iterator[None]:
    """The client validates ids and arguments before sending; those are our caller's mistakes, not the store's."""
    from pinecone.errors.exceptions import PineconeTypeError, PineconeValueError

    try:
        with driver_errors("pinecone"):
            yield
    except Exception as exc:
        cause = exc.__cause__
        if isinstance(cause, PineconeValueError | PineconeTypeError):
            raise ConfigError(f"pinecone refused the request: {cause}") from cause
        raise


class PineconeVectorStore(ClientVectorStore[PineconeOptions, Any, FilterDocument]):
    """A `VectorStore` on one namespace of a Pinecone index; needs ``pip install 'armorer-ray[pinecone]'``.

    Pinecone ids must be ASCII: `upsert` raises `ConfigError` for any other. Pinecone is eventually
    consistent: a count or query right after a write may not see it yet (the fake server in our tests is
    consistent at once).

    Args:
        options: Dimension, index host, API key and namespace.

    Raises:
        MissingExtraError: If the pinecone client is not installed.

    Example:
        >>> options = PineconeOptions(dimension=384, host="https://tools.svc.pinecone.io", api_key="k")
        >>> PineconeVectorStore(options).dimension
        384
    """

    backend = "pinecone"
    max_fetch = 10_000  # Pinecone's top_k ceiling

    def __init__(self, options: PineconeOptions) -> None:
        require("pinecone", "vector store 'pinecone'", "pinecone")
        super().__init__(options)

    def _errors(self) -> AbstractContextManager[None]:
        return _pinecone_errors()

    async def _connect(self) -> Any:
        from pinecone import AsyncIndex

        options = self._options
        return AsyncIndex(host=options.host, api_key=options.api_key.get_secret_value(), timeout=options.timeout_s)

    async def _prepare(self, index: Any) -> None:
        stored = (await index.describe_index_stats()).dimension
        check_stored_dimension(stored, self._options.dimension, f"Pinecone index at {self._options.host}")

    async def _disconnect(self, index: Any) -> None:
        """Close the client's HTTP connections."""
        await index.close()

    def _translate(self, where: ToolFilter) -> tuple[FilterDocument | None, ToolFilter]:
        tags: list[FilterDocument] = []
        if where.tags_any:
            tags.append({"tags": {"$in": sorted(where.tags_any)}})
        tags += [{"tags": {"$in": [tag]}} for tag in sorted(where.tags_all)]
        document, pushed = filter_document(where, tags)
        residual = where.without(namespaces=True, metadata_keys=pushed).model_copy(
            update={"tags_any": frozenset(), "tags_all": frozenset()}
        )
        return document, residual

    async def _search(self, index: Any, vector: Vector, size: int, native: FilterDocument | None) -> list[Hit]:
        found = await index.query(
            top_k=size, vector=vector.tolist(), namespace=self._options.namespace, filter=native, include_metadata=True
        )
        return [Hit(match.id, float(match.score), unflat_metadata(match.metadata)) for match in found.matches]

    async def _upsert(self, rows: list[VectorRow]) -> None:
        async with self._using() as index:
            for batch in batches(rows, self._options.batch_size):
                vectors = [
                    {"id": row.id, "values": row.vector.tolist(), "metadata": flat_metadata(row.metadata)}
                    for row in batch
                ]
                await index.upsert(vectors=vectors, namespace=self._options.namespace)

    async def _delete(self, ids: list[str]) -> None:
        async with self._using() as index:
            for batch in batches(ids, _DELETE_BATCH):
                await index.delete(ids=batch, namespace=self._options.namespace)

    async def _get(self, ids: list[str]) -> list[VectorRow]:
        rows: list[VectorRow] = []
        async with self._using() as index:
            for batch in batches(ids, _FETCH_BATCH):
                response = await index.fetch(ids=batch, namespace=self._options.namespace)
                rows += [
                    VectorRow(row_id, stored.values, unflat_metadata(stored.metadata))
                    for row_id, stored in response.vectors.items()
                ]
        return rows

    async def count(self) -> int:
        """The number of rows in this store's Pinecone namespace."""
        async with self._using() as index:
            stats = await index.describe_index_stats()
        name = self._options.namespace
        summary = stats.namespaces.get(name or "__default__") or stats.namespaces.get(name)
        return int(summary.vector_count) if summary is not None else 0

    async def ids(self) -> list[str]:
        """Every id in this store's Pinecone namespace (the list endpoint, as serverless indexes offer)."""
        ids: list[str] = []
        token: str | None = None
        async with self._using() as index:
            while True:
                page = await index.list_paginated(namespace=self._options.namespace, limit=100, pagination_token=token)
                ids += [item.id for item in page.vectors if item.id is not None]
                token = page.pagination.next if page.pagination is not None else None
                if not token:
                    return ids

    async def persist(self) -> None:
        """Nothing to do: Pinecone persists every accepted write itself."""
