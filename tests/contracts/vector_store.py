"""The `VectorStore` contract: every backend's test class subclasses `VectorStoreContract` and overrides `make_store`.

```python
class TestMyStore(VectorStoreContract):
    @pytest.fixture
    def make_store(self, tmp_path: Path) -> StoreFactory:
        return lambda dimension: MyStore(MyOptions(dimension=dimension, path=tmp_path / "db"))
```

``make_store(dimension)`` must build a *new* store object on the *same* location each time it is called,
so the suite can check persistence and reopening. Set ``persists = False`` for a backend with nothing to
reopen (an in-memory store); the suite then checks that ``persist()`` is a harmless no-op instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import ClassVar

import numpy as np
import pytest
from pydantic import JsonValue

from armorer_ray.embeddings import Hit, ToolFilter, VectorRow, VectorStore
from armorer_ray.errors import ConfigError

StoreFactory = Callable[[int], VectorStore]

DIM = 8


def random_vectors(count: int, seed: int, dimension: int = DIM) -> np.ndarray:
    """Reproducible unit vectors."""
    matrix = np.random.default_rng(seed).normal(size=(count, dimension)).astype(np.float32)
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def expected_hits(
    rows: Sequence[VectorRow], query: np.ndarray, k: int, where: ToolFilter | None
) -> list[tuple[str, float]]:
    """Brute-force reference: cosine against every row passing `ToolFilter.matches`, best first."""
    unit_query = query / np.linalg.norm(query)
    scored = [
        (row.id, float(row.vector @ unit_query / np.linalg.norm(row.vector)))
        for row in rows
        if where is None or where.matches(row.metadata)
    ]
    return sorted(scored, key=lambda pair: -pair[1])[:k]


def assert_hits_match(hits: list[Hit], expected: list[tuple[str, float]]) -> None:
    """Same ids in the same order and the same scores, up to float32 rounding."""
    assert [hit.id for hit in hits] == [row_id for row_id, _ in expected]
    np.testing.assert_allclose([hit.score for hit in hits], [score for _, score in expected], atol=2e-4)


# Tool-like rows whose metadata exercises every filter clause, including the JSON type rules
# (1 == 1.0, True != 1, "1" != 1) and quotes that a backend must escape in its filter language.
_TOOL_METADATA: list[dict[str, JsonValue]] = [
    {"namespace": "crm", "tags": ["email", "write"], "level": 1, "dangerous": False, "owner": "ops"},
    {"namespace": "crm", "tags": ["email", "read"], "level": 1.0, "dangerous": False, "owner": "sales"},
    {"namespace": "crm", "tags": ["sms", "write"], "level": 2, "dangerous": True, "owner": "ops"},
    {"namespace": "billing", "tags": ["read"], "level": True, "dangerous": False, "owner": "finance"},
    {"namespace": "billing", "tags": ["write", "it's"], "level": "1", "dangerous": True},
    {"namespace": 'we"ird', "tags": [], "level": 3, "dangerous": False, "owner": "ops"},
    {"tags": ["email"], "level": 2.5, "owner": "ops"},
    {"namespace": "crm", "level": 1, "dangerous": False, "nested": {"owner": "ops"}},
    {"namespace": "search", "tags": "email", "owner": "it's"},
    {"namespace": "search", "tags": ["read", "email", "sms"], "level": 0, "dangerous": False, "owner": "ops"},
]

FILTERS: dict[str, ToolFilter] = {
    "tags_any": ToolFilter(tags_any={"sms", "read"}),
    "tags_all": ToolFilter(tags_all={"email", "read"}),
    "tags_none": ToolFilter(tags_none={"write", "email"}),
    "tags_quote": ToolFilter(tags_any={"it's"}),
    "namespaces": ToolFilter(namespaces={"billing", 'we"ird'}),
    "eq_string": ToolFilter(metadata_eq={"owner": "ops"}),
    "eq_string_quote": ToolFilter(metadata_eq={"owner": "it's"}),
    "eq_number_int_matches_float": ToolFilter(metadata_eq={"level": 1}),
    "eq_float": ToolFilter(metadata_eq={"level": 2.5}),
    "eq_bool_is_not_number": ToolFilter(metadata_eq={"dangerous": False}),
    "eq_true_is_not_one": ToolFilter(metadata_eq={"level": True}),
    "eq_missing_key": ToolFilter(metadata_eq={"absent": "x"}),
    "eq_odd_key": ToolFilter(metadata_eq={"nested.owner": "ops"}),
    "combined": ToolFilter(
        tags_any={"email", "sms"}, tags_none={"read"}, namespaces={"crm"}, metadata_eq={"owner": "ops"}
    ),
    "empty": ToolFilter(),
}


def tool_rows() -> list[VectorRow]:
    vectors = random_vectors(len(_TOOL_METADATA), seed=7)
    return [VectorRow(f"tool-{index}", vectors[index], metadata) for index, metadata in enumerate(_TOOL_METADATA)]


class VectorStoreContract:
    """Behaviour every `VectorStore` must show. Subclasses override the `make_store` fixture."""

    persists: ClassVar[bool] = True

    @pytest.fixture
    def make_store(self) -> StoreFactory:
        raise NotImplementedError("override make_store in the backend's test class")

    @pytest.fixture
    async def store(self, make_store: StoreFactory) -> AsyncIterator[VectorStore]:
        store = make_store(DIM)
        yield store
        await store.close()

    async def test_is_a_vector_store(self, store: VectorStore) -> None:
        assert isinstance(store, VectorStore)
        assert store.dimension == DIM

    async def test_empty_store(self, store: VectorStore) -> None:
        assert await store.count() == 0
        assert await store.query(random_vectors(1, seed=1)[0], k=3) == []
        assert await store.get(["missing"]) == []
        assert await store.ids() == []

    async def test_upsert_returns_rows_written_and_count_follows(self, store: VectorStore) -> None:
        vectors = random_vectors(3, seed=2)
        written = await store.upsert([VectorRow(f"r{i}", vectors[i]) for i in range(3)])
        assert written == 3
        assert await store.count() == 3
        assert sorted(await store.ids()) == ["r0", "r1", "r2"]
        assert await store.upsert([]) == 0

    async def test_upsert_overwrites_the_same_id(self, store: VectorStore) -> None:
        first, second = random_vectors(2, seed=3)
        await store.upsert([VectorRow("a", first, {"content_hash": "h1"}), VectorRow("b", first)])
        await store.upsert([VectorRow("a", second, {"content_hash": "h2"})])
        assert await store.count() == 2
        [row] = await store.get(["a"])
        assert row.metadata == {"content_hash": "h2"}
        np.testing.assert_allclose(row.vector / np.linalg.norm(row.vector), second, atol=1e-5)
        [hit] = await store.query(second, k=1)
        assert hit.id == "a"
        assert hit.score == pytest.approx(1.0, abs=1e-4)

    async def test_duplicate_ids_in_one_upsert_keep_the_last(self, store: VectorStore) -> None:
        first, second = random_vectors(2, seed=4)
        written = await store.upsert([VectorRow("a", first, {"v": 1}), VectorRow("a", second, {"v": 2})])
        assert written == 1
        assert await store.count() == 1
        assert [row.metadata for row in await store.get(["a"])] == [{"v": 2}]

    async def test_delete_removes_rows_and_ignores_unknown_ids(self, store: VectorStore) -> None:
        vectors = random_vectors(4, seed=5)
        await store.upsert([VectorRow(f"r{i}", vectors[i]) for i in range(4)])
        await store.delete(["r1", "never-stored"])
        await store.delete([])
        assert await store.count() == 3
        assert await store.get(["r1"]) == []
        hits = await store.query(vectors[1], k=4)
        assert "r1" not in [hit.id for hit in hits]
        assert len(hits) == 3

    async def test_query_orders_by_cosine_similarity(self, store: VectorStore) -> None:
        vectors = random_vectors(30, seed=6)
        # Scaled copies: stores must rank by cosine, not by dot product.
        rows = [VectorRow(f"r{i}", vectors[i] * (1 + i % 5)) for i in range(30)]
        await store.upsert(rows)
        query = random_vectors(1, seed=60)[0] * 3
        hits = await store.query(query, k=7)
        assert_hits_match(hits, expected_hits(rows, query, 7, None))
        assert all(-1.0 - 1e-4 <= hit.score <= 1.0 + 1e-4 for hit in hits)

    async def test_k_larger_than_count_returns_every_row(self, store: VectorStore) -> None:
        rows = tool_rows()[:4]
        await store.upsert(rows)
        query = random_vectors(1, seed=8)[0]
        assert_hits_match(await store.query(query, k=50), expected_hits(rows, query, 50, None))

    @pytest.mark.parametrize("name", sorted(FILTERS))
    async def test_filters_select_exactly_the_matching_rows(self, store: VectorStore, name: str) -> None:
        rows = tool_rows()
        await store.upsert(rows)
        query = random_vectors(1, seed=9)[0]
        where = FILTERS[name]
        assert_hits_match(
            await store.query(query, k=len(rows), where=where), expected_hits(rows, query, len(rows), where)
        )

    @pytest.mark.parametrize(
        "where",
        [ToolFilter(metadata_eq={"group": "rare"}), ToolFilter(tags_all={"rare"}), ToolFilter(namespaces={"rare"})],
        ids=["metadata_eq", "tags", "namespace"],
    )
    async def test_filter_returns_k_hits_when_enough_rows_match(self, store: VectorStore, where: ToolFilter) -> None:
        # The matching rows point away from the query, so a store that took the top k and filtered
        # afterwards would come back short.
        query = random_vectors(1, seed=10)[0]
        near = random_vectors(60, seed=11) + 2 * query
        far = random_vectors(6, seed=12) - 2 * query
        rows = [
            VectorRow(f"near-{i}", vector, {"group": "common", "namespace": "common"}) for i, vector in enumerate(near)
        ]
        rows += [
            VectorRow(f"far-{i}", vector, {"group": "rare", "tags": ["rare"], "namespace": "rare"})
            for i, vector in enumerate(far)
        ]
        await store.upsert(rows)
        hits = await store.query(query, k=5, where=where)
        assert_hits_match(hits, expected_hits(rows, query, 5, where))

    async def test_get_returns_rows_in_the_order_asked_with_exact_metadata(self, store: VectorStore) -> None:
        vectors = random_vectors(2, seed=13)
        metadata: dict[str, JsonValue] = {
            "content_hash": "sha256:abc",
            "tags": ["b", "a"],
            "nested": {"list": [1, 2.5, None, True, "x"], "empty": {}},
            "none": None,
            "unicode": "naïve ☃",
        }
        await store.upsert([VectorRow("a", vectors[0], metadata), VectorRow("b", vectors[1])])
        rows = await store.get(["b", "missing", "a"])
        assert [row.id for row in rows] == ["b", "a"]
        assert rows[1].metadata == metadata
        assert rows[0].metadata == {}
        np.testing.assert_allclose(rows[1].vector / np.linalg.norm(rows[1].vector), vectors[0], atol=1e-5)
        [hit] = await store.query(vectors[0], k=1)
        assert hit.metadata == metadata

    async def test_wrong_dimension_is_a_clear_config_error(self, store: VectorStore) -> None:
        await store.upsert([VectorRow("a", random_vectors(1, seed=14)[0])])
        with pytest.raises(ConfigError, match="dimension"):
            await store.upsert([VectorRow("b", random_vectors(1, seed=15, dimension=DIM + 1)[0])])
        with pytest.raises(ConfigError, match="dimension"):
            await store.query(random_vectors(1, seed=16, dimension=DIM - 1)[0], k=1)
        assert await store.count() == 1

    @pytest.mark.parametrize("k", [0, -1, 2.5, "3", True])
    async def test_bad_k_is_a_config_error(self, store: VectorStore, k: object) -> None:
        with pytest.raises(ConfigError):
            await store.query(random_vectors(1, seed=17)[0], k=k)  # type: ignore[arg-type]

    async def test_bad_inputs_are_config_errors(self, store: VectorStore) -> None:
        vector = random_vectors(1, seed=18)[0]
        with pytest.raises(ConfigError):
            await store.upsert([("a", vector)])  # type: ignore[list-item]
        with pytest.raises(ConfigError):
            await store.delete("abc")
        with pytest.raises(ConfigError):
            await store.get([""])
        with pytest.raises(ConfigError):
            await store.query([float("nan")] * DIM, k=1)
        with pytest.raises(ConfigError):
            await store.query([0.0] * DIM, k=1)
        assert await store.count() == 0

    async def test_persist_then_reopen_sees_every_write(self, make_store: StoreFactory) -> None:
        rows = tool_rows()
        store = make_store(DIM)
        await store.upsert(rows)
        await store.delete(["tool-0"])
        await store.persist()
        await store.close()
        reopened = make_store(DIM)
        try:
            if self.persists:
                assert await reopened.count() == len(rows) - 1
                [row] = await reopened.get(["tool-3"])
                assert row.metadata == rows[3].metadata
                query = random_vectors(1, seed=19)[0]
                where = FILTERS["tags_any"]
                expected = expected_hits(rows[1:], query, 3, where)
                assert_hits_match(await reopened.query(query, k=3, where=where), expected)
            else:
                assert await reopened.count() == 0
        finally:
            await reopened.close()

    async def test_persist_keeps_the_store_usable(self, store: VectorStore) -> None:
        rows = tool_rows()[:3]
        await store.upsert(rows)
        await store.persist()
        await store.upsert([VectorRow("late", random_vectors(1, seed=20)[0])])
        assert await store.count() == 4

    async def test_reopening_with_another_dimension_is_refused(self, make_store: StoreFactory) -> None:
        if not self.persists:
            other = make_store(DIM + 4)
            assert other.dimension == DIM + 4
            await other.close()
            return
        store = make_store(DIM)
        await store.upsert(tool_rows()[:2])
        await store.persist()
        await store.close()
        opened: list[VectorStore] = []

        async def reopen() -> None:
            # A store may notice at construction (a file it reads eagerly) or when it first opens its backend.
            opened.append(make_store(DIM + 4))
            await opened[0].count()

        with pytest.raises(ConfigError, match="dimension"):
            await reopen()
        for other in opened:
            await other.close()
        # Refusing must leave the location as it was: the right dimension still opens and sees the rows.
        reopened = make_store(DIM)
        assert await reopened.count() == 2
        await reopened.close()
