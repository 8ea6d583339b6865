"""Calls handed out as bare ObjectRefs by `Deployment.submit`, remembered until they succeed.

A ref that fails (cancelled, replica died) raises a Ray exception to whoever awaits it; `Deployment.resolve` turns
that back into a `ToolResult`, and needs the call for it (and, to fail it over as `execute` would, its options and
the replica life it was lost on). Successful refs are forgotten at once; failed ones are kept, up to a bound, until
resolved.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from armorer_ray.pipeline import CallOptions
from armorer_ray.results import ToolCall

__all__ = ["Submitted", "SubmittedCalls"]


@dataclass(frozen=True, slots=True)
class Submitted:
    """One submitted call: what was sent, with which options, and where (``slot_key`` is the `ReplicaSlot.key` of
    the replica life it went to; empty when the controller forwarded it)."""

    call: ToolCall
    options: CallOptions
    replica_id: str
    slot_key: str = ""


class SubmittedCalls:
    """A bounded, thread-safe map from submitted ObjectRef to its `Submitted` record."""

    def __init__(self, limit: int = 10_000) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self._calls: OrderedDict[Any, Submitted] = OrderedDict()

    def remember(self, ref: Any, submitted: Submitted) -> None:
        """Keep ``submitted`` for ``ref`` (the oldest entry goes when the bound is reached)."""
        with self._lock:
            self._calls[ref] = submitted
            if len(self._calls) > self._limit:
                self._calls.popitem(last=False)

    def forget(self, ref: Any) -> None:
        """Drop ``ref`` (it succeeded)."""
        with self._lock:
            self._calls.pop(ref, None)

    def take(self, ref: Any) -> Submitted | None:
        """Remove and return the record of ``ref``, if known."""
        with self._lock:
            return self._calls.pop(ref, None)
