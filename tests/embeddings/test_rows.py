"""VectorRow and Hit: coercion and the typed errors bad input gets."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from armorer_ray.embeddings import Hit, VectorRow
from armorer_ray.embeddings.rows import as_vector
from armorer_ray.errors import ConfigError


def test_coerces_vectors_to_float32() -> None:
    row = VectorRow("a", np.arange(1, 4, dtype=np.float64), {"tags": ["x"]})
    assert row.vector.dtype == np.float32
    assert row.vector.tolist() == [1.0, 2.0, 3.0]


@pytest.mark.parametrize(
    "vector",
    [[], [[1.0, 2.0]], [float("nan"), 1.0], [float("inf")], [0.0, 0.0], ["a", "b"], None],
    ids=["empty", "2d", "nan", "inf", "zero", "strings", "none"],
)
def test_bad_vectors_are_config_errors(vector: object) -> None:
    with pytest.raises(ConfigError):
        VectorRow("a", vector)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "metadata",
    [{"x": {1, 2}}, {"x": float("nan")}, {"x": {1: "a"}}, {"x": (1, 2)}, {"x": b"bytes"}],
    ids=["set", "nan", "int-key", "tuple", "bytes"],
)
def test_metadata_must_be_json(metadata: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match="metadata"):
        VectorRow("a", [1.0], metadata)  # type: ignore[arg-type]


@pytest.mark.parametrize("row_id", ["", None, 3])
def test_ids_must_be_non_empty_strings(row_id: object) -> None:
    with pytest.raises(ConfigError, match="id"):
        VectorRow(row_id, [1.0])  # type: ignore[arg-type]


def test_rows_are_frozen_and_pickle() -> None:
    row = VectorRow("a", [1.0, 2.0], {"content_hash": "h"})
    with pytest.raises(AttributeError):
        row.id = "b"  # type: ignore[misc]
    copy = pickle.loads(pickle.dumps(row))
    assert (copy.id, copy.vector.tolist(), copy.metadata) == ("a", [1.0, 2.0], {"content_hash": "h"})
    assert pickle.loads(pickle.dumps(Hit("a", 0.5, {"x": 1}))) == Hit("a", 0.5, {"x": 1})


def test_as_vector_keeps_a_float32_array_as_is() -> None:
    vector = np.ones(3, dtype=np.float32)
    assert as_vector(vector) is vector
