"""Rate-limit algorithms behind `RateLimit`: a token bucket and a sliding-window log, both reserving ahead.

Both answer ``reserve(now, max_wait_s)`` with how long the caller must wait for its turn, and book that turn
at once when the wait is acceptable. Booking before sleeping keeps concurrent callers in arrival order and
makes the limit exact under any interleaving: no lock, because nothing awaits between the check and the booking.
"""

from __future__ import annotations

import bisect
from collections import deque
from typing import Literal, Protocol

__all__ = ["Algorithm", "Limiter", "SlidingWindow", "TokenBucket", "new_limiter"]

Algorithm = Literal["token_bucket", "sliding_window"]

# Float slack: ten reservations 0.1 s apart must fit a 1.0 s bound even though 10 * 0.1 != 1.0 in binary.
_EPSILON = 1e-9


class Limiter(Protocol):
    """One bucket of a rate limit."""

    def reserve(self, now: float, max_wait_s: float) -> tuple[bool, float]: ...
    def cancel(self, booked_at: float) -> None: ...
    def is_idle(self, now: float) -> bool: ...


class TokenBucket:
    """``capacity`` tokens, refilled at ``rate_per_s``; a call takes one, and may book one not yet refilled.

    Example:
        >>> bucket = TokenBucket(capacity=2, rate_per_s=1.0, now=0.0)
        >>> [bucket.reserve(0.0, max_wait_s=1.0) for _ in range(4)]
        [(True, 0.0), (True, 0.0), (True, 1.0), (False, 2.0)]
    """

    __slots__ = ("capacity", "rate_per_s", "tokens", "updated")

    def __init__(self, capacity: float, rate_per_s: float, now: float) -> None:
        self.capacity, self.rate_per_s = capacity, rate_per_s
        self.tokens, self.updated = capacity, now

    def _refill(self, now: float) -> None:
        if now > self.updated:
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate_per_s)
            self.updated = now

    def reserve(self, now: float, max_wait_s: float) -> tuple[bool, float]:
        self._refill(now)
        wait = 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate_per_s
        if wait > max_wait_s + _EPSILON:
            return False, wait
        self.tokens -= 1  # may go negative: the deficit is the queue of callers already booked
        return True, wait

    def cancel(self, booked_at: float) -> None:
        self.tokens = min(self.capacity, self.tokens + 1)

    def is_idle(self, now: float) -> bool:
        self._refill(now)
        return self.tokens >= self.capacity


class SlidingWindow:
    """At most ``limit`` calls in any ``window_s`` seconds, from a log of admission times.

    Example:
        >>> window = SlidingWindow(limit=2, window_s=10.0)
        >>> [window.reserve(0.0, max_wait_s=10.0) for _ in range(5)]
        [(True, 0.0), (True, 0.0), (True, 10.0), (True, 10.0), (False, 20.0)]
    """

    __slots__ = ("limit", "times", "window_s")

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit, self.window_s = limit, window_s
        self.times: deque[float] = deque()  # sorted; booked turns may lie in the future

    def _prune(self, now: float) -> None:
        times = self.times
        while times and times[0] <= now - self.window_s:
            times.popleft()

    def reserve(self, now: float, max_wait_s: float) -> tuple[bool, float]:
        self._prune(now)
        times = self.times
        # With a full log, the next turn comes when the limit-th latest admission leaves the window.
        turn = now if len(times) < self.limit else max(now, times[-self.limit] + self.window_s)
        wait = turn - now
        if wait > max_wait_s + _EPSILON:
            return False, wait
        bisect.insort(times, turn)
        return True, wait

    def cancel(self, booked_at: float) -> None:
        # The caller recomputes its turn as now + wait, which may differ from the logged turn in the last bit.
        times = self.times
        index = bisect.bisect_left(times, booked_at - _EPSILON)
        if index < len(times) and abs(times[index] - booked_at) <= _EPSILON:
            del times[index]

    def is_idle(self, now: float) -> bool:
        self._prune(now)
        return not self.times


def new_limiter(algorithm: Algorithm, limit: int, per_s: float, burst: int | None, now: float) -> Limiter:
    """A fresh bucket: ``limit`` calls per ``per_s`` seconds (token bucket: ``burst`` at once, default ``limit``)."""
    if algorithm == "sliding_window":
        return SlidingWindow(limit, per_s)
    return TokenBucket(float(burst if burst is not None else limit), limit / per_s, now)
