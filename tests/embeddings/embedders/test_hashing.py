"""The hashing test double runs the Embedder contract too: other suites rely on it behaving like a model."""

from __future__ import annotations

import pytest

from armorer_ray.embeddings import Embedder
from armorer_ray.embeddings.testing import HashingEmbedder, HashingOptions
from tests.embeddings.embedder_contract import EmbedderContract


class TestHashingEmbedder(EmbedderContract):
    @pytest.fixture(scope="class")
    @classmethod
    def embedder(cls) -> Embedder:
        return HashingEmbedder(HashingOptions(dimension=128))


async def test_counts_its_work() -> None:
    embedder = HashingEmbedder()
    await embedder.embed(["a", "b"])
    await embedder.embed([])
    assert (embedder.calls, embedder.texts_embedded) == (1, 2)


def test_is_stable_across_instances() -> None:
    first = HashingEmbedder().embed_now(["send an email"])
    second = HashingEmbedder().embed_now(["send an email"])
    assert first.tobytes() == second.tobytes()
