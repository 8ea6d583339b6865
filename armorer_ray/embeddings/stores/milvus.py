"""Milvus: pymilvus against milvus-lite (a local ``.db`` file, embedded) or a Milvus server by URI.

Schema: ``id`` (VARCHAR primary key), ``vector`` (FLOAT_VECTOR, FLAT index, COSINE), ``namespace``
(nullable VARCHAR), ``tags`` (ARRAY of VARCHAR) and ``metadata`` (JSON). Every filter clause is pushed
into a Milvus boolean expression; string literals are JSON-quoted, which Milvus's parser reads back.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, SecretStr, model_validator

from armorer_ray.embeddings._extras import require
from armorer_ray.embeddings.filters import ToolFilter, row_tags
from armorer_ray.embeddings.rows import Hit, Vector, VectorRow
from armorer_ray.embeddings.stores._client import ClientVectorStore
from armorer_ray.embeddings.stores._common import batches, check_stored_dimension, pushable_eq_keys
from armorer_ray.errors import ConfigError

__all__ = ["MilvusOptions", "MilvusVectorStore"]

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


class MilvusVectorStore(ClientVectorStore[MilvusOptions, Any, str]):
    """A `VectorStore` on a Milvus collection; needs ``pip install 'armorer-ray[milvus]'``.

    pymilvus is synchronous, so every call runs in a worker thread. The FLAT index makes search exact.
    Ids are at most 512 characters and a row carries at most 256 tags of at most 256 characters:
    `upsert` refuses more with `ConfigError`.

    Args:
        options: Dimension, location and collection.

    Raises:
        MissingExtraError: If pymilvus (or milvus-lite, for a path) is not installed.

    Example:
        >>> store = MilvusVectorStore(MilvusOptions(dimension=384, path="tools.db"))
        >>> store.dimension
        384
    """

    backend = "milvus"
    max_fetch = 16_384  # Milvus caps limit (+ offset) at 16384

    def __init__(self, options: MilvusOptions) -> None:
        require("pymilvus", "vector store 'milvus'", "milvus")
        if options.path is not None:
            require("milvus_lite", "vector store 'milvus' with a local path", "milvus")
        super().__init__(options)
        # Milvus Lite searches rows still in growing segments by a slow path (measured here: 200 ms for 10k rows
        # of 256 dimensions, against 15 ms once flushed), so a local store seals its writes before the next search.
        self._unsealed = False

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

    def _uri(self) -> str:
        return str(self._options.path) if self._options.path is not None else str(self._options.uri)

    async def _connect(self) -> Any:
        from pymilvus import MilvusClient

        token = self._options.token.get_secret_value() if self._options.token is not None else ""
        return await asyncio.to_thread(MilvusClient, uri=self._uri(), token=token)

    async def _prepare(self, client: Any) -> None:
        await asyncio.to_thread(self._prepare_collection, client)

    def _prepare_collection(self, client: Any) -> None:
        name = self._options.collection
        if client.has_collection(name):
            fields = client.describe_collection(name)["fields"]
            stored = next(field["params"].get("dim") for field in fields if field["name"] == "vector")
            check_stored_dimension(int(stored), self._options.dimension, f"Milvus collection {name!r} at {self._uri()}")
        else:
            schema, index = self._schema(client)
            # Strong consistency: a query right after a write sees it, as the VectorStore contract requires.
            client.create_collection(name, schema=schema, index_params=index, consistency_level="Strong")
        client.load_collection(name)

    async def _disconnect(self, client: Any) -> None:
        """Close the client (for milvus-lite, this stops its embedded server for the file)."""
        await asyncio.to_thread(client.close)

    def _translate(self, where: ToolFilter) -> tuple[str | None, ToolFilter]:
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
        return " and ".join(f"({clause})" for clause in clauses) or None, residual

    async def _search(self, client: Any, vector: Vector, size: int, native: str | None) -> list[Hit]:
        seal = self._unsealed and self._options.path is not None
        self._unsealed = False  # cleared before the flush: a write landing meanwhile sets it again

        def search() -> list[Hit]:
            if seal:
                client.flush(self._options.collection)
            found = client.search(
                self._options.collection,
                data=[vector.tolist()],
                limit=size,
                filter=native or "",
                output_fields=["metadata"],
                search_params={"metric_type": "COSINE"},
            )
            # With the COSINE metric Milvus reports the similarity itself as "distance".
            return [Hit(hit["id"], float(hit["distance"]), hit["entity"]["metadata"]) for hit in found[0]]

        return await asyncio.to_thread(search)

    async def _upsert(self, rows: list[VectorRow]) -> None:
        data = [_columns(row) for row in rows]
        name = self._options.collection

        def write(client: Any) -> None:
            for batch in batches(data, _BATCH):
                client.upsert(name, batch)

        await self._in_thread(write)
        self._unsealed = True

    async def _delete(self, ids: list[str]) -> None:
        await self._in_thread(lambda client: client.delete(self._options.collection, ids=ids))

    async def _get(self, ids: list[str]) -> list[VectorRow]:
        found = await self._in_thread(
            lambda client: client.get(self._options.collection, ids=ids, output_fields=["id", "vector", "metadata"])
        )
        return [VectorRow(item["id"], item["vector"], item["metadata"]) for item in found]

    async def count(self) -> int:
        """The number of rows in the collection (a ``count(*)`` query)."""
        found = await self._in_thread(
            lambda client: client.query(self._options.collection, filter="", output_fields=["count(*)"])
        )
        return int(found[0]["count(*)"])

    async def ids(self) -> list[str]:
        """Every stored id (read with a query iterator, since a plain query is capped at 16384 rows)."""

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

        return await self._in_thread(read)

    async def persist(self) -> None:
        """Flush the collection's buffered writes into sealed segments on disk."""
        await self._in_thread(lambda client: client.flush(self._options.collection))
