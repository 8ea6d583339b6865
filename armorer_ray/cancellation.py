"""Abort signals: cancellation that carries a reason, which `asyncio` cancellation alone cannot."""

from __future__ import annotations

import json
from collections.abc import Callable

__all__ = ["AbortController", "AbortSignal", "cancellation_message"]


class AbortSignal:
    """Read side of an `AbortController`: tools check ``aborted`` or register a listener.

    Example:
        >>> controller = AbortController()
        >>> controller.abort("user pressed stop")
        >>> controller.signal.aborted, controller.signal.reason
        (True, 'user pressed stop')
    """

    __slots__ = ("_listeners", "aborted", "reason")

    def __init__(self) -> None:
        self.aborted = False
        self.reason: object = None
        self._listeners: list[Callable[[object], None]] = []

    def add_listener(self, listener: Callable[[object], None]) -> Callable[[], None]:
        """Call ``listener(reason)`` on abort (at once if already aborted); returns a remover."""
        if self.aborted:
            listener(self.reason)
            return lambda: None
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove

    def _abort(self, reason: object) -> None:
        if self.aborted:
            return
        self.aborted, self.reason = True, reason
        listeners, self._listeners = self._listeners, []
        for listener in listeners:
            listener(reason)


class AbortController:
    """Owner of an `AbortSignal`; ``abort(reason)`` cancels every call running with the signal."""

    __slots__ = ("signal",)

    def __init__(self) -> None:
        self.signal = AbortSignal()

    def abort(self, reason: object = None) -> None:
        """Abort the signal once; later calls are no-ops."""
        self.signal._abort(reason)


def cancellation_message(reason: object) -> str:
    """The message of a ``cancelled`` result for an abort reason.

    Example:
        >>> cancellation_message(404), cancellation_message({"why": "x"}), cancellation_message(None)
        ('Cancelled: 404', 'Cancelled: {"why":"x"}', 'Cancelled')
    """
    if reason is None:
        return "Cancelled"
    if isinstance(reason, str):
        return reason or "Cancelled"
    if isinstance(reason, BaseException):
        return str(reason) or "Cancelled"
    if isinstance(reason, bool | int | float):
        return f"Cancelled: {reason}"
    try:
        return f"Cancelled: {json.dumps(reason, separators=(',', ':'))}"
    except (TypeError, ValueError):
        return "Cancelled"
