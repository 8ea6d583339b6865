"""WordLlama: static token embeddings averaged per text; the core dependency's embedder, no extra needed.

Only the ``l2_supercat`` weights at 256 dimensions ship inside the wordllama wheel, so that is the one
configuration offered; smaller dimensions truncate it (the model is trained Matryoshka-style).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, PositiveInt

from armorer_ray.embeddings.embedders._local import LocalEmbedder, offline_hub, preserved_root_logging
from armorer_ray.embeddings.protocols import EmbedKind

__all__ = ["WordLlamaEmbedder", "WordLlamaOptions"]


class WordLlamaOptions(BaseModel):
    """Options of `WordLlamaEmbedder`.

    Attributes:
        dimension: 256 (the packaged weights) or a Matryoshka truncation to 128 or 64.
        batch_size: Texts tokenised and pooled together.

    Example:
        >>> WordLlamaOptions(dimension=128).dimension
        128
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    dimension: Literal[64, 128, 256] = 256
    batch_size: PositiveInt = 256


class WordLlamaEmbedder(LocalEmbedder[WordLlamaOptions]):
    """Embeds with WordLlama ``l2_supercat``, loaded from the files in the wordllama wheel, never the network.

    Args:
        options: Dimension and batch size; defaults when None.

    Example:
        >>> import asyncio
        >>> embedder = WordLlamaEmbedder(WordLlamaOptions(dimension=64))
        >>> vectors = asyncio.run(embedder.embed(["send an email", "email someone a message", "get the weather"]))
        >>> vectors.shape
        (3, 64)
        >>> bool(vectors[0] @ vectors[1] > vectors[0] @ vectors[2])
        True
    """

    inline_texts = 8  # a query embeds in ~30 us: cheaper than a thread hop (see LocalEmbedder.inline_texts)

    def __init__(self, options: WordLlamaOptions | None = None) -> None:
        super().__init__(options or WordLlamaOptions())

    @property
    def model_id(self) -> str:
        """``wordllama/l2_supercat-<dimension>``.

        Example:
            >>> WordLlamaEmbedder().model_id
            'wordllama/l2_supercat-256'
        """
        return f"wordllama/l2_supercat-{self._options.dimension}"

    @property
    def dimension(self) -> int:
        """The vector length, from the options (known before the model loads).

        Example:
            >>> WordLlamaEmbedder().dimension
            256
        """
        return self._options.dimension

    @property
    def prefix_dimensions(self) -> tuple[int, ...]:
        """Lengths a prefix of each vector can be cut to and still rank (the model is trained Matryoshka-style).

        Example:
            >>> WordLlamaEmbedder(WordLlamaOptions(dimension=128)).prefix_dimensions
            (64, 128)
        """
        return tuple(d for d in (64, 128, 256) if d <= self._options.dimension)

    def _load(self) -> Any:
        with preserved_root_logging():
            import wordllama
            from wordllama import WordLlama
        # WordLlama.load looks for packaged tokenizers under "<package>/tokenizer/" but the wheel ships
        # "<package>/tokenizers/", so with downloads disabled it fails. Its cache layout is exactly
        # "<cache>/weights/" and "<cache>/tokenizers/", so pointing the cache at the package itself finds
        # both packaged files and never reaches the download branch.
        package_dir = Path(wordllama.__file__).resolve().parent
        dimension = self._options.dimension
        with offline_hub():
            return WordLlama.load(
                config="l2_supercat",
                dim=256,
                trunc_dim=None if dimension == 256 else dimension,
                cache_dir=package_dir,
                disable_download=True,
            )

    def _encode(self, model: Any, texts: list[str], kind: EmbedKind) -> npt.ArrayLike:
        # Symmetric model: queries and documents share one space, so `kind` changes nothing.
        result: npt.ArrayLike = model.embed(texts, norm=False, batch_size=self._options.batch_size)
        return result
