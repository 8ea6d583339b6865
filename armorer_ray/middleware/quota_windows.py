"""Quota windows: which store counters a `Quota` charges and sums at a given moment, and when usage leaves them.

`CalendarWindow` resets on UTC calendar boundaries (every minute, hour, day, ISO week or month); its count is
exact. `RollingWindow` approximates "the last N seconds" by the sum of ``buckets`` consecutive counters: usage
leaves the window one bucket at a time, so the limit holds over any span of the window's length, rounded out
to whole buckets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Literal, Protocol

from armorer_ray.errors import ConfigError

__all__ = ["CalendarUnit", "CalendarWindow", "RollingWindow", "Window", "WindowSlot"]

CalendarUnit = Literal["minute", "hour", "day", "week", "month"]

_FIXED_S = {"minute": 60, "hour": 3600, "day": 86_400, "week": 604_800}
_MONDAY_S = 4 * 86_400  # the epoch was a Thursday; ISO weeks start on the Monday four days later
_KEEP_S = 60.0  # counters outlive their window by this much, so a clock a little behind still finds them


@dataclass(frozen=True, slots=True)
class WindowSlot:
    """The counters of a window at one moment.

    Attributes:
        counter: Key suffix of the counter this moment's calls are charged to.
        ttl_s: Lifetime to give that counter when the first charge creates it.
        leaves_at: When the usage charged to ``counter`` stops counting (epoch seconds).
        earlier: Older counters still inside the window, oldest first, each with when it stops counting.
    """

    counter: str
    ttl_s: float
    leaves_at: float
    earlier: tuple[tuple[str, float], ...] = ()


class Window(Protocol):
    """Where a quota's usage is counted at a moment: any object with ``slot(now)`` and ``describe()``."""

    def slot(self, now: float) -> WindowSlot:
        """The counters that hold the window's usage at ``now`` (epoch seconds)."""
        ...

    def describe(self) -> str:
        """A short label for messages, such as ``"day"`` or ``"rolling 3600s"``."""
        ...


@dataclass(frozen=True, slots=True)
class CalendarWindow:
    """A window that resets at each UTC minute, hour, day, ISO week (Monday) or month.

    Args:
        unit: The calendar unit.

    Raises:
        ConfigError: for an unknown unit.

    Example:
        >>> from datetime import datetime, timezone
        >>> now = datetime(2025, 3, 14, 15, 9, 26, tzinfo=timezone.utc).timestamp()
        >>> slot = CalendarWindow("month").slot(now)
        >>> slot.counter, datetime.fromtimestamp(slot.leaves_at, timezone.utc).isoformat()
        ('month2025-03', '2025-04-01T00:00:00+00:00')
        >>> CalendarWindow("day").slot(now).leaves_at - now == 8 * 3600 + 50 * 60 + 34
        True
    """

    unit: CalendarUnit

    def __post_init__(self) -> None:
        if self.unit not in ("minute", "hour", "day", "week", "month"):
            raise ConfigError(f"CalendarWindow unit must be minute, hour, day, week or month, got {self.unit!r}")

    def slot(self, now: float) -> WindowSlot:
        """The one counter of the calendar period containing ``now``."""
        if self.unit == "month":
            moment = datetime.fromtimestamp(now, timezone.utc)
            after = datetime(moment.year + moment.month // 12, moment.month % 12 + 1, 1, tzinfo=timezone.utc)
            ends = after.timestamp()
            return WindowSlot(f"month{moment.year:04d}-{moment.month:02d}", ends - now + _KEEP_S, ends)
        period = _FIXED_S[self.unit]
        offset = _MONDAY_S if self.unit == "week" else 0
        start = math.floor((now - offset) / period) * period + offset
        return WindowSlot(f"{self.unit}{start}", start + period - now + _KEEP_S, float(start + period))

    def describe(self) -> str:
        """The unit, such as ``"day"``."""
        return self.unit


@dataclass(frozen=True, slots=True)
class RollingWindow:
    """The last ``seconds`` seconds, counted in ``buckets`` slices (more buckets: smoother, more reads per call).

    Args:
        seconds: The window's length.
        buckets: How many counters divide it (each call reads ``buckets - 1`` of them besides its own).

    Raises:
        ConfigError: for a non-positive length or a bucket count outside 1..1000.

    Example:
        >>> slot = RollingWindow(60, buckets=3).slot(1000.0)
        >>> slot.counter, [name for name, _ in slot.earlier], slot.leaves_at
        ('r50', ['r48', 'r49'], 1060.0)
    """

    seconds: float
    buckets: int = 10

    def __post_init__(self) -> None:
        if not (isinstance(self.seconds, int | float) and math.isfinite(self.seconds) and self.seconds > 0):
            raise ConfigError(f"RollingWindow seconds must be a positive number, got {self.seconds!r}")
        if not isinstance(self.buckets, int) or not 1 <= self.buckets <= 1000:
            raise ConfigError(f"RollingWindow buckets must be an integer from 1 to 1000, got {self.buckets!r}")

    def slot(self, now: float) -> WindowSlot:
        """The current bucket and the ``buckets - 1`` before it."""
        width = self.seconds / self.buckets
        index = math.floor(now / width)
        earlier = tuple((f"r{i}", (i + self.buckets) * width) for i in range(index - self.buckets + 1, index))
        return WindowSlot(f"r{index}", self.seconds + width + _KEEP_S, (index + self.buckets) * width, earlier)

    def describe(self) -> str:
        """``rolling <seconds>s``."""
        return f"rolling {self.seconds:g}s"
