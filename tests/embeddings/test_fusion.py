"""Conversation-aware search, per-query adaptive weights and the index's in-process vector scan."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from armorer_ray import ConfigError, Toolbox, tool
from armorer_ray.embeddings import ToolFilter
from armorer_ray.embeddings.fusion import adaptive_weights, conversation_text, separation
from armorer_ray.embeddings.index import FusionWeights, ToolIndex
from armorer_ray.embeddings.testing import HashingEmbedder, HashingOptions


def travel_box() -> Toolbox:
    return Toolbox([
        tool(name="cancel_subscription", description="Cancel a newsletter subscription.")(lambda plan: plan),
        tool(name="cancel_flight", description="Cancel a flight reservation.")(lambda flight: flight),
        tool(name="book_flight", description="Reserve a seat on a flight.")(lambda route: route),
        tool(name="read_news", description="Read the latest newsletter issue.")(lambda issue: issue),
    ])


def use_hashing(box: Toolbox, weights: FusionWeights | None = None) -> Toolbox:
    box.set_tool_index(ToolIndex(box, embedder=HashingEmbedder(HashingOptions(dimension=64)), weights=weights))
    return box


def test_a_follow_up_finds_its_tool_through_the_conversation() -> None:
    box = use_hashing(travel_box())
    context = ["Please book flights to Oslo and to Rome", {"role": "assistant", "content": "Both flights reserved."}]
    assert box.search_sync("and cancel the other one", k=1, context=context)[0].name == "cancel_flight"
    news = ["Show me the newsletter", {"role": "assistant", "content": [{"type": "text", "text": "Issue 12."}]}]
    assert box.search_sync("and cancel the other one", k=1, context=news)[0].name == "cancel_subscription"


def test_context_weight_zero_ignores_the_conversation() -> None:
    box = use_hashing(travel_box(), FusionWeights(context=0.0))
    plain = [hit.name for hit in box.search_sync("cancel it", k=4)]
    with_context = [hit.name for hit in box.search_sync("cancel it", k=4, context=["book a flight to Oslo"])]
    assert with_context == plain


def test_context_keeps_only_the_latest_user_and_assistant_turns() -> None:
    turns = ["one", {"role": "system", "content": "rules"}, {"role": "tool", "content": "{}"}, "two", "three"]
    assert conversation_text(turns, 2) == "two\nthree"
    assert conversation_text(turns, 0) == ""


@pytest.mark.parametrize("context", ["a single string", [42]])
def test_malformed_context_is_refused(context: object) -> None:
    box = use_hashing(travel_box())
    with pytest.raises(ConfigError):
        box.search_sync("cancel", context=context)  # type: ignore[arg-type]


def test_separation_reads_how_clearly_the_best_candidate_leads() -> None:
    assert separation([5.0]) == 1.0
    assert separation([1.0, 1.0, 1.0]) == 0.0
    assert separation([9.0, 1.0, 1.0, 1.0]) > separation([9.0, 8.0, 7.0, 1.0])


def test_adaptive_weights_favour_the_ranking_that_separates() -> None:
    clear = {"a": 10.0, "b": 1.0, "c": 1.0}
    flat = {"a": 1.0, "b": 0.99, "c": 0.98}
    lexical, vector = adaptive_weights([(0.5, clear), (0.5, flat)])
    assert lexical > vector and lexical + vector == pytest.approx(1.0)
    assert adaptive_weights([(0.5, clear), (0.5, {})]) == [pytest.approx(0.5), 0.0]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(min_value=-1e3, max_value=1e3, allow_nan=False), min_size=1, max_size=40))
def test_separation_stays_in_the_unit_interval(scores: list[float]) -> None:
    assert 0.0 <= separation(scores) <= 1.0


def test_adaptive_fusion_ranks_through_the_public_search() -> None:
    box = use_hashing(travel_box(), FusionWeights(adaptive=True))
    assert box.search_sync("reserve a seat on a flight", k=1)[0].name == "book_flight"


def test_the_coarse_scan_of_a_large_catalogue_finds_the_exact_best_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    from armorer_ray.embeddings import _dense
    from armorer_ray.embeddings._dense import DenseMatrix

    monkeypatch.setattr(_dense, "_COARSE_FROM", 25_000 * 64)  # this catalogue takes the coarse scan

    rng = np.random.default_rng(3)
    # Matryoshka-like rows: most of each vector's energy sits in its first half, as in the default embedder.
    vectors = rng.normal(size=(25_000, 64)).astype(np.float32) * np.r_[np.ones(32), 0.3 * np.ones(32)]
    matrix = DenseMatrix(vectors)
    for _ in range(5):
        query = matrix.matrix[rng.integers(25_000)] + 0.05 * rng.normal(size=64).astype(np.float32)
        positions, scores = matrix.top(query, 20)
        exact = np.argsort(-(matrix.matrix @ query), kind="stable")[:20]
        assert len(set(positions.tolist()) & set(exact.tolist())) >= 18
        assert list(scores) == sorted(scores, reverse=True)


def test_the_in_process_scan_ranks_like_the_store() -> None:
    tools = [tool(name=f"tool_{i}", namespace="ns", description=f"Handles {word} records for the {other} team.")(
        lambda x: x) for i, (word, other) in enumerate(
            (w, o) for w in ("invoice", "order", "ticket", "flight", "hotel") for o in ("sales", "ops", "travel"))]
    box = use_hashing(Toolbox(tools))
    everything = ToolFilter(namespaces={"ns"})  # matches every tool, but goes through the store's own query
    for request in ("invoice for sales", "book a hotel for the travel team", "ops tickets"):
        unfiltered = box.search_sync(request, k=8)
        through_store = box.search_sync(request, k=8, filters=everything)
        assert [hit.name for hit in unfiltered] == [hit.name for hit in through_store]
        assert [hit.score for hit in unfiltered] == pytest.approx([hit.score for hit in through_store], abs=1e-5)


def test_a_tool_scores_the_best_of_its_views_also_in_the_coarse_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    from armorer_ray.embeddings import _dense
    from armorer_ray.embeddings._dense import DenseMatrix

    monkeypatch.setattr(_dense, "_COARSE_FROM", 12_000 * 2 * 48)  # both widths below take the coarse scan

    rng = np.random.default_rng(5)
    energy = np.r_[np.ones(32), 0.3 * np.ones(32)]
    texts, names = (rng.normal(size=(12_000, 64)).astype(np.float32) * energy for _ in range(2))
    for width in (None, 48):
        matrix = DenseMatrix(texts, names, width=width)
        cut = slice(0, width)
        unit = [v[:, cut] / np.linalg.norm(v[:, cut], axis=1, keepdims=True) for v in (texts, names)]
        for _ in range(5):
            query = names[rng.integers(12_000)] + 0.05 * rng.normal(size=64).astype(np.float32)
            q = query[cut] / np.linalg.norm(query[cut])
            best = np.maximum(unit[0] @ q, unit[1] @ q)
            positions, scores = matrix.top(query, 20)
            exact = np.argsort(-best, kind="stable")[:20]
            assert len(set(positions.tolist()) & set(exact.tolist())) >= 18
            assert scores == pytest.approx(best[positions], abs=1e-5)
            assert matrix.scores(positions, query) == pytest.approx(scores, abs=1e-6)
