"""`Analytics`: in-process call statistics per tool and tenant, driven by a toolbox's events.

Where `instrument` hands numbers to an OpenTelemetry SDK, `Analytics` keeps them here, so a process can answer
"what did each tool cost, how often did it fail, how slow is its p99" without a metrics backend. It listens to
``tool.finished`` (and to ``error`` for budget refusals, which never reach the pipeline), so it sees exactly one
result per call, whatever layer produced it. Memory is bounded: one cell per (tool, tenant), latencies in a
`LatencySketch`, and tenants past ``max_tenants`` are pooled under `OTHER_TENANTS`.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from armorer_ray.deprecations import moved_names
from armorer_ray.errors import ConfigError
from armorer_ray.events import Event
from armorer_ray.results import ToolCall, ToolResult
from armorer_ray.telemetry.sketch import LatencyRecorder
from armorer_ray.telemetry.stats import AnalyticsSnapshot, StatsCell, ToolStats

if TYPE_CHECKING:
    from armorer_ray.toolbox import Toolbox
    from armorer_ray.tools import Tool

__all__ = ["OTHER_TENANTS", "Analytics", "ResultCost", "content_bytes"]

# Priced after the call, from its result (unlike a Quota's cost, which is charged before the call runs).
ResultCost = Callable[[ToolCall, ToolResult], float]

# CostFunction, this type's name before it was renamed, still imports, with a warning naming the fix.
__getattr__ = moved_names(__name__)
OTHER_TENANTS = "(other)"

logger = logging.getLogger("armorer_ray.telemetry")


def content_bytes(content: object) -> int:
    """Size of a result's ``content``: UTF-8 bytes of text, length of bytes, else of its compact JSON.

    Example:
        >>> content_bytes("héllo"), content_bytes(None), content_bytes({"a": 1})
        (6, 0, 7)
    """
    if content is None:
        return 0
    kind = type(content)
    if kind is int:  # the common scalars, without a trip through json
        return len(str(content))
    if kind is bool:
        return 4 if content else 5
    if isinstance(content, str):
        return len(content.encode("utf-8", "surrogatepass"))
    if isinstance(content, bytes | bytearray):
        return len(content)
    return len(json.dumps(content, separators=(",", ":"), default=str, ensure_ascii=False).encode("utf-8",
                                                                                                   "surrogatepass"))


def status_of(result: ToolResult) -> str:
    """The ``tool.finished`` status a result implies (for results recorded without their event).

    Example:
        >>> status_of(ToolResult(call_id="1", tool_name="t", outcome="action_required"))
        'paused'
    """
    if result.outcome == "success":
        return "success"
    if result.outcome == "action_required":
        return "paused"
    if result.error is not None and result.error.category == "cancelled":
        return "cancelled"
    if result.error is not None and result.error.code in ("POLICY_DENIED", "POLICY_ERROR"):
        return "denied"
    return "error"


class _Cell:
    """Live counters of one (tool, tenant); mutated under `Analytics`'s lock only."""

    __slots__ = ("calls", "content_bytes", "cost", "cost_errors", "error_categories", "error_codes", "errors",
                 "latency", "outcomes")

    def __init__(self, relative_accuracy: float) -> None:
        self.calls = self.errors = self.content_bytes = self.cost_errors = 0
        self.cost = 0.0
        self.outcomes: dict[str, int] = {}
        self.error_categories: dict[str, int] = {}
        self.error_codes: dict[str, int] = {}
        self.latency = LatencyRecorder(relative_accuracy)

    def add(self, result: ToolResult, status: str, size: int, cost: float | None) -> None:
        self.calls += 1
        self.outcomes[status] = self.outcomes.get(status, 0) + 1
        error = result.error
        if error is not None:
            self.errors += 1
            self.error_categories[error.category] = self.error_categories.get(error.category, 0) + 1
            self.error_codes[error.code] = self.error_codes.get(error.code, 0) + 1
        self.content_bytes += size
        if cost is None:
            self.cost_errors += 1
        else:
            self.cost += cost
        self.latency.add(result.duration_ms)

    def freeze(self) -> ToolStats:
        return ToolStats(calls=self.calls, outcomes=dict(sorted(self.outcomes.items())), errors=self.errors,
                         error_categories=dict(sorted(self.error_categories.items())),
                         error_codes=dict(sorted(self.error_codes.items())), content_bytes=self.content_bytes,
                         cost=self.cost, cost_errors=self.cost_errors, latency=self.latency.sketch())


class Analytics:
    """Counts, outcomes, error rates, latency percentiles, content bytes and cost per tool and tenant.

    Attach to any number of toolboxes (`attach`), or feed results yourself (`record`), for example the results
    a driver gets back from a `Deployment`. Safe to share between threads and event loops: each call's update
    takes a lock briefly and never awaits.

    Cost of a call: ``cost(call, result)`` when given, else the number in the tool's ``metadata["cost"]`` (per
    call), else 0. A cost function that raises or returns something other than a finite number does not fail
    the call or the recording: the call counts in ``cost_errors`` and a warning is logged.

    Args:
        cost: ``(call, result) -> float``, the cost of one call (tokens, dollars...).
        relative_accuracy: Error bound of the latency percentiles (see `LatencySketch`).
        max_tenants: Distinct tenants tracked; calls of further tenants are pooled under `OTHER_TENANTS`.
        clock: Wall clock in seconds since the epoch, for the snapshot window.

    Raises:
        ConfigError: for a relative accuracy outside ``[0.001, 0.2]`` or a ``max_tenants`` below 1.

    Example:
        >>> from armorer_ray import Toolbox, ToolCall, tool
        >>> search = tool(name="search", description="Search.", metadata={"cost": 0.002})(lambda q: [q])
        >>> box = Toolbox([search])
        >>> analytics = Analytics()
        >>> detach = analytics.attach(box)
        >>> for tenant in ("acme", "acme", "globex"):
        ...     _ = box.execute_sync(ToolCall(name="search", arguments={"q": "x"}, tenant_id=tenant))
        >>> _ = box.execute_sync(ToolCall(name="search", arguments={}))
        >>> detach()
        >>> stats = analytics.snapshot().by_tool()["default:search"]
        >>> stats.calls, stats.outcomes, stats.error_codes, round(stats.cost, 3)
        (4, {'error': 1, 'success': 3}, {'VALIDATION_ERROR': 1}, 0.008)
        >>> analytics.snapshot().by_tenant()["acme"].calls
        2
    """

    def __init__(self, *, cost: ResultCost | None = None, relative_accuracy: float = 0.01,
                 max_tenants: int = 1_000, clock: Callable[[], float] = time.time) -> None:
        if not 0.001 <= relative_accuracy <= 0.2:
            raise ConfigError(f"relative_accuracy must be within [0.001, 0.2], got {relative_accuracy!r}")
        if not isinstance(max_tenants, int) or max_tenants < 1:
            raise ConfigError(f"max_tenants must be a positive integer, got {max_tenants!r}")
        self.cost = cost
        self.relative_accuracy = relative_accuracy
        self.max_tenants = max_tenants
        self.clock = clock
        self._lock = threading.Lock()
        self._cells: dict[tuple[str, str | None], _Cell] = {}
        self._tenants: set[str] = set()
        self._since = clock()

    def attach(self, toolbox: Toolbox) -> Callable[[], None]:
        """Record every call ``toolbox`` finishes from now on.

        Returns:
            A function that stops recording this toolbox's calls (what was recorded stays).
        """

        def on_finished(event: Event) -> None:
            detail = event.detail
            self.record(detail["call"], detail["result"], tool=detail.get("tool"), status=detail.get("status"))

        def on_refused(event: Event) -> None:
            # Budget refusals never reach "call.finished"; other refusals were never counted.
            result = event.detail["result"]
            if result.error is not None and result.error.code == "BUDGET_EXCEEDED":
                self.record(event.detail["call"], result, tool=event.detail.get("tool"), status="error")

        stops = [toolbox.on("call.finished", on_finished), toolbox.on("call.refused", on_refused)]

        def detach() -> None:
            for stop in stops:
                stop()

        return detach

    def record(self, call: ToolCall, result: ToolResult, *, tool: Tool | None = None,
               status: str | None = None) -> None:
        """Count one finished call.

        Args:
            call: The call (its ``tenant_id`` picks the tenant).
            result: Its result (``tool_id``, falling back to ``tool_name``, picks the tool).
            tool: The tool, whose ``metadata["cost"]`` prices the call when no cost function is set.
            status: The ``tool.finished`` status (default: implied by the result, see `status_of`).
        """
        size = content_bytes(result.content)
        cost = self._cost_of(call, result, tool)
        with self._lock:
            key = (result.tool_id or result.tool_name, self._tenant_key_locked(call.tenant_id))
            cell = self._cells.get(key)
            if cell is None:
                cell = self._cells[key] = _Cell(self.relative_accuracy)
            cell.add(result, status or status_of(result), size, cost)

    def snapshot(self) -> AnalyticsSnapshot:
        """The stats recorded since creation or the last `reset`."""
        with self._lock:
            return self._snapshot_locked()

    def reset(self) -> AnalyticsSnapshot:
        """Start a new window; returns the snapshot of the window that ends (no call is lost between the two)."""
        with self._lock:
            ended = self._snapshot_locked()
            self._cells, self._tenants, self._since = {}, set(), ended.until
        return ended

    def _snapshot_locked(self) -> AnalyticsSnapshot:
        cells = [StatsCell(tool=tool, tenant=tenant, stats=cell.freeze())
                 for (tool, tenant), cell in self._cells.items()]
        return AnalyticsSnapshot(since=self._since, until=self.clock(), cells=cells)

    def _tenant_key_locked(self, tenant: str | None) -> str | None:
        if tenant is None or tenant in self._tenants:
            return tenant
        if len(self._tenants) >= self.max_tenants:
            return OTHER_TENANTS
        self._tenants.add(tenant)
        return tenant

    def _cost_of(self, call: ToolCall, result: ToolResult, tool: Tool | None) -> float | None:
        try:
            if self.cost is not None:
                value: Any = self.cost(call, result)
            else:
                metadata: Mapping[str, Any] = tool.metadata if tool is not None else {}
                value = metadata.get("cost", 0.0)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise TypeError(f"cost must be a finite number, got {value!r}")
            return float(value)
        except Exception as exc:  # a user's pricing bug must not lose the call's other stats
            logger.warning("cost of call %s to %s could not be computed: %r", call.id, result.tool_name, exc)
            return None
