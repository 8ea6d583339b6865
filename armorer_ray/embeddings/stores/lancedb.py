"""LanceDB: a vector table in a local directory, exact cosine scan, with tag and namespace filters in SQL.

Columns: ``id`` (merge key), ``vector`` (fixed-size float32 list), ``namespace``, ``tags`` (list of strings)
and ``metadata`` (the exact JSON as a string). Tag and namespace clauses run inside LanceDB as a
pre-filter; ``metadata_eq`` clauses are post-filtered, since arbitrary keys live only in the JSON string.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PositiveInt

from armorer_ray.embeddings._extras import require
from armorer_ray.embeddings.filters import ToolFilter, row_tags
from armorer_ray.embeddings.rows import Hit, VectorLike, VectorRow
from armorer_ray.embeddings.stores._common import (
    check_ids,
    check_k,
    check_query_vector,
    check_rows,
    driver_errors,
    verified_query,
)
from armorer_ray.errors import ConfigError

__all__ = ["LanceDBOptions", "LanceDBVectorStore"]

_CHUNK = 500  # ids per "id IN (...)" clause, to keep each SQL statement small
_MAX_FETCH = 100_000


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


def _ids_in(ids: Sequence[str]) -> str:
    return f"id IN ({', '.join(_quote(row_id) for row_id in ids)})"


class LanceDBVectorStore:
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

    def __init__(self, options: LanceDBOptions) -> None:
        require("lancedb", "vector store 'lancedb'", "lancedb")
        require("pyarrow", "vector store 'lancedb'", "lancedb")
        self._options = options
        self._connection: Any = None
        self._table: Any = None
        self._opening: asyncio.Lock | None = None

    @property
    def dimension(self) -> int:
        """The vector length this store accepts."""
        return self._options.dimension

    @property
    def options(self) -> LanceDBOptions:
        """The options the store was built with."""
        return self._options

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

    async def _open(self) -> Any:
        if self._table is not None:
            return self._table
        self._opening = self._opening or asyncio.Lock()
        async with self._opening:
            if self._table is None:
                import lancedb

                with driver_errors("lancedb"):
                    connection = await lancedb.connect_async(self._options.path)
                    name = self._options.table
                    # Open an existing table as is: create_table(exist_ok=True) would refuse a schema mismatch
                    # with a vaguer message than the dimension check below.
                    if await _table_exists(connection, name):
                        table = await connection.open_table(name)
                    else:
                        table = await connection.create_table(name, schema=self._schema())
                    stored = (await table.schema()).field("vector").type.list_size
                if stored != self._options.dimension:
                    raise ConfigError(
                        f"LanceDB table {self._options.table!r} in {self._options.path} holds {stored}-dimensional "
                        f"vectors but the store was opened with dimension={self._options.dimension}"
                    )
                self._connection, self._table = connection, table
        return self._table

    async def upsert(self, rows: Sequence[VectorRow]) -> int:
        """Insert or replace rows by id (a LanceDB merge-insert on ``id``).

        Args:
            rows: The rows; a later row with the same id wins.

        Returns:
            The number of distinct ids written.

        Raises:
            ConfigError: If an item is not a `VectorRow` or has the wrong dimension.
            StoreError: If LanceDB fails.
        """
        checked = check_rows(rows, self._options.dimension)
        if not checked:
            return 0
        import pyarrow as pa

        table = await self._open()
        flat = np.concatenate([row.vector for row in checked])
        data = pa.Table.from_arrays(
            [
                pa.array([row.id for row in checked], pa.string()),
                pa.FixedSizeListArray.from_arrays(pa.array(flat, pa.float32()), self._options.dimension),
                pa.array([_namespace(row) for row in checked], pa.string()),
                pa.array([sorted(row_tags(row.metadata)) for row in checked], pa.list_(pa.string())),
                pa.array([json.dumps(row.metadata, separators=(",", ":")) for row in checked], pa.string()),
            ],
            schema=self._schema(),
        )
        with driver_errors("lancedb"):
            await table.merge_insert("id").when_matched_update_all().when_not_matched_insert_all().execute(data)
        return len(checked)

    async def delete(self, ids: Sequence[str]) -> None:
        """Remove rows by id; unknown ids are ignored.

        Args:
            ids: The ids to remove.

        Raises:
            ConfigError: If ``ids`` is a bare string or holds a non-string.
            StoreError: If LanceDB fails.
        """
        wanted = check_ids(ids)
        if not wanted:
            return
        table = await self._open()
        with driver_errors("lancedb"):
            for start in range(0, len(wanted), _CHUNK):
                await table.delete(_ids_in(wanted[start : start + _CHUNK]))

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
            StoreError: If LanceDB fails.
        """
        query_vector = check_query_vector(vector, self._options.dimension).tolist()
        check_k(k)
        table = await self._open()
        sql = _sql(where) if where is not None else None
        residual = where.without(tags=True, namespaces=True) if where is not None else None

        async def fetch(size: int) -> list[Hit]:
            search = table.vector_search(query_vector).distance_type("cosine").select(["id", "metadata"]).limit(size)
            if sql is not None:
                search = search.where(sql)
            with driver_errors("lancedb"):
                found = await search.to_list()
            # LanceDB reports cosine distance, 1 - similarity.
            return [Hit(item["id"], 1.0 - float(item["_distance"]), json.loads(item["metadata"])) for item in found]

        return await verified_query(fetch, k, where, residual=residual, max_fetch=_MAX_FETCH)

    async def count(self) -> int:
        """The number of rows stored.

        Returns:
            The number of rows stored.

        Raises:
            StoreError: If LanceDB fails.
        """
        table = await self._open()
        with driver_errors("lancedb"):
            return int(await table.count_rows())

    async def get(self, ids: Sequence[str]) -> list[VectorRow]:
        """The stored rows for ``ids`` in the order asked; unknown ids are skipped.

        Args:
            ids: The ids to read.

        Returns:
            The rows found, in the order asked.

        Raises:
            ConfigError: If ``ids`` is a bare string or holds a non-string.
            StoreError: If LanceDB fails.
        """
        wanted = check_ids(ids)
        if not wanted:
            return []
        table = await self._open()
        found: dict[str, VectorRow] = {}
        with driver_errors("lancedb"):
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                items = await table.query().where(_ids_in(chunk)).select(["id", "vector", "metadata"]).to_list()
                for item in items:
                    found[item["id"]] = VectorRow(item["id"], item["vector"], json.loads(item["metadata"]))
        return [found[row_id] for row_id in wanted if row_id in found]

    async def ids(self) -> list[str]:
        """Every stored id.

        Returns:
            Every stored id, in no particular order.

        Raises:
            StoreError: If LanceDB fails.
        """
        table = await self._open()
        with driver_errors("lancedb"):
            column = (await table.query().select(["id"]).to_arrow()).column("id")
        return [str(value) for value in column.to_pylist()]

    async def persist(self) -> None:
        """Compact the table: writes are already durable, but each upsert leaves a small fragment behind.

        Raises:
            StoreError: If LanceDB fails.
        """
        table = await self._open()
        with driver_errors("lancedb"):
            await table.optimize()

    async def close(self) -> None:
        """Close the table and the connection."""
        table, connection = self._table, self._connection
        self._table = self._connection = None
        with driver_errors("lancedb"):
            if table is not None:
                table.close()
            if connection is not None:
                connection.close()


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
