"""`RateLimit`: at most so many calls per period, per tool or across all tools, per key."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Literal

from armorer_ray.errors import ConfigError, ToolError
from armorer_ray.middleware.rate_limiters import Algorithm, Limiter, new_limiter
from armorer_ray.results import ToolCall, ToolResult

if TYPE_CHECKING:
    from armorer_ray.context import CallContext
    from armorer_ray.middleware.base import Next
    from armorer_ray.middleware.keys import KeyFunction

__all__ = ["RateLimit", "Scope"]

Scope = Literal["tool", "global"]


class RateLimit:
    """Admit at most ``limit`` calls per ``per_s`` seconds in each bucket; make others wait, or refuse them.

    Buckets: with ``scope="tool"`` each tool has its own; with ``scope="global"`` one bucket spans every tool
    the layer wraps (put it in the toolbox's middleware for a toolbox-wide limit). ``key`` splits buckets
    further, for example per tenant (`per_tenant`) or per user (`per_user`). ``token_bucket`` allows bursts of
    ``burst`` calls (default ``limit``) and refills steadily; ``sliding_window`` allows at most ``limit`` calls
    in any window of ``per_s`` seconds. A call that would have to wait up to ``max_wait_s`` books its turn and
    waits (callers keep their arrival order); one that would wait longer gets a ``transient`` error coded
    ``RATE_LIMITED`` at once, with ``details.retry_after_s``, and a ``rate-limit.exceeded`` event.

    Args:
        limit: Calls allowed per period.
        per_s: The period in seconds.
        algorithm: ``token_bucket`` or ``sliding_window``.
        burst: Token-bucket capacity (default ``limit``).
        scope: ``tool`` or ``global``.
        key: ``(call, ctx) -> str`` splitting buckets further (None: one bucket per scope).
        max_wait_s: Longest a call may wait for its turn (0: refuse at once when none is free).
        max_keys: Buckets kept before idle ones are dropped (bounds memory under many keys).
        clock: Monotonic clock in seconds, injectable for tests.
        sleep: Awaitable sleep, injectable for tests.

    Raises:
        ConfigError: for a non-positive limit, period or burst, or a negative ``max_wait_s``.

    Example:
        >>> from armorer_ray import Toolbox, ToolCall
        >>> from armorer_ray.middleware.keys import per_tenant
        >>> from armorer_ray.testing import mock_tool
        >>> box = Toolbox([mock_tool("search")], middleware=[RateLimit(2, per_s=60, key=per_tenant)])
        >>> [box.execute_sync(ToolCall(name="search", tenant_id="acme")).outcome for _ in range(3)]
        ['success', 'success', 'error']
        >>> refused = box.execute_sync(ToolCall(name="search", tenant_id="acme"))
        >>> refused.error.code, refused.error.category, refused.error.details["retry_after_s"] > 0
        ('RATE_LIMITED', 'transient', True)
        >>> box.execute_sync(ToolCall(name="search", tenant_id="globex")).outcome
        'success'
    """

    __slots__ = ("_buckets", "_sweep_at", "algorithm", "burst", "clock", "key", "limit", "max_keys", "max_wait_s",
                 "per_s", "scope", "sleep")

    def __init__(self, limit: int, per_s: float = 1.0, *, algorithm: Algorithm = "token_bucket",
                 burst: int | None = None, scope: Scope = "tool", key: KeyFunction | None = None,
                 max_wait_s: float = 0.0, max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        if not isinstance(limit, int) or limit < 1:
            raise ConfigError(f"RateLimit limit must be a positive integer, got {limit!r}")
        if not (per_s > 0 and math.isfinite(per_s)):
            raise ConfigError(f"RateLimit per_s must be a positive number, got {per_s!r}")
        if burst is not None and (not isinstance(burst, int) or burst < 1):
            raise ConfigError(f"RateLimit burst must be a positive integer, got {burst!r}")
        if not max_wait_s >= 0:
            raise ConfigError(f"RateLimit max_wait_s must be >= 0, got {max_wait_s!r}")
        if algorithm not in ("token_bucket", "sliding_window"):
            raise ConfigError(f"RateLimit algorithm must be 'token_bucket' or 'sliding_window', got {algorithm!r}")
        if scope not in ("tool", "global"):
            raise ConfigError(f"RateLimit scope must be 'tool' or 'global', got {scope!r}")
        self.limit, self.per_s, self.algorithm, self.burst = limit, per_s, algorithm, burst
        self.scope: Scope = scope
        self.key = key
        self.max_wait_s, self.max_keys = max_wait_s, max_keys
        self.clock, self.sleep = clock, sleep
        self._buckets: dict[str, Limiter] = {}
        self._sweep_at = max_keys

    def bucket_key(self, call: ToolCall, ctx: CallContext) -> str:
        """The bucket a call draws from: tool id (for ``scope="tool"``) and the key function's result.

        Example:
            >>> limit = RateLimit(1, scope="global")
            >>> limit.bucket_key(ToolCall(name="t"), None)  # type: ignore[arg-type]  # ctx unused
            '*'
        """
        own = self.key(call, ctx) if self.key is not None else ""
        return f"{ctx.tool.id}|{own}" if self.scope == "tool" else own or "*"

    async def __call__(self, call: ToolCall, ctx: CallContext, next: Next) -> ToolResult:
        """Wait for this call's turn, or refuse it, then run the inner layers.

        Args:
            call: The call.
            ctx: Its context.
            next: The inner layers.

        Returns:
            The inner result, or a ``RATE_LIMITED`` error result.
        """
        key = self.bucket_key(call, ctx)
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = new_limiter(self.algorithm, self.limit, self.per_s, self.burst, now)
            if len(self._buckets) > self._sweep_at:
                self._sweep(now)
        admitted, wait = bucket.reserve(now, self.max_wait_s)
        if not admitted:
            return self._refuse(call, ctx, key, wait)
        if wait > 0:
            try:
                await self.sleep(wait)
            except asyncio.CancelledError:
                bucket.cancel(now + wait)  # give the booked turn back to the callers behind
                raise
        return await next(call, ctx)

    def _refuse(self, call: ToolCall, ctx: CallContext, key: str, wait: float) -> ToolResult:
        tool = ctx.tool
        retry_after = math.ceil(wait * 1000) / 1000
        ctx.emit("rate-limit.exceeded", {"key": key, "retry_after_s": retry_after})
        error = ToolError.of(
            "transient",
            f'Rate limit exceeded for tool "{tool.name}": {self.limit} calls per {self.per_s:g}s. '
            f"Retry after {retry_after:g}s.",
            code="RATE_LIMITED",
            details={"retry_after_s": retry_after, "limit": self.limit, "per_s": self.per_s, "scope": self.scope},
        )
        return ToolResult.failure(call.id, tool.name, error, tool_id=tool.id, dry_run=ctx.dry_run)

    def _sweep(self, now: float) -> None:
        for key in [key for key, bucket in self._buckets.items() if bucket.is_idle(now)]:
            del self._buckets[key]
        self._sweep_at = max(self.max_keys, 2 * len(self._buckets))
