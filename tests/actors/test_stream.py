"""`Deployment.stream`: one call's chunks through the deployment's router, then exactly one result."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from armorer_ray import Toolbox, ToolCall, ToolResult, tool
from armorer_ray.actors import Deployment
from armorer_ray.streaming import streams

pytestmark = pytest.mark.ray


@tool
@streams(reduce="concat")
async def spell(word: str) -> AsyncIterator[str]:
    "Spell a word, one letter at a time."
    for letter in word:
        yield letter


@tool
async def hold(seconds: float) -> str:
    "Hold a slot for a while."
    await asyncio.sleep(seconds)
    return "held"


async def test_chunks_then_the_result_through_the_router(launch: Callable[..., Deployment]) -> None:
    dep = launch(Toolbox([spell, hold]), replicas=2)
    items = [item async for item in dep.stream(ToolCall(name="spell", arguments={"word": "ray"}))]
    assert items[:-1] == ["r", "a", "y"]
    result = items[-1]
    assert isinstance(result, ToolResult) and result.result == "ray"
    missing = [item async for item in dep.stream({"name": "nope"})]
    assert len(missing) == 1 and isinstance(missing[0], ToolResult) and missing[0].error is not None
    assert missing[0].error.category == "not_found"


async def test_a_full_deployment_refuses_a_stream_at_once(launch: Callable[..., Deployment]) -> None:
    dep = launch(Toolbox([spell, hold]), replicas=1, max_concurrency=1, max_queued=0, batch_size=1)
    await dep.ready()
    busy = asyncio.ensure_future(dep.execute(ToolCall(name="hold", arguments={"seconds": 60})))
    try:
        for _ in range(300):  # bounded polling: until the call holds the only slot
            if (await dep.stats()).handle.in_flight >= 1:
                break
            await asyncio.sleep(0.1)
        items = [item async for item in dep.stream(ToolCall(name="spell", arguments={"word": "no"}))]
        assert len(items) == 1 and isinstance(items[0], ToolResult) and items[0].error is not None
        assert items[0].error.code == "BACKPRESSURE"
    finally:
        busy.cancel()
        await asyncio.gather(busy, return_exceptions=True)
