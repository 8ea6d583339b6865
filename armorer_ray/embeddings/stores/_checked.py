"""`CheckedVectorStore`: the argument checks every one of our vector stores runs before any I/O.

`VectorStore` is a Protocol, and a store of your own need not inherit from this class. Ours do because the
checks, kept in one place, cannot drift apart between backends: bad arguments raise the same `ConfigError`
everywhere, the last row of a repeated id wins, `get` returns rows in the order asked, and a backend never
sees an empty or invalid argument. `ClientVectorStore` builds on it for the stores over a driver client.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from typing import Generic, Protocol, TypeVar

from armorer_ray.embeddings.filters import ToolFilter
from armorer_ray.embeddings.rows import Hit, Vector, VectorLike, VectorRow
from armorer_ray.embeddings.stores._common import check_ids, check_k, check_query_vector, check_rows


class StoreOptions(Protocol):
    """What every backend's options model has in common: the vector length of its rows."""

    @property
    def dimension(self) -> int: ...


OptionsT = TypeVar("OptionsT", bound=StoreOptions)


class CheckedVectorStore(ABC, Generic[OptionsT]):
    """A `VectorStore` that validates every argument and hands its backend only clean, non-empty input.

    A subclass implements `_upsert`, `_delete`, `_query` and `_get`, plus `count`, `ids`, `persist` and `close`.

    Args:
        options: The backend's options; ``options.dimension`` is what rows and query vectors are checked against.
    """

    def __init__(self, options: OptionsT) -> None:
        self._options = options

    @property
    def dimension(self) -> int:
        """The vector length this store accepts.

        Example:
            >>> from armorer_ray.embeddings import MemoryOptions, MemoryVectorStore
            >>> MemoryVectorStore(MemoryOptions(dimension=3)).dimension
            3
        """
        return self._options.dimension

    @property
    def options(self) -> OptionsT:
        """The options the store was built with."""
        return self._options

    async def upsert(self, rows: Sequence[VectorRow]) -> int:
        """Insert or replace rows by id.

        Args:
            rows: The rows; a later row with the same id wins.

        Returns:
            The number of distinct ids written.

        Raises:
            ConfigError: If an item is not a `VectorRow`, has the wrong dimension or breaks a limit of the backend
                (its class docstring names any).
            StoreError: If the backend fails.

        Example:
            >>> import asyncio
            >>> from armorer_ray.embeddings import MemoryOptions, MemoryVectorStore, VectorRow
            >>> store = MemoryVectorStore(MemoryOptions(dimension=2))
            >>> asyncio.run(store.upsert([VectorRow("a", [1, 0]), VectorRow("a", [0, 1])]))
            1
        """
        checked = check_rows(rows, self.dimension)
        if checked:
            await self._upsert(checked)
        return len(checked)

    async def delete(self, ids: Sequence[str]) -> None:
        """Remove rows by id; unknown ids are ignored.

        Args:
            ids: The ids to remove.

        Raises:
            ConfigError: If ``ids`` is a bare string or holds a non-string.
            StoreError: If the backend fails.

        Example:
            >>> import asyncio
            >>> from armorer_ray.embeddings import MemoryOptions, MemoryVectorStore, VectorRow
            >>> store = MemoryVectorStore(MemoryOptions(dimension=2))
            >>> _ = asyncio.run(store.upsert([VectorRow("a", [1, 0])]))
            >>> asyncio.run(store.delete(["a", "never-stored"])); asyncio.run(store.count())
            0
        """
        wanted = check_ids(ids)
        if wanted:
            await self._delete(wanted)

    async def query(self, vector: VectorLike, k: int, where: ToolFilter | None = None) -> list[Hit]:
        """The ``k`` rows most similar to ``vector`` that pass ``where``, best first.

        Args:
            vector: The query vector.
            k: The most hits to return.
            where: An optional filter.

        Returns:
            Up to ``k`` hits, best first, each passing ``where``, scored by cosine similarity.

        Raises:
            ConfigError: If ``k < 1`` or the vector has the wrong dimension.
            StoreError: If the backend fails.

        Example:
            >>> import asyncio
            >>> from armorer_ray.embeddings import MemoryOptions, MemoryVectorStore
            >>> asyncio.run(MemoryVectorStore(MemoryOptions(dimension=2)).query([1, 0], k=3))
            []
        """
        query_vector = check_query_vector(vector, self.dimension)
        check_k(k)
        return await self._query(query_vector, k, where)

    async def get(self, ids: Sequence[str]) -> list[VectorRow]:
        """The stored rows for ``ids`` in the order asked; unknown ids are skipped.

        Args:
            ids: The ids to read.

        Returns:
            The rows found, in the order asked.

        Raises:
            ConfigError: If ``ids`` is a bare string or holds a non-string.
            StoreError: If the backend fails.

        Example:
            >>> import asyncio
            >>> from armorer_ray.embeddings import MemoryOptions, MemoryVectorStore, VectorRow
            >>> store = MemoryVectorStore(MemoryOptions(dimension=2))
            >>> _ = asyncio.run(store.upsert([VectorRow("a", [0, 1], {"content_hash": "h1"})]))
            >>> [(row.id, row.vector.tolist(), row.metadata) for row in asyncio.run(store.get(["zz", "a"]))]
            [('a', [0.0, 1.0], {'content_hash': 'h1'})]
        """
        wanted = check_ids(ids)
        if not wanted:
            return []
        found = {row.id: row for row in await self._get(wanted)}
        return [found[row_id] for row_id in wanted if row_id in found]

    @abstractmethod
    async def count(self) -> int:
        """The number of rows stored.

        Raises:
            StoreError: If the backend fails.

        Example:
            >>> import asyncio
            >>> from armorer_ray.embeddings import MemoryOptions, MemoryVectorStore
            >>> asyncio.run(MemoryVectorStore(MemoryOptions(dimension=2)).count())
            0
        """

    @abstractmethod
    async def ids(self) -> list[str]:
        """Every stored id, in no particular order.

        Raises:
            StoreError: If the backend fails.

        Example:
            >>> import asyncio
            >>> from armorer_ray.embeddings import MemoryOptions, MemoryVectorStore, VectorRow
            >>> store = MemoryVectorStore(MemoryOptions(dimension=2))
            >>> _ = asyncio.run(store.upsert([VectorRow("b", [1, 0]), VectorRow("a", [0, 1])]))
            >>> sorted(asyncio.run(store.ids()))
            ['a', 'b']
        """

    @abstractmethod
    async def persist(self) -> None:
        """Make every write so far durable; a store constructed on the same location sees them.

        Raises:
            StoreError: If the backend fails.
        """

    @abstractmethod
    async def close(self) -> None:
        """Release the backend's client, files and locks.

        Raises:
            StoreError: If the backend fails.
        """

    @abstractmethod
    async def _upsert(self, rows: list[VectorRow]) -> None:
        """Write ``rows``: at least one, each of the store's dimension, no id twice."""

    @abstractmethod
    async def _delete(self, ids: list[str]) -> None:
        """Remove ``ids`` (at least one, no id twice), ignoring those not stored."""

    @abstractmethod
    async def _query(self, vector: Vector, k: int, where: ToolFilter | None) -> list[Hit]:
        """At most ``k`` hits passing ``where``, best first; ``vector`` has the store's dimension and ``k >= 1``."""

    @abstractmethod
    async def _get(self, ids: list[str]) -> Iterable[VectorRow]:
        """The stored rows among ``ids`` (at least one, no id twice), in any order: `get` puts them in order."""
