"""Stream orchestration: run one call in a task and yield its chunks as they come, then its `ToolResult`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from typing import Any

from armorer_ray.results import ToolCall, ToolResult, new_call_id
from armorer_ray.streams.reducers import ChunkSink

__all__ = ["stream_chunks"]


class _Final:
    __slots__ = ("result",)

    def __init__(self, result: ToolResult) -> None:
        self.result = result


async def stream_chunks(run: Callable[[ChunkSink], Awaitable[ToolResult]], call: ToolCall | Mapping[str, Any],
                        max_buffered: int) -> AsyncGenerator[object, None]:
    """The iterator behind `Toolbox.stream`: run the call in a task, yield its chunks, then its result.

    Args:
        run: Runs the call, handing each chunk to the sink it is given (which waits while the buffer is full).
        call: The call, to name the result should ``run`` raise.
        max_buffered: Chunks produced but not yet read before the body waits.

    Returns:
        An async iterator of the chunks, then exactly one `ToolResult`. Leaving it early cancels the call.

    Example:
        >>> import asyncio
        >>> async def run(sink):
        ...     for chunk in ("a", "b"):
        ...         await sink(chunk)
        ...     return ToolResult(call_id="c", tool_name="t", outcome="success", result="ab")
        >>> async def read():
        ...     return [item async for item in stream_chunks(run, ToolCall(name="t"), 1)]
        >>> [item if isinstance(item, str) else item.result for item in asyncio.run(read())]
        ['a', 'b', 'ab']
    """
    queue: asyncio.Queue[object] = asyncio.Queue(max_buffered)

    async def produce() -> None:
        try:
            result = await run(queue.put)
        except Exception as exc:  # the pipeline returns failures; this guards the reader against a bug
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
