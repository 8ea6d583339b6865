"""Milvus runs the VectorStore contract on milvus-lite, a local .db file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from armorer_ray.embeddings import MilvusOptions, MilvusVectorStore, VectorRow
from armorer_ray.errors import ConfigError
from tests.contracts.vector_store import DIM, StoreFactory, VectorStoreContract


class TestMilvusLiteStore(VectorStoreContract):
    @pytest.fixture
    def make_store(self, tmp_path: Path) -> StoreFactory:
        return lambda dimension: MilvusVectorStore(MilvusOptions(dimension=dimension, path=tmp_path / "tools.db"))


@pytest.mark.parametrize(
    "fields",
    [{}, {"path": "a.db", "uri": "http://localhost:19530"}, {"path": "tools.sqlite"}],
    ids=["neither", "both", "not-db"],
)
def test_options_need_exactly_one_location(fields: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        MilvusOptions(dimension=4, **fields)  # type: ignore[arg-type]


async def test_limits_milvus_cannot_store_are_config_errors(tmp_path: Path) -> None:
    store = MilvusVectorStore(MilvusOptions(dimension=DIM, path=tmp_path / "tools.db"))
    with pytest.raises(ConfigError, match="at most 512"):
        await store.upsert([VectorRow("x" * 600, np.ones(DIM))])
    with pytest.raises(ConfigError, match="tags"):
        await store.upsert([VectorRow("a", np.ones(DIM), {"tags": [f"t{i}" for i in range(300)]})])
    await store.close()
