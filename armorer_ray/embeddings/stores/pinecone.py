"""Pinecone: the official ``pinecone`` client's async data plane against one index host.

The index (dimension, cosine metric) is created outside this store, in the Pinecone console or with the
control-plane client; this store only reads and writes vectors in one Pinecone namespace of it. Pinecone
metadata is flat, so the exact JSON rides along under one key and the filterable fields beside it.
``tags_none`` is post-filtered: whether Pinecone's ``$nin`` admits a record without the field is not
something we can check offline, and dropping such a record silently would be wrong.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, SecretStr, field_validator

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

__all__ = ["PineconeOptions", "PineconeVectorStore"]

_MAX_FETCH = 10_000  # Pinecone's top_k ceiling
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


def _filter(where: ToolFilter) -> tuple[dict[str, Any] | None, ToolFilter]:
    """The Pinecone metadata filter for ``where`` and the clauses left to post-filter."""
    clauses: list[dict[str, Any]] = []
    if where.tags_any:
        clauses.append({"tags": {"$in": sorted(where.tags_any)}})
    clauses += [{"tags": {"$in": [tag]}} for tag in sorted(where.tags_all)]
    if where.namespaces:
        clauses.append({"namespace": {"$in": sorted(where.namespaces)}})
    pushed = pushable_eq_keys(where)
    clauses += [{key: {"$eq": where.metadata_eq[key]}} for key in sorted(pushed)]
    residual = where.without(namespaces=True, metadata_keys=pushed).model_copy(
        update={"tags_any": frozenset(), "tags_all": frozenset()}
    )
    if not clauses:
        return None, residual
    return (clauses[0] if len(clauses) == 1 else {"$and": clauses}), residual


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


class PineconeVectorStore:
    """A `VectorStore` on one namespace of a Pinecone index; needs ``pip install 'armorer-ray[pinecone]'``.

    Pinecone ids must be ASCII. Pinecone is eventually consistent: a count or query right after a write
    may not see it yet (the fake server in our tests is consistent at once).

    Args:
        options: Dimension, index host, API key and namespace.

    Raises:
        MissingExtraError: If the pinecone client is not installed.

    Example:
        >>> options = PineconeOptions(dimension=384, host="https://tools.svc.pinecone.io", api_key="k")
        >>> PineconeVectorStore(options).dimension
        384
    """

    def __init__(self, options: PineconeOptions) -> None:
        require("pinecone", "vector store 'pinecone'", "pinecone")
        self._options = options
        self._index: Any = None
        self._opening: asyncio.Lock | None = None

    @property
    def dimension(self) -> int:
        """The vector length this store accepts."""
        return self._options.dimension

    @property
    def options(self) -> PineconeOptions:
        """The options the store was built with."""
        return self._options

    async def _open(self) -> Any:
        if self._index is not None:
            return self._index
        self._opening = self._opening or asyncio.Lock()
        async with self._opening:
            if self._index is None:
                from pinecone import AsyncIndex

                options = self._options
                with _pinecone_errors():
                    index = AsyncIndex(
                        host=options.host, api_key=options.api_key.get_secret_value(), timeout=options.timeout_s
                    )
                try:
                    with _pinecone_errors():
                        stored = (await index.describe_index_stats()).dimension
                    if stored is not None and stored != options.dimension:
                        raise ConfigError(
                            f"Pinecone index at {options.host} holds {stored}-dimensional vectors but the store "
                            f"was opened with dimension={options.dimension}"
                        )
                except BaseException:
                    await index.close()
                    raise
                self._index = index
        return self._index

    async def upsert(self, rows: Sequence[VectorRow]) -> int:
        """Insert or replace rows by id, ``batch_size`` vectors per request.

        Args:
            rows: The rows; a later row with the same id wins.

        Returns:
            The number of distinct ids written.

        Raises:
            ConfigError: If an item is not a `VectorRow`, has the wrong dimension or a non-ASCII id.
            StoreError: If Pinecone fails.
        """
        checked = check_rows(rows, self._options.dimension)
        if not checked:
            return 0
        index = await self._open()
        size = self._options.batch_size
        with _pinecone_errors():
            for start in range(0, len(checked), size):
                vectors = [
                    {"id": row.id, "values": row.vector.tolist(), "metadata": flat_metadata(row.metadata)}
                    for row in checked[start : start + size]
                ]
                await index.upsert(vectors=vectors, namespace=self._options.namespace)
        return len(checked)

    async def delete(self, ids: Sequence[str]) -> None:
        """Remove rows by id; unknown ids are ignored.

        Args:
            ids: The ids to remove.

        Raises:
            ConfigError: If ``ids`` is a bare string or holds a non-string.
            StoreError: If Pinecone fails.
        """
        wanted = check_ids(ids)
        if not wanted:
            return
        index = await self._open()
        with _pinecone_errors():
            for start in range(0, len(wanted), 1_000):
                await index.delete(ids=wanted[start : start + 1_000], namespace=self._options.namespace)

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
            StoreError: If Pinecone fails.
        """
        query_vector = check_query_vector(vector, self._options.dimension).tolist()
        check_k(k)
        index = await self._open()
        native, residual = _filter(where) if where is not None else (None, None)

        async def fetch(size: int) -> list[Hit]:
            with _pinecone_errors():
                found = await index.query(
                    top_k=size,
                    vector=query_vector,
                    namespace=self._options.namespace,
                    filter=native,
                    include_metadata=True,
                )
            return [Hit(match.id, float(match.score), unflat_metadata(match.metadata)) for match in found.matches]

        return await verified_query(fetch, k, where, residual=residual, max_fetch=_MAX_FETCH)

    async def count(self) -> int:
        """The number of rows in this store's Pinecone namespace.

        Returns:
            The number of rows stored.

        Raises:
            StoreError: If Pinecone fails.
        """
        index = await self._open()
        with _pinecone_errors():
            stats = await index.describe_index_stats()
        name = self._options.namespace
        summary = stats.namespaces.get(name or "__default__") or stats.namespaces.get(name)
        return int(summary.vector_count) if summary is not None else 0

    async def get(self, ids: Sequence[str]) -> list[VectorRow]:
        """The stored rows for ``ids`` in the order asked; unknown ids are skipped.

        Args:
            ids: The ids to read.

        Returns:
            The rows found, in the order asked.

        Raises:
            ConfigError: If ``ids`` is a bare string or holds a non-string.
            StoreError: If Pinecone fails.
        """
        wanted = check_ids(ids)
        if not wanted:
            return []
        index = await self._open()
        found: dict[str, VectorRow] = {}
        with _pinecone_errors():
            for start in range(0, len(wanted), _FETCH_BATCH):
                response = await index.fetch(
                    ids=wanted[start : start + _FETCH_BATCH], namespace=self._options.namespace
                )
                for row_id, stored in response.vectors.items():
                    found[row_id] = VectorRow(row_id, stored.values, unflat_metadata(stored.metadata))
        return [found[row_id] for row_id in wanted if row_id in found]

    async def ids(self) -> list[str]:
        """Every id in this store's Pinecone namespace (the list endpoint, as serverless indexes offer).

        Returns:
            Every stored id, in no particular order.

        Raises:
            StoreError: If Pinecone fails.
        """
        index = await self._open()
        ids: list[str] = []
        token: str | None = None
        with _pinecone_errors():
            while True:
                page = await index.list_paginated(namespace=self._options.namespace, limit=100, pagination_token=token)
                ids += [item.id for item in page.vectors if item.id is not None]
                token = page.pagination.next if page.pagination is not None else None
                if not token:
                    return ids

    async def persist(self) -> None:
        """Nothing to do: Pinecone persists every accepted write itself."""

    async def close(self) -> None:
        """Close the client's HTTP connections."""
        index, self._index = self._index, None
        if index is not None:
            with _pinecone_errors():
                await index.close()
