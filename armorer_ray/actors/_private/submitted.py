"""Calls handed out as bare ObjectRefs by `Deployment.submit`, remembered until they succeed.

A ref that fails (cancelled, replica died) raises a Ray exception to whoever awaits it; `Deployment.resolve` turns
that back into a `ToolResult`, and needs the call for it. Successful refs are forgotten at once; failed ones are
kept, up to a bound, until resolved.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from armorer_ray.results import ToolCall

__all__ = ["SubmittedCalls"]


class SubmittedCalls:
    """A bounded, thread-safe map from submitted ObjectRef to its call and replica id."""

    def __init__(self, limit: int = 10_000) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self._calls: OrderedDict[Any, tuple[ToolCall, str]] = OrderedDict()

    def remember(self, ref: Any, call: ToolCall, replica_id: str) -> None:
        """Keep ``call`` for ``ref`` (the oldest entry goes when the bound is reached)."""
        with self._lock:
            self._calls[ref] = (call, replica_id)
            if len(self._calls) > self._limit:
                self._calls.popitem(last=False)

    def forget(self, ref: Any) -> None:
        """Drop ``ref`` (it succeeded)."""
        with self._lock:
            self._calls.pop(ref, None)

    def take(self, ref: Any) -> tuple[ToolCall, str] | None:
        """Remove and return the call and replica id of ``ref``, if known."""
        with self._lock:
            return self._calls.pop(ref, None)
