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
DEATHS_TO_GIVE_UP = 3  # consecutive "actor died" answers (RETRY_S apart) before the deployment counts as gone


class SnapshotWatcher:
    """Keeps one ``controller.watch`` call outstanding and hands each newer snapshot to ``on_snapshot``.

    Args:
        controller: The controller's actor handle.
        on_snapshot: Called (on a Ray thread) with each snapshot newer than the last.
        on_gone: Called once when the controller is dead for good.
    """

    def __init__(self, controller: Any, on_snapshot: Callable[[Snapshot], None],
                 on_gone: Callable[[BaseException], None], handle_id: str = "") -> None:
        self._controller = controller
        self._handle_id = handle_id or None
        self._epoch = ""
        self._deaths = 0
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
            epoch, version = self._epoch, self._version
        try:
            ref = self._controller.watch.remote(epoch, version, POLL_S, self._handle_id)
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
        except Exception as exc:  # restarting, or a blip: poll again shortly
            # A poll in flight when the controller's process died fails as "died" even though Ray restarts it;
            # only a controller that keeps answering so is gone for good.
            self._deaths = self._deaths + 1 if isinstance(exc, ActorDiedError) else 0
            if self._deaths >= DEATHS_TO_GIVE_UP:
                self.close()
                self._on_gone(exc)
                return
            log.debug("controller poll failed, retrying: %r", exc)
            timer = threading.Timer(RETRY_S, self.ensure)
            timer.daemon = True
            timer.start()
            return
        # A new epoch is a restarted controller counting from zero again: its snapshot wins whatever its version.
        if snapshot.epoch != self._epoch or snapshot.version > self._version:
            if snapshot.epoch != self._epoch and self._epoch:
                log.info("controller restarted (epoch %s -> %s): following it", self._epoch, snapshot.epoch)
            self._epoch, self._version = snapshot.epoch, snapshot.version
            self._on_snapshot(snapshot)
        self._deaths = 0
        if snapshot.stopped or snapshot.error:
            self.close()
        else:
            self.ensure()
