"""The two shapes of the embeddings layer: `Embedder` turns text into vectors, `VectorStore` keeps and queries them.

Both are `typing.Protocol`s, so a backend need not inherit from us; `armorer_ray.embeddings.testing`
ships small implementations of each, and ``tests/contracts/vector_store.py`` is the suite every store
passes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol, TypeAlias, runtime_checkable

import numpy as np
import numpy.typing as npt

from armorer_ray.embeddings.filters import ToolFilter
from armorer_ray.embeddings.rows import Hit, VectorLike, VectorRow

__all__ = ["EmbedKind", "Embedder", "Matrix", "VectorStore"]

EmbedKind: TypeAlias = Literal["query", "document"]
"""What a text is: asymmetric models (E5) embed a search query differently from the document it should find."""

Matrix: TypeAlias = npt.NDArray[np.float32]
"""A 2-D float32 array, one row per text."""


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors.

    Implementations load their model on first use (never at import or construction) and keep the
    event loop free: local models compute in a worker thread, HTTP clients await the network.

    Example:
        >>> from armorer_ray.embeddings import embed_sync
        >>> from armorer_ray.embeddings.testing import HashingEmbedder, HashingOptions
        >>> embedder: Embedder = HashingEmbedder(HashingOptions(dimension=8))
        >>> embed_sync(embedder, ["send an email", "book a flight"]).shape
        (2, 8)
    """

    @property
    def model_id(self) -> str:
        """A stable name of the model and its settings; a changed id means stored vectors are stale."""
        ...

    @property
    def dimension(self) -> int:
        """The length of every vector this embedder returns."""
        ...

    async def embed(self, texts: Sequence[str], *, kind: EmbedKind = "document") -> Matrix:
        """Embed ``texts``.

        Args:
            texts: The texts, in order.
            kind: ``"query"`` for a search query, ``"document"`` for what is searched (tool descriptions).

        Returns:
            A ``(len(texts), dimension)`` float32 array whose rows have unit L2 norm; a text with no
            tokens at all embeds as the zero row.

        Raises:
            ConfigError: If ``texts`` is not a sequence of strings.
            MissingExtraError: If the model's optional dependency is not installed.
        """
        ...


@runtime_checkable
class VectorStore(Protocol):
    """Keeps `VectorRow`s and answers cosine-similarity queries, optionally filtered by a `ToolFilter`.

    Every method is async; driver exceptions come out as `StoreError`, invalid arguments (a vector of the
    wrong dimension, ``k < 1``) as `ConfigError`. A store opens its backend lazily on first use.

    Example:
        >>> import asyncio
        >>> from armorer_ray.embeddings import MemoryVectorStore, MemoryOptions, VectorRow
        >>> store: VectorStore = MemoryVectorStore(MemoryOptions(dimension=2))
        >>> async def demo() -> list[str]:
        ...     await store.upsert([VectorRow("a", [1, 0]), VectorRow("b", [0, 1])])
        ...     return [hit.id for hit in await store.query([0.9, 0.1], k=1)]
        >>> asyncio.run(demo())
        ['a']
    """

    @property
    def dimension(self) -> int:
        """The vector length this store accepts."""
        ...

    async def upsert(self, rows: Sequence[VectorRow]) -> int:
        """Insert or replace rows by id; within one call, a later row with the same id wins.

        Returns:
            The number of distinct ids written.
        """
        ...

    async def delete(self, ids: Sequence[str]) -> None:
        """Remove rows by id; ids that are not stored are ignored."""
        ...

    async def query(self, vector: VectorLike, k: int, where: ToolFilter | None = None) -> list[Hit]:
        """The ``k`` rows most similar to ``vector`` that pass ``where``, best first.

        Returns:
            Up to ``k`` hits ordered by descending cosine similarity; fewer only when fewer rows pass.
        """
        ...

    async def count(self) -> int:
        """The number of rows stored."""
        ...

    async def get(self, ids: Sequence[str]) -> list[VectorRow]:
        """The stored rows for ``ids``, in the order asked, skipping ids that are not stored."""
        ...

    async def ids(self) -> list[str]:
        """Every stored id, in no particular order (the ToolIndex uses it to drop stale tools)."""
        ...

    async def persist(self) -> None:
        """Make every write so far durable; a store constructed on the same location sees them."""
        ...

    async def close(self) -> None:
        """Release the backend's client, files and locks; the store is not used afterwards."""
        ...
