"""Qdrant runs the VectorStore contract in local mode, in memory and in a directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from armorer_ray.embeddings import QdrantOptions, QdrantVectorStore
from armorer_ray.errors import StoreError
from tests.contracts.vector_store import DIM, StoreFactory, VectorStoreContract, random_vectors


class TestQdrantLocalPathStore(VectorStoreContract):
    @pytest.fixture
    def make_store(self, tmp_path: Path) -> StoreFactory:
        return lambda dimension: QdrantVectorStore(QdrantOptions(dimension=dimension, path=tmp_path / "qdrant"))


class TestQdrantInMemoryStore(VectorStoreContract):
    persists = False

    @pytest.fixture
    def make_store(self) -> StoreFactory:
        return lambda dimension: QdrantVectorStore(QdrantOptions(dimension=dimension))


def test_path_and_url_are_exclusive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not both"):
        QdrantOptions(dimension=4, path=tmp_path, url="http://localhost:6333")


async def test_unreachable_server_is_a_store_error() -> None:
    # Port 9 (discard) on loopback: nothing listens, so the connection is refused at once.
    store = QdrantVectorStore(QdrantOptions(dimension=DIM, url="http://127.0.0.1:9", timeout_s=2))
    with pytest.raises(StoreError, match="qdrant"):
        await store.query(random_vectors(1, seed=1)[0], k=1)
