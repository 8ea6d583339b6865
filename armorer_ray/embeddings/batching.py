"""Embedding long lists: batches with an optional rich progress bar, and a blocking form for scripts."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from armorer_ray._sync import run_sync
from armorer_ray.embeddings.embedders._local import check_texts
from armorer_ray.embeddings.protocols import Embedder, EmbedKind, Matrix
from armorer_ray.errors import ConfigError

__all__ = ["embed_batched", "embed_sync"]


async def embed_batched(
    embedder: Embedder,
    texts: Sequence[str],
    *,
    kind: EmbedKind = "document",
    batch_size: int = 256,
    progress: bool = False,
) -> Matrix:
    """Embed ``texts`` in batches of ``batch_size``, optionally drawing a rich progress bar.

    Each batch is one ``embedder.embed`` call, so the loop regains control between batches and a
    cancelled caller stops after the current one.

    Args:
        embedder: Any `Embedder`.
        texts: The texts, in order.
        kind: ``"query"`` or ``"document"``.
        batch_size: Texts per ``embed`` call.
        progress: Draw a progress bar (on stderr) while batches run.

    Returns:
        A ``(len(texts), embedder.dimension)`` float32 array.

    Raises:
        ConfigError: If ``batch_size < 1`` or ``texts`` is not a sequence of strings.

    Example:
        >>> import asyncio
        >>> from armorer_ray.embeddings.testing import HashingEmbedder
        >>> asyncio.run(embed_batched(HashingEmbedder(), ["a"] * 10, batch_size=3)).shape
        (10, 64)
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
    batch = check_texts(texts)
    parts: list[Matrix] = [np.zeros((0, embedder.dimension), dtype=np.float32)]
    starts = range(0, len(batch), batch_size)
    if not progress:
        for start in starts:
            parts.append(await embedder.embed(batch[start : start + batch_size], kind=kind))
        return np.concatenate(parts)
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task(f"embedding with {embedder.model_id}", total=len(batch))
        for start in starts:
            parts.append(await embedder.embed(batch[start : start + batch_size], kind=kind))
            bar.advance(task, len(parts[-1]))
    return np.concatenate(parts)


def embed_sync(embedder: Embedder, texts: Sequence[str], *, kind: EmbedKind = "document") -> Matrix:
    """Blocking form of ``embedder.embed``, for scripts, notebooks without a loop, and the CLI.

    It runs on a loop kept per thread, so an embedder that caches a per-loop HTTP client reuses it.

    Args:
        embedder: Any `Embedder`.
        texts: The texts.
        kind: ``"query"`` or ``"document"``.

    Returns:
        The same array ``await embedder.embed(texts, kind=kind)`` would.

    Raises:
        RuntimeError: Inside a running event loop, where blocking would stall it; await ``embed`` there.

    Example:
        >>> from armorer_ray.embeddings.testing import HashingEmbedder
        >>> embed_sync(HashingEmbedder(), ["book a flight"]).shape
        (1, 64)
    """
    return run_sync(embedder.embed(texts, kind=kind), "embed", instead="await embedder.embed(texts)")
