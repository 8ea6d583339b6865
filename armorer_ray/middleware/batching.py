"""Chunked batches: run a long list of calls a chunk at a time, so a batch cannot flood the toolbox."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING

from armorer_ray.errors import ConfigError

if TYPE_CHECKING:
    from armorer_ray.results import ToolResult
    from armorer_ray.toolbox import CallInput, Toolbox

__all__ = ["execute_chunked", "iter_chunks"]


async def iter_chunks(toolbox: Toolbox, calls: Sequence[CallInput], *, chunk_size: int,
                      concurrency: int | None = None, timeout_s: float | None = None,
                      dry_run: bool = False) -> AsyncIterator[list[ToolResult]]:
    """Run ``calls`` through ``toolbox`` ``chunk_size`` at a time, yielding each chunk's results as it finishes.

    Each chunk is one `Toolbox.execute` batch, so every call still takes the whole pipeline; the next chunk
    starts only when the consumer asks for it, so stopping the iteration stops the batch.

    Args:
        toolbox: The toolbox to run the calls through.
        calls: The calls, in order.
        chunk_size: Calls per chunk.
        concurrency: Most calls of a chunk in flight at once (None: the whole chunk).
        timeout_s: Per-call deadline.
        dry_run: Run dry-run handlers instead of bodies.

    Returns:
        An async iterator of result lists, in call order.

    Raises:
        ConfigError: for a ``chunk_size`` below 1.

    Example:
        >>> import asyncio
        >>> from armorer_ray import Toolbox, ToolCall
        >>> from armorer_ray.testing import mock_tool
        >>> box = Toolbox([mock_tool("square", impl=lambda n: n * n)])
        >>> async def sizes():
        ...     calls = [ToolCall(name="square", arguments={"n": n}) for n in range(5)]
        ...     return [[r.result for r in chunk] async for chunk in iter_chunks(box, calls, chunk_size=2)]
        >>> asyncio.run(sizes())
        [[0, 1], [4, 9], [16]]
    """
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise ConfigError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    for start in range(0, len(calls), chunk_size):
        chunk = list(calls[start:start + chunk_size])
        yield await toolbox.execute(chunk, concurrency=concurrency, timeout_s=timeout_s, dry_run=dry_run)


async def execute_chunked(toolbox: Toolbox, calls: Sequence[CallInput], *, chunk_size: int,
                          concurrency: int | None = None, timeout_s: float | None = None,
                          dry_run: bool = False) -> list[ToolResult]:
    """Run ``calls`` in chunks (see `iter_chunks`) and return every result, in call order.

    Args:
        toolbox: The toolbox to run the calls through.
        calls: The calls, in order.
        chunk_size: Calls per chunk.
        concurrency: Most calls of a chunk in flight at once (None: the whole chunk).
        timeout_s: Per-call deadline.
        dry_run: Run dry-run handlers instead of bodies.

    Returns:
        One result per call, in order.

    Raises:
        ConfigError: for a ``chunk_size`` below 1.

    Example:
        >>> import asyncio
        >>> from armorer_ray import Toolbox, ToolCall
        >>> from armorer_ray.testing import mock_tool
        >>> box = Toolbox([mock_tool("square", impl=lambda n: n * n)])
        >>> calls = [ToolCall(name="square", arguments={"n": n}) for n in range(5)]
        >>> [r.result for r in asyncio.run(execute_chunked(box, calls, chunk_size=2))]
        [0, 1, 4, 9, 16]
    """
    results: list[ToolResult] = []
    async for chunk in iter_chunks(toolbox, calls, chunk_size=chunk_size, concurrency=concurrency,
                                   timeout_s=timeout_s, dry_run=dry_run):
        results.extend(chunk)
    return results
