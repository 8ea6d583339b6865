"""LanceDB runs the VectorStore contract on a table in a temporary directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from armorer_ray.embeddings import LanceDBOptions, LanceDBVectorStore
from tests.contracts.vector_store import StoreFactory, VectorStoreContract


class TestLanceDBStore(VectorStoreContract):
    @pytest.fixture
    def make_store(self, tmp_path: Path) -> StoreFactory:
        return lambda dimension: LanceDBVectorStore(LanceDBOptions(dimension=dimension, path=tmp_path / "lance"))
