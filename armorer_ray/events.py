"""Events: what happened to each call, delivered to listeners and async streams.

Every toolbox owns one `EventHub`. Each moment of a call's life has one event name, in one style
(``subject.moment``), and one payload class with typed fields (`CallStarted`, `CallFinished`...; the whole
catalogue is `CATALOGUE`, and docs/events.md describes it). Payloads are frozen dataclasses that also read as
mappings (``event.detail["status"]`` is ``event.detail.status``), so listeners written against the older detail
dictionaries keep working.

The pipeline checks `EventHub.wants` before it builds an event, so an event nobody listens to costs one dict
lookup and allocates nothing.

Older names are aliases, resolved when a listener subscribes (`ALIASES`): Armorer's names (``tool.started``,
``execute-start``, ``settled``, ``tool.finished``...; reference §5.2) stay for good, each delivering the canonical
event it corresponds to, under its own name and with Armorer's detail; the names armorer-ray used before the
catalogue (``call``, ``complete``, ``error``, ``not-found``...) are deprecated: subscribing to one warns
(`DeprecationWarning`, once per name) and they go in the next release.
"""

from __future__ import annotations

import asyncio
import logging
import time
import warnings
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, overload

from typing_extensions import TypeVar

if TYPE_CHECKING:
    from armorer_ray.errors import ToolError
    from armorer_ray.results import ToolCall, ToolResult
    from armorer_ray.tools import Tool

__all__ = [
    "ALIASES",
    "ALL_EVENTS",
    "CATALOGUE",
    "Alias",
    "ArgumentsInvalid",
    "ArgumentsValidated",
    "CallAdmitted",
    "CallChunk",
    "CallDeprecated",
    "CallFinished",
    "CallLog",
    "CallMigrated",
    "CallPaused",
    "CallProgress",
    "CallRefused",
    "CallStarted",
    "CallTimings",
    "Event",
    "EventHub",
    "FinishStatus",
    "Listener",
    "ListenerFailed",
    "OutputInvalid",
    "OutputValidated",
    "Payload",
    "PolicyDenied",
    "ToolsChanged",
    "ToolsQueried",
    "canonical_name",
]

ALL_EVENTS = "*"

logger = logging.getLogger("armorer_ray.events")

CATALOGUE: dict[str, type[Payload]] = {}
"""Every event armorer-ray emits, by canonical name, with its payload class (filled as the classes are defined)."""


class Payload(Mapping[str, Any]):
    """Base of the typed event payloads: fields read as attributes, and as keys for mapping-style listeners.

    Example:
        >>> from armorer_ray.events import ToolsChanged
        >>> changed = ToolsChanged(version=3)
        >>> changed.version, changed["version"], dict(changed), ToolsChanged.name
        (3, 3, {'version': 3}, 'tools.changed')
    """

    __slots__ = ()
    name: ClassVar[str] = ""
    _keys: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        keys: list[str] = []
        for klass in reversed(cls.__mro__):
            for key, annotation in vars(klass).get("__annotations__", {}).items():
                if not str(annotation).startswith("ClassVar") and key not in keys:
                    keys.append(key)
        cls._keys = tuple(keys)
        if cls.name:
            CATALOGUE[cls.name] = cls  # the slotted class @dataclass makes comes second and replaces the first

    def __getitem__(self, key: str) -> Any:
        if key in self._keys:
            return getattr(self, key)
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


FinishStatus = Literal["success", "error", "denied", "cancelled", "paused"]


@dataclass(frozen=True, slots=True)
class CallAdmitted(Payload):
    """``call.admitted``: a call resolved to a tool and was let in (before the budget is charged)."""

    name: ClassVar[str] = "call.admitted"
    tool: Tool
    call: ToolCall


@dataclass(frozen=True, slots=True)
class CallRefused(Payload):
    """``call.refused``: a call ended before the pipeline ran it (unknown tool, over budget, arguments too large,
    approval rejected); ``result`` is its error result. ``tool`` is None when no tool was resolved."""

    name: ClassVar[str] = "call.refused"
    call: ToolCall
    result: ToolResult
    reason: str
    tool: Tool | None = None


@dataclass(frozen=True, slots=True)
class CallStarted(Payload):
    """``call.started``: the pipeline took the call; first event of every call it runs.

    ``params`` are the raw arguments; ``aborted`` says the caller's signal was already aborted (the call ends
    ``cancelled`` at once).
    """

    name: ClassVar[str] = "call.started"
    tool: Tool
    call: ToolCall
    params: Any
    started_at: float
    input_digest: str | None
    dry_run: bool
    aborted: bool = False


@dataclass(frozen=True, slots=True)
class ArgumentsValidated(Payload):
    """``arguments.validated``: the arguments matched the tool's parameter model (``parsed`` is the instance)."""

    name: ClassVar[str] = "arguments.validated"
    tool: Tool
    call: ToolCall
    params: Any
    parsed: Any


@dataclass(frozen=True, slots=True)
class ArgumentsInvalid(Payload):
    """``arguments.invalid``: the arguments did not validate; ``error`` is the ``validation`` error."""

    name: ClassVar[str] = "arguments.invalid"
    tool: Tool
    call: ToolCall
    params: Any
    error: ToolError


@dataclass(frozen=True, slots=True)
class PolicyDenied(Payload):
    """``policy.denied``: a policy refused the call (``params`` validated, as a dict)."""

    name: ClassVar[str] = "policy.denied"
    tool: Tool
    call: ToolCall
    params: Any
    reason: str


@dataclass(frozen=True, slots=True)
class CallPaused(Payload):
    """``call.paused``: a policy or the body asked for a person's approval or input; resume with the token."""

    name: ClassVar[str] = "call.paused"
    tool: Tool
    call: ToolCall
    params: Any
    reason: str
    resume_token: str
    kind: Literal["approval", "input"] = "approval"


@dataclass(frozen=True, slots=True)
class OutputValidated(Payload):
    """``output.validated``: the body's return value matched the tool's output model (``result`` is the value)."""

    name: ClassVar[str] = "output.validated"
    tool: Tool
    call: ToolCall
    result: Any


@dataclass(frozen=True, slots=True)
class OutputInvalid(Payload):
    """``output.invalid``: the return value did not match the output model."""

    name: ClassVar[str] = "output.invalid"
    tool: Tool
    call: ToolCall
    result: Any
    error: ToolError


@dataclass(frozen=True, slots=True)
class CallChunk(Payload):
    """``call.chunk``: a streaming body produced a chunk (``index`` counts from 0)."""

    name: ClassVar[str] = "call.chunk"
    tool: Tool
    call: ToolCall
    chunk: Any
    index: int


@dataclass(frozen=True, slots=True)
class CallProgress(Payload):
    """``call.progress``: a body reported progress (`CallContext.progress`)."""

    name: ClassVar[str] = "call.progress"
    tool: Tool
    call: ToolCall
    percent: float | None
    message: str | None


@dataclass(frozen=True, slots=True)
class CallLog(Payload):
    """``call.log``: a warning about a call (a deprecated tool, an after-policy that failed)."""

    name: ClassVar[str] = "call.log"
    level: str
    message: str
    data: Any = None
    tool: Tool | None = None
    call: ToolCall | None = None


@dataclass(frozen=True, slots=True)
class CallFinished(Payload):
    """``call.finished``: the one "finished" event, last of every call the pipeline ran, with its result.

    Attributes:
        result: The call's `ToolResult`.
        status: ``success``, ``error``, ``denied``, ``cancelled`` or ``paused``.
        stage: Where the call ended: ``admission`` (aborted before it started), ``validation``, ``policy`` or
            ``body`` (the body, its middleware and output checks).
        value: The raw output (``result.result``); error: the `ToolError`, if any.
    """

    name: ClassVar[str] = "call.finished"
    tool: Tool
    call: ToolCall
    result: ToolResult
    status: FinishStatus
    stage: Literal["admission", "validation", "policy", "body"]
    dry_run: bool
    duration_ms: float
    value: Any = None
    error: ToolError | None = None


@dataclass(frozen=True, slots=True)
class CallTimings(Payload):
    """``call.timings``: milliseconds per pipeline stage, after ``call.finished``; made only for listeners that
    subscribe to it by name (see `EventHub.subscribed`)."""

    name: ClassVar[str] = "call.timings"
    tool: Tool
    call: ToolCall
    result: ToolResult
    stages_ms: dict[str, float]
    memory_bytes: int | None


@dataclass(frozen=True, slots=True)
class CallDeprecated(Payload):
    """``call.deprecated``: a call named a deprecated tool version (a `Registry` toolbox)."""

    name: ClassVar[str] = "call.deprecated"
    tool: Tool
    call: ToolCall
    message: str
    replaced_by: str | None = None


@dataclass(frozen=True, slots=True)
class CallMigrated(Payload):
    """``call.migrated``: a call's arguments were upgraded from the version it named to the one that runs."""

    name: ClassVar[str] = "call.migrated"
    tool: Tool
    call: ToolCall
    from_version: str | None
    to_version: str | None
    arguments: Any
    notes: list[str]


@dataclass(frozen=True, slots=True)
class ListenerFailed(Payload):
    """``listener.failed``: a listener of ``event`` raised ``error`` (the call it observed is unaffected)."""

    name: ClassVar[str] = "listener.failed"
    event: str
    error: BaseException


@dataclass(frozen=True, slots=True)
class ToolsChanged(Payload):
    """``tools.changed``: a tool was registered or removed; ``version`` is the toolbox's new version."""

    name: ClassVar[str] = "tools.changed"
    version: int


@dataclass(frozen=True, slots=True)
class ToolsQueried(Payload):
    """``tools.queried``: `Toolbox.query` ran; ``results`` is what it returned."""

    name: ClassVar[str] = "tools.queried"
    query: Any
    results: Sequence[Any]


D = TypeVar("D", bound=Mapping[str, Any], default=Mapping[str, Any])
P = TypeVar("P", bound=Payload)


@dataclass(frozen=True, slots=True)
class Event(Generic[D]):
    """One event: its name, its detail (a typed `Payload`, or a mapping for custom events) and when it happened.

    ``type`` is the name the listener subscribed to: the canonical name, or the alias it used.
    """

    type: str
    detail: D
    timestamp: float = field(default_factory=time.time)


Listener = Callable[[Event], "Awaitable[None] | None"]


# -- aliases -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Alias:
    """An older name for (part of) a canonical event.

    Attributes:
        canonical: The canonical event it delivers.
        when: Which of those events it delivers (None: all).
        detail: The detail the alias's listeners get, made from the payload (None: the payload itself).
        deprecated: Subscribing warns (`DeprecationWarning`, once per name); False for Armorer's names.
    """

    canonical: str
    when: Callable[[Mapping[str, Any]], bool] | None = None
    detail: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None
    deprecated: bool = True


def _finished(detail: Mapping[str, Any]) -> CallFinished:
    assert isinstance(detail, CallFinished)
    return detail


def _raw_result(detail: Mapping[str, Any]) -> Mapping[str, Any]:
    return {**detail, "result": detail["value"]}  # Armorer's execute-success carries the raw value as "result"


def _budget(detail: Mapping[str, Any]) -> bool:
    error = detail["result"].error
    return error is not None and error.code == "BUDGET_EXCEEDED"


ALIASES: dict[str, tuple[Alias, ...]] = {
    # Armorer's names (reference §5.2): kept for good, no warning.
    "tool.started": (Alias("call.started", deprecated=False),),
    "execute-start": (Alias("call.started", lambda d: not d["aborted"], deprecated=False),),
    "validate-success": (Alias("arguments.validated", deprecated=False),),
    "validate-error": (Alias("arguments.invalid", deprecated=False),),
    "policy-denied": (Alias("policy.denied", deprecated=False),),
    "policy-action-required": (Alias("call.paused", deprecated=False),),
    "output-validate-success": (Alias("output.validated", deprecated=False),),
    "output-validate-error": (Alias("output.invalid", deprecated=False),),
    "execute-success": (Alias("call.finished", lambda d: _finished(d).status == "success", _raw_result,
                              deprecated=False),),
    "execute-error": (Alias("call.finished", lambda d: _finished(d).result.outcome == "error"
                            and _finished(d).stage != "validation", deprecated=False),),
    "settled": (Alias("call.finished", lambda d: _finished(d).status != "paused", deprecated=False),),
    "tool.finished": (Alias("call.finished", deprecated=False),),
    "output-chunk": (Alias("call.chunk", deprecated=False),),
    "progress": (Alias("call.progress", deprecated=False),),
    "log": (Alias("call.log", deprecated=False),),
    "step-start": (Alias("step.started", deprecated=False),),
    "step-complete": (Alias("step.succeeded", deprecated=False),),
    "step-error": (Alias("step.failed", deprecated=False),),
    # armorer-ray's names before the catalogue: deprecated, removed in the next release.
    "call": (Alias("call.admitted"),),
    "complete": (Alias("call.finished", lambda d: _finished(d).result.outcome != "error"),),
    "error": (Alias("call.finished", lambda d: _finished(d).result.outcome == "error"),
              Alias("call.refused", _budget)),
    "not-found": (Alias("call.refused", lambda d: d["result"].error is not None
                        and d["result"].error.category == "not_found"),),
    "budget-exceeded": (Alias("call.refused", _budget),),
    "timings": (Alias("call.timings"),),
    "listener-error": (Alias("listener.failed"),),
    "query": (Alias("tools.queried"),),
    "deprecated": (Alias("call.deprecated"),),
    "migrated": (Alias("call.migrated"),),
    **{old: (Alias(new),) for old, new in {
        "retry": "call.retrying", "cache-hit": "cache.hit", "cache-miss": "cache.missed", "cache-error": "cache.failed",
        "rate-limited": "rate-limit.exceeded", "backpressure": "admission.shed", "dedupe-joined": "dedupe.joined",
        "quota-threshold": "quota.threshold", "quota-exceeded": "quota.exceeded", "fallback": "fallback.used",
        "fallback-failed": "fallback.failed", "circuit-opened": "circuit.opened",
        "circuit-half-open": "circuit.half-open", "circuit-closed": "circuit.closed", "audit-error": "audit.failed",
        "error-rate-alert": "alert.error-rate"}.items()},
}
"""Older event names, each with the canonical event(s) it delivers (see `Alias`)."""

# Names that stand for a whole canonical event: an emit under one of them is an emit of the canonical event
# (a tool written for Armorer that dispatches "progress" reaches "call.progress" listeners).
_SAME_AS = {name: aliases[0].canonical for name, aliases in ALIASES.items()
            if len(aliases) == 1 and aliases[0].when is None and aliases[0].detail is None}
_warned: set[str] = set()


def canonical_name(name: str) -> str:
    """The canonical name an emit under ``name`` goes out as (itself unless it is a plain alias).

    Example:
        >>> canonical_name("progress"), canonical_name("call.finished"), canonical_name("my-event")
        ('call.progress', 'call.finished', 'my-event')
    """
    return _SAME_AS.get(name, name)


class _AliasListener:
    """A listener subscribed under an alias: filters and reshapes the canonical event, renamed to the alias."""

    __slots__ = ("alias", "listener", "name")

    def __init__(self, name: str, alias: Alias, listener: Listener) -> None:
        self.name, self.alias, self.listener = name, alias, listener

    def __call__(self, event: Event) -> Awaitable[None] | None:
        alias = self.alias
        if alias.when is not None and not alias.when(event.detail):
            return None
        detail = alias.detail(event.detail) if alias.detail is not None else event.detail
        return self.listener(Event(self.name, detail, event.timestamp))

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, _AliasListener) and other.name == self.name and other.alias is self.alias
                and other.listener == self.listener)

    def __hash__(self) -> int:
        return hash((self.name, id(self.alias)))


def _targets(name: str) -> list[tuple[str, Listener | None, Alias | None]]:
    aliases = ALIASES.get(name)
    if aliases is None:
        return [(name, None, None)]
    if aliases[0].deprecated and name not in _warned:
        _warned.add(name)
        warnings.warn(f"event name {name!r} is deprecated; subscribe to {aliases[0].canonical!r} "
                      "(see docs/events.md)", DeprecationWarning, stacklevel=4)
    return [(alias.canonical, None, alias) for alias in aliases]


# Event names that the hub of some Tool listens to (``tool.on(...)``), with the tool hubs that do. With it a toolbox's
# hub knows to build an event that only a tool-level listener wants, then forwards it to the tool's hub. An explicit
# registry: hubs leave it when their listeners are removed or the tool is collected, and while it is empty `wants`
# pays a single truth test.
_tool_interest: dict[str, weakref.WeakSet[EventHub]] = {}


def _forget_collected() -> None:
    for kind in [kind for kind, hubs in _tool_interest.items() if not hubs]:
        del _tool_interest[kind]


def _heard(name: str, listeners: dict[str, list[Listener]]) -> bool:
    if listeners and (name in listeners or ALL_EVENTS in listeners):
        return True
    return bool(_tool_interest) and bool(_tool_interest.get(name) or _tool_interest.get(ALL_EVENTS))


class EventHub:
    """Delivers events to listeners (sync or async) and to async-iterator subscribers.

    Sync listeners run at once, in subscription order; async listeners are scheduled on the running loop.
    A listener that raises never fails the call that emitted the event: the error is logged and emitted as
    ``listener.failed``.

    Example:
        >>> hub = EventHub()
        >>> seen = []
        >>> stop = hub.on("job.progress", lambda event: seen.append(event.detail["percent"]))
        >>> hub.emit("job.progress", {"percent": 50})
        >>> stop(); hub.emit("job.progress", {"percent": 60}); seen
        [50]
    """

    __slots__ = ("__weakref__", "_listeners", "_owned", "_pending")

    def __init__(self, *, tool_hub: bool = False) -> None:
        self._listeners: dict[str, list[Listener]] = {}  # by canonical name; alias listeners are wrapped
        self._pending: set[asyncio.Future[None]] = set()
        self._owned = tool_hub  # the hub of one Tool: events of its calls in any toolbox are forwarded here

    @property
    def quiet(self) -> bool:
        """True while nobody listens to anything here or on the hub of any tool (the pipeline's fast path)."""
        return not self._listeners and not _tool_interest

    def wants(self, event_type: str | type[Payload]) -> bool:
        """Whether anyone listens to an event (directly, by an alias or via ``*``), here or on the hub of a tool.

        Takes a payload class or a name; an alias stands for the canonical event(s) it delivers.
        """
        listeners = self._listeners
        if not listeners and not _tool_interest:
            return False
        name = event_type if isinstance(event_type, str) else event_type.name
        if _heard(name, listeners):
            return True
        aliases = ALIASES.get(name)
        return aliases is not None and any(_heard(alias.canonical, listeners) for alias in aliases)

    def subscribed(self, event_type: str | type[Payload]) -> bool:
        """Whether anyone listens to an event by name (or alias); ``*`` listeners do not count.

        For events that cost work to prepare, such as ``call.timings``: they are made only when a listener asks
        for them by name, so a catch-all listener does not slow every call.

        Example:
            >>> hub = EventHub()
            >>> stop = hub.on("*", print)
            >>> hub.wants("call.timings"), hub.subscribed("call.timings")
            (True, False)
        """
        name = event_type if isinstance(event_type, str) else event_type.name
        aliases = ALIASES.get(name)
        return any(kind in self._listeners for kind in ([a.canonical for a in aliases] if aliases else [name]))

    @overload
    def on(self, event_type: type[P], listener: Callable[[Event[P]], Awaitable[None] | None], *,
           once: bool = False) -> Callable[[], None]: ...
    @overload
    def on(self, event_type: str | Iterable[str], listener: Listener, *, once: bool = False) -> Callable[[], None]: ...

    def on(self, event_type: str | Iterable[str] | type[Payload],
           listener: Callable[[Event[Any]], Awaitable[None] | None], *, once: bool = False) -> Callable[[], None]:
        """Subscribe ``listener`` to one event, several, or ``"*"`` for every event under its canonical name.

        Args:
            event_type: A payload class (`CallFinished`), a name, an iterable of names, or ``"*"``. Older names
                are aliases (see `ALIASES`): their listeners get the events they always got, under that name.
            listener: ``(event) -> None``, or an async function.
            once: Unsubscribe after the first delivery.

        Returns:
            A function that unsubscribes (safe to call more than once).
        """
        if isinstance(event_type, type):
            names = [event_type.name]
        else:
            names = [event_type] if isinstance(event_type, str) else list(event_type)
        target: Listener = listener
        if once:
            def target(event: Event) -> Awaitable[None] | None:
                unsubscribe()
                return listener(event)

        filed: list[tuple[str, Listener]] = []
        for name in names:
            for kind, _, alias in _targets(name):
                wrapped = _AliasListener(name, alias, target) if alias is not None else target
                bucket = self._listeners.setdefault(kind, [])
                if wrapped not in bucket:
                    bucket.append(wrapped)
                    filed.append((kind, wrapped))
                    if self._owned:
                        if not any(self in hubs for hubs in _tool_interest.values()):
                            weakref.finalize(self, _forget_collected)
                        _tool_interest.setdefault(kind, weakref.WeakSet()).add(self)

        def unsubscribe() -> None:
            for kind, wrapped in filed:
                bucket = self._listeners.get(kind)
                if bucket and wrapped in bucket:
                    bucket.remove(wrapped)
                    if not bucket:
                        del self._listeners[kind]
                        if self._owned and kind in _tool_interest:
                            _tool_interest[kind].discard(self)
                            _forget_collected()
            filed.clear()

        return unsubscribe

    def publish(self, payload: Payload) -> None:
        """Deliver a typed event to its listeners (and to the hub of the tool it is about)."""
        name = payload.name
        if not self.wants(name):
            return
        event: Event = Event(name, payload)
        self._deliver(event)
        if _tool_interest:
            tool_hub = getattr(getattr(payload, "tool", None), "_events", None)
            if tool_hub is not None and tool_hub is not self:
                tool_hub._deliver(event)

    def emit(self, event_type: str, detail: Mapping[str, Any]) -> None:
        """Deliver an event by name with a mapping detail (custom events; a plain alias goes out canonical)."""
        name = _SAME_AS.get(event_type, event_type)
        if not self.wants(name):
            return
        event: Event = Event(name, detail)
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
                self._report(finished.exception(), event)  # type: ignore[arg-type]  # exception() is not None was checked on the line above

        task.add_done_callback(done)

    def _report(self, exc: BaseException, event: Event) -> None:
        logger.warning("event listener for %r raised %r", event.type, exc)
        if event.type != ListenerFailed.name:
            self.publish(ListenerFailed(event.type, exc))

    async def stream(self, *event_types: str, max_queued: int = 0) -> AsyncIterator[Event]:
        """Iterate over events as they happen, until the consumer stops iterating.

        Args:
            event_types: Names to receive (aliases too); none means all.
            max_queued: Bound on undelivered events (0 = unbounded); past it the oldest is dropped and a
                warning is logged, so a stalled consumer cannot grow memory without limit.

        Example:
            >>> async def first_progress(hub: EventHub) -> Event:
            ...     async for event in hub.stream("call.progress"):
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
