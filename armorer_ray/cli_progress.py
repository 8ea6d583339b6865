"""`DelayedProgress`: a rich progress bar for CLI work that shows itself only once the work takes over a second.

Quick commands stay silent (and their output stays clean for pipes); slow ones say how far they are. The bar
goes to the console it is given (the CLI's stderr), so stdout keeps only the command's result.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

__all__ = ["DelayedProgress", "delayed_status"]


class DelayedProgress:
    """Count steps; past ``delay_s`` seconds of work, draw a transient rich progress bar of them.

    Args:
        console: Where the bar is drawn (a non-terminal console draws nothing).
        description: What the work is.
        total: How many steps there are.
        delay_s: Seconds of work before the bar appears.

    Example:
        >>> from io import StringIO
        >>> with DelayedProgress(Console(file=StringIO()), "work", 3) as bar:
        ...     for _ in range(3):
        ...         bar.advance()
        >>> bar.done
        3
    """

    def __init__(self, console: Console, description: str, total: int, *, delay_s: float = 1.0) -> None:
        self.console, self.description, self.total, self.delay_s = console, description, total, delay_s
        self.done = 0
        self._started = 0.0
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> DelayedProgress:
        self._started = time.monotonic()
        return self

    def advance(self, steps: int = 1) -> None:
        """Record ``steps`` more steps done (and show the bar once the work has taken over ``delay_s``)."""
        self.done += steps
        if self._progress is None and time.monotonic() - self._started > self.delay_s:
            self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                      TimeRemainingColumn(), console=self.console, transient=True)
            self._progress.start()
            self._task = self._progress.add_task(self.description, total=self.total, completed=self.done)
        elif self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=self.done)

    @property
    def shown(self) -> bool:
        """Whether the bar has appeared."""
        return self._progress is not None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self._progress is not None:
            self._progress.stop()


@contextmanager
def delayed_status(console: Console, message: str, *, delay_s: float = 1.0) -> Iterator[None]:
    """A rich spinner with ``message`` for one blocking step, drawn only if the step takes over ``delay_s``.

    Example:
        >>> from io import StringIO
        >>> with delayed_status(Console(file=StringIO()), "calling"):
        ...     pass
    """
    status = console.status(message)
    shown = threading.Event()
    lock = threading.Lock()

    def show() -> None:
        with lock:
            if not shown.is_set():
                status.start()
                shown.set()

    timer = threading.Timer(delay_s, show)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        with lock:
            if shown.is_set():
                status.stop()
            shown.set()  # a timer firing now finds the step over and draws nothing
