"""The in-process vector store: exact cosine search over one numpy matrix, optionally saved to a ``.npz`` file.

It is the default because a toolbox holds thousands of tools, not millions: exact search is one
matrix-vector product with no index to build or tune (measured on a shared 2-core machine: 0.2-0.5 ms for
10k rows of 256 dimensions; 100k rows read 100 MB per query and take 15 ms or so, bandwidth-bound).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, JsonValue, PositiveInt

from armorer_ray.embeddings.filters import ToolFilter, row_tags, scalars_equal
from armorer_ray.embeddings.rows import Hit, Vector, VectorRow
from armorer_ray.embeddings.stores._checked import CheckedVectorStore
from armorer_ray.embeddings.stores._common import copy_metadata, unit
from armorer_ray.errors import ConfigError, StoreError

__all__ = ["MemoryOptions", "MemoryVectorStore"]

_FORMAT_VERSION = 1
Mask = npt.NDArray[np.bool_]


class MemoryOptions(BaseModel):
    """Options of `MemoryVectorStore`.

    Attributes:
        dimension: The vector length the store accepts.
        path: A ``.npz`` file: loaded at construction when it exists, written by ``persist()``. None keeps
            the store in memory only.

    Example:
        >>> MemoryOptions(dimension=384, path="tools.npz").path
        PosixPath('tools.npz')
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    dimension: PositiveInt
    path: Path | None = None


class _FilterIndex:
    """Row positions per tag and per namespace, rebuilt lazily after writes, so a filter costs a few array ops."""

    def __init__(self, metadata: Sequence[dict[str, JsonValue]]) -> None:
        self._size = len(metadata)
        self._metadata = metadata
        tags: defaultdict[str, list[int]] = defaultdict(list)
        namespaces: defaultdict[str, list[int]] = defaultdict(list)
        for position, row in enumerate(metadata):
            for tag in row_tags(row):
                tags[tag].append(position)
            namespace = row.get("namespace")
            if isinstance(namespace, str):
                namespaces[namespace].append(position)
        self._tags = {tag: np.asarray(rows, dtype=np.int64) for tag, rows in tags.items()}
        self._namespaces = {name: np.asarray(rows, dtype=np.int64) for name, rows in namespaces.items()}
        # metadata_eq masks are computed row by row in Python, so each (key, value) is computed once per build.
        self._equal: dict[tuple[str, str], Mask] = {}

    def _rows_with(self, positions: dict[str, npt.NDArray[np.int64]], names: frozenset[str]) -> Mask:
        mask = np.zeros(self._size, dtype=np.bool_)
        for name in names:
            found = positions.get(name)
            if found is not None:
                mask[found] = True
        return mask

    def _equal_mask(self, key: str, value: str | int | float | bool) -> Mask:
        cache_key = (key, json.dumps(value))
        mask = self._equal.get(cache_key)
        if mask is None:
            mask = np.fromiter(
                (key in row and scalars_equal(row[key], value) for row in self._metadata),
                dtype=np.bool_,
                count=self._size,
            )
            self._equal[cache_key] = mask
        return mask

    def mask(self, where: ToolFilter) -> Mask:
        mask = np.ones(self._size, dtype=np.bool_)
        if where.tags_any:
            mask &= self._rows_with(self._tags, where.tags_any)
        for tag in where.tags_all:
            mask &= self._rows_with(self._tags, frozenset({tag}))
        if where.tags_none:
            mask &= ~self._rows_with(self._tags, where.tags_none)
        if where.namespaces:
            mask &= self._rows_with(self._namespaces, where.namespaces)
        for key, value in where.metadata_eq.items():
            mask &= self._equal_mask(key, value)
        return mask


def _top(scores: npt.NDArray[np.float32], k: int) -> npt.NDArray[np.intp]:
    """Positions of the ``k`` largest scores, largest first; argpartition keeps this O(n) for small k."""
    if k >= scores.shape[0]:
        return np.argsort(-scores, kind="stable")
    best = np.argpartition(-scores, k - 1)[:k]
    return best[np.argsort(-scores[best], kind="stable")]


class MemoryVectorStore(CheckedVectorStore[MemoryOptions]):
    """Exact cosine search over an in-memory numpy matrix; the default `VectorStore`.

    Vectors are normalised on the way in, so a query is one matrix-vector product; filters become boolean
    masks from a per-tag and per-namespace index that is rebuilt on the first query after a write. `get`
    returns the vectors as stored, at unit length.

    Args:
        options: The dimension and an optional ``.npz`` path.

    Raises:
        ConfigError: If the file at ``options.path`` holds vectors of another dimension.
        StoreError: If that file exists but cannot be read.

    Example:
        >>> import asyncio
        >>> store = MemoryVectorStore(MemoryOptions(dimension=2))
        >>> async def demo() -> list[tuple[str, float]]:
        ...     await store.upsert([
        ...         VectorRow("a", [1, 0], {"tags": ["x"]}),
        ...         VectorRow("b", [1, 1], {"tags": ["y"]}),
        ...     ])
        ...     hits = await store.query([1, 0], k=5, where=ToolFilter(tags_any={"y"}))
        ...     return [(hit.id, round(hit.score, 3)) for hit in hits]
        >>> asyncio.run(demo())
        [('b', 0.707)]
    """

    def __init__(self, options: MemoryOptions) -> None:
        super().__init__(options)
        self._dimension = options.dimension
        self._vectors: npt.NDArray[np.float32] = np.empty((0, self._dimension), dtype=np.float32)
        self._size = 0
        self._ids: list[str] = []
        self._positions: dict[str, int] = {}
        self._metadata: list[dict[str, JsonValue]] = []
        self._index: _FilterIndex | None = None
        if options.path is not None and options.path.exists():
            self._load(options.path)

    def _reserve(self, extra: int) -> None:
        needed = self._size + extra
        if needed <= self._vectors.shape[0]:
            return
        # Doubling keeps a long run of single-row upserts amortised O(1) per row.
        grown = np.empty((max(needed, 2 * self._vectors.shape[0], 64), self._dimension), dtype=np.float32)
        grown[: self._size] = self._vectors[: self._size]
        self._vectors = grown

    async def _upsert(self, rows: list[VectorRow]) -> None:
        self._reserve(sum(1 for row in rows if row.id not in self._positions))
        targets = np.empty(len(rows), dtype=np.intp)
        for slot, row in enumerate(rows):
            position = self._positions.get(row.id)
            if position is None:
                position = self._size
                self._size += 1
                self._positions[row.id] = position
                self._ids.append(row.id)
                self._metadata.append(row.metadata)
            else:
                self._metadata[position] = row.metadata
            targets[slot] = position
        block = np.stack([row.vector for row in rows])
        self._vectors[targets] = block / np.linalg.norm(block, axis=1, keepdims=True)
        self._index = None

    async def _delete(self, ids: list[str]) -> None:
        for row_id in ids:
            position = self._positions.pop(row_id, None)
            if position is None:
                continue
            last = self._size - 1
            if position != last:
                # Move the last row into the hole so the live rows stay one contiguous block.
                moved = self._ids[last]
                self._vectors[position] = self._vectors[last]
                self._ids[position] = moved
                self._metadata[position] = self._metadata[last]
                self._positions[moved] = position
            self._ids.pop()
            self._metadata.pop()
            self._size = last
        self._index = None

    async def _query(self, vector: Vector, k: int, where: ToolFilter | None) -> list[Hit]:
        query = unit(vector)
        if self._size == 0:
            return []
        matrix = self._vectors[: self._size]
        if where is None or where.is_empty:
            scores = matrix @ query
            best = _top(scores, k)
            return [self._hit(int(position), float(scores[position])) for position in best]
        candidates = np.flatnonzero(self._filter_index().mask(where))
        if candidates.size == 0:
            return []
        # Scoring only the candidates wins when the filter is selective; gathering costs a copy otherwise.
        scores = matrix[candidates] @ query if candidates.size * 4 < self._size else (matrix @ query)[candidates]
        best = _top(scores, k)
        return [self._hit(int(candidates[slot]), float(scores[slot])) for slot in best]

    # Rows own a private deep copy of their metadata (VectorRow makes it), so writes keep it as is and
    # reads hand out copies: callers mutating a hit cannot reach the filter index.
    def _hit(self, position: int, score: float) -> Hit:
        return Hit(self._ids[position], score, copy_metadata(self._metadata[position]))

    def _filter_index(self) -> _FilterIndex:
        if self._index is None:
            self._index = _FilterIndex(self._metadata)
        return self._index

    async def count(self) -> int:
        """The number of rows held in memory."""
        return self._size

    async def _get(self, ids: list[str]) -> list[VectorRow]:
        rows = []
        for row_id in ids:
            position = self._positions.get(row_id)
            if position is not None:
                rows.append(VectorRow(row_id, self._vectors[position].copy(), self._metadata[position]))
        return rows

    async def ids(self) -> list[str]:
        """Every id held in memory."""
        return list(self._ids)

    async def persist(self) -> None:
        """Write every row to ``options.path`` (atomically: a crash leaves the previous file intact).

        Without a path there is nothing to make durable and this returns at once.

        Raises:
            StoreError: If the file cannot be written.

        Example:
            >>> import asyncio, tempfile, pathlib
            >>> path = pathlib.Path(tempfile.mkdtemp()) / "tools.npz"
            >>> store = MemoryVectorStore(MemoryOptions(dimension=2, path=path))
            >>> _ = asyncio.run(store.upsert([VectorRow("a", [1, 0], {"tags": ["x"]})]))
            >>> asyncio.run(store.persist())
            >>> reopened = MemoryVectorStore(MemoryOptions(dimension=2, path=path))
            >>> [row.metadata for row in asyncio.run(reopened.get(["a"]))]
            [{'tags': ['x']}]
        """
        path = self._options.path
        if path is None:
            return
        # Snapshot on the loop thread (rows are replaced, never mutated in place), write in a worker thread.
        vectors = self._vectors[: self._size].copy()
        ids = list(self._ids)
        metadata = list(self._metadata)
        await asyncio.to_thread(_write_npz, path, ids, vectors, metadata)

    async def close(self) -> None:
        """Nothing to release; unsaved rows are dropped unless ``persist()`` ran.

        Example:
            >>> import asyncio
            >>> asyncio.run(MemoryVectorStore(MemoryOptions(dimension=2)).close())
        """

    def _load(self, path: Path) -> None:
        try:
            with np.load(path, allow_pickle=False) as data:
                version = int(data["format"])
                ids = [str(item) for item in data["ids"].tolist()]
                vectors = np.asarray(data["vectors"], dtype=np.float32)
                metadata = json.loads(str(data["metadata"]))
        except (OSError, KeyError, ValueError, TypeError) as exc:
            raise StoreError(f"cannot read vector store file {path}: {exc}") from exc
        if version != _FORMAT_VERSION:
            raise StoreError(f"{path} has format {version}; this version of armorer-ray reads {_FORMAT_VERSION}")
        if vectors.ndim != 2 or vectors.shape[1] != self._dimension:
            raise ConfigError(
                f"{path} holds {vectors.shape[-1]}-dimensional vectors but the store was opened with "
                f"dimension={self._dimension}"
            )
        self._vectors = vectors
        self._size = len(ids)
        self._ids = ids
        self._positions = {row_id: position for position, row_id in enumerate(ids)}
        self._metadata = metadata


def _write_npz(path: Path, ids: list[str], vectors: Vector, metadata: list[dict[str, JsonValue]]) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with temporary.open("wb") as handle:
            np.savez(
                handle,
                format=np.asarray(_FORMAT_VERSION),
                ids=np.asarray(ids, dtype=np.str_),
                vectors=vectors,
                metadata=np.asarray(json.dumps(metadata, separators=(",", ":"))),
            )
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise StoreError(f"cannot write vector store file {path}: {exc}") from exc
