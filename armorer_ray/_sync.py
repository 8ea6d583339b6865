"""Running the async core from sync code: one private event loop per thread, refused inside a loop."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["in_event_loop", "run_sync"]

T = TypeVar("T")
_local = threading.local()

# How long an interrupted run may take to unwind its cancelled task before the loop is given up.
_UNWIND_S = 2.0


def in_event_loop() -> bool:
    """Whether this thread is running an event loop right now."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def run_sync(coroutine: Coroutine[Any, Any, T], what: str, *, instead: str | None = None) -> T:
    """Run ``coroutine`` to completion on this thread's private loop.

    The loop is kept for the thread's life, so toolboxes used from sync code keep their locks and semaphores
    bound to one loop across calls. A run interrupted from outside (Ray cancels a task by raising
    ``KeyboardInterrupt`` in its worker's main thread) cancels its task before re-raising, so the abandoned call
    cannot wake up inside a later run on the same thread; a loop such an interrupt left unusable is replaced.

    Args:
        coroutine: What to run.
        what: The awaitable form's name, for the error message (``toolbox.execute`` for ``execute_sync``).
        instead: What to await instead, when it is not ``await {what}(...)``.

    Raises:
        RuntimeError: inside a running event loop, naming the awaitable form to use instead.
    """
    if in_event_loop():
        coroutine.close()
        raise RuntimeError(f"{what}_sync() called inside an event loop; use `{instead or f'await {what}(...)'}` "
                           "instead")
    loop: asyncio.AbstractEventLoop | None = getattr(_local, "loop", None)
    # No loop can be running on this thread here, so a loop that says it is was stopped by an interrupt midway.
    if loop is None or loop.is_closed() or loop.is_running():
        loop = _local.loop = asyncio.new_event_loop()
    task = loop.create_task(coroutine)
    try:
        return loop.run_until_complete(task)
    except BaseException:
        if not task.done():
            _unwind(loop, task)
        raise


def _unwind(loop: asyncio.AbstractEventLoop, task: asyncio.Task[Any]) -> None:
    task.cancel()
    # Best effort: the caller re-raises the interrupt that brought us here, whatever happens while unwinding.
    with contextlib.suppress(BaseException):
        loop.run_until_complete(asyncio.wait([task], timeout=_UNWIND_S))
    if not task.done() or loop.is_running():
        _local.loop = None  # the task would not stop, or the loop is wedged: the next run starts afresh
