"""Stream a tool's chunks over a WebSocket: one JSON message per chunk, then one with the `ToolResult`.

The client sends a `ToolCall` as JSON; the server runs it through `Toolbox.stream` and forwards each chunk as it
is produced. A client that goes away mid-stream cancels the call (the generator's ``finally`` runs).

Run it without a server (Starlette's test client drives the app in-process):

    .venv/bin/python examples/websocket_stream.py

or serve it and connect from anywhere (``{"name": "draft_reply", "arguments": {"topic": "refunds"}}``):

    .venv/bin/uvicorn examples.websocket_stream:app
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import aclosing

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from armorer_ray import Toolbox, ToolCall, ToolResult, tool
from armorer_ray.json_values import to_json_compatible
from armorer_ray.streaming import streams


@tool
@streams(reduce="concat")
async def draft_reply(topic: str, sentences: int = 3) -> AsyncIterator[str]:
    """Draft a customer reply, one sentence at a time (a stand-in for LLM token streaming)."""
    for index in range(sentences):
        await asyncio.sleep(0.01)
        yield f"Sentence {index + 1} about {topic}. "


toolbox = Toolbox([draft_reply], name="replies")


async def stream_socket(websocket: WebSocket) -> None:
    """Read one call, stream its chunks, send its result, close."""
    await websocket.accept()
    try:
        call = ToolCall.model_validate_json(await websocket.receive_text())
    except ValidationError as exc:
        await websocket.send_json({"type": "error", "message": str(exc)})
        await websocket.close(code=1003)
        return
    try:
        async with aclosing(toolbox.stream(call, max_buffered=8)) as items:
            async for item in items:
                if isinstance(item, ToolResult):
                    await websocket.send_json({"type": "result", "result": item.model_dump(mode="json")})
                else:
                    await websocket.send_json({"type": "chunk", "chunk": to_json_compatible(item)})
    except WebSocketDisconnect:
        return  # leaving the `async with` cancelled the call
    await websocket.close()


app = Starlette(routes=[WebSocketRoute("/ws", stream_socket)])


def main() -> None:
    from starlette.testclient import TestClient

    with TestClient(app) as client, client.websocket_connect("/ws") as socket:
        socket.send_text(ToolCall(name="draft_reply", arguments={"topic": "refunds"}).model_dump_json())
        while True:
            message = socket.receive_json()
            if message["type"] == "chunk":
                print("chunk :", message["chunk"])
            else:
                result = message["result"]
                print("result:", result["outcome"], repr(result["result"]))
                break


if __name__ == "__main__":
    main()
