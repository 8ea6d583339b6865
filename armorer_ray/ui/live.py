"""`EventFeed`: one client's bounded, thread-safe view of a workflow's run and node events, as JSON.

Runs may emit from any thread (``run_sync`` in a worker thread, a Ray driver loop) while the web server reads
on its own loop, so events cross loops with ``call_soon_threadsafe``. The queue is bounded: when a client
reads slower than runs report, the oldest events are dropped, and the next read says how many.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

from pydantic import JsonValue
from pydantic_core import to_jsonable_python

from armorer_ray.errors import ConfigError
from armorer_ray.events import Event, EventHub
from armorer_ray.workflow.errors import CheckpointError
from armorer_ray.workflow.results import NodeRun, RunResult

__all__ = ["RUN_EVENTS", "EventFeed", "event_json"]

RUN_EVENTS = ("run.started", "node.queued", "node.started", "node.retrying", "node.succeeded", "node.failed",
              "node.skipped", "node.cancelled", "node.paused", "run.finished")


def event_json(event: Event) -> dict[str, JsonValue]:
    """The JSON a client receives for one run or node event.

    Keys: ``type``, ``run_id``, ``workflow``, ``node`` (None for run events), ``status`` (``queued``,
    ``started``, ``retrying``, a node's final status, or the run's status on ``run.finished``),
    ``timestamp``, and when present ``run`` (the `NodeRun` as JSON; for an output JSON cannot carry, only its
    ``node``, ``status`` and an ``unserialisable`` reason), ``attempt`` and ``error``.

    Example:
        >>> event_json(Event("node.queued", {"run_id": "r1", "workflow": "wf", "node": "a"}, timestamp=1.0))
        {'type': 'node.queued', 'run_id': 'r1', 'workflow': 'wf', 'node': 'a', 'status': 'queued', 'timestamp': 1.0}
    """
    detail: Mapping[str, Any] = event.detail
    result = detail.get("result")
    status = result.status if isinstance(result, RunResult) else event.type.partition(".")[2]
    out: dict[str, JsonValue] = {"type": event.type, "run_id": detail.get("run_id"),
                                 "workflow": detail.get("workflow"), "node": detail.get("node"),
                                 "status": status, "timestamp": event.timestamp}
    run = detail.get("run")
    if isinstance(run, NodeRun):
        try:
            out["run"] = run.to_json()
        except CheckpointError as exc:  # an output JSON cannot carry: still report the status, and why not more
            out["run"] = {"node": run.node, "status": run.status, "unserialisable": str(exc)}
    if "attempt" in detail:
        out["attempt"] = detail["attempt"]
    if detail.get("error") is not None:
        out["error"] = to_jsonable_python(detail["error"], fallback=repr)
    return out


class EventFeed:
    """Subscribes to a hub's run and node events for one reader; use it as a context manager.

    Args:
        hub: The workflow's ``events``.
        max_queued: Events kept for the reader; past it the oldest is dropped (memory stays bounded).

    Raises:
        ConfigError: when ``max_queued`` is below 1.

    Example:
        >>> import asyncio
        >>> async def read_two(hub: EventHub) -> list[str | None]:
        ...     with EventFeed(hub, max_queued=1) as feed:
        ...         hub.emit("node.queued", {"node": "a"}); hub.emit("node.queued", {"node": "b"})
        ...         dropped, first = await feed.get()
        ...         return [str(dropped), first["node"]]
        >>> asyncio.run(read_two(EventHub()))
        ['1', 'b']
    """

    def __init__(self, hub: EventHub, *, max_queued: int = 256) -> None:
        if max_queued < 1:
            raise ConfigError(f"max_queued must be at least 1, got {max_queued}")
        self._hub, self._max_queued = hub, max_queued
        self._queue: deque[dict[str, JsonValue]] = deque()
        self._lock = threading.Lock()
        self._dropped = 0
        self._ready = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._unsubscribe: Callable[[], None] | None = None

    def __enter__(self) -> EventFeed:
        self._loop = asyncio.get_running_loop()
        self._unsubscribe = self._hub.on(RUN_EVENTS, self._put)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _put(self, event: Event) -> None:
        item = event_json(event)  # made on the emitting thread, while the NodeRun is at hand
        with self._lock:
            if len(self._queue) >= self._max_queued:
                self._queue.popleft()
                self._dropped += 1
            self._queue.append(item)
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._ready.set()
        else:
            loop.call_soon_threadsafe(self._ready.set)

    async def get(self) -> tuple[int, dict[str, JsonValue]]:
        """Wait for the next event.

        Returns:
            ``(dropped, event)``: how many events were dropped since the last read, and the oldest kept event
            as `event_json` made it.
        """
        while True:
            with self._lock:
                if self._queue:
                    dropped, self._dropped = self._dropped, 0
                    return dropped, self._queue.popleft()
                self._ready.clear()
            await self._ready.wait()
