"""Reducers: how a generator body's chunks are drained, forwarded to a reader, and reduced to the call's value."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from armorer_ray.errors import ConfigError
from armorer_ray.events import CallChunk

if TYPE_CHECKING:
    from armorer_ray.context import CallContext

__all__ = ["STREAM_SINK", "ChunkSink", "Reducer", "collect_stream", "streams"]

STREAM_SINK = "stream_sink"
"""Deprecated: the chunk sink is ``CallContext.sink`` now; a sink found under this ``state`` key is still used."""

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
        ctx: The call's context (its hub, its ``sink``, its tool's reducer).

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
    sink = ctx.sink if ctx.sink is not None else ctx.state.get(STREAM_SINK)
    hub = ctx.hub
    chunks: list[Any] = []

    async def take(chunk: Any) -> None:
        chunks.append(chunk)
        if hub.wants(CallChunk.name):
            hub.publish(CallChunk(ctx.tool, ctx.call, chunk, len(chunks) - 1))
        if sink is not None:
            await sink(chunk)

    try:
        if isinstance(source, AsyncIterator):
            async for chunk in source:
                await take(chunk)
        else:
            while (chunk := await asyncio.to_thread(next, source, _DONE)) is not _DONE:
                await take(chunk)
    finally:
        await _close(source)
    reducer: Reducer = getattr(ctx.tool.resolve_body(ctx.dry_run), _REDUCER_ATTRIBUTE, "list")
    return _reduce(chunks, reducer)


async def _close(source: AsyncIterator[Any] | Iterator[Any]) -> None:
    try:
        if isinstance(source, AsyncIterator):
            await source.aclose()  # type: ignore[attr-defined]  # AsyncIterator has no aclose; the body returned an async generator
        else:
            source.close()  # type: ignore[attr-defined]  # Iterator has no close; the body returned a generator
    except (RuntimeError, ValueError):
        pass  # still running in its thread (the call was cancelled mid-chunk): it is dropped when that returns
