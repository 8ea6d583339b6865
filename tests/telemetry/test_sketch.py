"""Property tests: latency quantiles stay within the documented bound; merging is exact, associative, commutative."""

from __future__ import annotations

import math
import pickle
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from armorer_ray.errors import ConfigError
from armorer_ray.telemetry import AnalyticsSnapshot, LatencySketch, StatsCell, ToolStats
from armorer_ray.telemetry.sketch import MAX_MS, MIN_MS

accuracies = st.sampled_from([0.001, 0.01, 0.05, 0.2])
durations = st.lists(st.floats(min_value=MIN_MS, max_value=1e7, allow_nan=False), min_size=1, max_size=200)
fractions = st.floats(min_value=0.0, max_value=1.0)


def true_quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


@given(durations, fractions, accuracies)
def test_quantile_is_within_the_relative_accuracy_of_the_true_value(values: list[float], q: float, a: float) -> None:
    estimate = LatencySketch.of(values, a).quantile(q)
    truth = true_quantile(values, q)
    assert estimate is not None and abs(estimate - truth) <= a * truth * (1 + 1e-9)


@given(durations, durations, fractions, accuracies)
def test_a_merged_sketch_is_the_sketch_of_all_values(left: list[float], right: list[float], q: float,
                                                      a: float) -> None:
    merged = LatencySketch.of(left, a).merge(LatencySketch.of(right, a))
    whole = LatencySketch.of(left + right, a)
    assert (merged.count, merged.zeros, merged.buckets, merged.min_ms, merged.max_ms) == (
        whole.count, whole.zeros, whole.buckets, whole.min_ms, whole.max_ms)
    truth = true_quantile(left + right, q)
    estimate = merged.quantile(q)
    assert estimate is not None and abs(estimate - truth) <= a * truth * (1 + 1e-9)


def test_tiny_huge_and_missing_values() -> None:
    sketch = LatencySketch.of([0.0, float("nan"), -3.0, 1e-4, float("inf")])
    assert (sketch.count, sketch.zeros, sketch.quantile(0.5), sketch.max_ms) == (5, 4, 0.0, MAX_MS)
    assert LatencySketch.model_validate_json(sketch.model_dump_json()) == sketch
    assert LatencySketch().quantile(0.5) is None and LatencySketch().mean_ms is None
    with pytest.raises(ConfigError, match="within"):
        sketch.quantile(1.5)
    with pytest.raises(ConfigError, match="same accuracy"):
        sketch.merge(LatencySketch(relative_accuracy=0.05))


names = st.sampled_from(["default:a", "default:b", "team:c@v2"])
tenants = st.none() | st.sampled_from(["acme", "globex"])
count_maps = st.dictionaries(st.sampled_from(["success", "error", "TIMEOUT", "transient"]), st.integers(0, 50),
                             max_size=3)


@st.composite
def tool_stats(draw: st.DrawFn) -> ToolStats:
    latency = LatencySketch.of(draw(st.lists(st.floats(0.0, 1e5), max_size=20)))
    return ToolStats(calls=draw(st.integers(0, 100)), outcomes=draw(count_maps), errors=draw(st.integers(0, 100)),
                     error_categories=draw(count_maps), error_codes=draw(count_maps),
                     content_bytes=draw(st.integers(0, 10**6)), cost=draw(st.floats(0.0, 1e3)),
                     cost_errors=draw(st.integers(0, 5)), latency=latency)


@st.composite
def snapshots(draw: st.DrawFn) -> AnalyticsSnapshot:
    keys = draw(st.lists(st.tuples(names, tenants), unique=True, max_size=4))
    cells = [StatsCell(tool=tool, tenant=tenant, stats=draw(tool_stats())) for tool, tenant in keys]
    since = draw(st.floats(0.0, 1e9))
    return AnalyticsSnapshot(since=since, until=since + draw(st.floats(0.0, 1e4)), cells=cells)


def exact_part(snapshot: AnalyticsSnapshot) -> Any:
    """Everything but the float sums, which add exactly only up to rounding."""
    data = snapshot.model_dump(exclude={"cells": {"__all__": {"stats": {"cost": True, "latency": {"total_ms"}}}}})
    return data, [value for cell in snapshot.cells for value in (cell.stats.cost, cell.stats.latency.total_ms)]


def assert_same(left: AnalyticsSnapshot, right: AnalyticsSnapshot) -> None:
    (left_exact, left_sums), (right_exact, right_sums) = exact_part(left), exact_part(right)
    assert left_exact == right_exact
    assert left_sums == pytest.approx(right_sums, rel=1e-9)


@given(snapshots(), snapshots())
def test_merge_is_commutative(left: AnalyticsSnapshot, right: AnalyticsSnapshot) -> None:
    assert_same(left.merge(right), right.merge(left))


@given(snapshots(), snapshots(), snapshots())
def test_merge_is_associative(a: AnalyticsSnapshot, b: AnalyticsSnapshot, c: AnalyticsSnapshot) -> None:
    assert_same(a.merge(b).merge(c), a.merge(b.merge(c)))


@given(snapshots(), snapshots())
def test_merge_adds_every_count(left: AnalyticsSnapshot, right: AnalyticsSnapshot) -> None:
    merged = left.merge(right).total()
    a, b = left.total(), right.total()
    assert merged.calls == a.calls + b.calls and merged.latency.count == a.latency.count + b.latency.count
    for field in ("outcomes", "error_categories", "error_codes"):
        for key, count in getattr(merged, field).items():
            assert count == getattr(a, field).get(key, 0) + getattr(b, field).get(key, 0)


@given(snapshots())
def test_snapshots_round_trip_json_and_pickle(snapshot: AnalyticsSnapshot) -> None:
    assert AnalyticsSnapshot.model_validate_json(snapshot.model_dump_json()) == snapshot
    assert pickle.loads(pickle.dumps(snapshot)) == snapshot
