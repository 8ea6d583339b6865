"""The memory store: the contract with and without a file, plus what only an in-process store can promise."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from armorer_ray.embeddings import MemoryOptions, MemoryVectorStore, ToolFilter, VectorRow, VectorStore
from armorer_ray.errors import StoreError
from tests.contracts.vector_store import DIM, StoreFactory, VectorStoreContract, random_vectors


class TestMemoryStoreWithFile(VectorStoreContract):
    @pytest.fixture
    def make_store(self, tmp_path: Path) -> StoreFactory:
        return lambda dimension: MemoryVectorStore(MemoryOptions(dimension=dimension, path=tmp_path / "tools.npz"))


class TestMemoryStoreInMemory(VectorStoreContract):
    persists = False

    @pytest.fixture
    def make_store(self) -> StoreFactory:
        return lambda dimension: MemoryVectorStore(MemoryOptions(dimension=dimension))


async def test_returned_metadata_cannot_corrupt_the_store() -> None:
    store = MemoryVectorStore(MemoryOptions(dimension=DIM))
    metadata = {"tags": ["email"]}
    vector = random_vectors(1, seed=1)[0]
    await store.upsert([VectorRow("a", vector, metadata)])
    metadata["tags"].append("sms")
    [hit] = await store.query(vector, k=1)
    hit.metadata["tags"].append("voice")  # type: ignore[union-attr]
    assert [row.metadata for row in await store.get(["a"])] == [{"tags": ["email"]}]
    assert await store.query(vector, k=1, where=ToolFilter(tags_any={"sms", "voice"})) == []


async def test_filter_index_follows_deletes_that_move_rows() -> None:
    # Deleting swaps the last row into the hole; the tag index must see the move.
    store = MemoryVectorStore(MemoryOptions(dimension=DIM))
    vectors = random_vectors(5, seed=2)
    await store.upsert([VectorRow(f"r{i}", vectors[i], {"tags": [f"t{i}"]}) for i in range(5)])
    assert [hit.id for hit in await store.query(vectors[4], k=5, where=ToolFilter(tags_any={"t4"}))] == ["r4"]
    await store.delete(["r1"])
    assert [hit.id for hit in await store.query(vectors[4], k=5, where=ToolFilter(tags_any={"t4"}))] == ["r4"]
    assert await store.query(vectors[4], k=5, where=ToolFilter(tags_any={"t1"})) == []


async def test_grows_past_its_initial_capacity_without_losing_rows() -> None:
    store = MemoryVectorStore(MemoryOptions(dimension=DIM))
    vectors = random_vectors(300, seed=3)
    for start in range(0, 300, 7):
        await store.upsert([VectorRow(f"r{i}", vectors[i]) for i in range(start, min(start + 7, 300))])
    assert await store.count() == 300
    [hit] = await store.query(vectors[123], k=1)
    assert hit.id == "r123"


async def test_a_corrupt_file_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "tools.npz"
    path.write_bytes(b"not a numpy archive")
    with pytest.raises(StoreError, match="cannot read"):
        MemoryVectorStore(MemoryOptions(dimension=DIM, path=path))


async def test_persist_writes_nothing_without_a_path(tmp_path: Path) -> None:
    store: VectorStore = MemoryVectorStore(MemoryOptions(dimension=DIM))
    await store.upsert([VectorRow("a", np.ones(DIM))])
    await store.persist()
    assert await asyncio.to_thread(lambda: list(tmp_path.iterdir())) == []


async def test_persist_replaces_the_file_atomically(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "tools.npz"
    store = MemoryVectorStore(MemoryOptions(dimension=DIM, path=path))
    await store.upsert([VectorRow("a", np.ones(DIM))])
    await store.persist()
    await store.upsert([VectorRow("b", -np.ones(DIM))])
    await store.persist()
    assert sorted(p.name for p in path.parent.iterdir()) == ["tools.npz"]
    assert sorted(await MemoryVectorStore(MemoryOptions(dimension=DIM, path=path)).ids()) == ["a", "b"]
