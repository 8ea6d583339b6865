"""Streaming: tools that yield their output in chunks, and the ways to read those chunks as they come.

A tool whose body is a generator (``async def`` with ``yield``, or a plain generator) streams. Its call goes
through the same pipeline as any other: the pipeline drains the chunks inside the call's deadline and
concurrency limit, emits each as an ``output-chunk`` event (``chunk``, ``index``, ``call``, ``tool``), and
reduces them to the final value, which is validated against the tool's output model and shaped into
``content`` like any return value. The reducer is the list of chunks unless the body declares another with
`streams`. So ``Toolbox.execute`` on a streaming tool simply returns the collected result, and
``Toolbox.stream`` yields each chunk as it is produced, then the `ToolResult`.

Backpressure is end to end: chunks wait in a bounded buffer (``max_buffered``), and a body that yields into a
full buffer waits, so a slow reader slows the producer rather than growing memory. Leaving the iteration early
(``break``, ``aclose()``, a cancelled task) cancels the call: the generator is closed, running its ``finally``.

Example:
    >>> import asyncio
    >>> from armorer_ray import Toolbox, ToolCall, tool
    >>> @tool
    ... @streams(reduce="concat")
    ... async def spell(word: str):
    ...     "Spell a word, one letter at a time."
    ...     for letter in word:
    ...         yield letter
    >>> async def read():
    ...     return [item async for item in Toolbox([spell]).stream(ToolCall(name="spell", arguments={"word": "ray"}))]
    >>> *chunks, result = asyncio.run(read())
    >>> chunks, result.result
    (['r', 'a', 'y'], 'ray')
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from armorer_ray.errors import ConfigError
from armorer_ray.results import ToolCall, ToolResult, new_call_id

if TYPE_CHECKING:
    from armorer_ray.context import CallContext
    from armorer_ray.toolbox import CallInput, Toolbox

__all__ = ["STREAM_SINK", "ChunkSink", "Reducer", "collect_stream", "stream_call", "streams"]

STREAM_SINK = "stream_sink"
"""Key of ``CallContext.state`` under which `Toolbox.stream` hands the pipeline its chunk sink."""

ChunkSink = Callable[[object], Awaitable[None]]
Reducer = Callable[[list[Any]], Any] | Literal["list", "concat", "last"]
F = TypeVar("F", bound=Callable[..., Any])

_REDUCER_ATTRIBUTE = "__armorer_reduce__"
_DONE = object()


def streams(reduce: Reducer = "list") -> Callable[[F], F]:
    """Declare how a generator body's chunks reduce to the call's final value (apply it under ``@tool``).

    Args:
        reduce: ``"list"`` (the default: the chunks in order), ``"concat"`` (join strings or bytes, or flatten
            lists), ``"last"`` (the last chunk, or None), or a function from the list of chunks to the value.

    Returns:
        A decorator that marks the function and returns it unchanged.

    Raises:
        ConfigError: for an unknown reducer name.

    Example:
        >>> from armorer_ray import tool
        >>> @tool
        ... @streams(reduce=sum)
        ... def count_to(n: int):
        ...     "Yield 1..n; the result is their sum."
        ...     yield from range(1, n + 1)
        >>> count_to.execute_sync({"n": 4}).result
        10
    """
    if isinstance(reduce, str) and reduce not in ("list", "concat", "last"):
        raise ConfigError(f"unknown stream reducer {reduce!r}: use 'list', 'concat', 'last' or a function")

    def mark(fn: F) -> F:
        setattr(fn, _REDUCER_ATTRIBUTE, reduce)
        return fn

    return mark


def _reduce(chunks: list[Any], reducer: Reducer) -> Any:
    if callable(reducer):
        return reducer(chunks)
    if reducer == "last":
        return chunks[-1] if chunks else None
    if reducer == "concat":
        if all(isinstance(chunk, str) for chunk in chunks):
            return "".join(chunks)
        if all(isinstance(chunk, bytes) for chunk in chunks):
            return b"".join(chunks)
        if all(isinstance(chunk, list) for chunk in chunks):
            return [item for chunk in chunks for item in chunk]
        kinds = sorted({type(chunk).__name__ for chunk in chunks})
        raise TypeError(f"'concat' joins str, bytes or list chunks, got {', '.join(kinds)}")
    return chunks


async def collect_stream(source: AsyncIterator[Any] | Iterator[Any], ctx: CallContext) -> Any:
    """Drain a generator body's chunks for the pipeline: emit, forward, then reduce them.

    Each chunk is emitted as ``output-chunk`` and, when the call is being streamed, awaited into its sink (which
    blocks while the reader's buffer is full). A sync generator advances in a worker thread, chunk by chunk.
    The generator is closed however the drain ends, so its ``finally`` runs on cancellation too.

    Args:
        source: The generator the body returned.
        ctx: The call's context (its hub, its sink under `STREAM_SINK`, its tool's reducer).

    Returns:
        The reduced value (see `streams`).

    Raises:
        Exception: whatever the generator or the reducer raised; the pipeline classifies it.

    Example:
        >>> from armorer_ray import tool
        >>> @tool
        ... def letters(word: str):
        ...     "Yield the letters of a word."
        ...     yield from word
        >>> letters.execute_sync({"word": "ok"}).result
        ['o', 'k']
    """
    sink: ChunkSink | None = ctx.state.get(STREAM_SINK)
    hub = ctx.hub
    chunks: list[Any] = []
    try:
        if isinstance(source, AsyncIterator):
            async for chunk in source:
                chunks.append(chunk)
                if hub.wants("output-chunk"):
                    hub.emit("output-chunk", {"tool": ctx.tool, "call": ctx.call, "chunk": chunk,
                                              "index": len(chunks) - 1})
                if sink is not None:
                    await sink(chunk)
        else:
            while (chunk := await asyncio.to_thread(next, source, _DONE)) is not _DONE:
                chunks.append(chunk)
                if hub.wants("output-chunk"):
                    hub.emit("output-chunk", {"tool": ctx.tool, "call": ctx.call, "chunk": chunk,
                                              "index": len(chunks) - 1})
                if sink is not None:
                    await sink(chunk)
    finally:
        await _close(source)
    reducer: Reducer = getattr(ctx.tool.resolve_body(ctx.dry_run), _REDUCER_ATTRIBUTE, "list")
    return _reduce(chunks, reducer)


async def _close(source: AsyncIterator[Any] | Iterator[Any]) -> None:
    try:
        if isinstance(source, AsyncIterator):
            await source.aclose()  # type: ignore[attr-defined]
        else:
            source.close()  # type: ignore[attr-defined]
    except (RuntimeError, ValueError):
        pass  # still running in its thread (the call was cancelled mid-chunk): it is dropped when that returns


class _Final:
    __slots__ = ("result",)

    def __init__(self, result: ToolResult) -> None:
        self.result = result


async def stream_call(toolbox: Toolbox, call: CallInput, options: Mapping[str, Any],
                      max_buffered: int) -> AsyncIterator[object]:
    """The iterator behind `Toolbox.stream`: run the call in a task, yield its chunks, then its result.

    Args:
        toolbox: The toolbox whose pipeline runs the call.
        call: The call (a `ToolCall` or a mapping).
        options: ``timeout_s``, ``signal`` and ``dry_run``, as `Toolbox.execute` takes them.
        max_buffered: Chunks produced but not yet read before the body waits.

    Returns:
        An async iterator of the chunks, then exactly one `ToolResult`.

    Example:
        >>> import asyncio
        >>> from armorer_ray import Toolbox, tool
        >>> box = Toolbox([tool(name="one", description="Return 1.")(lambda: 1)])
        >>> async def read():
        ...     return [item async for item in stream_call(box, {"name": "one"}, {}, 4)]
        >>> [type(item).__name__ for item in asyncio.run(read())]
        ['ToolResult']
    """
    queue: asyncio.Queue[object] = asyncio.Queue(max_buffered)
    run_options = {"timeout_s": None, "signal": None, "dry_run": False, **options, "on_chunk": queue.put}

    async def produce() -> None:
        try:
            result = await toolbox._execute_one(call, run_options)
        except Exception as exc:  # _execute_one returns failures; this guards the reader against a bug
            name = call.name if isinstance(call, ToolCall) else str(call.get("name", ""))
            result = ToolResult.from_exception(ToolCall(id=new_call_id(), name=name or "?"), exc)
        await queue.put(_Final(result))

    task = asyncio.ensure_future(produce())
    try:
        while True:
            item = await queue.get()
            if isinstance(item, _Final):
                yield item.result
                return
            yield item
    finally:
        if not task.done():
            task.cancel()  # the reader left early: cancel the call, which closes the generator
            await asyncio.gather(task, return_exceptions=True)
