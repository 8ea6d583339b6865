"""What the controller knows about the handles of its deployment: which snapshot each has seen, and its backlog.

Handles are never registered: each one shows up through its long poll (`watch`), which carries the version it
already has, and through its load reports. A handle that has not been heard from for `STALE_S` is forgotten (its
driver may have exited), so it can neither hold up a drain nor inflate the load for ever.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["STALE_S", "HandleBook"]

STALE_S = 45.0  # longer than a watch is held open (30 s), so a quiet but live handle is never forgotten


@dataclass(slots=True)
class _Handle:
    version: int = -1
    backlog: int = 0
    backlog_at: float = 0.0
    seen_at: float = 0.0


class HandleBook:
    """Per-handle acknowledgements and backlogs, keyed by handle id (plain Python; the controller's loop only).

    Example:
        >>> book = HandleBook()
        >>> book.seen("h1", version=3, now=0.0); book.note_backlog("h1", 7, now=0.0)
        >>> book.backlog(now=1.0), book.lagging(4, now=1.0)
        (7, ['h1'])
    """

    def __init__(self) -> None:
        self._handles: dict[str, _Handle] = {}

    def seen(self, handle_id: str, *, version: int, now: float) -> None:
        """A handle polled, holding snapshot ``version`` of the current epoch (-1: none of this epoch yet)."""
        entry = self._handles.setdefault(handle_id, _Handle())
        entry.version, entry.seen_at = version, now

    def note_backlog(self, handle_id: str, backlog: int, *, now: float) -> None:
        """A handle's calls not yet on a replica (queued, or batch calls not yet sent)."""
        entry = self._handles.setdefault(handle_id, _Handle(seen_at=now))
        entry.backlog, entry.backlog_at, entry.seen_at = backlog, now, now

    def backlog(self, *, now: float) -> int:
        """The backlog of every handle heard from lately."""
        self._forget(now)
        return sum(entry.backlog for entry in self._handles.values() if now - entry.backlog_at <= STALE_S)

    def lagging(self, version: int, *, now: float) -> list[str]:
        """Live handles that have not yet seen snapshot ``version``."""
        self._forget(now)
        return sorted(handle_id for handle_id, entry in self._handles.items() if entry.version < version)

    def _forget(self, now: float) -> None:
        for handle_id in [h for h, entry in self._handles.items() if now - entry.seen_at > STALE_S]:
            del self._handles[handle_id]
