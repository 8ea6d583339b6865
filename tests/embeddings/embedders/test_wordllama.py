"""WordLlama, the core embedder: the Embedder contract, loading offline from the wheel, and no logging side effects."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from armorer_ray.embeddings import Embedder, WordLlamaEmbedder, WordLlamaOptions, embed_sync
from tests.embeddings.embedder_contract import EmbedderContract


class TestWordLlamaEmbedder(EmbedderContract):
    @pytest.fixture(scope="class")
    @classmethod
    def embedder(cls) -> Embedder:
        return WordLlamaEmbedder()


class TestWordLlamaTruncated(EmbedderContract):
    @pytest.fixture(scope="class")
    @classmethod
    def embedder(cls) -> Embedder:
        return WordLlamaEmbedder(WordLlamaOptions(dimension=64))


def test_truncated_vectors_are_the_leading_components_renormalised() -> None:
    full = embed_sync(WordLlamaEmbedder(), ["book a flight to Paris"])[0]
    short = embed_sync(WordLlamaEmbedder(WordLlamaOptions(dimension=128)), ["book a flight to Paris"])[0]
    head = full[:128] / (full[:128] @ full[:128]) ** 0.5
    assert short == pytest.approx(head, abs=1e-5)


def test_text_without_tokens_embeds_as_the_zero_row() -> None:
    vectors = embed_sync(WordLlamaEmbedder(), ["", "hello"])
    assert not vectors[0].any()
    assert vectors[1].any()


def test_loads_from_the_wheel_with_no_network_no_cache_and_no_logging_change(tmp_path: Path) -> None:
    # A fresh interpreter whose sockets refuse to connect and whose home (and so wordllama's cache) is empty:
    # loading must use only the packaged files, and must not leave wordllama's basicConfig on the root logger.
    script = textwrap.dedent(
        """
        import logging, socket

        def refuse(*args, **kwargs):
            raise OSError("network disabled in this test")

        socket.socket.connect = refuse
        socket.create_connection = refuse
        from armorer_ray.embeddings import WordLlamaEmbedder, embed_sync

        vectors = embed_sync(WordLlamaEmbedder(), ["send an email"])
        assert vectors.shape == (1, 256), vectors.shape
        assert logging.getLogger().handlers == [], logging.getLogger().handlers
        assert logging.getLogger().level == logging.WARNING
        print("ok")
        """
    )
    environment = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=environment, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
    assert not (tmp_path / ".cache").exists()
