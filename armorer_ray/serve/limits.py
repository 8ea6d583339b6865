"""Request limits applied at the door, before a body is parsed: size, batch length and a per-principal rate."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, PositiveFloat, PositiveInt

__all__ = ["DoorLimiter", "RateLimiter", "RateScope", "RequestLimits"]

RateScope = Literal["deployment", "replica"]
"""Whose requests share a principal's bucket: every replica of the deployment, or each replica on its own."""


class RequestLimits(BaseModel):
    """What one replica accepts from one request, and how often each principal may call.

    The rate is a token bucket per principal. On Ray Serve, with ``rate_scope="deployment"`` (the default) the
    bucket is shared by every replica, through one small actor that replicas lease tokens from in blocks, so the
    limit holds for the deployment as a whole; with ``"replica"`` each replica has its own bucket and a principal
    may get up to N times ``rate_per_s`` from N replicas. Outside Serve (`create_http_app` alone) the bucket is
    the process's.

    Attributes:
        max_body_bytes: Larger request bodies are refused with 413 before any of them is parsed.
        max_batch_calls: Longest ``POST /batch``.
        rate_per_s: Requests per second each principal may sustain (None: no rate limit).
        burst: Requests a principal may make at once after being idle.
        max_timeout_s: Largest per-call deadline a client may ask for with ``?timeout_s=``.
        rate_scope: ``"deployment"`` (one bucket per principal across replicas) or ``"replica"``.

    Example:
        >>> RequestLimits().max_body_bytes
        1048576
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_body_bytes: PositiveInt = 1024 * 1024
    max_batch_calls: PositiveInt = 100
    rate_per_s: PositiveFloat | None = 50.0
    burst: PositiveInt = 100
    max_timeout_s: PositiveFloat = 300.0
    rate_scope: RateScope = "deployment"


@runtime_checkable
class DoorLimiter(Protocol):
    """What the door asks before a request goes on: ``admit(principal_key)`` is 0.0, or seconds to wait."""

    async def admit(self, key: str) -> float:
        """Spend one request of ``key``'s allowance: 0.0 when admitted, else the seconds until it may retry."""
        ...


class RateLimiter:
    """Token buckets keyed by principal; remembers at most ``max_keys`` principals (least recently seen go first).

    Args:
        rate_per_s: Tokens added per second.
        burst: Bucket size.
        clock: Monotonic seconds (injectable so tests need no sleeping).

    Example:
        >>> now = [0.0]
        >>> limiter = RateLimiter(1.0, 2, clock=lambda: now[0])
        >>> [limiter.acquire("ada") for _ in range(3)]
        [0.0, 0.0, 1.0]
        >>> now[0] = 1.0
        >>> limiter.acquire("ada")
        0.0
    """

    def __init__(self, rate_per_s: float, burst: int, *, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 100_000) -> None:
        self._rate = rate_per_s
        self._burst = float(burst)
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: OrderedDict[Hashable, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)

    def acquire(self, key: Hashable) -> float:
        """Take one token for ``key``: 0.0 when granted, else the seconds until one is available."""
        now = self._clock()
        tokens, at = self._buckets.pop(key, (self._burst, now))
        tokens = min(self._burst, tokens + (now - at) * self._rate)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self._rate
        self._buckets[key] = (tokens, now)
        while len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)
        return wait

    async def admit(self, key: str) -> float:
        """`DoorLimiter`'s form of `acquire` (never waits: the bucket is in this process)."""
        return self.acquire(key)
