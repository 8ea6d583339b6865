"""Chroma runs the VectorStore contract with an ephemeral client and with a persistent directory."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from armorer_ray.embeddings import ChromaOptions, ChromaVectorStore
from armorer_ray.errors import ConfigError
from tests.contracts.vector_store import StoreFactory, VectorStoreContract


class TestChromaPersistentStore(VectorStoreContract):
    @pytest.fixture
    def make_store(self, tmp_path: Path) -> StoreFactory:
        return lambda dimension: ChromaVectorStore(ChromaOptions(dimension=dimension, path=tmp_path / "chroma"))


class TestChromaEphemeralStore(VectorStoreContract):
    # Ephemeral clients share collections by name within a process, so each store gets its own name.
    persists = False

    @pytest.fixture
    def make_store(self) -> StoreFactory:
        return lambda dimension: ChromaVectorStore(
            ChromaOptions(dimension=dimension, collection=f"t-{uuid.uuid4().hex}")
        )


def test_path_and_host_are_exclusive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not both"):
        ChromaOptions(dimension=4, path=tmp_path, host="localhost")


def test_options_refuse_unknown_fields() -> None:
    with pytest.raises(ValueError, match="extra"):
        ChromaOptions(dimension=4, embedding_function="default")  # type: ignore[call-arg]


def test_unreachable_server_is_a_store_error() -> None:
    import asyncio

    from armorer_ray.errors import StoreError

    # Port 9 (discard) on loopback: nothing listens, so the connection is refused at once.
    store = ChromaVectorStore(ChromaOptions(dimension=4, host="127.0.0.1", port=9))
    with pytest.raises(StoreError, match="chroma"):
        asyncio.run(store.count())
    assert not isinstance(StoreError("x"), ConfigError)
