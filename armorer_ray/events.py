"""Events: what happened to each call, delivered to listeners and async streams.

Every toolbox owns one `EventHub`. The pipeline checks `EventHub.wants` before building an event, so an
event nobody listens to costs one dict lookup on the hot path.

Event types emitted per call, in order (see docs/events.md for each outcome's sequence):
``call, tool.started, execute-start, validate-success | validate-error, policy-denied |
policy-action-required, output-validate-success | output-validate-error, execute-success | execute-error,
settled, tool.finished, complete | error``; plus ``not-found``, ``budget-exceeded``, ``progress``,
``log``, ``listener-error`` and any custom type a tool emits through its context. ``timings`` (last, after
``complete`` / ``error``) is made only while someone subscribes to it by name (see `EventHub.subscribed`).
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ALL_EVENTS", "Event", "EventHub", "Listener"]

ALL_EVENTS = "*"

logger = logging.getLogger("armorer_ray.events")


@dataclass(frozen=True, slots=True)
class Event:
    """One event: its type, a detail mapping and when it happened (seconds since the epoch)."""

    type: str
    detail: Mapping[str, Any]
    timestamp: float = field(default_factory=time.time)


Listener = Callable[[Event], "Awaitable[None] | None"]

# Event types that the hub of some Tool listens to (``tool.on(...)``), with the tool hubs that do. With it a toolbox's
# hub knows to build an event that only a tool-level listener wants, then forwards it to the tool's hub. An explicit
# registry: hubs leave it when their listeners are removed or the tool is collected, and while it is empty `wants`
# pays a single truth test.
_tool_interest: dict[str, weakref.WeakSet[EventHub]] = {}


def _forget_collected() -> None:
    for kind in [kind for kind, hubs in _tool_interest.items() if not hubs]:
        del _tool_interest[kind]


class EventHub:
    """Delivers events to listeners (sync or async) and to async-iterator subscribers.

    Sync listeners run at once, in subscription order; async listeners are scheduled on the running loop.
    A listener that raises never fails the call that emitted the event: the error is logged and emitted as
    ``listener-error``.

    Example:
        >>> hub = EventHub()
        >>> seen = []
        >>> stop = hub.on("progress", lambda event: seen.append(event.detail["percent"]))
        >>> hub.emit("progress", {"percent": 50})
        >>> stop(); hub.emit("progress", {"percent": 60}); seen
        [50]
    """

    __slots__ = ("__weakref__", "_listeners", "_owned", "_pending")

    def __init__(self, *, tool_hub: bool = False) -> None:
        self._listeners: dict[str, list[Listener]] = {}
        self._pending: set[asyncio.Future[None]] = set()
        self._owned = tool_hub  # the hub of one Tool: events of its calls in any toolbox are forwarded here

    def wants(self, event_type: str) -> bool:
        """Whether anyone listens to ``event_type`` (directly or via ``*``), here or on the hub of a tool."""
        listeners = self._listeners
        if listeners and (event_type in listeners or ALL_EVENTS in listeners):
            return True
        return bool(_tool_interest) and bool(_tool_interest.get(event_type) or _tool_interest.get(ALL_EVENTS))

    def subscribed(self, event_type: str) -> bool:
        """Whether anyone listens to ``event_type`` by name; ``*`` listeners do not count.

        For events that cost work to prepare, such as the pipeline's ``timings``: they are made only when a
        listener asks for them by name, so a catch-all listener does not slow every call.

        Example:
            >>> hub = EventHub()
            >>> stop = hub.on("*", print)
            >>> hub.wants("timings"), hub.subscribed("timings")
            (True, False)
        """
        return event_type in self._listeners

    def on(self, event_type: str | Iterable[str], listener: Listener, *, once: bool = False) -> Callable[[], None]:
        """Subscribe ``listener`` to one type, several types, or ``"*"`` for all.

        Args:
            event_type: A type, an iterable of types, or ``"*"``.
            listener: ``(event) -> None``, or an async function.
            once: Unsubscribe after the first delivery.

        Returns:
            A function that unsubscribes (safe to call more than once).
        """
        types = [event_type] if isinstance(event_type, str) else list(event_type)
        target = listener
        if once:
            def target(event: Event) -> Awaitable[None] | None:
                unsubscribe()
                return listener(event)

        for kind in types:
            bucket = self._listeners.setdefault(kind, [])
            if target not in bucket:
                bucket.append(target)
                if self._owned:
                    if not any(self in hubs for hubs in _tool_interest.values()):
                        weakref.finalize(self, _forget_collected)
                    _tool_interest.setdefault(kind, weakref.WeakSet()).add(self)

        def unsubscribe() -> None:
            for kind in types:
                bucket = self._listeners.get(kind)
                if bucket and target in bucket:
                    bucket.remove(target)
                    if not bucket:
                        del self._listeners[kind]
                        if self._owned and kind in _tool_interest:
                            _tool_interest[kind].discard(self)
                            _forget_collected()

        return unsubscribe

    def emit(self, event_type: str, detail: Mapping[str, Any]) -> None:
        """Deliver an event to every current listener of its type and of ``*``."""
        if not self.wants(event_type):
            return
        event = Event(event_type, detail)
        self._deliver(event)
        if _tool_interest:
            tool_hub = getattr(detail.get("tool"), "_events", None)
            if tool_hub is not None and tool_hub is not self:
                tool_hub._deliver(event)

    def _deliver(self, event: Event) -> None:
        targets = [*self._listeners.get(event.type, ()), *self._listeners.get(ALL_EVENTS, ())]
        for listener in targets:
            try:
                outcome = listener(event)
                if outcome is not None and asyncio.iscoroutine(outcome):
                    self._schedule(outcome, event)
            except Exception as exc:
                self._report(exc, event)

    def _schedule(self, coroutine: Any, event: Event) -> None:
        try:
            task = asyncio.ensure_future(coroutine)
        except RuntimeError:
            # No running loop (an emit from sync code): run the listener to completion here.
            try:
                asyncio.run(coroutine)
            except Exception as exc:
                self._report(exc, event)
            return
        self._pending.add(task)

        def done(finished: asyncio.Future[None]) -> None:
            self._pending.discard(finished)
            if not finished.cancelled() and finished.exception() is not None:
                self._report(finished.exception(), event)  # type: ignore[arg-type]

        task.add_done_callback(done)

    def _report(self, exc: BaseException, event: Event) -> None:
        logger.warning("event listener for %r raised %r", event.type, exc)
        if event.type != "listener-error":
            self.emit("listener-error", {"event": event.type, "error": exc})

    async def stream(self, *event_types: str, max_queued: int = 0) -> AsyncIterator[Event]:
        """Iterate over events as they happen, until the consumer stops iterating.

        Args:
            event_types: Types to receive; none means all.
            max_queued: Bound on undelivered events (0 = unbounded); past it the oldest is dropped and a
                warning is logged, so a stalled consumer cannot grow memory without limit.

        Example:
            >>> async def first_progress(hub: EventHub) -> Event:
            ...     async for event in hub.stream("progress"):
            ...         return event
        """
        queue: asyncio.Queue[Event] = asyncio.Queue(max_queued)

        def put(event: Event) -> None:
            if queue.full():
                queue.get_nowait()
                logger.warning("event stream is full; dropped the oldest event")
            queue.put_nowait(event)

        unsubscribe = self.on(event_types or ALL_EVENTS, put)
        try:
            while True:
                yield await queue.get()
        finally:
            unsubscribe()

    async def flush(self) -> None:
        """Wait for async listeners scheduled so far to finish."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)
