"""Where paused calls wait for approval or input; `take` hands each one out at most once."""

from __future__ import annotations

import asyncio
import copy
import json
from dataclasses import replace
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from armorer_ray.pipeline import PausedCall
    from armorer_ray.policy import CallerLike
    from armorer_ray.results import ToolCall
    from armorer_ray.stores import Store

__all__ = ["ApprovalBook", "MemoryApprovalBook", "StoreApprovalBook", "frozen_pause", "owns_pause"]


def owns_pause(call: ToolCall, caller: CallerLike | None) -> bool:
    """Whether ``caller`` may resume the paused ``call``: same tenant, and same user when the call had one.

    A call paused without a tenant or user may be resumed by anyone holding its token (the token is the secret).

    Example:
        >>> from armorer_ray import Caller, ToolCall
        >>> paused = ToolCall(name="wire", tenant_id="acme", user_id="ada")
        >>> owns_pause(paused, Caller(tenant_id="acme", user_id="ada")), owns_pause(paused, Caller(tenant_id="globex"))
        (True, False)
        >>> owns_pause(paused, None), owns_pause(ToolCall(name="wire"), None)
        (False, True)
    """
    if call.tenant_id is None and call.user_id is None:
        return True
    if caller is None:
        return False
    return caller.tenant_id == call.tenant_id and (call.user_id is None or caller.user_id == call.user_id)


def frozen_pause(paused: PausedCall) -> PausedCall:
    """A copy of ``paused`` whose arguments nothing outside the book shares.

    The caller that sent the call still holds its arguments dict; without the copy, editing it after the pause
    would change what the approved call runs (the approver saw 500, the body would send 999999).

    Example:
        >>> from armorer_ray import ToolCall
        >>> from armorer_ray.pipeline import PausedCall
        >>> arguments = {"amount": 500}
        >>> kept = frozen_pause(PausedCall(ToolCall(name="wire", arguments=arguments), "default:wire", "approval",
        ...                                None, False))
        >>> arguments["amount"] = 999999
        >>> kept.call.arguments
        {'amount': 500}
    """
    try:
        arguments = copy.deepcopy(paused.call.arguments)  # bounded: calls past ArgumentBounds never pause
    except Exception:  # an argument that cannot be copied: keep its JSON form, never the shared object
        arguments = json.loads(json.dumps(paused.call.arguments, default=str))
    return replace(paused, call=paused.call.model_copy(update={"arguments": arguments}))


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
        self._pending[token] = frozen_pause(paused)
        while len(self._pending) > self._max:
            self._pending.pop(next(iter(self._pending)))

    async def take(self, token: str) -> PausedCall | None:
        # dict.pop is atomic under the GIL and there is no await in between: one taker wins. A copy again: the
        # resumed call must run with what was approved even if someone edits what take() returned.
        found = self._pending.pop(token, None)
        return frozen_pause(found) if found is not None else None

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
        from armorer_ray.pipeline import PausedCall
        from armorer_ray.results import ToolCall

        raw = await self._store.pop(self._prefix + token)
        if raw is None:
            return None
        record = json.loads(raw)
        return PausedCall(ToolCall.model_validate(record["call"]), record["tool_id"], record["kind"],
                          record["timeout_s"], record["dry_run"])
