"""Where paused calls wait for approval or input; `take` hands each one out at most once."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from armorer_ray.paused import PausedCall
    from armorer_ray.stores import Store

__all__ = ["ApprovalBook", "MemoryApprovalBook", "StoreApprovalBook"]


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


class StoreApprovalBook:
    """Paused calls kept in a `armorer_ray.stores.Store`, so any process or replica sharing it can resume them.

    ``take`` is the store's atomic ``pop``: of processes racing to resume one token, exactly one gets the call.

    Args:
        store: A shared store (SQLite file, Redis, PostgreSQL).
        ttl_s: Paused calls nobody resumes expire after this long (None: never).
        prefix: Key prefix inside the store.

    Example:
        >>> import asyncio
        >>> from armorer_ray import Decision, Toolbox, tool
        >>> from armorer_ray.stores import open_store
        >>> store = open_store("memory://")
        >>> gated = tool(name="gated", description="Gated.", policy=lambda ctx: Decision.needs_approval())(
        ...     lambda: "done")
        >>> async def two_toolboxes():
        ...     first = Toolbox([gated], approvals=StoreApprovalBook(store))
        ...     second = Toolbox([gated], approvals=StoreApprovalBook(store))
        ...     paused = await first.execute({"name": "gated"})
        ...     return (await second.resume(paused.action.resume_token)).result
        >>> asyncio.run(two_toolboxes())
        'done'
    """

    def __init__(self, store: Store, *, ttl_s: float | None = 24 * 3600.0, prefix: str = "approvals/") -> None:
        self._store = store
        self._ttl_s = ttl_s
        self._prefix = prefix

    async def put(self, token: str, paused: PausedCall) -> None:
        record = {"call": paused.call.model_dump(mode="json"), "tool_id": paused.tool_id, "kind": paused.kind,
                  "timeout_s": paused.timeout_s, "dry_run": paused.dry_run}
        await self._store.set(self._prefix + token, json.dumps(record).encode(), ttl_s=self._ttl_s)

    async def take(self, token: str) -> PausedCall | None:
        from armorer_ray.paused import PausedCall
        from armorer_ray.results import ToolCall

        raw = await self._store.pop(self._prefix + token)
        if raw is None:
            return None
        record = json.loads(raw)
        return PausedCall(ToolCall.model_validate(record["call"]), record["tool_id"], record["kind"],
                          record["timeout_s"], record["dry_run"])
