"""Test doubles that really implement our shapes: scripted tools and a toolbox that records its calls.

Example:
    >>> from armorer_ray import Toolbox, ToolCall, Transient
    >>> fetch = mock_tool("fetch", outcomes=[Transient("503"), {"ok": True}])
    >>> box = Toolbox([fetch])
    >>> [box.execute_sync(ToolCall(name="fetch")).outcome for _ in range(2)]
    ['error', 'success']
    >>> fetch.calls
    [{}, {}]
"""

from __future__ import annotations

import asyncio
import inspect
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Unpack

from pydantic import BaseModel

from armorer_ray.events import Event
from armorer_ray.options import ToolboxOptions, ToolboxSettings
from armorer_ray.results import ToolCall, ToolResult
from armorer_ray.toolbox import Toolbox
from armorer_ray.tools import Tool

__all__ = ["CallRecord", "MockTool", "RecordingToolbox", "mock_tool"]


class MockTool(Tool):
    """A tool whose behaviour is scripted: queued outcomes first, then a fixed override, then ``impl``.

    An outcome that is an exception instance is raised; any other value is returned. ``calls`` records the
    validated arguments of every run, in order.
    """

    __slots__ = ("_delay_s", "_impl", "_override", "_queue", "calls")

    def __init__(self, name: str, *, outcomes: Iterable[object] = (), impl: Callable[..., Any] | None = None,
                 delay_s: float = 0.0, **options: Any) -> None:
        self._queue: deque[object] = deque(outcomes)
        self._override: tuple[object] | None = None
        self._impl = impl
        self._delay_s = delay_s
        self.calls: list[dict[str, Any]] = []
        options.setdefault("description", "A mock tool for testing")
        options.setdefault("parameters", {})
        options.setdefault("extra_arguments", "allow")
        options["name"] = name
        super().__init__(self._run, **options)

    async def _run(self, **arguments: Any) -> Any:
        self.calls.append(arguments)
        if self._delay_s:
            await asyncio.sleep(self._delay_s)
        if self._queue:
            outcome = self._queue.popleft()
        elif self._override is not None:
            outcome = self._override[0]
        elif self._impl is not None:
            outcome = self._impl(**arguments)
            if inspect.isawaitable(outcome):
                outcome = await outcome
        else:
            outcome = None
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def mock_resolve(self, value: object) -> None:
        """Return ``value`` from now on (after queued outcomes)."""
        self._override = (value,)

    def mock_reject(self, error: BaseException) -> None:
        """Raise ``error`` from now on (after queued outcomes)."""
        self._override = (error,)

    def mock_reset(self) -> None:
        """Forget recorded calls, queued outcomes and the override."""
        self.calls.clear()
        self._queue.clear()
        self._override = None

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_mock, (self.name, list(self._queue), self._impl, self._delay_s,
                                {k: v for k, v in self.options.items() if k not in ("name",)}))


def _rebuild_mock(name: str, outcomes: list[object], impl: Callable[..., Any] | None, delay_s: float,
                  options: dict[str, Any]) -> MockTool:
    return MockTool(name, outcomes=outcomes, impl=impl, delay_s=delay_s, **options)


def mock_tool(name: str = "mock-tool", *, outcomes: Sequence[object] = (), impl: Callable[..., Any] | None = None,
              parameters: type[BaseModel] | Mapping[str, Any] | None = None, delay_s: float = 0.0,
              **options: Any) -> MockTool:
    """A scripted tool (see `MockTool`); accepts any arguments unless ``parameters`` is given.

    Args:
        name: Tool name.
        outcomes: Queue of return values or exceptions, consumed one per call.
        impl: Fallback body once the queue is empty.
        parameters: Parameter model or fields (default: accept anything).
        delay_s: Sleep this long in each call (to test timeouts, concurrency).
        **options: Other `ToolOptions`.
    """
    if parameters is not None:
        options["parameters"] = parameters
        options.setdefault("extra_arguments", "forbid")
    return MockTool(name, outcomes=outcomes, impl=impl, delay_s=delay_s, **options)


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One finished call: what was asked and what came back."""

    call: ToolCall
    result: ToolResult


@dataclass
class _History:
    records: list[CallRecord] = field(default_factory=list)


class RecordingToolbox(Toolbox):
    """A `Toolbox` that records every finished call (successes, failures, denials, pauses) in ``history``.

    Example:
        >>> from armorer_ray import tool
        >>> box = RecordingToolbox([tool(name="one", description="One.")(lambda: 1)])
        >>> _ = box.execute_sync({"name": "one"})
        >>> [(r.call.name, r.result.outcome) for r in box.history]
        [('one', 'success')]
    """

    def __init__(self, tools: Iterable[Tool] = (), options: ToolboxOptions | None = None,
                 **settings: Unpack[ToolboxSettings]) -> None:
        super().__init__(tools, options, **settings)
        self._history = _History()
        self.on("call.finished", self._record)

    def _record(self, event: Event) -> None:
        self._history.records.append(CallRecord(event.detail["call"], event.detail["result"]))

    @property
    def history(self) -> list[CallRecord]:
        """Finished calls in completion order."""
        return self._history.records

    def clear_history(self) -> None:
        """Forget recorded calls."""
        self._history.records.clear()
