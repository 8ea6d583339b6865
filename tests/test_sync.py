"""The sync twins (`execute_sync` and friends) run the async core on a per-thread loop; an interrupt leaves it clean."""

from __future__ import annotations

import asyncio
import os
import signal
import threading

import pytest

from armorer_ray import Toolbox, ToolCall, tool
from armorer_ray._sync import run_sync


def test_a_run_interrupted_from_outside_is_cancelled_not_resumed_by_the_next_run() -> None:
    # Ray cancels a running task by raising KeyboardInterrupt in its worker's main thread; the worker then runs
    # other tasks on the same thread and loop. The abandoned call must not wake up inside them.
    seen: list[str] = []
    sleeping = threading.Event()

    async def long_call() -> None:
        try:
            sleeping.set()
            await asyncio.sleep(60)
            seen.append("resumed")
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    def interrupt_once_sleeping() -> None:
        if sleeping.wait(timeout=60):  # interrupt the run, not whatever ran before it
            os.kill(os.getpid(), signal.SIGINT)

    # Python's own SIGINT handler raises KeyboardInterrupt; an earlier test (or a library it started) may have
    # replaced it, so install it for this test instead of relying on the process's state.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        threading.Thread(target=interrupt_once_sleeping, daemon=True).start()
        with pytest.raises(KeyboardInterrupt):
            run_sync(long_call(), "long_call")
    finally:
        signal.signal(signal.SIGINT, previous)
    assert seen == ["cancelled"]

    @tool
    async def ping() -> str:
        """Answer."""
        await asyncio.sleep(0.01)
        return "pong"

    assert Toolbox([ping]).execute_sync(ToolCall(name="ping")).result == "pong"  # the thread's loop still works
    assert seen == ["cancelled"]


async def test_the_sync_twin_refuses_inside_an_event_loop_and_names_the_awaitable() -> None:
    with pytest.raises(RuntimeError, match=r"toolbox.execute_sync\(\) called inside an event loop; use `await "
                                           r"toolbox.execute\(...\)`"):
        Toolbox([]).execute_sync(ToolCall(name="x"))
