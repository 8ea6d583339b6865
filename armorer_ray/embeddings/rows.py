"""The rows a VectorStore keeps and the hits it answers with.

A `VectorRow` is one tool's embedding plus the JSON metadata that filters and the ToolIndex read back
(namespace, tags, content hash...). Rows are frozen dataclasses rather than pydantic models because they
hold numpy vectors: validating 384 floats per row through pydantic costs more than the query it serves.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeAlias

import numpy as np
import numpy.typing as npt
from pydantic import JsonValue

from armorer_ray.errors import ConfigError

__all__ = ["Hit", "Vector", "VectorLike", "VectorRow", "as_vector"]

Vector: TypeAlias = npt.NDArray[np.float32]
"""A 1-D float32 array."""

VectorLike: TypeAlias = "Vector | npt.NDArray[np.floating] | Sequence[float]"
"""Anything `as_vector` turns into a `Vector`: a numpy array or a sequence of floats."""


def as_vector(value: VectorLike, *, what: str = "vector") -> Vector:
    """Coerce ``value`` to a 1-D, finite, non-zero float32 array.

    Cosine similarity is undefined for the zero vector, so it is refused here rather than scored as
    NaN by one backend and 0 by another.

    Args:
        value: A numpy array or a sequence of numbers.
        what: The name used in error messages.

    Returns:
        A contiguous float32 copy of ``value`` (or ``value`` itself when it already is one).

    Raises:
        ConfigError: If ``value`` is not 1-D, is empty, holds a non-finite number or is all zeros.

    Example:
        >>> as_vector([1, 0, 0])
        array([1., 0., 0.], dtype=float32)
        >>> as_vector([0.0, 0.0])
        Traceback (most recent call last):
        ...
        armorer_ray.errors.ConfigError: vector is all zeros; cosine similarity needs a direction
    """
    try:
        array = np.ascontiguousarray(value, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{what} must be a sequence of numbers: {exc}") from exc
    if array.ndim != 1 or array.size == 0:
        raise ConfigError(f"{what} must be a non-empty 1-D sequence of numbers, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ConfigError(f"{what} holds a NaN or infinite number")
    if not array.any():
        raise ConfigError(f"{what} is all zeros; cosine similarity needs a direction")
    return array


def _json_copy(value: object, path: str) -> JsonValue:
    """A deep copy of ``value``, checked to be JSON on the way (one walk does both)."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ConfigError(f"non-finite number at {path}")
        return value
    if isinstance(value, list):
        return [_json_copy(item, f"{path}[{index}]") for index, item in enumerate(value)]
    if isinstance(value, dict):
        copy: dict[str, JsonValue] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ConfigError(f"non-string key {key!r} at {path}")
            copy[key] = _json_copy(item, f"{path}.{key}")
        return copy
    raise ConfigError(f"value of type {type(value).__name__} at {path} is not JSON")


@dataclass(frozen=True, eq=False, slots=True)
class VectorRow:
    """One stored embedding: an id, its vector and JSON metadata.

    The metadata keys that filters read are ``namespace`` (a string), ``tags`` (a list of strings) and
    any scalar a `ToolFilter.metadata_eq` names; the ToolIndex also keeps ``content_hash`` here so it can
    skip re-embedding unchanged tools.

    Attributes:
        id: A non-empty string, unique within the store; upserting the same id replaces the row.
        vector: The embedding, coerced to a finite, non-zero 1-D float32 array.
        metadata: A JSON object (str keys; lists, str, finite numbers, bools, None and nested objects),
            deep-copied at construction, so later changes to the caller's dict do not reach a store.

    Raises:
        ConfigError: On an empty id, a bad vector or metadata that is not JSON.

    Example:
        >>> row = VectorRow("crm:send_email", [0.6, 0.8], {"namespace": "crm", "tags": ["email"]})
        >>> row.vector.dtype, row.metadata["tags"]
        (dtype('float32'), ['email'])
        >>> VectorRow("", [1.0])
        Traceback (most recent call last):
        ...
        armorer_ray.errors.ConfigError: a VectorRow id must be a non-empty string, got ''
    """

    id: str
    vector: Vector
    metadata: dict[str, JsonValue] = field(default_factory=dict)

    def __init__(self, id: str, vector: VectorLike, metadata: Mapping[str, JsonValue] | None = None) -> None:
        if not isinstance(id, str) or not id:
            raise ConfigError(f"a VectorRow id must be a non-empty string, got {id!r}")
        if metadata is not None and not isinstance(metadata, Mapping):
            raise ConfigError(f"metadata of row {id!r} must be a JSON object, got {type(metadata).__name__}")
        clean: dict[str, JsonValue] = {}
        for key, item in (metadata or {}).items():
            if not isinstance(key, str):
                raise ConfigError(f"non-string key {key!r} in metadata of row {id!r}")
            clean[key] = _json_copy(item, f"metadata.{key}")
        # object.__setattr__ because the dataclass is frozen; coercion happens once, here.
        object.__setattr__(self, "id", id)
        object.__setattr__(self, "vector", as_vector(vector, what=f"vector of row {id!r}"))
        object.__setattr__(self, "metadata", clean)

    def __repr__(self) -> str:
        return f"VectorRow(id={self.id!r}, dim={self.vector.shape[0]}, metadata={self.metadata!r})"


@dataclass(frozen=True, slots=True)
class Hit:
    """One query result.

    Attributes:
        id: The row id.
        score: Cosine similarity to the query vector, in [-1, 1]; higher is closer.
        metadata: The row's metadata as stored.

    Example:
        >>> Hit("crm:send_email", 0.93, {"namespace": "crm"}).score
        0.93
    """

    id: str
    score: float
    metadata: dict[str, JsonValue] = field(default_factory=dict)
