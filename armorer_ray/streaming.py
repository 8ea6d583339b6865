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

import asyncio
import functools
import json
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar, runtime_checkable

from pydantic import ValidationError

from armorer_ray.errors import ConfigError, MissingExtraError, ToolError
from armorer_ray.json_values import to_json_compatible
from armorer_ray.results import ToolCall, ToolResult, new_call_id

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from armorer_ray.context import CallContext
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

    async def take(chunk: Any) -> None:
        chunks.append(chunk)
        if hub.wants("output-chunk"):
            hub.emit("output-chunk", {"tool": ctx.tool, "call": ctx.call, "chunk": chunk, "index": len(chunks) - 1})
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
                      max_buffered: int) -> AsyncGenerator[object, None]:
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


# -- across processes: a toolbox in a Ray actor ------------------------------------------------------------


@runtime_checkable
class Streams(Protocol):
    """Anything whose ``stream(call)`` yields chunks and then a `ToolResult`: a `Toolbox`, a `StreamingActor`.

    Example:
        >>> from armorer_ray import Toolbox
        >>> isinstance(Toolbox(), Streams)
        True
    """

    def stream(self, call: ToolCall, /) -> AsyncGenerator[object, None]:
        """Iterate over one call's chunks, then its result."""
        ...


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


# -- Server-Sent Events ----------------------------------------------------------------------------------


def _chunk_json(item: object) -> str:
    return json.dumps(to_json_compatible(item), separators=(",", ":"), ensure_ascii=False)


def sse_response(items: AsyncIterator[object], *, ping_s: float | None = 15.0) -> Response:
    """Serve a stream as Server-Sent Events: a ``chunk`` event per chunk (JSON), then one ``result`` event.

    A client that disconnects stops the iteration, which cancels the call.

    Args:
        items: What `Toolbox.stream` (or `StreamingActor.stream`) returns.
        ping_s: Seconds between keep-alive comments (None: none).

    Returns:
        A Starlette ``EventSourceResponse``.

    Raises:
        MissingExtraError: when Starlette or sse-starlette is not installed.

    Example:
        >>> import asyncio
        >>> from armorer_ray import Toolbox, tool
        >>> box = Toolbox([tool(name="one", description="Return 1.")(lambda: 1)])
        >>> type(sse_response(box.stream({"name": "one"}))).__name__
        'EventSourceResponse'
    """
    try:
        from sse_starlette.sse import EventSourceResponse
    except ModuleNotFoundError as exc:
        raise MissingExtraError("sse_response", "web") from exc

    async def events() -> AsyncIterator[dict[str, str]]:
        async for item in items:
            if isinstance(item, ToolResult):
                yield {"event": "result", "data": item.model_dump_json()}
            else:
                yield {"event": "chunk", "data": _chunk_json(item)}

    response: Response = EventSourceResponse(events(), ping=ping_s)
    return response


def sse_endpoint(source: Streams) -> Callable[[Request], Awaitable[Response]]:
    """A Starlette endpoint that takes a `ToolCall` as the JSON body of a POST and streams it as SSE.

    Args:
        source: A `Toolbox`, a `StreamingActor`, or anything with ``stream(call)``.

    Returns:
        ``async (request) -> response``; a body that is not a call gets a 422 with the validation error.

    Example:
        >>> from starlette.applications import Starlette
        >>> from starlette.routing import Route
        >>> from armorer_ray import Toolbox
        >>> app = Starlette(routes=[Route("/stream", sse_endpoint(Toolbox()), methods=["POST"])])
    """

    async def endpoint(request: Request) -> Response:
        from starlette.responses import JSONResponse

        try:
            call = ToolCall.model_validate_json(await request.body())
        except ValidationError as exc:
            from armorer_ray.pipeline import validation_error

            return JSONResponse(validation_error(exc, "tool call").model_dump(mode="json"), status_code=422)
        return sse_response(source.stream(call))

    return endpoint
