"""LanceDB: a vector table in a local directory, exact cosine scan, with tag and namespace filters in SQL.

Columns: ``id`` (merge key), ``vector`` (fixed-size float32 list), ``namespace``, ``tags`` (list of strings)
and ``metadata`` (the exact JSON as a string). Tag and namespace clauses run inside LanceDB as a
pre-filter; ``metadata_eq`` clauses are post-filtered, since arbitrary keys live only in the JSON string.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PositiveInt

from armorer_ray.embeddings._extras import require
from armorer_ray.embeddings.filters import ToolFilter, row_tags
from armorer_ray.embeddings.rows import Hit, Vector, VectorRow
from armorer_ray.embeddings.stores._client import ClientVectorStore
from armorer_ray.embeddings.stores._common import batches, check_stored_dimension, similarity_from_distance

__all__ = ["LanceDBOptions", "LanceDBVectorStore"]

_CHUNK = 500  # ids per "id IN (...)" clause, to keep each SQL statement small


class LanceDBOptions(BaseModel):
    """Options of `LanceDBVectorStore`.

    Attributes:
        dimension: The vector length the table holds.
        path: The LanceDB directory (created if missing).
        table: The table name.

    Example:
        >>> LanceDBOptions(dimension=256, path="index.lance").table
        'tools'
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    dimension: PositiveInt
    path: Path
    table: str = Field(default="tools", pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$")


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _string_list(values: frozenset[str]) -> str:
    return "[" + ", ".join(_quote(value) for value in sorted(values)) + "]"


def _sql(where: ToolFilter) -> str | None:
    """The SQL condition for the tag and namespace clauses of ``where``; arbitrary keys live only in the JSON."""
    clauses = []
    if where.tags_any:
        clauses.append(f"array_has_any(tags, {_string_list(where.tags_any)})")
    if where.tags_all:
        clauses.append(f"array_has_all(tags, {_string_list(where.tags_all)})")
    if where.tags_none:
        clauses.append(f"NOT array_has_any(tags, {_string_list(where.tags_none)})")
    if where.namespaces:
        clauses.append(f"namespace IN ({', '.join(_quote(name) for name in sorted(where.namespaces))})")
    return " AND ".join(f"({clause})" for clause in clauses) or None


class _Opened(NamedTuple):
    connection: Any
    table: Any


def _ids_in(ids: Sequence[str]) -> str:
    return f"id IN ({', '.join(_quote(row_id) for row_id in ids)})"


class LanceDBVectorStore(ClientVectorStore[LanceDBOptions, _Opened, str]):
    """A `VectorStore` on a LanceDB table in a local directory; needs ``pip install 'armorer-ray[lancedb]'``.

    Writes are durable when each call returns; ``persist()`` compacts the table's small fragments.

    Args:
        options: Dimension, directory and table name.

    Raises:
        MissingExtraError: If lancedb or pyarrow is not installed.

    Example:
        >>> import asyncio, tempfile
        >>> store = LanceDBVectorStore(LanceDBOptions(dimension=2, path=tempfile.mkdtemp()))
        >>> async def demo() -> list[str]:
        ...     await store.upsert([VectorRow("a", [1, 0], {"tags": ["x"]}), VectorRow("b", [0, 1])])
        ...     hits = await store.query([1, 0.2], k=2, where=ToolFilter(tags_none={"x"}))
        ...     await store.close()
        ...     return [hit.id for hit in hits]
        >>> asyncio.run(demo())
        ['b']
    """

    backend = "lancedb"
    max_fetch = 100_000

    def __init__(self, options: LanceDBOptions) -> None:
        require("lancedb", "vector store 'lancedb'", "lancedb")
        require("pyarrow", "vector store 'lancedb'", "lancedb")
        super().__init__(options)

    def _schema(self) -> Any:
        import pyarrow as pa

        return pa.schema(
            [
                pa.field("id", pa.string(), nullable=False),
                pa.field("vector", pa.list_(pa.float32(), self._options.dimension)),
                pa.field("namespace", pa.string()),
                pa.field("tags", pa.list_(pa.string())),
                pa.field("metadata", pa.string()),
            ]
        )

    async def _connect(self) -> _Opened:
        import lancedb

        connection = await lancedb.connect_async(self._options.path)
        name = self._options.table
        # Open an existing table as is: create_table(exist_ok=True) would refuse a schema mismatch
        # with a vaguer message than the dimension check below.
        if await _table_exists(connection, name):
            table = await connection.open_table(name)
        else:
            table = await connection.create_table(name, schema=self._schema())
        return _Opened(connection, table)

    async def _prepare(self, opened: _Opened) -> None:
        stored = (await opened.table.schema()).field("vector").type.list_size
        location = f"LanceDB table {self._options.table!r} in {self._options.path}"
        check_stored_dimension(stored, self._options.dimension, location)

    async def _disconnect(self, opened: _Opened) -> None:
        """Close the table and the connection."""
        opened.table.close()
        opened.connection.close()

    def _translate(self, where: ToolFilter) -> tuple[str | None, ToolFilter]:
        return _sql(where), where.without(tags=True, namespaces=True)

    async def _search(self, opened: _Opened, vector: Vector, size: int, native: str | None) -> list[Hit]:
        search = opened.table.vector_search(vector.tolist()).distance_type("cosine").select(["id", "metadata"])
        search = search.limit(size)
        if native is not None:
            search = search.where(native)
        found = await search.to_list()
        return [
            Hit(item["id"], similarity_from_distance(item["_distance"]), json.loads(item["metadata"])) for item in found
        ]

    async def _upsert(self, rows: list[VectorRow]) -> None:
        """A LanceDB merge-insert on ``id``."""
        import pyarrow as pa

        flat = np.concatenate([row.vector for row in rows])
        data = pa.Table.from_arrays(
            [
                pa.array([row.id for row in rows], pa.string()),
                pa.FixedSizeListArray.from_arrays(pa.array(flat, pa.float32()), self._options.dimension),
                pa.array([_namespace(row) for row in rows], pa.string()),
                pa.array([sorted(row_tags(row.metadata)) for row in rows], pa.list_(pa.string())),
                pa.array([json.dumps(row.metadata, separators=(",", ":")) for row in rows], pa.string()),
            ],
            schema=self._schema(),
        )
        async with self._using() as opened:
            await opened.table.merge_insert("id").when_matched_update_all().when_not_matched_insert_all().execute(data)

    async def _delete(self, ids: list[str]) -> None:
        async with self._using() as opened:
            for chunk in batches(ids, _CHUNK):
                await opened.table.delete(_ids_in(chunk))

    async def _get(self, ids: list[str]) -> list[VectorRow]:
        rows: list[VectorRow] = []
        async with self._using() as opened:
            for chunk in batches(ids, _CHUNK):
                items = await opened.table.query().where(_ids_in(chunk)).select(["id", "vector", "metadata"]).to_list()
                rows += [VectorRow(item["id"], item["vector"], json.loads(item["metadata"])) for item in items]
        return rows

    async def count(self) -> int:
        """The number of rows in the table."""
        async with self._using() as opened:
            return int(await opened.table.count_rows())

    async def ids(self) -> list[str]:
        """Every id in the table."""
        async with self._using() as opened:
            column = (await opened.table.query().select(["id"]).to_arrow()).column("id")
        return [str(value) for value in column.to_pylist()]

    async def persist(self) -> None:
        """Compact the table: writes are already durable, but each upsert leaves a small fragment behind."""
        async with self._using() as opened:
            await opened.table.optimize()


async def _table_exists(connection: Any, name: str) -> bool:
    token = None
    while True:
        page = await connection.list_tables(page_token=token)
        if name in page.tables:
            return True
        token = page.page_token
        if not token:
            return False


def _namespace(row: VectorRow) -> str | None:
    namespace = row.metadata.get("namespace")
    return namespace if isinstance(namespace, str) else None
