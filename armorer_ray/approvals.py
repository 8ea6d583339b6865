"""Where paused calls wait for approval or input; `take` hands each one out at most once."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from armorer_ray.pipeline import PausedCall

__all__ = ["ApprovalBook", "MemoryApprovalBook"]


@runtime_checkable
class ApprovalBook(Protocol):
    """Holds paused calls by resume token."""

    async def put(self, token: str, paused: PausedCall) -> None:
        """Keep ``paused`` under ``token``."""
        ...

    async def take(self, token: str) -> PausedCall | None:
        """Remove and return the paused call, atomically: of racing takers exactly one gets it."""
        ...


class MemoryApprovalBook:
    """In-process approval book (the default); bounded so abandoned approvals cannot grow memory forever.

    Args:
        max_pending: Oldest paused calls are forgotten past this many.
    """

    def __init__(self, max_pending: int = 10_000) -> None:
        self._pending: dict[str, PausedCall] = {}
        self._max = max_pending
        self._lock = asyncio.Lock()

    async def put(self, token: str, paused: PausedCall) -> None:
        self._pending[token] = paused
        while len(self._pending) > self._max:
            self._pending.pop(next(iter(self._pending)))

    async def take(self, token: str) -> PausedCall | None:
        # dict.pop is atomic under the GIL and there is no await in between: one taker wins.
        return self._pending.pop(token, None)

    def __len__(self) -> int:
        return len(self._pending)
