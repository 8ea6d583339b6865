"""`Quota`: usage limits per tenant (and optionally per tool) over a calendar or rolling window, kept in a Store."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING
from urllib.parse import quote

from pydantic import JsonValue

from armorer_ray.errors import ConfigError, StoreError, ToolError
from armorer_ray.middleware.quota_windows import Window, WindowSlot
from armorer_ray.results import ToolCall, ToolResult
from armorer_ray.stores.protocols import Store

if TYPE_CHECKING:
    from armorer_ray.context import CallContext
    from armorer_ray.middleware.base import Next

__all__ = ["CostFunction", "Quota"]

CostFunction = Callable[[ToolCall, "CallContext"], int]
"""``(call, ctx) -> int``: the units a call uses (``ctx.params`` holds its validated arguments); 0 is free."""

_NO_TENANT = "!"  # quote() escapes "!", so no tenant id can produce this key part


class Quota:
    """Refuse a tenant's calls once its usage in the current window would pass its limit.

    Each admitted call is charged ``cost(call, ctx)`` units (default 1) with one atomic `Store.incr`; a charge
    that takes the window's total past the limit is taken back and the call refused with a ``conflict`` error
    coded ``QUOTA_EXCEEDED``, retryable, with ``details.retry_after_s`` (when the usage starts leaving the window).
    Because every charge is one atomic increment, concurrent calls in any number of processes sharing the store
    never admit more than the limit; a charge being taken back may briefly make a racing call be refused although
    it would have fit. Calls are charged when this layer admits them, so a call that then fails still counts.

    A call whose charge first reaches a fraction in ``alerts`` of its limit emits a ``quota.threshold`` event (once
    per window and threshold); a refusal emits ``quota.exceeded``. Both go to the toolbox's `EventHub` with the
    tenant, usage and limit. A store that fails refuses the call with a ``transient`` error coded
    ``QUOTA_UNAVAILABLE``: the quota fails closed.

    Args:
        store: Where the counters live; share one (SQLite, Redis, PostgreSQL) between replicas.
        limit: Units each tenant may use per window.
        window: A `CalendarWindow` or `RollingWindow`.
        limits: Tenant id -> its own limit, replacing ``limit`` (0 refuses every charged call).
        per_tool: Count each tool separately (each tool gets the whole limit) instead of all tools together.
        cost: Units a call uses (default: 1 per call).
        alerts: Fractions of the limit (above 0) whose crossing emits ``quota.threshold``.
        name: Names the counters (``quota/<name>/...``); give quotas that share a store distinct names.
        clock: Wall clock in epoch seconds, injectable for tests (replicas must agree on it).

    Raises:
        ConfigError: for a negative or non-int limit, an empty name, or an alert that is not a positive number.

    Example:
        >>> from armorer_ray import Toolbox, ToolCall
        >>> from armorer_ray.middleware.quota_windows import CalendarWindow
        >>> from armorer_ray.stores import MemoryStore
        >>> from armorer_ray.testing import mock_tool
        >>> quota = Quota(MemoryStore(), 2, CalendarWindow("day"), limits={"pro": 100})
        >>> box = Toolbox([mock_tool("search")], middleware=[quota])
        >>> [box.execute_sync(ToolCall(name="search", tenant_id="free")).outcome for _ in range(3)]
        ['success', 'success', 'error']
        >>> refused = box.execute_sync(ToolCall(name="search", tenant_id="free"))
        >>> refused.error.code, refused.error.category, refused.error.retryable, refused.error.details["limit"]
        ('QUOTA_EXCEEDED', 'conflict', True, 2)
        >>> box.execute_sync(ToolCall(name="search", tenant_id="pro")).outcome
        'success'
    """

    __slots__ = ("alerts", "clock", "cost", "limit", "limits", "name", "per_tool", "store", "window")

    def __init__(self, store: Store, limit: int, window: Window, *, limits: Mapping[str, int] | None = None,
                 per_tool: bool = False, cost: CostFunction | None = None, alerts: Sequence[float] = (0.8, 1.0),
                 name: str = "default", clock: Callable[[], float] = time.time) -> None:
        for tenant, value in {"(default)": limit, **(limits or {})}.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"Quota limit for {tenant} must be a non-negative integer, got {value!r}")
        for fraction in alerts:
            if not (isinstance(fraction, int | float) and math.isfinite(fraction) and fraction > 0):
                raise ConfigError(f"Quota alerts must be positive fractions of the limit, got {fraction!r}")
        if not isinstance(name, str) or not name:
            raise ConfigError("Quota name must be a non-empty string")
        if not callable(getattr(window, "slot", None)):
            raise ConfigError(f"Quota window must be a CalendarWindow or RollingWindow, got {window!r}")
        self.store, self.limit, self.window = store, limit, window
        self.limits: Mapping[str, int] = dict(limits or {})
        self.per_tool, self.cost, self.name, self.clock = per_tool, cost, name, clock
        self.alerts = tuple(sorted(set(alerts)))

    def limit_for(self, tenant_id: str | None) -> int:
        """The limit that applies to a tenant (``limit`` unless ``limits`` names it).

        Example:
            >>> from armorer_ray.middleware.quota_windows import CalendarWindow
            >>> from armorer_ray.stores import MemoryStore
            >>> quota = Quota(MemoryStore(), 10, CalendarWindow("hour"), limits={"pro": 1000})
            >>> quota.limit_for("pro"), quota.limit_for("free"), quota.limit_for(None)
            (1000, 10, 10)
        """
        return self.limits.get(tenant_id, self.limit) if tenant_id is not None else self.limit

    def counter_prefix(self, tenant_id: str | None, tool_id: str | None = None) -> str:
        """The store key prefix of a tenant's counters (tenant and tool percent-encoded, so none collide).

        Example:
            >>> from armorer_ray.middleware.quota_windows import CalendarWindow
            >>> from armorer_ray.stores import MemoryStore
            >>> Quota(MemoryStore(), 1, CalendarWindow("day"), per_tool=True).counter_prefix("acme/eu", "crm:find")
            'quota/default/acme%2Feu/crm%3Afind/'
        """
        tenant = quote(tenant_id, safe="") if tenant_id is not None else _NO_TENANT
        tool = quote(tool_id, safe="") if tool_id is not None and self.per_tool else "*"
        return f"quota/{self.name}/{tenant}/{tool}/"

    async def __call__(self, call: ToolCall, ctx: CallContext, next: Next) -> ToolResult:
        """Charge the call to its tenant's window, then run the inner layers; or refuse it.

        Args:
            call: The call.
            ctx: Its context.
            next: The inner layers.

        Returns:
            The inner result, or a ``QUOTA_EXCEEDED`` / ``QUOTA_UNAVAILABLE`` error result.
        """
        try:
            units = self._units(call, ctx)
        except Exception as exc:  # the cost function is user code: its failure fails this call only
            return _failure(call, ctx, ToolError.of("internal", f"Quota cost function failed: {exc}",
                                                    code="QUOTA_COST_INVALID"))
        if units == 0:
            return await next(call, ctx)
        now = self.clock()
        slot = self.window.slot(now)
        prefix = self.counter_prefix(call.tenant_id, ctx.tool.id)
        limit = self.limit_for(call.tenant_id)
        try:
            total = await self._charge(prefix, slot, units)
            if total > limit:
                await self.store.incr(prefix + slot.counter, -units, ttl_s=slot.ttl_s)
                return await self._refuse(call, ctx, prefix, slot, now, total - units, units, limit)
        except StoreError as exc:
            return _failure(call, ctx, ToolError.of("transient", f"Quota store unavailable: {exc}",
                                                    code="QUOTA_UNAVAILABLE"))
        for fraction in self.alerts:
            if total - units < fraction * limit <= total:
                ctx.emit("quota.threshold", {"tenant_id": call.tenant_id, "quota": self.name, "threshold": fraction,
                                             "used": total, "limit": limit, "window": self.window.describe()})
        return await next(call, ctx)

    def _units(self, call: ToolCall, ctx: CallContext) -> int:
        if self.cost is None:
            return 1
        units = self.cost(call, ctx)
        if not isinstance(units, int) or isinstance(units, bool) or units < 0:
            raise ConfigError(f"cost must return a non-negative int, got {units!r}")
        return units

    async def _charge(self, prefix: str, slot: WindowSlot, units: int) -> int:
        # The increment alone decides admission for this bucket; earlier buckets no longer take charges (their
        # time is past), so reading them after the increment cannot let concurrent calls overrun the limit.
        charged = await self.store.incr(prefix + slot.counter, units, ttl_s=slot.ttl_s)
        if not slot.earlier:
            return charged
        earlier = await asyncio.gather(*(self.store.get(prefix + name) for name, _ in slot.earlier))
        return charged + sum(_as_int(raw) for raw in earlier)

    async def _refuse(self, call: ToolCall, ctx: CallContext, prefix: str, slot: WindowSlot, now: float,
                      used: int, units: int, limit: int) -> ToolResult:
        frees_at = slot.leaves_at
        for name, leaves_at in slot.earlier:  # the oldest bucket still holding usage frees first
            if _as_int(await self.store.get(prefix + name)) > 0:
                frees_at = leaves_at
                break
        retry_after = max(math.ceil((frees_at - now) * 1000) / 1000, 0.001)
        window = self.window.describe()
        details: dict[str, JsonValue] = {"retry_after_s": retry_after, "limit": limit, "used": used, "cost": units,
                                         "window": window, "tenant_id": call.tenant_id}
        ctx.emit("quota.exceeded", {**details, "quota": self.name})
        tenant = f'tenant "{call.tenant_id}"' if call.tenant_id is not None else "calls without a tenant"
        message = (f"Quota exceeded for {tenant}: {used} of {limit} units used this {window} window, this call "
                   f"needs {units}. Retry after {retry_after:g}s.")
        return _failure(call, ctx, ToolError.of("conflict", message, code="QUOTA_EXCEEDED", retryable=True,
                                                details=details))


def _as_int(raw: bytes | None) -> int:
    return int(raw) if raw else 0


def _failure(call: ToolCall, ctx: CallContext, error: ToolError) -> ToolResult:
    tool = ctx.tool
    return ToolResult.failure(call.id, tool.name, error, tool_id=tool.id, dry_run=ctx.dry_run)
