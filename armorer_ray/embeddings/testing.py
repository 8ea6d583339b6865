"""Test doubles that genuinely implement the embeddings protocols: deterministic, instant and offline.

`HashingEmbedder` is a real (if crude) embedder: texts sharing words get similar vectors, so retrieval
tests can assert rankings without loading a model.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, PositiveInt

from armorer_ray.embeddings.embedders._local import check_texts, normalized_rows
from armorer_ray.embeddings.protocols import EmbedKind, Matrix

__all__ = ["HashingEmbedder", "HashingOptions"]

_WORD = re.compile(r"\w+")


class HashingOptions(BaseModel):
    """Options of `HashingEmbedder`.

    Attributes:
        dimension: The vector length; collisions between words fall as it grows.

    Example:
        >>> HashingOptions().dimension
        64
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    dimension: PositiveInt = 64


class HashingEmbedder:
    """Feature hashing of lower-cased words: each word adds ±1 at a position chosen by its BLAKE2 hash.

    Deterministic across processes and platforms (no ``hash()`` randomisation), synchronous inside, and
    counting its work so tests can check that unchanged texts are not embedded twice.

    Attributes:
        calls: How many times ``embed`` ran with at least one text.
        texts_embedded: How many texts it embedded in total.

    Args:
        options: The dimension; 64 when None.

    Example:
        >>> import asyncio
        >>> embedder = HashingEmbedder(HashingOptions(dimension=32))
        >>> vectors = asyncio.run(embedder.embed(["send email", "send an email", "weather"]))
        >>> bool(vectors[0] @ vectors[1] > vectors[0] @ vectors[2]), embedder.texts_embedded
        (True, 3)
    """

    def __init__(self, options: HashingOptions | None = None) -> None:
        self._options = options or HashingOptions()
        self.calls = 0
        self.texts_embedded = 0

    @property
    def options(self) -> HashingOptions:
        """The options the embedder was built with."""
        return self._options

    @property
    def model_id(self) -> str:
        """``hashing/<dimension>``.

        Example:
            >>> HashingEmbedder().model_id
            'hashing/64'
        """
        return f"hashing/{self._options.dimension}"

    @property
    def dimension(self) -> int:
        """The vector length.

        Example:
            >>> HashingEmbedder().dimension
            64
        """
        return self._options.dimension

    def embed_now(self, texts: Sequence[str]) -> Matrix:
        """The synchronous computation behind ``embed``.

        Args:
            texts: The texts.

        Returns:
            Unit-length rows; a text without any word gives the zero row.

        Example:
            >>> HashingEmbedder(HashingOptions(dimension=4)).embed_now(["", "a"]).tolist()[0]
            [0.0, 0.0, 0.0, 0.0]
        """
        batch = check_texts(texts)
        matrix = np.zeros((len(batch), self.dimension), dtype=np.float32)
        for row, text in enumerate(batch):
            for word in _WORD.findall(text.lower()):
                digest = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
                matrix[row, digest % self.dimension] += 1.0 if digest >> 63 else -1.0
        return normalized_rows(matrix, self.dimension, len(batch))

    async def embed(self, texts: Sequence[str], *, kind: EmbedKind = "document") -> Matrix:
        """Embed ``texts``; ``kind`` is ignored (the hashing is symmetric).

        Args:
            texts: The texts.
            kind: ``"query"`` or ``"document"``.

        Returns:
            A ``(len(texts), dimension)`` float32 array.

        Raises:
            ConfigError: If ``texts`` is not a sequence of strings.

        Example:
            >>> import asyncio
            >>> asyncio.run(HashingEmbedder().embed([])).shape
            (0, 64)
        """
        matrix = self.embed_now(texts)
        if len(matrix):
            self.calls += 1
            self.texts_embedded += len(matrix)
        return matrix

    def __repr__(self) -> str:
        return f"HashingEmbedder({self._options!r})"
