"""Running the async core from sync code: one private event loop per thread, refused inside a loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["in_event_loop", "run_sync"]

T = TypeVar("T")
_local = threading.local()


def in_event_loop() -> bool:
    """Whether this thread is running an event loop right now."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def run_sync(coroutine: Coroutine[Any, Any, T], what: str) -> T:
    """Run ``coroutine`` to completion on this thread's private loop.

    The loop is kept for the thread's life, so toolboxes used from sync code keep their locks and semaphores
    bound to one loop across calls.

    Raises:
        RuntimeError: inside a running event loop, naming the awaitable form to use instead.
    """
    if in_event_loop():
        coroutine.close()
        raise RuntimeError(f"{what}_sync() called inside an event loop; use `await {what}(...)` instead")
    loop: asyncio.AbstractEventLoop | None = getattr(_local, "loop", None)
    if loop is None or loop.is_closed():
        loop = _local.loop = asyncio.new_event_loop()
    return loop.run_until_complete(coroutine)
