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

Across processes, `Deployment.stream` runs the call on a replica (through the deployment's router, so its slot,
queue bound and supervision apply) as a Ray streaming generator: at most ``buffered`` chunks wait in Ray for a
slow reader before the replica (and so the tool) pauses, and leaving the iteration cancels the replica's task,
which cancels the call. `StreamingActor` is a deprecated shim over a one-replica deployment. The parts live in
`armorer_ray.streams` (reducers, the stream iterator, SSE). `sse_response` and `sse_endpoint` serve a stream as
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
import warnings
from collections.abc import AsyncGenerator, Callable, Mapping
from typing import TYPE_CHECKING, Any

from armorer_ray.results import ToolCall, ToolResult
from armorer_ray.streams.reducers import STREAM_SINK, ChunkSink, Reducer, collect_stream, streams
from armorer_ray.streams.sse import Streams, sse_endpoint, sse_response

if TYPE_CHECKING:
    from armorer_ray.actors import Deployment
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


class StreamingActor:
    """Deprecated: a one-replica `Deployment` whose calls stream; use ``deploy(...)`` and `Deployment.stream`.

    It used to host a toolbox in an actor of its own, outside the router and supervision; it is now a thin shim
    over a deployment, so its streams take the router's slots, backpressure and supervision like any call.

    Example:
        >>> actor = StreamingActor.start(build_toolbox)  # doctest: +SKIP
        >>> async for item in actor.stream(ToolCall(name="tokens", arguments={"prompt": "hi"})):  # doctest: +SKIP
        ...     print(item)
    """

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment

    @classmethod
    def start(cls, toolbox: Toolbox | Callable[[], Toolbox], *, num_cpus: float = 0,
              max_concurrency: int = 64) -> StreamingActor:
        """Deploy the toolbox as one replica (deprecated: call ``deploy`` and use `Deployment.stream`).

        Args:
            toolbox: The toolbox, or a picklable function that builds it.
            num_cpus: CPUs the replica reserves.
            max_concurrency: Calls the replica runs at once.

        Returns:
            The shim (picklable: the deployment handle pickles as its name).
        """
        warnings.warn("StreamingActor is deprecated: use armorer_ray.actors.deploy(toolbox) and Deployment.stream, "
                      "which stream through the deployment's router and supervision", DeprecationWarning, stacklevel=2)
        from armorer_ray.actors import ActorOptions, DeploymentOptions, deploy

        deployment = deploy(toolbox, replicas=1, options=DeploymentOptions(max_concurrency=max_concurrency),
                            actor_options=ActorOptions(num_cpus=num_cpus))
        return cls(deployment)

    def stream(self, call: ToolCall, /, *, timeout_s: float | None = None, buffered: int = 4,
               max_buffered: int = 4) -> AsyncGenerator[object, None]:
        """`Deployment.stream`: the call's chunks, then its `ToolResult`; leaving early cancels the call."""
        return self.deployment.stream(call, timeout_s=timeout_s, buffered=buffered, max_buffered=max_buffered)

    async def execute(self, call: ToolCall, /, *, timeout_s: float | None = None) -> ToolResult:
        """Run a call on the replica and return its result (chunks collected)."""
        return await self.deployment.execute(call, timeout_s=timeout_s)

    def stop(self) -> None:
        """Shut the deployment down without draining (in a running loop, as a task: streams end ``STREAM_LOST``)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.deployment.shutdown_sync(drain=False)
            return
        task: asyncio.Task[object] = loop.create_task(self.deployment.shutdown(drain=False))
        _STOPPING.add(task)
        task.add_done_callback(_STOPPING.discard)


_STOPPING: set[asyncio.Task[object]] = set()  # shutdown tasks of stop(), kept referenced until they finish
