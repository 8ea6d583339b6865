"""`LatencySketch`: a mergeable, bounded-memory histogram of durations with a relative error bound on quantiles.

Durations go into log-spaced buckets: with ``gamma = (1 + a) / (1 - a)`` for a relative accuracy ``a``, bucket
``i`` holds the values in ``(gamma**(i-1), gamma**i]`` ms and reports ``2 * gamma**i / (gamma + 1)``, which is
within ``a`` (relatively) of every value in the bucket. So a quantile estimate is within ``a`` of the true value
of the same rank, whatever the distribution, and two sketches merge exactly by adding bucket counts (the DDSketch
construction). Memory is bounded by the range, not the number of values: durations are clamped to
``[MIN_MS, MAX_MS]``, which at the default ``a = 0.01`` is at most 1,383 buckets; values under ``MIN_MS`` (1 µs)
count as zero and are reported as 0.0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from pydantic import BaseModel, ConfigDict, Field

from armorer_ray.errors import ConfigError

__all__ = ["MAX_MS", "MIN_MS", "LatencyRecorder", "LatencySketch", "bucket_of", "merge_counts"]

MIN_MS = 1e-3  # 1 µs: below this a duration is timer noise, counted as zero
MAX_MS = 1e9  # about 11.6 days: longer durations are clamped here, bounding the number of buckets


def bucket_of(value_ms: float, gamma: float) -> int | None:
    """The bucket index of a duration, or None for one below `MIN_MS` (counted as zero).

    Example:
        >>> gamma = (1 + 0.01) / (1 - 0.01)
        >>> bucket_of(0.0, gamma) is None, bucket_of(1.0, gamma), bucket_of(100.0, gamma)
        (True, 0, 231)
    """
    if not value_ms >= MIN_MS:  # also catches NaN
        return None
    return math.ceil(math.log(min(value_ms, MAX_MS)) / math.log(gamma))


def merge_counts(left: Mapping[str, int], right: Mapping[str, int]) -> dict[str, int]:
    """Key-wise sum of two count mappings (keys sorted, so merged snapshots compare and serialise alike).

    Example:
        >>> merge_counts({"a": 1, "b": 2}, {"b": 3, "c": 4})
        {'a': 1, 'b': 5, 'c': 4}
    """
    return {key: left.get(key, 0) + right.get(key, 0) for key in sorted({*left, *right})}


class LatencySketch(BaseModel):
    """Counts of durations (ms) in log-spaced buckets; answers quantiles within ``relative_accuracy``.

    Attributes:
        relative_accuracy: The bound ``a``: an estimate ``e`` of a quantile whose true value is ``v`` (the value
            of the same rank among those recorded) satisfies ``|e - v| <= a * v`` for ``MIN_MS <= v <= MAX_MS``.
        count: Durations recorded.
        zeros: Durations under `MIN_MS`.
        buckets: Bucket index to count (see `bucket_of`).
        total_ms: Sum of the durations, for the mean.
        min_ms: Smallest duration, or None when empty.
        max_ms: Largest duration, or None when empty.

    Example:
        >>> sketch = LatencySketch.of([1.0, 2.0, 3.0, 4.0, 100.0])
        >>> round(sketch.quantile(0.5), 1), round(sketch.quantile(0.99), 1), sketch.mean_ms
        (3.0, 100.0, 22.0)
        >>> sketch.merge(LatencySketch.of([5.0])).count
        6
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    relative_accuracy: float = Field(default=0.01, ge=0.001, le=0.2)
    count: int = Field(default=0, ge=0)
    zeros: int = Field(default=0, ge=0)
    buckets: dict[int, int] = Field(default_factory=dict)
    total_ms: float = 0.0
    min_ms: float | None = None
    max_ms: float | None = None

    @property
    def gamma(self) -> float:
        """The bucket growth factor ``(1 + a) / (1 - a)``."""
        return (1 + self.relative_accuracy) / (1 - self.relative_accuracy)

    @property
    def mean_ms(self) -> float | None:
        """Mean duration (exact), or None when empty."""
        return self.total_ms / self.count if self.count else None

    @classmethod
    def of(cls, durations_ms: list[float], relative_accuracy: float = 0.01) -> LatencySketch:
        """A sketch of ``durations_ms`` (for tests and offline data; live recording uses `Analytics`)."""
        recorder = LatencyRecorder(relative_accuracy)
        for value in durations_ms:
            recorder.add(value)
        return recorder.sketch()

    def quantile(self, q: float) -> float | None:
        """Estimate the ``q``-quantile: the value of rank ``max(1, ceil(q * count))`` in sorted order.

        Args:
            q: A fraction in ``[0, 1]`` (0.99 for p99).

        Returns:
            The estimate in ms (within ``relative_accuracy``; clamped to ``[min_ms, max_ms]``), or None when empty.

        Raises:
            ConfigError: when ``q`` is outside ``[0, 1]``.
        """
        if not 0.0 <= q <= 1.0:
            raise ConfigError(f"quantile must be within [0, 1], got {q!r}")
        if not self.count:
            return None
        rank = max(1, math.ceil(q * self.count))
        if rank <= self.zeros:
            return 0.0
        seen, gamma = self.zeros, self.gamma
        estimate = self.max_ms or 0.0
        for index in sorted(self.buckets):
            seen += self.buckets[index]
            if seen >= rank:
                estimate = 2 * gamma**index / (gamma + 1)
                break
        # Clamping to the exact extremes can only move the estimate towards the true value.
        return min(max(estimate, self.min_ms or 0.0), self.max_ms or estimate)

    def merge(self, other: LatencySketch) -> LatencySketch:
        """The sketch of both sketches' durations together (exact: bucket counts add).

        Raises:
            ConfigError: when the two sketches were made with different relative accuracies.
        """
        if other.relative_accuracy != self.relative_accuracy:
            raise ConfigError(f"cannot merge latency sketches of relative accuracy {self.relative_accuracy} and "
                              f"{other.relative_accuracy}; record both with the same accuracy")
        buckets = {index: self.buckets.get(index, 0) + other.buckets.get(index, 0)
                   for index in sorted({*self.buckets, *other.buckets})}
        return LatencySketch(
            relative_accuracy=self.relative_accuracy, count=self.count + other.count, zeros=self.zeros + other.zeros,
            buckets=buckets, total_ms=self.total_ms + other.total_ms,
            min_ms=_pick(min, self.min_ms, other.min_ms), max_ms=_pick(max, self.max_ms, other.max_ms),
        )


class LatencyRecorder:
    """The mutable side of a `LatencySketch`: records durations one by one (not thread-safe; lock around it).

    Args:
        relative_accuracy: The quantile error bound of the sketches it produces.

    Example:
        >>> recorder = LatencyRecorder()
        >>> recorder.add(12.5); recorder.add(0.0)
        >>> recorder.sketch().count, recorder.sketch().zeros
        (2, 1)
    """

    __slots__ = ("buckets", "count", "gamma", "max_ms", "min_ms", "relative_accuracy", "total_ms", "zeros")

    def __init__(self, relative_accuracy: float = 0.01) -> None:
        if not 0.001 <= relative_accuracy <= 0.2:
            raise ConfigError(f"relative_accuracy must be within [0.001, 0.2], got {relative_accuracy!r}")
        self.relative_accuracy = relative_accuracy
        self.gamma = (1 + relative_accuracy) / (1 - relative_accuracy)
        self.buckets: dict[int, int] = {}
        self.count = self.zeros = 0
        self.total_ms = 0.0
        self.min_ms: float | None = None
        self.max_ms: float | None = None

    def add(self, value_ms: float) -> None:
        """Record one duration in ms (NaN and values under `MIN_MS` count as zero; over `MAX_MS`, as `MAX_MS`)."""
        index = bucket_of(value_ms, self.gamma)
        value = min(value_ms, MAX_MS) if index is not None else 0.0  # keeps totals finite, so JSON can hold them
        if index is None:
            self.zeros += 1
        else:
            self.buckets[index] = self.buckets.get(index, 0) + 1
        self.count += 1
        self.total_ms += value
        self.min_ms = value if self.min_ms is None or value < self.min_ms else self.min_ms
        self.max_ms = value if self.max_ms is None or value > self.max_ms else self.max_ms

    def sketch(self) -> LatencySketch:
        """A frozen copy of what was recorded so far."""
        return LatencySketch(relative_accuracy=self.relative_accuracy, count=self.count, zeros=self.zeros,
                             buckets=dict(self.buckets), total_ms=self.total_ms, min_ms=self.min_ms,
                             max_ms=self.max_ms)


def _pick(choose: Callable[[float, float], float], left: float | None, right: float | None) -> float | None:
    if left is None or right is None:
        return right if left is None else left
    return float(choose(left, right))
