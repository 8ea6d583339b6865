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

Across processes, `StreamingActor` hosts a toolbox in a Ray actor whose method is a Ray streaming generator: at
most ``buffered`` chunks wait in Ray for a slow reader before the actor (and so the tool) pauses, and leaving the
iteration cancels the actor's task, which cancels the call. `sse_response` and `sse_endpoint` serve a stream as
Server-Sent Events with Starlette (``pip install 'armorer-ray[web]'``).

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

import functools
from collections.abc import AsyncGenerator, Callable, Mapping
from typing import TYPE_CHECKING, Any

from armorer_ray.errors import ToolError
from armorer_ray.results import ToolCall, ToolResult
from armorer_ray.streams.reducers import STREAM_SINK, ChunkSink, Reducer, collect_stream, streams
from armorer_ray.streams.sse import Streams, sse_endpoint, sse_response

if TYPE_CHECKING:
    from armorer_ray.toolbox import CallInput, Toolbox

__all__ = [
    "STREAM_SINK",
    "ChunkSink",
    "Reducer",
    "StreamingActor",
    "Streams",
    "collect_stream",
    "sse_endpoint",
    "sse_response",
    "stream_call",
    "streams",
]


def stream_call(toolbox: Toolbox, call: CallInput, options: Mapping[str, Any],
                max_buffered: int) -> AsyncGenerator[object, None]:
    """Stream one call through ``toolbox``: the same iterator as ``toolbox.stream(call, **options)``.

    Args:
        toolbox: The toolbox whose pipeline runs the call.
        call: The call (a `ToolCall` or a mapping).
        options: ``timeout_s``, ``signal`` and ``dry_run``, as `Toolbox.stream` takes them.
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
    return toolbox.stream(call, max_buffered=max_buffered, **options)


# -- across processes: a toolbox in a Ray actor ------------------------------------------------------------


class _StreamHost:
    """The actor's plain-Python core: builds the toolbox in the actor and forwards to `Toolbox.stream`."""

    def __init__(self, factory: Callable[[], Toolbox]) -> None:
        self._toolbox = factory()

    async def stream(self, call: ToolCall, timeout_s: float | None, max_buffered: int) -> AsyncGenerator[object, None]:
        async for item in self._toolbox.stream(call, timeout_s=timeout_s, max_buffered=max_buffered):
            yield item

    async def execute(self, call: ToolCall, timeout_s: float | None) -> ToolResult:
        result: ToolResult = await self._toolbox.execute(call, timeout_s=timeout_s)
        return result


@functools.cache
def _host_actor() -> Any:
    import ray  # only streams that cross processes need Ray

    return ray.remote(_StreamHost)


class StreamingActor:
    """A toolbox in one Ray actor whose calls stream back chunk by chunk, with backpressure and cancellation.

    Each `stream` is a Ray streaming generator (``num_returns="streaming"``) bounded by
    ``_generator_backpressure_num_objects``: when ``buffered`` chunks wait unread, the actor stops pulling from the
    tool, whose own buffer then fills and pauses the tool. Leaving the iteration cancels the actor task, which
    cancels the call (its generator's ``finally`` runs). A lost actor ends the stream with a ``transient``
    ``STREAM_LOST`` result, so the stream still ends with exactly one `ToolResult`.

    Made by `StreamingActor.start`. (Deployments stream batches of results, not one call's chunks; this fills the
    gap until a Deployment grows a chunk-streaming method.)

    Example:
        >>> actor = StreamingActor.start(build_toolbox)  # doctest: +SKIP
        >>> async for item in actor.stream(ToolCall(name="tokens", arguments={"prompt": "hi"})):  # doctest: +SKIP
        ...     print(item)
    """

    def __init__(self, handle: Any) -> None:
        self._handle = handle

    @classmethod
    def start(cls, toolbox: Toolbox | Callable[[], Toolbox], *, num_cpus: float = 0,
              max_concurrency: int = 64) -> StreamingActor:
        """Start the actor; the toolbox travels as a recipe (or a factory is called inside the actor).

        Args:
            toolbox: The toolbox, or a picklable function that builds it.
            num_cpus: CPUs the actor reserves.
            max_concurrency: Calls the actor runs at once.

        Returns:
            The handle (picklable: pass it to tasks and actors).
        """
        from armorer_ray.toolbox import Toolbox

        if isinstance(toolbox, Toolbox):
            from armorer_ray.workflow.toolboxes import ToolboxRecipe

            factory: Callable[[], Toolbox] = ToolboxRecipe.of(toolbox)
        else:
            factory = toolbox
        handle = _host_actor().options(num_cpus=num_cpus, max_concurrency=max_concurrency).remote(factory)
        return cls(handle)

    async def stream(self, call: ToolCall, /, *, timeout_s: float | None = None, buffered: int = 4,
                     max_buffered: int = 4) -> AsyncGenerator[object, None]:
        """Iterate over a call's chunks as the actor produces them, then its `ToolResult`.

        Args:
            call: The call.
            timeout_s: Deadline for the whole call.
            buffered: Chunks Ray holds for a slow reader before the actor pauses.
            max_buffered: Chunks the actor's toolbox holds before the tool pauses.

        Returns:
            An async iterator of chunks ending with one `ToolResult`; leaving it early cancels the call.
        """
        import ray

        chunks = self._handle.stream.options(num_returns="streaming", _generator_backpressure_num_objects=buffered)
        generator = chunks.remote(call, timeout_s, max_buffered)
        ended = False
        try:
            while not ended:
                try:
                    item = await (await generator.__anext__())
                except StopAsyncIteration:
                    break
                except ray.exceptions.RayError as exc:
                    ended = True
                    error = ToolError.of("transient", f"the stream's actor was lost: {exc}", code="STREAM_LOST")
                    yield ToolResult.failure(call.id, call.name, error)
                    return
                ended = isinstance(item, ToolResult)
                yield item
        finally:
            if not ended:
                ray.cancel(generator)  # the reader left: stop the actor's task, and with it the call

    async def execute(self, call: ToolCall, /, *, timeout_s: float | None = None) -> ToolResult:
        """Run a call in the actor and return its result (chunks collected)."""
        result: ToolResult = await self._handle.execute.remote(call, timeout_s)
        return result

    def stop(self) -> None:
        """Kill the actor."""
        import ray

        ray.kill(self._handle)
