"""`ErrorRateAlert`: an ``alert.error-rate`` event when a tool's error rate over a sliding window passes a threshold.

The window is a ring of ``slots`` counters (calls, errors), each covering ``window_s / slots`` seconds, so memory
is fixed however many calls arrive; the window it judges is therefore the last ``window_s`` seconds to within
one slot. An alert fires once when the rate rises above the threshold and resolves once when it falls back to
or below it (with at least ``min_calls`` calls in the window for either), so a failing tool does not flood the
hub with one event per call.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from armorer_ray.errors import ConfigError
from armorer_ray.events import Event

if TYPE_CHECKING:
    from armorer_ray.toolbox import Toolbox

__all__ = ["ErrorRateAlert"]


class _Window:
    """Calls and errors of one tool in a ring of time slots."""

    __slots__ = ("calls", "errors", "firing", "ids")

    def __init__(self, slots: int) -> None:
        self.ids = [-1] * slots
        self.calls = [0] * slots
        self.errors = [0] * slots
        self.firing = False

    def add(self, slot_id: int, failed: bool) -> tuple[int, int]:
        position = slot_id % len(self.ids)
        if self.ids[position] != slot_id:  # the slot last held an older stretch of time: start it afresh
            self.ids[position], self.calls[position], self.errors[position] = slot_id, 0, 0
        self.calls[position] += 1
        self.errors[position] += failed
        oldest = slot_id - len(self.ids)
        live = [i for i, held in enumerate(self.ids) if held > oldest]
        return sum(self.calls[i] for i in live), sum(self.errors[i] for i in live)


class ErrorRateAlert:
    """Emit ``alert.error-rate`` when a tool's error rate over ``window_s`` rises above ``max_error_rate``.

    The event goes to the toolbox's hub; its detail: ``state`` (``"firing"`` or ``"resolved"``), ``tool`` (tool
    id), ``error_rate``, ``calls`` and ``errors`` in the window, ``threshold`` and ``window_s``.

    Args:
        max_error_rate: Fire when the rate is above this fraction.
        window_s: Length of the sliding window in seconds.
        min_calls: Calls the window must hold before the rate is judged (a single failure is not a trend).
        slots: Counters the window is kept in; more is finer and costs more per call.
        clock: Monotonic clock in seconds, injectable for tests.

    Raises:
        ConfigError: for a rate outside ``[0, 1)``, a non-positive window, ``min_calls`` or ``slots``.

    Example:
        >>> from armorer_ray import Toolbox, ToolCall, tool
        >>> box = Toolbox([tool(name="div", description="Divide.")(lambda a, b: a / b)])
        >>> alerts = []
        >>> _ = box.on("alert.error-rate", lambda event: alerts.append(event.detail["state"]))
        >>> detach = ErrorRateAlert(max_error_rate=0.5, window_s=60, min_calls=4).attach(box)
        >>> for b in (1, 0, 0, 0, 1, 1, 1, 1):
        ...     _ = box.execute_sync(ToolCall(name="div", arguments={"a": 1, "b": b}))
        >>> alerts
        ['firing', 'resolved']
    """

    def __init__(self, max_error_rate: float, *, window_s: float = 60.0, min_calls: int = 10, slots: int = 30,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not 0.0 <= max_error_rate < 1.0:
            raise ConfigError(f"max_error_rate must be within [0, 1), got {max_error_rate!r}")
        if not (window_s > 0 and math.isfinite(window_s)):
            raise ConfigError(f"window_s must be a positive number, got {window_s!r}")
        for name, value in (("min_calls", min_calls), ("slots", slots)):
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        self.max_error_rate = max_error_rate
        self.window_s = window_s
        self.min_calls = min_calls
        self.slots = slots
        self.clock = clock
        self._slot_s = window_s / slots
        self._lock = threading.Lock()
        self._windows: dict[str, _Window] = {}

    def attach(self, toolbox: Toolbox) -> Callable[[], None]:
        """Watch ``toolbox``'s calls and emit its alerts on ``toolbox.events``; returns the function that stops."""

        def on_finished(event: Event) -> None:
            result = event.detail["result"]
            change = self._observe(result.tool_id or result.tool_name, result.error is not None)
            if change is not None:
                toolbox.events.emit("alert.error-rate", change)

        return toolbox.on("call.finished", on_finished)

    def _observe(self, tool: str, failed: bool) -> dict[str, object] | None:
        slot_id = math.floor(self.clock() / self._slot_s)
        with self._lock:
            window = self._windows.get(tool)
            if window is None:
                window = self._windows[tool] = _Window(self.slots)
            calls, errors = window.add(slot_id, failed)
            if calls < self.min_calls:
                return None
            rate = errors / calls
            if (rate > self.max_error_rate) == window.firing:
                return None
            window.firing = firing = not window.firing
        return {"state": "firing" if firing else "resolved", "tool": tool,
                "error_rate": rate, "calls": calls, "errors": errors, "threshold": self.max_error_rate,
                "window_s": self.window_s}
