"""A handle's long poll on its controller: every new snapshot (replicas replaced, marked unhealthy...) arrives here.

Driven by Ray completion callbacks rather than a task, so it belongs to no event loop and keeps working while the
handle is used from several loops or threads.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from ray.exceptions import ActorDiedError

from armorer_ray.actors._private.snapshot import Snapshot

__all__ = ["SnapshotWatcher"]

log = logging.getLogger(__name__)

POLL_S = 30.0  # how long the controller holds a watch open when nothing changes
RETRY_S = 1.0  # pause before polling again after the controller was briefly unreachable


class SnapshotWatcher:
    """Keeps one ``controller.watch`` call outstanding and hands each newer snapshot to ``on_snapshot``.

    Args:
        controller: The controller's actor handle.
        on_snapshot: Called (on a Ray thread) with each snapshot newer than the last.
        on_gone: Called once when the controller is dead for good.
    """

    def __init__(self, controller: Any, on_snapshot: Callable[[Snapshot], None],
                 on_gone: Callable[[BaseException], None]) -> None:
        self._controller = controller
        self._on_snapshot = on_snapshot
        self._on_gone = on_gone
        self._lock = threading.Lock()
        self._armed = False
        self._closed = False
        self._version = -1

    @property
    def version(self) -> int:
        """The last snapshot version seen (-1 before the first)."""
        return self._version

    def ensure(self) -> None:
        """Start polling unless a poll is outstanding (cheap: called on every call)."""
        if self._armed or self._closed:
            return
        with self._lock:
            if self._armed or self._closed:
                return
            self._armed = True
            version = self._version
        try:
            ref = self._controller.watch.remote(version, POLL_S)
            ref.future().add_done_callback(self._arrived)
        except Exception as exc:  # Ray is shutting down
            with self._lock:
                self._armed = False
            log.debug("could not poll the controller: %r", exc)

    def close(self) -> None:
        """Stop polling."""
        with self._lock:
            self._closed = True

    def _arrived(self, future: Any) -> None:
        with self._lock:
            self._armed = False
        if self._closed:
            return
        try:
            snapshot: Snapshot = future.result()
        except ActorDiedError as exc:
            self.close()
            self._on_gone(exc)
            return
        except Exception as exc:  # restarting, or a blip: poll again shortly
            log.debug("controller poll failed, retrying: %r", exc)
            timer = threading.Timer(RETRY_S, self.ensure)
            timer.daemon = True
            timer.start()
            return
        if snapshot.version > self._version:
            self._version = snapshot.version
            self._on_snapshot(snapshot)
        if snapshot.stopped or snapshot.error:
            self.close()
        else:
            self.ensure()
