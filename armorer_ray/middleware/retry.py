"""`Retry`: run the inner layers again after a retryable failure, with exponential backoff and jitter."""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from armorer_ray.errors import ConfigError, ErrorCategory, ToolError
from armorer_ray.results import ToolCall, ToolResult

if TYPE_CHECKING:
    from armorer_ray.context import CallContext
    from armorer_ray.middleware.base import Next

__all__ = ["Jitter", "Retry"]

Jitter = Literal["full", "equal", "none"]

_RETRY_CATEGORIES: frozenset[ErrorCategory] = frozenset({"transient", "timeout"})


@dataclass(frozen=True)
class Retry:
    """Retry retryable failures of idempotent tools with capped exponential backoff and jitter.

    A failed result is retried when its error is marked ``retryable``, its category is in ``on``, the tool is
    ``idempotent`` (read-only tools are, unless they say otherwise) or ``retry_non_idempotent`` is set, attempts
    remain, and the call was not cancelled. The wait before attempt *n + 1* is
    ``min(max_delay_s, base_delay_s * multiplier ** (n - 1))``, spread by ``jitter`` ("full": uniform in
    [0, delay], the AWS recommendation; "equal": half fixed, half random; "none"). An error whose
    ``details.retry_after_s`` says to wait longer (a rate limit, an open circuit) is waited for, unless that is
    longer than ``max_delay_s``: then the failure is returned at once. ``ctx.attempt`` counts the attempts, and
    the result's ``attempts`` says how many ran. Each retry emits a ``retry`` event.

    Args:
        attempts: Most runs in total, first included (1 disables retrying).
        base_delay_s: Wait before the first retry, before jitter.
        multiplier: Growth of the wait per retry.
        max_delay_s: Cap on one wait.
        jitter: How to randomise each wait.
        on: Error categories worth retrying.
        retry_non_idempotent: Also retry tools not marked idempotent (they may run twice).
        max_elapsed_s: Stop retrying once this long has passed since the first attempt (None: no bound).
        sleep: Awaitable sleep, injectable for tests.
        clock: Monotonic clock in seconds, injectable for tests.
        rng: Source of uniform numbers in [0, 1), injectable for tests.

    Raises:
        ConfigError: for a non-positive ``attempts``, negative delays or a ``multiplier`` below 1.

    Example:
        >>> from armorer_ray import Toolbox, ToolCall, Transient
        >>> from armorer_ray.testing import mock_tool
        >>> fetch = mock_tool("fetch", outcomes=[Transient("503"), Transient("503"), {"ok": True}], idempotent=True)
        >>> box = Toolbox([fetch], middleware=[Retry(attempts=3, base_delay_s=0)])
        >>> result = box.execute_sync(ToolCall(name="fetch"))
        >>> result.result, result.attempts, len(fetch.calls)
        ({'ok': True}, 3, 3)
    """

    attempts: int = 3
    base_delay_s: float = 0.1
    multiplier: float = 2.0
    max_delay_s: float = 10.0
    jitter: Jitter = "full"
    on: Collection[ErrorCategory] = _RETRY_CATEGORIES
    retry_non_idempotent: bool = False
    max_elapsed_s: float | None = None
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    clock: Callable[[], float] = time.monotonic
    rng: Callable[[], float] = random.random

    def __post_init__(self) -> None:
        if not isinstance(self.attempts, int) or self.attempts < 1:
            raise ConfigError(f"Retry attempts must be a positive integer, got {self.attempts!r}")
        for name in ("base_delay_s", "max_delay_s"):
            value = getattr(self, name)
            if not (value >= 0 and math.isfinite(value)):
                raise ConfigError(f"Retry {name} must be a finite number >= 0, got {value!r}")
        if not self.multiplier >= 1:
            raise ConfigError(f"Retry multiplier must be >= 1, got {self.multiplier!r}")
        if self.jitter not in ("full", "equal", "none"):
            raise ConfigError(f"Retry jitter must be 'full', 'equal' or 'none', got {self.jitter!r}")
        if self.max_elapsed_s is not None and not self.max_elapsed_s > 0:
            raise ConfigError(f"Retry max_elapsed_s must be positive, got {self.max_elapsed_s!r}")
        object.__setattr__(self, "on", frozenset(self.on))

    def delay_s(self, attempt: int) -> float:
        """The wait after failed attempt ``attempt`` (1-based), jitter applied.

        Args:
            attempt: The attempt that just failed.

        Returns:
            Seconds to wait before the next attempt.

        Example:
            >>> Retry(base_delay_s=0.5, jitter="none").delay_s(3)
            2.0
            >>> Retry(base_delay_s=0.5, max_delay_s=1.0, jitter="none").delay_s(3)
            1.0
        """
        delay = min(self.max_delay_s, self.base_delay_s * self.multiplier ** (attempt - 1))
        if self.jitter == "full":
            return delay * self.rng()
        if self.jitter == "equal":
            return delay / 2 + delay / 2 * self.rng()
        return delay

    def should_retry(self, result: ToolResult, ctx: CallContext) -> bool:
        """Whether ``result`` may be retried (before counting attempts and time).

        Args:
            result: The failed (or successful) result of one attempt.
            ctx: The call's context.

        Returns:
            True for a retryable error of a category in ``on``, for a tool that may run twice.

        Example:
            >>> Retry().should_retry.__name__
            'should_retry'
        """
        error = result.error
        if error is None or not error.retryable or error.category not in self.on:
            return False
        # The call's own signal: a run that timed out leaves ctx.signal aborted, which must not stop the retry.
        if (ctx.call_signal or ctx.signal).aborted:
            return False
        return ctx.tool.idempotent or self.retry_non_idempotent

    async def __call__(self, call: ToolCall, ctx: CallContext, next: Next) -> ToolResult:
        """Run the inner layers until success, a final failure, or the attempts run out.

        Args:
            call: The call.
            ctx: Its context; ``ctx.attempt`` is set before each attempt.
            next: The inner layers.

        Returns:
            The last attempt's result, with ``attempts`` set to the number of attempts made.
        """
        first = ctx.attempt
        started = self.clock() if self.max_elapsed_s is not None else 0.0
        attempt = 1
        while True:
            ctx.attempt = first + attempt - 1
            result = await next(call, ctx)
            if attempt >= self.attempts or not self.should_retry(result, ctx):
                break
            delay = self.delay_s(attempt)
            retry_after = _retry_after_s(result.error)
            if retry_after is not None:
                if retry_after > self.max_delay_s:
                    break  # the dependency asked for a longer pause than we may wait: let the caller decide
                delay = max(delay, retry_after)
            if self.max_elapsed_s is not None and self.clock() - started + delay > self.max_elapsed_s:
                break
            ctx.emit("call.retrying", {"attempt": attempt, "delay_s": delay, "error": result.error})
            await self.sleep(delay)
            attempt += 1
        if result.attempts != ctx.attempt:
            result = result.replace(attempts=ctx.attempt)
        return result


def _retry_after_s(error: ToolError | None) -> float | None:
    details = error.details if error is not None else None
    if isinstance(details, dict):
        value = details.get("retry_after_s")
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            return float(value)
    return None
