"""Lifecycle shared by toolboxes, resource pools and deployments: start, drain, stop, health."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

__all__ = ["Health", "Lifecycle", "LifecycleHook", "run_hooks"]

LifecycleHook = Callable[..., "Awaitable[None] | None"]


class Health(BaseModel):
    """Result of a health check: ``ok`` and a human-readable detail.

    Example:
        >>> Health(ok=True, detail="3 tools").ok
        True
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    ok: bool
    detail: str = ""


@runtime_checkable
class Lifecycle(Protocol):
    """What toolboxes, pools and deployments share; ``health`` never raises."""

    async def start(self) -> None: ...
    async def drain(self, timeout_s: float | None = None) -> None: ...
    async def stop(self) -> None: ...
    async def health(self) -> Health: ...


async def run_hooks(hooks: Sequence[LifecycleHook], owner: object) -> None:
    """Run hooks in order; each may take the owner as its one argument, or nothing."""
    for hook in hooks:
        try:
            params = inspect.signature(hook).parameters
        except (TypeError, ValueError):
            params = {}  # type: ignore[assignment]  # an empty mapping stands for 'no parameters'; mypy wants a MappingProxyType
        outcome = hook(owner) if params else hook()
        if inspect.isawaitable(outcome):
            await outcome
