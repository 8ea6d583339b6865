"""`ClusterConcurrencyLimit`: at most N calls of a tool running at once across every replica that holds it.

Permits live in one Ray actor; each limited call takes one before its body runs and gives it back after (two
small actor calls, the second not awaited). A permit whose holder died lapses after ``permit_ttl_s``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import ray

from armorer_ray.actors._private.limits_host import PermitHostActor
from armorer_ray.errors import ConfigError, ToolError
from armorer_ray.results import ToolCall, ToolResult
from armorer_ray.toolbox import PROBE_TOOL_ID

if TYPE_CHECKING:
    from armorer_ray.context import CallContext
    from armorer_ray.middleware.base import Next
    from armorer_ray.tools import Tool

__all__ = ["ClusterConcurrencyLimit"]

KeyFunction = Callable[[ToolCall, "CallContext"], str]


class ClusterConcurrencyLimit:
    """Middleware capping calls in flight per tool (or per key) across all replicas and deployments.

    Args:
        limits: One limit for every tool, or limits by tool name or id (tools not listed are not limited).
        name: Names the permit actor (``armorer.concurrency:<name>``); the same name shares the permits.
        key: ``(call, ctx) -> str`` naming what a limit counts (default: the tool's name), such as
            ``lambda call, ctx: f"{ctx.tool.name}|{call.tenant_id}"`` for a per-tenant cap on each tool.
        max_wait_s: Longest a call waits for a permit before ending ``transient`` ``CONCURRENCY_LIMITED``.
        permit_ttl_s: A permit held longer than this lapses (its holder is presumed dead).
        namespace: Ray namespace of the permit actor.
        detached: Keep the permit actor alive after this driver exits.

    Raises:
        ConfigError: for a limit below 1, or non-positive times.

    Example:
        >>> cap = ClusterConcurrencyLimit({"charge_card": 2}, name="payments")  # doctest: +SKIP
        >>> toolbox = Toolbox([charge_card, lookup], middleware=[cap])  # doctest: +SKIP
    """

    def __init__(self, limits: int | Mapping[str, int], *, name: str, key: KeyFunction | None = None,
                 max_wait_s: float = 30.0, permit_ttl_s: float = 300.0, namespace: str | None = None,
                 detached: bool = False) -> None:
        values = [limits] if isinstance(limits, int) else list(limits.values())
        if any(value < 1 for value in values) or max_wait_s < 0 or permit_ttl_s <= 0:
            raise ConfigError(f"ClusterConcurrencyLimit needs limits >= 1, max_wait_s >= 0 and permit_ttl_s > 0, "
                              f"got {limits!r}, {max_wait_s}, {permit_ttl_s}")
        self.limits: int | dict[str, int] = limits if isinstance(limits, int) else dict(limits)
        self.name = name
        self.key = key
        self.max_wait_s = max_wait_s
        self.permit_ttl_s = permit_ttl_s
        if not ray.is_initialized():
            ray.init()
        # Pickles with its settings and this actor handle (plain instance state), so replicas share the permits.
        self._actor = PermitHostActor.options(
            name=f"armorer.concurrency:{name}", namespace=namespace, get_if_exists=True, num_cpus=0,
            max_concurrency=10_000, lifetime="detached" if detached else None,
        ).remote(permit_ttl_s)

    def limit_for(self, tool: Tool) -> int | None:
        """The cap that applies to ``tool`` (None: not limited)."""
        if isinstance(self.limits, int):
            return self.limits
        return self.limits.get(tool.id, self.limits.get(tool.name))

    async def __call__(self, call: ToolCall, ctx: CallContext, next: Next) -> ToolResult:
        limit = self.limit_for(ctx.tool)
        if limit is None or ctx.tool.id == PROBE_TOOL_ID:
            return await next(call, ctx)
        key = self.key(call, ctx) if self.key is not None else ctx.tool.name
        permit = uuid.uuid4().hex
        try:
            granted = await self._actor.acquire.remote(key, limit, permit, self.max_wait_s)
        except asyncio.CancelledError:
            self._actor.release.remote(permit)  # a grant racing the cancel is handed straight back
            raise
        if not granted:
            return ToolResult.failure(call.id, ctx.tool.name, ToolError.of(
                "transient", f"Busy: {limit} calls of {key!r} already running across the cluster; no slot freed "
                             f"within {self.max_wait_s}s", code="CONCURRENCY_LIMITED",
                details={"limit": limit, "key": key}), tool_id=ctx.tool.id)
        try:
            return await next(call, ctx)
        finally:
            self._actor.release.remote(permit)

    async def peaks(self) -> dict[str, int]:
        """The most permits ever held at once, by key (for monitoring and tests)."""
        peaks: dict[str, int] = await self._actor.peaks.remote()
        return peaks

    def shutdown(self) -> None:
        """End the permit actor (for every holder)."""
        ray.kill(self._actor, no_restart=True)

