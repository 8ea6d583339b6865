"""Executors: where a tool body runs once the pipeline has admitted the call.

`LocalExecutor` (the default) awaits async bodies on the event loop and runs sync bodies in worker threads.
When a call times out or is cancelled, the awaiting task is cancelled at once; a sync body still running in its
thread is interrupted by raising an exception inside that thread at its next Python bytecode (a body blocked
inside a C call, such as ``time.sleep``, stops when the call returns). Bodies that must stop sooner should poll
``ctx.signal.aborted``. A sync body sees the caller's context variables (the OpenTelemetry context among them),
as an async body does.

`armorer_ray.sandbox.SandboxExecutor` runs bodies in separate OS processes under CPU, memory, wall-clock and
output limits instead, for some tools or all (see docs/sandbox.md).
"""

from __future__ import annotations

import asyncio
import contextvars
import ctypes
import inspect
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from armorer_ray.context import CallContext
    from armorer_ray.tools import Tool

__all__ = ["Executor", "LocalExecutor"]


@runtime_checkable
class Executor(Protocol):
    """Runs a tool body with validated keyword arguments and returns its raw output."""

    async def run(self, tool: Tool, kwargs: dict[str, Any], ctx: CallContext) -> Any:
        """Run the body (or the dry-run handler when ``ctx.dry_run``)."""
        ...


class _Interrupted(BaseException):
    """Raised inside a worker thread to stop a sync body whose call was cancelled or timed out."""


class _ThreadRun:
    """One sync body in one worker thread, interruptible until it finishes."""

    __slots__ = ("done", "lock", "thread_id")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.thread_id: int | None = None
        self.done = False

    def run(self, fn: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        try:
            with self.lock:
                self.thread_id = threading.get_ident()
            try:
                return fn(**kwargs)
            finally:
                with self.lock:
                    self.done = True
        except _Interrupted:
            # The caller is gone; the value is never read. Returning keeps the pool thread alive and clean.
            return None

    def interrupt(self) -> None:
        with self.lock:
            if self.done or self.thread_id is None:
                return
            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(self.thread_id), ctypes.py_object(_Interrupted)
            )


class LocalExecutor:
    """Runs bodies in this process: async ones on the loop, sync ones in a thread pool (or inline).

    Args:
        max_threads: Size of the pool for sync bodies (None: Python's default for the machine).

    Example:
        >>> executor = LocalExecutor(max_threads=4)
    """

    def __init__(self, max_threads: int | None = None) -> None:
        self._max_threads = max_threads
        self._pool: ThreadPoolExecutor | None = None

    def _threads(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._max_threads, thread_name_prefix="armorer-tool")
        return self._pool

    async def run(self, tool: Tool, kwargs: dict[str, Any], ctx: CallContext) -> Any:
        fn = tool.resolve_body(ctx.dry_run)
        if tool._context_param is not None:
            kwargs[tool._context_param] = ctx
        if ctx.dry_run:
            outcome = fn(**kwargs)
            return await outcome if inspect.isawaitable(outcome) else outcome
        if tool._is_async:
            return await fn(**kwargs)
        if not tool.threaded:
            outcome = fn(**kwargs)
            return await outcome if inspect.isawaitable(outcome) else outcome
        run = _ThreadRun()
        # run_in_executor does not carry contextvars into the thread (asyncio.to_thread does, but cannot take our
        # pool); without a copy, the caller's trace context and any other contextvar would be lost in sync bodies.
        context = contextvars.copy_context()
        future = asyncio.get_running_loop().run_in_executor(self._threads(), context.run, run.run, fn, kwargs)
        try:
            outcome = await future
        except asyncio.CancelledError:
            run.interrupt()
            raise
        return await outcome if inspect.isawaitable(outcome) else outcome

    def shutdown(self) -> None:
        """Stop the thread pool (running bodies finish first)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
