"""Chunked batches: one chunk at a time, in order, stoppable between chunks."""

from __future__ import annotations

import asyncio

import pytest

from armorer_ray import ConfigError, Toolbox, ToolCall
from armorer_ray.middleware import execute_chunked, iter_chunks
from armorer_ray.testing import mock_tool


def squares() -> tuple[Toolbox, dict[str, int]]:
    load = {"running": 0, "peak": 0}

    async def square(n: int) -> int:
        load["running"] += 1
        load["peak"] = max(load["peak"], load["running"])
        await asyncio.sleep(0.001)
        load["running"] -= 1
        return n * n

    return Toolbox([mock_tool("square", impl=square)]), load


def calls(count: int) -> list[ToolCall]:
    return [ToolCall(name="square", arguments={"n": n}) for n in range(count)]


async def test_results_come_back_in_order_and_no_chunk_overlaps_the_next() -> None:
    box, load = squares()
    results = await execute_chunked(box, calls(23), chunk_size=5)
    assert [r.result for r in results] == [n * n for n in range(23)]
    assert load["peak"] == 5


async def test_concurrency_limits_calls_within_a_chunk() -> None:
    box, load = squares()
    await execute_chunked(box, calls(10), chunk_size=5, concurrency=2)
    assert load["peak"] == 2


async def test_stopping_the_iteration_stops_the_batch() -> None:
    box, _ = squares()
    seen = []
    async for chunk in iter_chunks(box, calls(10), chunk_size=3):
        seen.append([r.result for r in chunk])
        break
    assert seen == [[0, 1, 4]]
    assert len(box.get_tool("square").calls) == 3  # type: ignore[union-attr]


async def test_chunk_size_must_be_positive() -> None:
    box, _ = squares()
    with pytest.raises(ConfigError):
        await execute_chunked(box, calls(3), chunk_size=0)
