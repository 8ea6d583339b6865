"""Streaming tools: chunks through the pipeline, reducers, events, backpressure, cancellation, SSE, Ray actors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from armorer_ray import ConfigError, Toolbox, ToolCall, ToolResult, tool
from armorer_ray.events import Event
from armorer_ray.streaming import StreamingActor, sse_endpoint, streams
from armorer_ray.workflow import Node, create_workflow


@tool
@streams(reduce="concat")
async def tokens(prompt: str, n: int = 3) -> AsyncIterator[str]:
    """Stream n tokens about a prompt."""
    for i in range(n):
        await asyncio.sleep(0)
        yield f"{prompt}{i} "


@tool
def countdown(start: int) -> Iterator[int]:
    """A sync generator: count down to 1."""
    yield from range(start, 0, -1)


@tool
async def ticker(n: int, log: str) -> AsyncIterator[int]:
    """Yield 0..n-1, writing each to ``log`` as it is produced; write 'closed' when the generator ends."""
    try:
        for i in range(n):
            append(log, str(i))
            yield i
            await asyncio.sleep(0)
    finally:
        append(log, "closed")


def append(log: str, line: str) -> None:
    with open(log, "a") as handle:
        handle.write(line + "\n")


@tool
@streams(reduce="last")
async def slow_progress(steps: int) -> AsyncIterator[dict[str, int]]:
    """Report progress slowly."""
    for step in range(steps):
        await asyncio.sleep(0.05)
        yield {"done": step + 1}


class Summary(BaseModel):
    words: int


@tool(output_model=Summary, output_validation="strict")
@streams(reduce=lambda chunks: {"words": len(chunks)})
async def words(text: str) -> AsyncIterator[str]:
    """Stream the words of a text; the result counts them."""
    for word in text.split():
        yield word


@tool
@streams(reduce="concat")
async def mixed() -> AsyncIterator[object]:
    """Yield things 'concat' cannot join."""
    yield "a"
    yield 1


BOX = Toolbox([tokens, countdown, ticker, slow_progress, words, mixed])


async def collect(items: AsyncIterator[object]) -> tuple[list[object], ToolResult]:
    out = [item async for item in items]
    result = out.pop()
    assert isinstance(result, ToolResult) and not any(isinstance(item, ToolResult) for item in out)
    return out, result


def produced(log: Path) -> list[str]:
    return log.read_text().split() if log.exists() else []


async def wait_closed(log: Path, deadline_s: float = 30.0) -> None:
    """Wait until the ticker logged "closed": cancellation reaches the generator asynchronously."""
    for _ in range(int(deadline_s / 0.02)):
        if produced(log)[-1:] == ["closed"]:
            return
        await asyncio.sleep(0.02)


async def test_stream_yields_chunks_then_the_reduced_validated_result() -> None:
    chunks, result = await collect(BOX.stream(ToolCall(name="tokens", arguments={"prompt": "t"})))
    assert chunks == ["t0 ", "t1 ", "t2 "]
    assert (result.outcome, result.result, result.content) == ("success", "t0 t1 t2 ", "t0 t1 t2 ")
    chunks, result = await collect(BOX.stream({"name": "words", "arguments": {"text": "a b c"}}))
    assert chunks == ["a", "b", "c"] and result.result == Summary(words=3)
    assert result.output_validation is not None and result.output_validation.success


async def test_execute_collects_a_streaming_tool() -> None:
    assert (await BOX.execute({"name": "tokens", "arguments": {"prompt": "x", "n": 2}})).result == "x0 x1 "
    assert (await BOX.execute({"name": "countdown", "arguments": {"start": 3}})).result == [3, 2, 1]
    assert (await BOX.execute({"name": "countdown", "arguments": {"start": 2}}, timeout_s=5)).result == [2, 1]
    failed = await BOX.execute({"name": "mixed"})
    assert failed.error.message == "TypeError: 'concat' joins str, bytes or list chunks, got int, str"


async def test_chunks_are_events() -> None:
    seen: list[Event] = []
    BOX.on("output-chunk", seen.append)
    try:
        await BOX.execute({"name": "countdown", "arguments": {"start": 2}})
    finally:
        BOX.events._listeners.pop("output-chunk", None)
    assert [(e.detail["index"], e.detail["chunk"], e.detail["tool"].name) for e in seen] == [
        (0, 2, "countdown"), (1, 1, "countdown")]


async def test_calls_that_do_not_stream_yield_only_their_result() -> None:
    box = Toolbox([tool(name="one", description="Return 1.")(lambda: 1)])
    chunks, result = await collect(box.stream({"name": "one"}))
    assert chunks == [] and result.result == 1
    chunks, result = await collect(box.stream({"name": "missing"}))
    assert chunks == [] and result.error.category == "not_found"
    chunks, result = await collect(BOX.stream({"name": "tokens", "arguments": {}}))
    assert chunks == [] and result.error.category == "validation"
    with pytest.raises(ConfigError, match="max_buffered must be at least 1"):
        box.stream({"name": "one"}, max_buffered=0)
    with pytest.raises(ConfigError, match="unknown stream reducer"):
        streams(reduce="sum")  # type: ignore[arg-type]


async def test_a_deadline_covers_the_whole_stream() -> None:
    # 100 steps of 50 ms cannot finish in 1 s; a loaded machine still gets the first step out in time.
    chunks, result = await collect(BOX.stream({"name": "slow_progress", "arguments": {"steps": 100}}, timeout_s=1.0))
    assert result.error.category == "timeout"
    assert 0 < len(chunks) < 100


async def test_a_slow_reader_slows_the_producer(tmp_path: Path) -> None:
    log = tmp_path / "ticks"
    read = 0
    async with aclosing(BOX.stream({"name": "ticker", "arguments": {"n": 1000, "log": str(log)}},
                                   max_buffered=4)) as items:
        async for _ in items:
            read += 1
            await asyncio.sleep(0.001)
            # At most max_buffered chunks wait, plus the one being put: the tool cannot run further ahead.
            assert len(produced(log)) <= read + 4 + 1
            if read == 50:
                break
    await wait_closed(log)
    assert produced(log)[-1] == "closed" and len(produced(log)) <= 50 + 4 + 2


async def test_leaving_a_stream_cancels_the_call(tmp_path: Path) -> None:
    log = tmp_path / "ticks"
    finished: list[Event] = []
    stop = BOX.on("tool.finished", finished.append)
    try:
        async with aclosing(BOX.stream({"name": "ticker", "arguments": {"n": 10_000, "log": str(log)}})) as items:
            async for item in items:
                if item == 3:
                    break
        await wait_closed(log)
    finally:
        stop()
    assert produced(log)[-1] == "closed" and len(produced(log)) < 100
    assert finished[-1].detail["status"] == "cancelled"


async def test_a_workflow_node_gets_the_reduced_value() -> None:
    wf = create_workflow(nodes={"say": Node(tokens, arguments={"prompt": "w", "n": 2}),
                                "count": Node(words, inputs={"text": "say"})}, edges=[("say", "count")])
    run = await wf.run()
    assert run.outputs == {"count": Summary(words=2)}


def test_sse_endpoint_streams_chunks_then_the_result() -> None:
    from starlette.applications import Starlette
    from starlette.routing import Route
    from starlette.testclient import TestClient

    app = Starlette(routes=[Route("/stream", sse_endpoint(BOX), methods=["POST"])])
    with TestClient(app) as client:
        response = client.post("/stream", content=ToolCall(name="tokens", arguments={"prompt": "s"}).model_dump_json())
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [block for block in response.text.replace("\r\n", "\n").split("\n\n") if block.strip()]
        parsed = [dict(line.split(": ", 1) for line in block.splitlines()) for block in events]
        assert [(e["event"], json.loads(e["data"])) for e in parsed[:3]] == [
            ("chunk", "s0 "), ("chunk", "s1 "), ("chunk", "s2 ")]
        assert parsed[3]["event"] == "result" and json.loads(parsed[3]["data"])["result"] == "s0 s1 s2 "
        bad = client.post("/stream", content=b'{"arguments": {}}')
        assert bad.status_code == 422 and bad.json()["category"] == "validation"


# -- through a Ray actor -------------------------------------------------------------------------------


def build_box() -> Toolbox:
    return Toolbox([tokens, ticker])


@pytest.fixture(scope="module")
def actor(ray_runtime: Any) -> Iterator[StreamingActor]:
    handle = StreamingActor.start(build_box)
    yield handle
    handle.stop()


@pytest.mark.ray
async def test_a_stream_through_an_actor(actor: StreamingActor) -> None:
    chunks, result = await collect(actor.stream(ToolCall(name="tokens", arguments={"prompt": "r", "n": 4})))
    assert chunks == ["r0 ", "r1 ", "r2 ", "r3 "] and result.result == "r0 r1 r2 r3 "
    assert (await actor.execute(ToolCall(name="tokens", arguments={"prompt": "e", "n": 1}))).result == "e0 "


HANDOFF_SLACK = 8


@pytest.mark.ray
async def test_a_stream_through_an_actor_has_backpressure_and_cancels_halfway(actor: StreamingActor,
                                                                                tmp_path: Path) -> None:
    log = tmp_path / "ticks"
    call = ToolCall(name="ticker", arguments={"n": 2000, "log": str(log)})
    read = 0
    async with aclosing(actor.stream(call, buffered=4, max_buffered=4)) as items:
        async for item in items:
            assert item == read
            read += 1
            if read % 10 == 0:
                await asyncio.sleep(0.05)  # a slow reader: the producer may not run away
                # Ray holds at most `buffered` chunks, the toolbox `max_buffered`, and a few wait in hand-offs
                # (one per await between the generator and the driver, and Ray may admit one object past its
                # bound): HANDOFF_SLACK counts those loosely. Without backpressure the ticker would be ~2000 ahead.
                assert len(produced(log)) <= read + 4 + 4 + HANDOFF_SLACK
            if read == 1000:
                break
    await wait_closed(log)  # the cancellation travels to the actor asynchronously
    assert produced(log)[-1] == "closed"  # the tool's generator was closed in the actor
    assert len(produced(log)) <= 1000 + 4 + 4 + HANDOFF_SLACK + 1  # + the "closed" line


@pytest.mark.ray
async def test_a_lost_actor_still_ends_the_stream_with_a_result(ray_runtime: Any, tmp_path: Path) -> None:
    doomed = StreamingActor.start(build_box)
    call = ToolCall(name="ticker", arguments={"n": 100_000, "log": str(tmp_path / "ticks")})
    items: list[object] = []
    async for item in doomed.stream(call):
        items.append(item)
        if len(items) == 5:
            doomed.stop()
    assert items[:5] == [0, 1, 2, 3, 4]
    last = items[-1]
    assert isinstance(last, ToolResult) and last.error is not None and last.error.code == "STREAM_LOST"


def test_websocket_example_streams_chunks_then_the_result() -> None:
    from starlette.testclient import TestClient

    from examples.websocket_stream import app

    with TestClient(app) as client, client.websocket_connect("/ws") as socket:
        socket.send_text(ToolCall(name="draft_reply", arguments={"topic": "tea", "sentences": 2}).model_dump_json())
        messages = [socket.receive_json() for _ in range(3)]
    assert [m["type"] for m in messages] == ["chunk", "chunk", "result"]
    assert messages[2]["result"]["result"] == "Sentence 1 about tea. Sentence 2 about tea. "
    with TestClient(app) as client, client.websocket_connect("/ws") as socket:
        socket.send_text('{"arguments": {}}')
        assert socket.receive_json()["type"] == "error"
