"""`profile`: where each call's time goes, stage by stage, and which tool and stage is the bottleneck.

While a profiler is attached, the pipeline splits every call's time into its stages (`STAGES`): argument
``validation``, before-``policy`` checks, ``middleware`` (the onion's own time, around the body), the ``body``
(including any wait for the tool's concurrency limit), output validation and ``shaping``, and ``after``
(after-policies and the closing events); it reports them in a ``timings`` event, which is all this module reads.
With no profiler attached the pipeline keeps no clock, so profiling costs nothing until it is used.

``memory=True`` also records each body's peak allocation with `tracemalloc`. That slows every allocation in the
process while it runs, and tracemalloc's peak is process-wide, so peaks are exact only for bodies that do not
overlap: profile memory on calls run one at a time.
"""

from __future__ import annotations

import threading
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field
from rich.table import Table
from rich.text import Text

from armorer_ray.events import Event
from armorer_ray.pipeline import STAGES
from armorer_ray.telemetry.stats import format_ms, render_plain

if TYPE_CHECKING:
    from armorer_ray.toolbox import Toolbox

__all__ = ["STAGES", "Bottleneck", "ProfileReport", "Profiler", "StageProfile", "profile"]


class StageProfile(BaseModel):
    """The profiled calls of one tool.

    Attributes:
        calls: Calls profiled.
        stages_ms: Total time per stage over those calls, in pipeline order (stages never reached are absent).
        peak_memory_bytes: Largest body allocation peak seen (None unless memory was profiled).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    calls: int = Field(default=0, ge=0)
    stages_ms: dict[str, float] = Field(default_factory=dict)
    peak_memory_bytes: int | None = None

    @property
    def total_ms(self) -> float:
        """Time in all stages together."""
        return sum(self.stages_ms.values())

    def mean_ms(self, stage: str) -> float:
        """Mean time per call in ``stage`` (0.0 for a stage never reached)."""
        return self.stages_ms.get(stage, 0.0) / self.calls if self.calls else 0.0


class Bottleneck(BaseModel):
    """The (tool, stage) with the most time, and its share of all profiled time."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tool: str
    stage: str
    total_ms: float
    share: float


class ProfileReport(BaseModel):
    """What a `Profiler` saw: a `StageProfile` per tool id and the bottleneck.

    Example:
        >>> report = ProfileReport(tools={"default:a": StageProfile(calls=2, stages_ms={"body": 9.0, "policy": 1.0})})
        >>> report.bottleneck.tool, report.bottleneck.stage, report.bottleneck.share
        ('default:a', 'body', 0.9)
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    tools: dict[str, StageProfile] = Field(default_factory=dict)

    @property
    def bottleneck(self) -> Bottleneck | None:
        """The (tool, stage) pair with the largest total time, or None before any call."""
        total = sum(profile.total_ms for profile in self.tools.values())
        pairs = [(ms, tool, stage) for tool, profile in self.tools.items() for stage, ms in profile.stages_ms.items()]
        if not pairs:
            return None
        ms, tool, stage = max(pairs)
        return Bottleneck(tool=tool, stage=stage, total_ms=ms, share=ms / total if total else 0.0)

    def table(self) -> Table:
        """A `rich` table: per tool, its calls, mean ms per call in each stage, and peak body memory."""
        table = Table(title="time per call by stage (mean ms)")
        for column in ("tool", "calls", *STAGES, "total", "peak memory"):
            table.add_column(column, justify="left" if column == "tool" else "right")
        for tool, profile in sorted(self.tools.items()):
            memory = "-" if profile.peak_memory_bytes is None else f"{profile.peak_memory_bytes:,} B"
            table.add_row(Text(tool), str(profile.calls), *(format_ms(profile.mean_ms(stage)) for stage in STAGES),
                          format_ms(profile.total_ms / max(profile.calls, 1)), memory)
        return table

    def text(self, width: int = 120) -> str:
        """The `table` as plain text, ending with a line naming the bottleneck."""
        text, found = render_plain(self.table(), width), self.bottleneck
        if found is None:
            return text + "no calls profiled\n"
        return text + (f"bottleneck: {found.stage} of {found.tool}, {found.share:.1%} of profiled time "
                       f"({format_ms(found.total_ms)} ms)\n")


class _Totals:
    __slots__ = ("calls", "peak_memory_bytes", "stages_ms")

    def __init__(self) -> None:
        self.calls = 0
        self.stages_ms: dict[str, float] = {}
        self.peak_memory_bytes: int | None = None


class Profiler:
    """Collects per-stage times of the calls of the toolboxes it is attached to.

    Args:
        memory: Also record each body's peak allocation (starts `tracemalloc` while attached, unless it already
            runs; slow, and exact only for calls that do not overlap).

    Example:
        >>> from armorer_ray import Toolbox, tool
        >>> box = Toolbox([tool(name="square", description="Square.")(lambda n: n * n)])
        >>> profiler = Profiler()
        >>> detach = profiler.attach(box)
        >>> box.execute_sync({"name": "square", "arguments": {"n": 3}}).result
        9
        >>> detach()
        >>> report = profiler.report()
        >>> report.tools["default:square"].calls, list(report.tools["default:square"].stages_ms)
        (1, ['validation', 'policy', 'middleware', 'body', 'shaping', 'after'])
    """

    def __init__(self, *, memory: bool = False) -> None:
        self.memory = memory
        self._lock = threading.Lock()
        self._tools: dict[str, _Totals] = {}
        self._attached = 0
        self._started_tracing = False

    def attach(self, toolbox: Toolbox) -> Callable[[], None]:
        """Profile ``toolbox``'s calls from now on.

        Returns:
            A function that stops profiling this toolbox (what was collected stays; safe to call twice).
        """
        stop = toolbox.on("call.timings", self._record)
        with self._lock:
            self._attached += 1
            if self.memory and self._attached == 1 and not tracemalloc.is_tracing():
                tracemalloc.start()
                self._started_tracing = True
        detached = False

        def detach() -> None:
            nonlocal detached
            stop()
            with self._lock:
                if detached:
                    return
                detached = True
                self._attached -= 1
                if self._attached == 0 and self._started_tracing:
                    tracemalloc.stop()
                    self._started_tracing = False

        return detach

    def report(self) -> ProfileReport:
        """What was collected so far."""
        with self._lock:
            return ProfileReport(tools={
                tool: StageProfile(calls=totals.calls, stages_ms=dict(totals.stages_ms),
                                   peak_memory_bytes=totals.peak_memory_bytes)
                for tool, totals in sorted(self._tools.items())
            })

    def reset(self) -> None:
        """Forget what was collected."""
        with self._lock:
            self._tools = {}

    def _record(self, event: Event) -> None:
        result, stages, memory = event.detail["result"], event.detail["stages_ms"], event.detail["memory_bytes"]
        key = result.tool_id or result.tool_name
        with self._lock:
            totals = self._tools.get(key)
            if totals is None:
                totals = self._tools[key] = _Totals()
            totals.calls += 1
            for stage, ms in stages.items():
                totals.stages_ms[stage] = totals.stages_ms.get(stage, 0.0) + ms
            if memory is not None:
                totals.peak_memory_bytes = max(memory, totals.peak_memory_bytes or 0)


@contextmanager
def profile(toolbox: Toolbox, *, memory: bool = False) -> Iterator[Profiler]:
    """Profile ``toolbox``'s calls inside a ``with`` block.

    Args:
        toolbox: The toolbox to profile.
        memory: Also record body peak memory (see `Profiler`).

    Yields:
        The `Profiler`; call ``report()`` on it inside or after the block.

    Example:
        >>> from armorer_ray import Toolbox, tool
        >>> box = Toolbox([tool(name="square", description="Square.")(lambda n: n * n)])
        >>> with profile(box) as profiler:
        ...     _ = box.execute_sync({"name": "square", "arguments": {"n": 3}})
        >>> profiler.report().bottleneck.tool
        'default:square'
    """
    profiler = Profiler(memory=memory)
    detach = profiler.attach(toolbox)
    try:
        yield profiler
    finally:
        detach()
