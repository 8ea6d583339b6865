"""Checks and helpers every vector store backend shares: argument validation, post-filtering, error translation."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeAlias, TypeVar

import numpy as np
from pydantic import JsonValue

from armorer_ray.embeddings.filters import ToolFilter, row_tags
from armorer_ray.embeddings.rows import Hit, Vector, VectorLike, VectorRow, as_vector
from armorer_ray.errors import ArmorerError, ConfigError, StoreError

FlatValue: TypeAlias = str | int | float | bool | list[str]
FilterDocument: TypeAlias = dict[str, Any]
T = TypeVar("T")

# Stores whose metadata is flat (Chroma, Pinecone) keep the exact JSON here and the filterable fields beside it.
JSON_KEY = "_armorer_json"

# Keys that every native filter language can name without quoting (Qdrant reads dots as nesting, Milvus
# and SQL need escaping, Chroma reserves "$"); a metadata_eq on any other key is post-filtered.
_SIMPLE_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]{0,63}$")


def check_k(k: int) -> None:
    """Refuse a ``k`` that is not a positive int."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ConfigError(f"k must be a positive integer, got {k!r}")


def check_query_vector(vector: VectorLike, dimension: int) -> Vector:
    """Coerce a query vector and check its length against the store's."""
    array = as_vector(vector, what="query vector")
    if array.shape[0] != dimension:
        raise ConfigError(
            f"query vector has dimension {array.shape[0]} but the store holds {dimension}-dimensional vectors; "
            "was it embedded by a different model?"
        )
    return array


def check_rows(rows: Sequence[VectorRow], dimension: int) -> list[VectorRow]:
    """Validate rows and keep the last row of each id, in first-seen order."""
    if isinstance(rows, VectorRow) or not isinstance(rows, Sequence):
        raise ConfigError(f"upsert takes a sequence of VectorRow, got {type(rows).__name__}")
    latest: dict[str, VectorRow] = {}
    for row in rows:
        if not isinstance(row, VectorRow):
            raise ConfigError(f"upsert takes VectorRow items, got {type(row).__name__}")
        if row.vector.shape[0] != dimension:
            raise ConfigError(
                f"row {row.id!r} has dimension {row.vector.shape[0]} but the store holds "
                f"{dimension}-dimensional vectors; use a new collection for a different embedder"
            )
        latest[row.id] = row
    return list(latest.values())


def check_ids(ids: Sequence[str]) -> list[str]:
    """Validate a sequence of ids; a bare string is refused because iterating it would yield characters."""
    if isinstance(ids, str) or not isinstance(ids, Sequence):
        raise ConfigError(f"ids must be a sequence of strings, got {type(ids).__name__}")
    for item in ids:
        if not isinstance(item, str) or not item:
            raise ConfigError(f"ids must be non-empty strings, got {item!r}")
    return list(dict.fromkeys(ids))


def check_stored_dimension(stored: int | None, dimension: int, location: str) -> None:
    """Refuse to open ``location`` when its vectors are ``stored`` long, not ``dimension`` (None: nothing stored yet).

    Vectors of two embedders cannot be compared, so a store never mixes them: a new embedder needs a new collection.
    """
    if stored is not None and stored != dimension:
        raise ConfigError(
            f"{location} holds {stored}-dimensional vectors but the store was opened with dimension={dimension}"
        )


def check_dimension(dimension: int) -> int:
    """Refuse a dimension that is not a positive int."""
    if isinstance(dimension, bool) or not isinstance(dimension, int) or dimension < 1:
        raise ConfigError(f"dimension must be a positive integer, got {dimension!r}")
    return dimension


def batches(items: list[T], size: int) -> Iterator[list[T]]:
    """``items`` in consecutive slices of at most ``size``, since every driver caps what one request may carry."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def similarity_from_distance(distance: float) -> float:
    """The cosine similarity for a cosine distance, which Chroma and LanceDB report as ``1 - similarity``."""
    return 1.0 - float(distance)


def unit(vector: Vector) -> Vector:
    """``vector`` scaled to unit length (callers have already refused the zero vector)."""
    return (vector / np.linalg.norm(vector)).astype(np.float32, copy=False)


def is_simple_key(key: str) -> bool:
    """Whether a metadata key can be pushed into every native filter language as is."""
    return bool(_SIMPLE_KEY.match(key))


def pushable_eq_keys(where: ToolFilter, *, numbers: bool = True) -> frozenset[str]:
    """The ``metadata_eq`` keys a backend can push down (simple keys; optionally no numeric values)."""
    return frozenset(
        key
        for key, value in where.metadata_eq.items()
        # "tags" is stored as a list, so equality on it is left to the post-filter.
        if key != "tags" and is_simple_key(key) and (numbers or isinstance(value, str | bool))
    )


def flat_metadata(metadata: Mapping[str, JsonValue]) -> dict[str, FlatValue]:
    """Metadata for flat stores: the exact JSON under `JSON_KEY`, plus every field a filter can read.

    Filterable fields are the non-empty list of string tags and every top-level scalar under a simple
    key; nested values stay only in the JSON (no filter reads them).
    """
    flat: dict[str, FlatValue] = {JSON_KEY: json.dumps(metadata, separators=(",", ":"), allow_nan=False)}
    for key, value in metadata.items():
        if key == JSON_KEY or not is_simple_key(key):
            continue
        if key == "tags":
            tags = sorted(row_tags(metadata))
            if tags:  # both Chroma and Pinecone refuse an empty list
                flat["tags"] = tags
        elif isinstance(value, str | int | float | bool):
            flat[key] = value
    return flat


def unflat_metadata(flat: Mapping[str, object] | None) -> dict[str, JsonValue]:
    """The exact metadata back from `flat_metadata`'s output."""
    if not flat or JSON_KEY not in flat:
        return {}
    raw = flat[JSON_KEY]
    if not isinstance(raw, str):
        raise StoreError(f"stored metadata under {JSON_KEY!r} is not a JSON string")
    loaded = json.loads(raw)
    if not isinstance(loaded, dict):
        raise StoreError(f"stored metadata under {JSON_KEY!r} is not a JSON object")
    return loaded


def filter_document(
    where: ToolFilter, tag_clauses: list[FilterDocument]
) -> tuple[FilterDocument | None, frozenset[str]]:
    """The ``where`` document of a flat store (Chroma, Pinecone), and the ``metadata_eq`` keys it pushes down.

    Both speak the same operators for namespaces (``$in``), equality (``$eq``) and conjunction (``$and``), but not
    for tags, so the caller writes those clauses in its own dialect.

    Args:
        where: The filter to translate.
        tag_clauses: The backend's clauses for the tag sets of ``where`` that it pushes down.

    Returns:
        The document (None when it has no clause: Chroma refuses an empty ``$and``, and one clause stands alone),
        and the ``metadata_eq`` keys it holds.
    """
    clauses = list(tag_clauses)
    if where.namespaces:
        clauses.append({"namespace": {"$in": sorted(where.namespaces)}})
    pushed = pushable_eq_keys(where)
    clauses += [{key: {"$eq": where.metadata_eq[key]}} for key in sorted(pushed)]
    if not clauses:
        return None, pushed
    return (clauses[0] if len(clauses) == 1 else {"$and": clauses}), pushed


async def verified_query(
    fetch: Callable[[int], Awaitable[list[Hit]]],
    k: int,
    where: ToolFilter | None,
    *,
    residual: ToolFilter | None,
    max_fetch: int,
) -> list[Hit]:
    """Run a backend query, re-check every hit against ``where`` and over-fetch until ``k`` pass.

    ``fetch(n)`` asks the backend for its ``n`` best rows under the clauses it pushed down. When nothing is
    left to post-filter (``residual`` is empty) the first fetch asks for exactly ``k``; the re-check then
    only guards against a backend whose native semantics differ from `ToolFilter.matches`. Otherwise the
    fetch size starts at 4k and grows 4x until ``k`` hits pass or the backend runs out of rows.

    Args:
        fetch: The backend query for a given number of candidates, best first.
        k: How many hits to return.
        where: The full filter, or None.
        residual: The part of ``where`` the backend did not push down.
        max_fetch: The backend's largest allowed ``n``.

    Returns:
        At most ``k`` hits, best first, every one passing ``where``.
    """
    pending = residual is not None and not residual.is_empty
    size = min(max(4 * k, k + 32) if pending else k, max_fetch)
    while True:
        hits = await fetch(size)
        kept = hits if where is None else [hit for hit in hits if where.matches(hit.metadata)]
        if len(kept) >= k or len(hits) < size or size >= max_fetch:
            return kept[:k]
        size = min(size * 4, max_fetch)


@contextmanager
def driver_errors(backend: str) -> Iterator[None]:
    """Translate any driver exception raised inside the block into `StoreError`; ours pass through."""
    try:
        yield
    except ArmorerError:
        raise
    except Exception as exc:
        raise StoreError(f"{backend} failed: {type(exc).__name__}: {exc}") from exc


def copy_json(value: JsonValue) -> JsonValue:
    """A deep copy of a JSON tree (dicts and lists only), several times faster than `copy.deepcopy`."""
    if isinstance(value, dict):
        return {key: copy_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [copy_json(item) for item in value]
    return value


def copy_metadata(metadata: Mapping[str, JsonValue]) -> dict[str, JsonValue]:
    """A deep copy of a row's metadata, so callers mutating what they got back cannot corrupt a store."""
    return {key: copy_json(item) for key, item in metadata.items()}
