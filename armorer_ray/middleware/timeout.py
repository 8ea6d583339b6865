"""`Timeout`: a hard deadline around everything inside it."""

from __future__ import annotations

import asyncio
import math
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from armorer_ray.errors import ConfigError, ToolError
from armorer_ray.results import ToolCall, ToolResult

if TYPE_CHECKING:
    from armorer_ray.context import CallContext
    from armorer_ray.middleware.base import Next

if sys.version_info >= (3, 11):
    from asyncio import timeout as _deadline
else:  # pragma: no cover - Python 3.10 only
    from async_timeout import timeout as _deadline

__all__ = ["Timeout"]

# Two classes before 3.11, one after: async-timeout raises asyncio.TimeoutError on 3.10.
_EXPIRED = (TimeoutError, asyncio.TimeoutError)


@dataclass(frozen=True, slots=True)
class Timeout:
    """Stop the inner layers and the body once ``seconds`` have passed, and answer with a ``timeout`` error.

    The deadline is hard: the inner coroutine is cancelled, so an async body stops at its next ``await`` and a
    sync body running in a worker thread is interrupted (see `LocalExecutor`). Placed inside `Retry`, it bounds
    each attempt; placed outside, it bounds all attempts together. It adds to, and never loosens, the
    deadline a tool or toolbox sets with ``timeout_s``.

    Args:
        seconds: The deadline, a positive number of seconds.

    Raises:
        ConfigError: when ``seconds`` is not a positive finite number.

    Example:
        >>> import asyncio
        >>> from armorer_ray import Toolbox, ToolCall
        >>> from armorer_ray.testing import mock_tool
        >>> slow = mock_tool("slow", outcomes=["done"], delay_s=5)
        >>> box = Toolbox([slow], middleware=[Timeout(0.05)])
        >>> result = box.execute_sync(ToolCall(name="slow"))
        >>> result.error.category, result.error.code, result.error.retryable
        ('timeout', 'TIMEOUT', True)
        >>> result.content
        'Tool "slow" timed out after 0.05s'
    """

    seconds: float

    def __post_init__(self) -> None:
        if not (isinstance(self.seconds, int | float) and 0 < self.seconds < math.inf):
            raise ConfigError(f"Timeout needs a positive number of seconds, got {self.seconds!r}")

    async def __call__(self, call: ToolCall, ctx: CallContext, next: Next) -> ToolResult:
        """Run the inner layers under the deadline.

        Args:
            call: The call.
            ctx: Its context.
            next: The inner layers.

        Returns:
            The inner result, or a ``timeout`` error result coded ``TIMEOUT`` with ``details.timeout_s``.
        """
        try:
            async with _deadline(self.seconds):
                return await next(call, ctx)
        except _EXPIRED:
            tool = ctx.tool
            error = ToolError.of("timeout", f'Tool "{tool.name}" timed out after {self.seconds}s', code="TIMEOUT",
                                 details={"timeout_s": self.seconds})
            return ToolResult.failure(call.id, tool.name, error, tool_id=tool.id, dry_run=ctx.dry_run)
