"""Server-Sent Events: serve a stream of chunks and its final result over HTTP with Starlette."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from pydantic import ValidationError

from armorer_ray.errors import MissingExtraError
from armorer_ray.json_values import to_json_compatible
from armorer_ray.results import ToolCall, ToolResult

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

__all__ = ["Streams", "sse_endpoint", "sse_response"]


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
