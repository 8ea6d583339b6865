"""ToolFilter: the reference semantics, and exact JSON and pickle round trips (filters cross Ray boundaries)."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from armorer_ray.embeddings import ToolFilter
from armorer_ray.embeddings.filters import row_tags, scalars_equal

names = st.text(min_size=1, max_size=8)
scalars = st.one_of(st.text(max_size=8), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.booleans())
filters = st.builds(
    ToolFilter,
    tags_any=st.frozensets(names, max_size=3),
    tags_all=st.frozensets(names, max_size=3),
    tags_none=st.frozensets(names, max_size=3),
    namespaces=st.frozensets(names, max_size=3),
    metadata_eq=st.dictionaries(names, scalars, max_size=3),
)


@given(filters)
def test_json_round_trip_is_exact(where: ToolFilter) -> None:
    again = ToolFilter.model_validate_json(where.model_dump_json())
    assert again == where
    assert hash(again) == hash(where)
    # Exact down to the scalar types: True must not come back as 1, nor 1 as 1.0.
    assert {key: type(value) for key, value in again.metadata_eq.items()} == {
        key: type(value) for key, value in where.metadata_eq.items()
    }


@given(filters)
def test_pickle_round_trip_is_exact(where: ToolFilter) -> None:
    assert pickle.loads(pickle.dumps(where)) == where


@given(filters)
def test_equal_filters_serialise_identically(where: ToolFilter) -> None:
    shuffled = ToolFilter(
        tags_any=frozenset(sorted(where.tags_any, reverse=True)),
        tags_all=where.tags_all,
        tags_none=where.tags_none,
        namespaces=where.namespaces,
        metadata_eq=dict(reversed(list(where.metadata_eq.items()))),
    )
    assert shuffled.model_dump_json() == where.model_dump_json()


@given(filters, st.dictionaries(names, scalars, max_size=4), st.lists(names, max_size=4), st.one_of(st.none(), names))
def test_without_everything_matches_everything(
    where: ToolFilter, extra: dict[str, object], tags: list[str], namespace: str | None
) -> None:
    metadata = {**extra, "tags": tags, **({"namespace": namespace} if namespace else {})}
    rest = where.without(tags=True, namespaces=True, metadata_keys=frozenset(where.metadata_eq))
    assert rest.is_empty
    assert rest.matches(metadata)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("where", "metadata", "expected"),
    [
        (ToolFilter(tags_any={"a", "b"}), {"tags": ["b"]}, True),
        (ToolFilter(tags_any={"a"}), {"tags": "a"}, False),
        (ToolFilter(tags_all={"a", "b"}), {"tags": ["a"]}, False),
        (ToolFilter(tags_none={"a"}), {}, True),
        (ToolFilter(tags_none={"a"}), {"tags": ["a", "c"]}, False),
        (ToolFilter(namespaces={"crm"}), {"namespace": "crm"}, True),
        (ToolFilter(namespaces={"crm"}), {"namespace": ["crm"]}, False),
        (ToolFilter(namespaces={"crm"}), {}, False),
        (ToolFilter(metadata_eq={"v": 1}), {"v": 1.0}, True),
        (ToolFilter(metadata_eq={"v": 1}), {"v": True}, False),
        (ToolFilter(metadata_eq={"v": True}), {"v": 1}, False),
        (ToolFilter(metadata_eq={"v": "1"}), {"v": 1}, False),
        (ToolFilter(metadata_eq={"v": "x"}), {"v": ["x"]}, False),
        (ToolFilter(metadata_eq={"v": "x"}), {}, False),
        (ToolFilter(), {"anything": [1, {"x": None}]}, True),
    ],
)
def test_reference_semantics(where: ToolFilter, metadata: dict[str, object], expected: bool) -> None:
    assert where.matches(metadata) is expected  # type: ignore[arg-type]


def test_refuses_unknown_clauses_and_non_scalar_values() -> None:
    with pytest.raises(ValidationError):
        ToolFilter(tags={"x"})  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        ToolFilter(metadata_eq={"v": [1]})  # type: ignore[dict-item]
    with pytest.raises(ValidationError):
        ToolFilter(metadata_eq={"v": float("inf")})


def test_is_frozen() -> None:
    with pytest.raises(ValidationError):
        ToolFilter().tags_any = frozenset({"x"})  # type: ignore[misc]


def test_scalars_equal_and_row_tags_helpers() -> None:
    assert scalars_equal(2, 2.0) and not scalars_equal(False, 0) and not scalars_equal(None, "None")
    assert row_tags({"tags": ["a", 1, "b"]}) == {"a", "b"}
