"""Milvus: pymilvus against milvus-lite (a local ``.db`` file, embedded) or a Milvus server by URI.

Schema: ``id`` (VARCHAR primary key), ``vector`` (FLOAT_VECTOR, FLAT index, COSINE), ``namespace``
(nullable VARCHAR), ``tags`` (ARRAY of VARCHAR) and ``metadata`` (JSON). Every filter clause is pushed
into a Milvus boolean expression; string literals are JSON-quoted, which Milvus's parser reads back.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

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

__all__ = ["MilvusOptions", "MilvusVectorStore"]

T = TypeVar("T")
_MAX_FETCH = 16_384  # Milvus caps limit (+ offset) at 16384
_BATCH = 1_000
_MAX_ID = 512
_MAX_TAGS = 256
_MAX_TAG_LENGTH = 256


class MilvusOptions(BaseModel):
    """Options of `MilvusVectorStore`: exactly one of ``path`` (milvus-lite) or ``uri`` (a server).

    Attributes:
        dimension: The vector length the collection holds.
        path: A milvus-lite database file, such as ``tools.db`` (its directory must exist).
        uri: A Milvus server, such as ``http://localhost:19530``.
        token: The server's token (``user:password`` or an API key).
        collection: The collection name.

    Example:
        >>> MilvusOptions(dimension=384, path="tools.db").collection
        'tools'
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    dimension: PositiveInt
    path: Path | None = None
    uri: str | None = None
    token: SecretStr | None = None
    collection: str = Field(default="tools", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")

    @model_validator(mode="after")
    def _one_location(self) -> MilvusOptions:
        if (self.path is None) == (self.uri is None):
            raise ValueError("give exactly one of path (a milvus-lite .db file) or uri (a Milvus server)")
        if self.path is not None and self.path.suffix != ".db":
            raise ValueError("a milvus-lite path must end in .db")
        return self


def _literal(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def _expression(where: ToolFilter) -> tuple[str, ToolFilter]:
    """The Milvus filter expression for ``where`` (empty for none) and the clauses left to post-filter."""
    clauses = []
    if where.tags_any:
        clauses.append(f"ARRAY_CONTAINS_ANY(tags, {_literal(sorted(where.tags_any))})")
    if where.tags_all:
        clauses.append(f"ARRAY_CONTAINS_ALL(tags, {_literal(sorted(where.tags_all))})")
    if where.tags_none:
        clauses.append(f"not ARRAY_CONTAINS_ANY(tags, {_literal(sorted(where.tags_none))})")
    if where.namespaces:
        clauses.append(f"namespace in {_literal(sorted(where.namespaces))}")
    pushed = pushable_eq_keys(where)
    clauses += [f"metadata[{_literal(key)}] == {_literal(where.metadata_eq[key])}" for key in sorted(pushed)]
    residual = where.without(tags=True, namespaces=True, metadata_keys=pushed)
    return " and ".join(f"({clause})" for clause in clauses), residual


def _columns(row: VectorRow) -> dict[str, Any]:
    if len(row.id) > _MAX_ID:
        raise ConfigError(f"Milvus ids are at most {_MAX_ID} characters; {row.id[:40]!r}... is {len(row.id)}")
    tags = sorted(row_tags(row.metadata))
    if len(tags) > _MAX_TAGS or any(len(tag) > _MAX_TAG_LENGTH for tag in tags):
        raise ConfigError(f"row {row.id!r}: Milvus stores at most {_MAX_TAGS} tags of {_MAX_TAG_LENGTH} characters")
    namespace = row.metadata.get("namespace")
    return {
        "id": row.id,
        "vector": row.vector.tolist(),
        "namespace": namespace if isinstance(namespace, str) else None,
        "tags": tags,
        "metadata": row.metadata,
    }


class MilvusVectorStore:
    """A `VectorStore` on a Milvus collection; needs ``pip install 'armorer-ray[milvus]'``.

    pymilvus is synchronous, so every call runs in a worker thread. The FLAT index makes search exact.

    Args:
        options: Dimension, location and collection.

    Raises:
        MissingExtraError: If pymilvus (or milvus-lite, for a path) is not installed.

    Example:
        >>> store = MilvusVectorStore(MilvusOptions(dimension=384, path="tools.db"))
        >>> store.dimension
        384
    """

    def __init__(self, options: MilvusOptions) -> None:
        require("pymilvus", "vector store 'milvus'", "milvus")
        if options.path is not None:
            require("milvus_lite", "vector store 'milvus' with a local path", "milvus")
        self._options = options
        self._client: Any = None
        self._opening: asyncio.Lock | None = None

    @property
    def dimension(self) -> int:
        """The vector length this store accepts."""
        return self._options.dimension

    @property
    def options(self) -> MilvusOptions:
        """The options the store was built with."""
        return self._options

    def _schema(self, client: Any) -> tuple[Any, Any]:
        from pymilvus import DataType

        schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=_MAX_ID)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self._options.dimension)
        schema.add_field("namespace", DataType.VARCHAR, max_length=_MAX_ID, nullable=True)
        schema.add_field(
            "tags", DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=_MAX_TAGS, max_length=_MAX_TAG_LENGTH
        )
        schema.add_field("metadata", DataType.JSON)
        index = client.prepare_index_params()
        index.add_index("vector", index_type="FLAT", metric_type="COSINE")
        return schema, index

    def _connect(self) -> Any:
        from pymilvus import MilvusClient

        options = self._options
        uri = str(options.path) if options.path is not None else str(options.uri)
        token = options.token.get_secret_value() if options.token is not None else ""
        client = MilvusClient(uri=uri, token=token)
        try:
            name = options.collection
            if client.has_collection(name):
                fields = client.describe_collection(name)["fields"]
                stored = next(field["params"].get("dim") for field in fields if field["name"] == "vector")
                if int(stored) != options.dimension:
                    raise ConfigError(
                        f"Milvus collection {name!r} at {uri} holds {stored}-dimensional vectors but the store was "
                        f"opened with dimension={options.dimension}"
                    )
            else:
                schema, index = self._schema(client)
                # Strong consistency: a query right after a write sees it, as the VectorStore contract requires.
                client.create_collection(name, schema=schema, index_params=index, consistency_level="Strong")
            client.load_collection(name)
        except BaseException:
            client.close()
            raise
        return client

    async def _call(self, work: Callable[[Any], T]) -> T:
        """Run ``work(client)`` in a worker thread, connecting first if needed."""
        if self._client is None:
            self._opening = self._opening or asyncio.Lock()
            async with self._opening:
                if self._client is None:
                    with driver_errors("milvus"):
                        self._client = await asyncio.to_thread(self._connect)
        client = self._client
        with driver_errors("milvus"):
            return await asyncio.to_thread(work, client)

    async def upsert(self, rows: Sequence[VectorRow]) -> int:
        """Insert or replace rows by id.

        Args:
            rows: The rows; a later row with the same id wins.

        Returns:
            The number of distinct ids written.

        Raises:
            ConfigError: If an item is not a `VectorRow`, has the wrong dimension, an id over 512 characters
                or more than 256 tags.
            StoreError: If Milvus fails.
        """
        checked = check_rows(rows, self._options.dimension)
        if not checked:
            return 0
        data = [_columns(row) for row in checked]
        name = self._options.collection

        def write(client: Any) -> None:
            for start in range(0, len(data), _BATCH):
                client.upsert(name, data[start : start + _BATCH])

        await self._call(write)
        return len(checked)

    async def delete(self, ids: Sequence[str]) -> None:
        """Remove rows by id; unknown ids are ignored.

        Args:
            ids: The ids to remove.

        Raises:
            ConfigError: If ``ids`` is a bare string or holds a non-string.
            StoreError: If Milvus fails.
        """
        wanted = check_ids(ids)
        if wanted:
            await self._call(lambda client: client.delete(self._options.collection, ids=wanted))

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
            StoreError: If Milvus fails.
        """
        query_vector = check_query_vector(vector, self._options.dimension).tolist()
        check_k(k)
        expression, residual = _expression(where) if where is not None else ("", None)

        def search(client: Any, size: int) -> list[Hit]:
            found = client.search(
                self._options.collection,
                data=[query_vector],
                limit=size,
                filter=expression,
                output_fields=["metadata"],
                search_params={"metric_type": "COSINE"},
            )
            # With the COSINE metric Milvus reports the similarity itself as "distance".
            return [Hit(hit["id"], float(hit["distance"]), hit["entity"]["metadata"]) for hit in found[0]]

        async def fetch(size: int) -> list[Hit]:
            return await self._call(lambda client: search(client, size))

        return await verified_query(fetch, k, where, residual=residual, max_fetch=_MAX_FETCH)

    async def count(self) -> int:
        """The number of rows stored.

        Returns:
            The number of rows stored.

        Raises:
            StoreError: If Milvus fails.
        """
        found = await self._call(
            lambda client: client.query(self._options.collection, filter="", output_fields=["count(*)"])
        )
        return int(found[0]["count(*)"])

    async def get(self, ids: Sequence[str]) -> list[VectorRow]:
        """The stored rows for ``ids`` in the order asked; unknown ids are skipped.

        Args:
            ids: The ids to read.

        Returns:
            The rows found, in the order asked.

        Raises:
            ConfigError: If ``ids`` is a bare string or holds a non-string.
            StoreError: If Milvus fails.
        """
        wanted = check_ids(ids)
        if not wanted:
            return []
        found = await self._call(
            lambda client: client.get(self._options.collection, ids=wanted, output_fields=["id", "vector", "metadata"])
        )
        rows = {item["id"]: VectorRow(item["id"], item["vector"], item["metadata"]) for item in found}
        return [rows[row_id] for row_id in wanted if row_id in rows]

    async def ids(self) -> list[str]:
        """Every stored id (read with a query iterator, since a plain query is capped at 16384 rows).

        Returns:
            Every stored id, in no particular order.

        Raises:
            StoreError: If Milvus fails.
        """

        def read(client: Any) -> list[str]:
            iterator = client.query_iterator(
                self._options.collection, batch_size=1_000, filter="", output_fields=["id"]
            )
            ids: list[str] = []
            try:
                while batch := iterator.next():
                    ids += [str(item["id"]) for item in batch]
            finally:
                iterator.close()
            return ids

        return await self._call(read)

    async def persist(self) -> None:
        """Flush the collection's buffered writes into sealed segments on disk.

        Raises:
            StoreError: If Milvus fails.
        """
        await self._call(lambda client: client.flush(self._options.collection))

    async def close(self) -> None:
        """Close the client (for milvus-lite, this stops its embedded server for the file)."""
        client, self._client = self._client, None
        if client is not None:
            with driver_errors("milvus"):
                await asyncio.to_thread(client.close)
