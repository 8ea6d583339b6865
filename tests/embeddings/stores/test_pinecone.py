"""Pinecone runs the VectorStore contract through the real ``pinecone`` client against a local fake index."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from armorer_ray.embeddings import PineconeOptions, PineconeVectorStore, ToolFilter, VectorRow
from armorer_ray.errors import ConfigError, StoreError
from tests.contracts.vector_store import DIM, StoreFactory, VectorStoreContract, random_vectors
from tests.embeddings.fake_pinecone_server import FakePineconeIndex, matches, serve


@pytest.fixture
def index() -> FakePineconeIndex:
    return FakePineconeIndex(dimension=DIM)


@pytest.fixture
def host(index: FakePineconeIndex) -> Iterator[str]:
    with serve(index) as url:
        yield url


class TestPineconeStore(VectorStoreContract):
    @pytest.fixture
    def make_store(self, host: str, index: FakePineconeIndex) -> StoreFactory:
        # The fake index has one fixed dimension, as a real one does, so reopening with another is refused.
        return lambda dimension: PineconeVectorStore(
            PineconeOptions(dimension=dimension, host=host, api_key=index.api_key, namespace="tools")
        )


async def test_the_client_really_calls_the_data_plane(host: str, index: FakePineconeIndex) -> None:
    store = PineconeVectorStore(PineconeOptions(dimension=DIM, host=host, api_key=index.api_key))
    vectors = random_vectors(3, seed=1)
    await store.upsert([VectorRow(f"r{i}", vectors[i], {"tags": ["x"]}) for i in range(3)])
    await store.query(vectors[0], k=2, where=ToolFilter(tags_any={"x"}))
    await store.get(["r0"])
    await store.ids()
    await store.delete(["r1"])
    assert await store.count() == 2
    await store.close()
    assert {path for _, path in index.requests} == {
        "/describe_index_stats",
        "/vectors/upsert",
        "/query",
        "/vectors/fetch",
        "/vectors/list",
        "/vectors/delete",
    }
    # The default Pinecone namespace is "", which stats report as "__default__".
    assert set(index.records) == {""}


async def test_filters_are_pushed_down_as_pinecone_metadata_filters(host: str, index: FakePineconeIndex) -> None:
    store = PineconeVectorStore(PineconeOptions(dimension=DIM, host=host, api_key=index.api_key))
    await store.upsert([VectorRow("a", np.ones(DIM), {"namespace": "crm", "tags": ["email"], "owner": "ops"})])
    [(_, _, stored)] = [(row_id, *record) for row_id, record in index.records[""].items()]
    assert stored["tags"] == ["email"] and stored["namespace"] == "crm" and stored["owner"] == "ops"
    assert matches(stored, {"$and": [{"tags": {"$in": ["email"]}}, {"owner": {"$eq": "ops"}}]})
    where = ToolFilter(tags_any={"email"}, namespaces={"crm"}, metadata_eq={"owner": "ops"})
    assert [hit.id for hit in await store.query(np.ones(DIM), k=1, where=where)] == ["a"]
    await store.close()


async def test_paginates_ids_past_one_page(host: str, index: FakePineconeIndex) -> None:
    store = PineconeVectorStore(PineconeOptions(dimension=DIM, host=host, api_key=index.api_key, batch_size=50))
    vectors = random_vectors(230, seed=2)
    assert await store.upsert([VectorRow(f"r{i:03}", vectors[i]) for i in range(230)]) == 230
    assert sorted(await store.ids()) == [f"r{i:03}" for i in range(230)]
    await store.close()


async def test_wrong_api_key_is_a_store_error(host: str) -> None:
    store = PineconeVectorStore(PineconeOptions(dimension=DIM, host=host, api_key="wrong"))
    with pytest.raises(StoreError, match="pinecone"):
        await store.count()


async def test_ids_pinecone_refuses_are_config_errors(host: str, index: FakePineconeIndex) -> None:
    store = PineconeVectorStore(PineconeOptions(dimension=DIM, host=host, api_key=index.api_key))
    with pytest.raises(ConfigError, match="pinecone"):
        await store.upsert([VectorRow("naïve", np.ones(DIM))])
    await store.close()


def test_host_must_be_a_url() -> None:
    with pytest.raises(ValueError, match="host"):
        PineconeOptions(dimension=DIM, host="tools.svc.pinecone.io", api_key="k")


def test_fake_filter_semantics_follow_pinecone() -> None:
    record = {"tags": ["a", "b"], "n": 1.0, "flag": True}
    assert matches(record, {"tags": "a"}) and matches(record, {"tags": {"$in": ["z", "b"]}})
    assert matches(record, {"n": 1}) and not matches(record, {"flag": 1})
    assert not matches(record, {"tags": {"$nin": ["a"]}}) and matches(record, {"missing": {"$exists": False}})
    assert matches(record, {"$or": [{"n": 2}, {"flag": True}]})
