"""Batching, the blocking form, and the promise that local embedders keep the event loop free."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from pydantic import BaseModel

from armorer_ray.embeddings import EmbedKind, embed_batched, embed_sync
from armorer_ray.embeddings.embedders._local import LocalEmbedder
from armorer_ray.embeddings.testing import HashingEmbedder
from armorer_ray.errors import ConfigError


class _GateOptions(BaseModel):
    dimension: int = 4


class GatedEmbedder(LocalEmbedder[_GateOptions]):
    """Blocks inside the model until the test opens the gate, like a model busy on a large batch."""

    def __init__(self) -> None:
        super().__init__(_GateOptions())
        self.gate = threading.Event()
        self.loads = 0
        self.threads: set[int] = set()

    @property
    def model_id(self) -> str:
        return "gated"

    @property
    def dimension(self) -> int:
        return 4

    def _load(self) -> Any:
        self.loads += 1
        return object()

    def _encode(self, model: Any, texts: list[str], kind: EmbedKind) -> npt.ArrayLike:
        self.threads.add(threading.get_ident())
        if not self.gate.wait(timeout=30):
            raise RuntimeError("the gate never opened: the event loop was blocked")
        return np.ones((len(texts), 4))


async def test_local_embedding_runs_off_the_event_loop() -> None:
    embedder = GatedEmbedder()
    running = asyncio.create_task(embedder.embed(["x"] * 1000))
    await asyncio.sleep(0)
    # This line runs only if the loop is free while the model computes; opening the gate lets it finish.
    embedder.gate.set()
    vectors = await asyncio.wait_for(running, timeout=30)
    assert vectors.shape == (1000, 4)
    assert threading.get_ident() not in embedder.threads


async def test_the_model_loads_once_under_concurrent_first_calls() -> None:
    embedder = GatedEmbedder()
    embedder.gate.set()
    await asyncio.gather(*(embedder.embed(["x"]) for _ in range(8)))
    assert embedder.loads == 1


async def test_embed_batched_calls_the_embedder_once_per_batch() -> None:
    embedder = HashingEmbedder()
    texts = [f"text {i}" for i in range(10)]
    vectors = await embed_batched(embedder, texts, batch_size=4)
    assert embedder.calls == 3
    np.testing.assert_array_equal(vectors, HashingEmbedder().embed_now(texts))


async def test_embed_batched_with_progress_returns_the_same_rows() -> None:
    texts = [f"text {i}" for i in range(7)]
    shown = await embed_batched(HashingEmbedder(), texts, batch_size=2, progress=True)
    np.testing.assert_array_equal(shown, await embed_batched(HashingEmbedder(), texts, batch_size=2))


@pytest.mark.parametrize("batch_size", [0, -3, 1.5, True])
async def test_embed_batched_refuses_a_bad_batch_size(batch_size: object) -> None:
    with pytest.raises(ConfigError, match="batch_size"):
        await embed_batched(HashingEmbedder(), ["x"], batch_size=batch_size)  # type: ignore[arg-type]


async def test_embed_batched_of_nothing_is_an_empty_matrix() -> None:
    assert (await embed_batched(HashingEmbedder(), [])).shape == (0, 64)


async def test_embed_sync_refuses_inside_an_event_loop() -> None:
    with pytest.raises(RuntimeError, match="await embedder.embed"):
        embed_sync(HashingEmbedder(), ["x"])


def test_embed_sync_reuses_one_loop_per_thread() -> None:
    loops: list[asyncio.AbstractEventLoop] = []

    class LoopRecorder(HashingEmbedder):
        async def embed(self, texts: Any, *, kind: EmbedKind = "document") -> Any:
            loops.append(asyncio.get_running_loop())
            return await super().embed(texts, kind=kind)

    embedder = LoopRecorder()
    embed_sync(embedder, ["a"])
    embed_sync(embedder, ["b"])
    assert loops[0] is loops[1]
