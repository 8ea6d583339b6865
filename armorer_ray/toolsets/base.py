"""`Toolset`: a set of tools you can list, resolve and call; `ToolsetView`, the listings every toolset shares.

A `Toolbox` is the toolset that owns tools and runs them. Views over it change what is listed or how names
resolve, and leave running to the toolbox, so a call through any view takes the one pipeline. Each view is a
small frozen dataclass that overrides one or two of `tools`, `get_tool` and `call_tool`; everything else
(``ids``, ``to_json``, ``query``, ``execute``, ``stream``...) is written once here in terms of those.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from pydantic import JsonValue, ValidationError

from armorer_ray._sync import run_sync
from armorer_ray.errors import ConfigError, ToolError, ToolExecutionError
from armorer_ray.pipeline import CallOptions, validation_error
from armorer_ray.query import Querying
from armorer_ray.results import ToolCall, ToolResult, new_call_id
from armorer_ray.streams.calls import stream_chunks

if TYPE_CHECKING:
    from armorer_ray.cancellation import AbortSignal
    from armorer_ray.context import Approval
    from armorer_ray.streams.reducers import ChunkSink
    from armorer_ray.tools import Tool

__all__ = ["CallInput", "Toolset", "ToolsetView", "not_found", "run_batch"]

CallInput = ToolCall | Mapping[str, Any]
ErrorMode = Literal["collect", "fail_fast"]


@runtime_checkable
class Toolset(Protocol):
    """A set of tools you can list, resolve and call. `Toolbox` and every view implement it."""

    @property
    def name(self) -> str:
        """A label for logs and exports."""
        ...

    @property
    def version(self) -> int:
        """A counter that grows whenever the listed tools may have changed (for caches)."""
        ...

    def tools(self) -> list[Tool]:
        """The tools, in order."""
        ...

    def get_tool(self, name_or_id: str) -> Tool | None:
        """The tool a call naming ``name_or_id`` runs, or None."""
        ...

    def aliases(self, tool_id: str) -> tuple[str, ...]:
        """Aliases of a listed tool id."""
        ...

    async def call_tool(self, call: ToolCall, options: CallOptions) -> ToolResult:
        """Run one call to exactly one `ToolResult`; never raises for the tool's failure."""
        ...


def not_found(call: ToolCall, known: Sequence[str]) -> ToolResult:
    """The ``not_found`` result of a call naming no tool of the set (listing at most 20 of its names)."""
    listing = ", ".join(sorted(set(known))[:20])
    return ToolResult.failure(call.id, call.name,
                              ToolError.of("not_found", f"Tool not found: {call.name}. Available tools: {listing}"))


def parse_call(item: CallInput) -> ToolCall | ToolResult:
    """``item`` as a `ToolCall`, or the ``validation`` result of a mapping that is not one."""
    if isinstance(item, ToolCall):
        return item
    try:
        return ToolCall.model_validate(item)
    except ValidationError as exc:
        raw_id, raw_name = item.get("id"), item.get("name")
        return ToolResult.failure(str(raw_id or new_call_id()), str(raw_name or ""), validation_error(exc, "tool call"))


async def run_batch(one: Callable[[CallInput], Awaitable[ToolResult]], batch: Sequence[CallInput],
                    limit: int | None, error_mode: ErrorMode) -> list[ToolResult]:
    """Run a batch with at most ``limit`` calls in flight; results in input order.

    Raises:
        ToolExecutionError: with ``error_mode="fail_fast"``, for the first failed call (the rest are cancelled).
    """
    gate = asyncio.Semaphore(limit) if limit else None

    async def gated(item: CallInput) -> ToolResult:
        if gate is None:
            return await one(item)
        async with gate:
            return await one(item)

    tasks = [asyncio.ensure_future(gated(item)) for item in batch]
    if error_mode == "collect":
        try:
            return list(await asyncio.gather(*tasks))
        except asyncio.CancelledError:
            for task in tasks:
                task.cancel()
            raise
    try:
        for finished in asyncio.as_completed(tasks):
            result = await finished
            if result.error is not None:
                raise ToolExecutionError(result.error, result)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return [task.result() for task in tasks]


class ToolsetView(Querying):
    """The listings and call forms every view shares, written over `tools`, `get_tool`, `aliases`, `call_tool`.

    Subclasses provide ``name``, ``version`` and those four methods (see `WrapperToolset`).
    """

    __slots__ = ()

    @property
    def name(self) -> str:
        """A label for logs and exports."""
        raise NotImplementedError

    @property
    def version(self) -> int:
        """A counter that grows whenever the listed tools may have changed."""
        raise NotImplementedError

    def tools(self) -> list[Tool]:
        raise NotImplementedError

    def get_tool(self, name_or_id: str) -> Tool | None:
        raise NotImplementedError

    def aliases(self, tool_id: str) -> tuple[str, ...]:
        raise NotImplementedError

    async def call_tool(self, call: ToolCall, options: CallOptions) -> ToolResult:
        raise NotImplementedError

    def prepare(self, item: CallInput) -> CallInput:
        """A call as this view makes it, applied to every call of a batch before any runs (identity here).

        Raises:
            ConfigError: when a view refuses the call outright (nothing of the batch runs then).
        """
        return item

    # -- listings --------------------------------------------------------------------------------------

    def ids(self) -> list[str]:
        """Ids of the listed tools."""
        return [found.id for found in self.tools()]

    def to_json(self) -> list[dict[str, JsonValue]]:
        """Provider-neutral definitions of the listed tools, with their aliases (as `Toolbox.to_json`)."""
        out = []
        for found in self.tools():
            definition = found.to_json()
            definition["aliases"] = sorted(self.aliases(found.id))
            out.append(definition)
        return out

    def __contains__(self, name_or_id: object) -> bool:
        return isinstance(name_or_id, str) and self.get_tool(name_or_id) is not None

    def __len__(self) -> int:
        return len(self.tools())

    def __iter__(self) -> Iterator[Tool]:
        return iter(self.tools())

    # -- calls -----------------------------------------------------------------------------------------

    async def execute(self, calls: CallInput | Sequence[CallInput], /, *, concurrency: int | None = None,
                      mode: Literal["parallel", "sequential"] = "parallel", error_mode: ErrorMode = "collect",
                      timeout_s: float | None = None, signal: AbortSignal | None = None, dry_run: bool = False,
                      approval: Approval | None = None) -> ToolResult | list[ToolResult]:
        """Run one call, or a batch, through this view, as `Toolbox.execute` does.

        Raises:
            ToolExecutionError: only with ``error_mode="fail_fast"``.
        """
        options = CallOptions(timeout_s, signal, dry_run, approval)
        if isinstance(calls, ToolCall | Mapping):
            result = await self._one(self.prepare(calls), options)
            if error_mode == "fail_fast" and result.error is not None:
                raise ToolExecutionError(result.error, result)
            return result
        if isinstance(calls, str | bytes):
            raise ConfigError("execute() takes a ToolCall, a mapping, or a sequence of them, not a string")
        limit = 1 if mode == "sequential" else concurrency
        if limit is not None and limit < 1:
            raise ConfigError(f"concurrency must be at least 1, got {limit}")
        batch = [self.prepare(item) for item in calls]
        return await run_batch(lambda item: self._one(item, options), batch, limit, error_mode)

    def execute_sync(self, calls: CallInput | Sequence[CallInput], /, *, timeout_s: float | None = None,
                     dry_run: bool = False, approval: Approval | None = None,
                     error_mode: ErrorMode = "collect") -> ToolResult | list[ToolResult]:
        """Blocking form of `execute`; refuses inside a running event loop."""
        return run_sync(self.execute(calls, timeout_s=timeout_s, dry_run=dry_run, approval=approval,
                                     error_mode=error_mode), "view.execute")

    def stream(self, call: CallInput, /, *, timeout_s: float | None = None, signal: AbortSignal | None = None,
               dry_run: bool = False, max_buffered: int = 16) -> AsyncGenerator[object, None]:
        """Run one call through this view and iterate over its chunks, then its `ToolResult` (as `Toolbox.stream`).

        Raises:
            ConfigError: when ``max_buffered`` is below 1.
        """
        if max_buffered < 1:
            raise ConfigError(f"max_buffered must be at least 1, got {max_buffered}")
        call = self.prepare(call)

        def run(sink: ChunkSink) -> Awaitable[ToolResult]:
            return self._one(call, CallOptions(timeout_s, signal, dry_run, on_chunk=sink))

        return stream_chunks(run, call, max_buffered)

    async def _one(self, item: CallInput, options: CallOptions) -> ToolResult:
        call = parse_call(item)
        return call if isinstance(call, ToolResult) else await self.call_tool(call, options)

