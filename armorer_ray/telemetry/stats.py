"""Analytics snapshots: `ToolStats` per tool and tenant, `AnalyticsSnapshot`, merging and a text report.

Everything here is a frozen pydantic model that round-trips through JSON and pickle, so snapshots taken in
several processes (Ray replicas, workers) can be shipped to one place and summed with `AnalyticsSnapshot.merge`.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from rich.console import Console
from rich.table import Table
from rich.text import Text

from armorer_ray.telemetry.sketch import LatencySketch, merge_counts

__all__ = ["AnalyticsSnapshot", "Grouping", "StatsCell", "ToolStats", "format_ms", "render_plain"]

Grouping = Literal["tool", "tenant", "cell"]


class ToolStats(BaseModel):
    """What the calls of one group (a tool, a tenant, or both) came to.

    Attributes:
        calls: Calls that finished (every outcome counts, pauses for approval included).
        outcomes: Calls by status: ``success``, ``error``, ``denied``, ``cancelled``, ``paused``.
        errors: Calls whose result carries an error (``error``, ``denied`` and ``cancelled`` statuses).
        error_categories: Errors by `ToolError` category.
        error_codes: Errors by `ToolError` code.
        content_bytes: Size of the results' ``content`` (UTF-8 bytes of the text the model sees).
        cost: Sum of the calls' costs (see `Analytics`).
        cost_errors: Calls whose cost could not be computed (the cost function raised or returned no number).
        latency: Durations (``ToolResult.duration_ms``) in a mergeable sketch.

    Example:
        >>> stats = ToolStats(calls=4, errors=1, latency=LatencySketch.of([1.0, 2.0, 3.0, 40.0]))
        >>> stats.error_rate, round(stats.p50_ms, 1)
        (0.25, 2.0)
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    calls: int = Field(default=0, ge=0)
    outcomes: dict[str, int] = Field(default_factory=dict)
    errors: int = Field(default=0, ge=0)
    error_categories: dict[str, int] = Field(default_factory=dict)
    error_codes: dict[str, int] = Field(default_factory=dict)
    content_bytes: int = Field(default=0, ge=0)
    cost: float = 0.0
    cost_errors: int = Field(default=0, ge=0)
    latency: LatencySketch = Field(default_factory=LatencySketch)

    @property
    def error_rate(self) -> float:
        """Errors per call (0.0 when there were no calls)."""
        return self.errors / self.calls if self.calls else 0.0

    @property
    def p50_ms(self) -> float | None:
        """Median duration (estimate within ``latency.relative_accuracy``)."""
        return self.latency.quantile(0.5)

    @property
    def p95_ms(self) -> float | None:
        """95th-percentile duration (estimate)."""
        return self.latency.quantile(0.95)

    @property
    def p99_ms(self) -> float | None:
        """99th-percentile duration (estimate)."""
        return self.latency.quantile(0.99)

    def merge(self, other: ToolStats) -> ToolStats:
        """The stats of both groups' calls together: counts, bytes and costs add, latency sketches merge.

        Raises:
            ConfigError: when the latency sketches have different relative accuracies.
        """
        return ToolStats(
            calls=self.calls + other.calls, outcomes=merge_counts(self.outcomes, other.outcomes),
            errors=self.errors + other.errors,
            error_categories=merge_counts(self.error_categories, other.error_categories),
            error_codes=merge_counts(self.error_codes, other.error_codes),
            content_bytes=self.content_bytes + other.content_bytes, cost=self.cost + other.cost,
            cost_errors=self.cost_errors + other.cost_errors, latency=self.latency.merge(other.latency),
        )


class StatsCell(BaseModel):
    """The stats of one tool's calls for one tenant (``tenant`` None: calls that carried no ``tenant_id``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tool: str
    tenant: str | None = None
    stats: ToolStats


class AnalyticsSnapshot(BaseModel):
    """The analytics of a window of calls, one `StatsCell` per (tool, tenant) seen.

    Attributes:
        since: Start of the window (seconds since the epoch): when recording started or was last reset.
        until: When the snapshot was taken.
        cells: Stats per (tool id, tenant), kept sorted by tool then tenant (no tenant first).

    Example:
        >>> one = StatsCell(tool="default:search", tenant="acme", stats=ToolStats(calls=2))
        >>> two = StatsCell(tool="default:search", tenant="globex", stats=ToolStats(calls=3, errors=3))
        >>> snapshot = AnalyticsSnapshot(since=0.0, until=60.0, cells=[one, two])
        >>> snapshot.by_tool()["default:search"].calls, snapshot.by_tenant()["globex"].error_rate
        (5, 1.0)
        >>> snapshot.merge(snapshot).total().calls
        10
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    since: float
    until: float
    cells: list[StatsCell] = Field(default_factory=list)

    @field_validator("cells")
    @classmethod
    def _sorted(cls, cells: list[StatsCell]) -> list[StatsCell]:
        return sorted(cells, key=lambda cell: (cell.tool, cell.tenant is not None, cell.tenant or ""))

    def by_tool(self) -> dict[str, ToolStats]:
        """Stats per tool id, over all tenants."""
        return _group((cell.tool, cell.stats) for cell in self.cells)

    def by_tenant(self) -> dict[str, ToolStats]:
        """Stats per tenant, over all tools (calls without a tenant are left out)."""
        return _group((cell.tenant, cell.stats) for cell in self.cells if cell.tenant is not None)

    def total(self) -> ToolStats:
        """Stats of every call in the snapshot."""
        return _group(("", cell.stats) for cell in self.cells).get("", ToolStats())

    def merge(self, other: AnalyticsSnapshot) -> AnalyticsSnapshot:
        """Both snapshots' calls together (from several replicas, say): cells of the same (tool, tenant) merge.

        The window is the union (earliest ``since``, latest ``until``). Counts merge exactly, so merging is
        associative and commutative in every count; float sums (cost, total time) up to rounding.

        Raises:
            ConfigError: when the snapshots' latency sketches have different relative accuracies.
        """
        merged: dict[tuple[str, str | None], ToolStats] = {}
        for cell in (*self.cells, *other.cells):
            key = (cell.tool, cell.tenant)
            merged[key] = merged[key].merge(cell.stats) if key in merged else cell.stats
        cells = [StatsCell(tool=tool, tenant=tenant, stats=stats) for (tool, tenant), stats in merged.items()]
        return AnalyticsSnapshot(since=min(self.since, other.since), until=max(self.until, other.until), cells=cells)

    def table(self, group: Grouping = "tool") -> Table:
        """A `rich` table of the stats per tool, per tenant, or per (tool, tenant) ``cell``."""
        table = Table(title=f"tool calls over {self.until - self.since:.1f}s")
        rows: dict[str, ToolStats]
        if group == "cell":
            rows = {f"{cell.tool} [{cell.tenant or '-'}]": cell.stats for cell in self.cells}
        else:
            rows = self.by_tool() if group == "tool" else self.by_tenant()
        for column in (group, "calls", "errors", "p50 ms", "p95 ms", "p99 ms", "bytes", "cost", "top error"):
            table.add_column(column, justify="left" if column in (group, "top error") else "right")
        for name, stats in sorted(rows.items()):
            top = max(stats.error_codes.items(), key=lambda item: item[1], default=None)
            # Text, not str: rich would read a name such as "search [acme]" as markup and drop the brackets.
            table.add_row(Text(name), str(stats.calls), f"{stats.error_rate:.1%}", format_ms(stats.p50_ms),
                          format_ms(stats.p95_ms), format_ms(stats.p99_ms), f"{stats.content_bytes:,}",
                          f"{stats.cost:.4g}",
                          Text(f"{top[0]} x{top[1]}" if top else ""))
        return table

    def report(self, group: Grouping = "tool", width: int = 120) -> str:
        """The `table` as plain text (no colour), for logs and terminals."""
        return render_plain(self.table(group), width)


def _group(pairs: Iterable[tuple[str | None, ToolStats]]) -> dict[str, ToolStats]:
    grouped: dict[str, ToolStats] = {}
    for key, stats in pairs:
        if key is not None:
            grouped[key] = grouped[key].merge(stats) if key in grouped else stats
    return grouped


def format_ms(value: float | None) -> str:
    """A duration for a table cell: three significant digits below 100 ms, whole ms above.

    Example:
        >>> format_ms(0.01234), format_ms(12.345), format_ms(3017.6), format_ms(None)
        ('0.0123', '12.3', '3,018', '-')
    """
    if value is None:
        return "-"
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def render_plain(table: Table, width: int) -> str:
    """A rich table as plain text (no colour codes), for logs, files and doctests."""
    buffer = io.StringIO()
    Console(file=buffer, width=width, color_system=None, force_terminal=False).print(table)
    return buffer.getvalue()
