"""A handle's backlog reports to its controller, for autoscaling: only while it has calls held back, and once more
when the backlog empties, so an idle handle sends nothing.

Driven by a timer thread rather than a task, like the snapshot watcher, so it belongs to no event loop.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["BacklogReporter"]

log = logging.getLogger(__name__)


class BacklogReporter:
    """Reports ``read()`` to ``controller.note_backlog`` every ``period_s`` while it is above zero.

    Args:
        controller: The controller's actor handle.
        handle_id: This handle's id.
        read: The current backlog.
    """

    def __init__(self, controller: Any, handle_id: str, read: Callable[[], int]) -> None:
        self._controller = controller
        self._handle_id = handle_id
        self._read = read
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._period_s: float | None = None  # None: the deployment does not autoscale
        self._last = 0

    def configure(self, period_s: float | None) -> None:
        """Report every ``period_s`` (None: never; the deployment has a fixed size)."""
        self._period_s = period_s

    def poke(self) -> None:
        """Make sure a report is due soon when there is a backlog (cheap: called on every call)."""
        if self._period_s is None or self._timer is not None:
            return
        with self._lock:
            if self._timer is not None or self._period_s is None:
                return
            self._timer = threading.Timer(self._period_s, self._tick)
            self._timer.daemon = True
            self._timer.start()

    def _tick(self) -> None:
        backlog = self._read()
        if backlog or self._last:
            try:
                self._controller.note_backlog.remote(self._handle_id, backlog)
            except Exception as exc:  # Ray is shutting down, or the controller is restarting
                log.debug("could not report the backlog: %r", exc)
        self._last = backlog
        with self._lock:
            self._timer = None
        if backlog:
            self.poke()
