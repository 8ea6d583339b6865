"""Property test: the memory store answers exactly what brute-force cosine over `ToolFilter.matches` answers."""

from __future__ import annotations

import asyncio

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from armorer_ray.embeddings import MemoryOptions, MemoryVectorStore, ToolFilter, VectorRow
from tests.contracts.vector_store import expected_hits

DIM = 4
TAGS = ["a", "b", "c", "d"]
NAMESPACES = ["n1", "n2", "n3"]

components = st.floats(-1, 1, allow_nan=False, width=32).filter(lambda x: abs(x) > 1e-3)
vectors = st.lists(components, min_size=DIM, max_size=DIM)
metadata = st.fixed_dictionaries(
    {},
    optional={
        "tags": st.one_of(st.lists(st.sampled_from(TAGS), max_size=3, unique=True), st.sampled_from(TAGS)),
        "namespace": st.sampled_from(NAMESPACES),
        "level": st.one_of(st.integers(0, 2), st.sampled_from([0.0, 1.0, True, False, "1"])),
    },
)
rows = st.lists(st.tuples(vectors, metadata), max_size=25)
filters = st.builds(
    ToolFilter,
    tags_any=st.frozensets(st.sampled_from(TAGS), max_size=2),
    tags_all=st.frozensets(st.sampled_from(TAGS), max_size=2),
    tags_none=st.frozensets(st.sampled_from(TAGS), max_size=2),
    namespaces=st.frozensets(st.sampled_from(NAMESPACES), max_size=2),
    metadata_eq=st.dictionaries(st.just("level"), st.sampled_from([0, 1, 1.0, True, "1"]), max_size=1),
)
operations = st.lists(st.one_of(st.tuples(st.just("delete"), st.integers(0, 30)), st.just(("noop", 0))), max_size=5)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows, vectors, st.integers(1, 30), st.one_of(st.none(), filters), operations)
def test_matches_brute_force(
    data: list[tuple[list[float], dict[str, object]]],
    query: list[float],
    k: int,
    where: ToolFilter | None,
    ops: list[tuple[str, int]],
) -> None:
    stored = [VectorRow(f"r{i}", vector, meta) for i, (vector, meta) in enumerate(data)]  # type: ignore[arg-type]
    deleted = {f"r{index}" for op, index in ops if op == "delete"}
    live = [row for row in stored if row.id not in deleted]
    store = MemoryVectorStore(MemoryOptions(dimension=DIM))

    async def run() -> list[tuple[str, float]]:
        await store.upsert(stored)
        await store.query(query, k=1, where=where)  # build the filter index before the deletes move rows
        await store.delete(sorted(deleted))
        return [(hit.id, hit.score) for hit in await store.query(query, k=k, where=where)]

    got = asyncio.run(run())
    want = expected_hits(live, np.asarray(query, dtype=np.float32), k, where)
    # Ties may order differently, so compare scores in order and ids as sets of equal-score groups.
    np.testing.assert_allclose([score for _, score in got], [score for _, score in want], atol=1e-5)
    assert {row_id for row_id, _ in got} <= {row.id for row in live if where is None or where.matches(row.metadata)}
    assert len(got) == len(want)
