"""`create_resource_pool`: a pool local to each process (the usual case), or one Ray actor shared by many.

Local pools travel as their factory: put one in ``Toolbox(resources={"db": pool})`` and every replica opens its
own connections. A shared pool lives in its own actor and lends out picklable resources, typically handles of
model-serving actors, to every deployment that holds it; those handles pickle as the pool's actor handle.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Generic, Literal, TypeVar, overload

import ray

from armorer_ray.actors._private.pool_host import PoolHostActor
from armorer_ray.errors import Cancelled, ConfigError, TimedOut, ToolError, ToolFailure, Transient
from armorer_ray.lifecycle import Health
from armorer_ray.resources import PoolOptions, PoolStats, ResourcePool

__all__ = ["SharedResourcePool", "create_resource_pool"]

T = TypeVar("T")


class SharedLease(Generic[T]):
    """A resource borrowed from a `SharedResourcePool`."""

    __slots__ = ("_id", "_pool", "_released", "resource")

    def __init__(self, pool: SharedResourcePool[T], lease_id: str, resource: T) -> None:
        self._pool = pool
        self._id = lease_id
        self.resource = resource
        self._released = False

    async def release(self, *, discard: bool = False) -> None:
        """Give the resource back (once), closing it in the pool when ``discard``."""
        if not self._released:
            self._released = True
            await self._pool._actor.release.remote(self._id, discard)


class _SharedScope(Generic[T]):
    __slots__ = ("_lease", "_pool", "_timeout_s")

    def __init__(self, pool: SharedResourcePool[T], timeout_s: float | None) -> None:
        self._pool = pool
        self._timeout_s = timeout_s
        self._lease: SharedLease[T] | None = None

    async def __aenter__(self) -> T:
        self._lease = await self._pool.acquire(self._timeout_s)
        return self._lease.resource

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self._lease is not None:
            await asyncio.shield(self._lease.release())


class SharedResourcePool(Generic[T]):
    """A handle to a pool running in its own Ray actor, shared by every deployment (and driver) that holds it.

    It is not the pool's owner: a toolbox stopping calls `close`, which gives back only this holder's leases;
    `shutdown` drains and ends the pool for everyone.

    Attributes:
        name: The pool's name.

    Example:
        >>> models = create_resource_pool(start_model_server, max_size=4, shared=True, name="llm")  # doctest: +SKIP
        >>> async with models.lease() as server:  # doctest: +SKIP
        ...     answer = await server.generate.remote(prompt)
        >>> await models.shutdown()  # doctest: +SKIP
    """

    def __init__(self, actor: Any, name: str) -> None:
        self._actor = actor
        self.name = name
        self._holder = uuid.uuid4().hex  # each copy (each replica) is its own holder

    def __reduce__(self) -> tuple[Any, ...]:
        return (SharedResourcePool, (self._actor, self.name))

    def __repr__(self) -> str:
        return f"SharedResourcePool({self.name!r})"

    def lease(self, timeout_s: float | None = None) -> _SharedScope[T]:
        """``async with pool.lease() as resource:``, as with a local `ResourcePool`.

        Raises:
            TimedOut: (``POOL_TIMEOUT``) when none is free in time.
            Transient: (``POOL_DRAINING``) when the pool is shutting down.
        """
        return _SharedScope(self, timeout_s)

    async def acquire(self, timeout_s: float | None = None) -> SharedLease[T]:
        """Borrow a resource; give it back with `SharedLease.release`.

        Raises:
            TimedOut: (``POOL_TIMEOUT``) when none is free in time.
            Transient: (``POOL_DRAINING``) when the pool is shutting down.
            ToolFailure: when the pool's factory failed (classified as for tool errors).
        """
        lease_id = uuid.uuid4().hex
        ref = self._actor.acquire.remote(lease_id, self._holder, timeout_s)
        try:
            granted, value = await ref
        except asyncio.CancelledError:
            # The grant may still happen: releasing the id first makes the pool hand it straight back.
            self._actor.release.remote(lease_id, False)
            raise
        if not granted:
            raise _as_failure(value)
        return SharedLease(self, lease_id, value)

    async def close(self) -> None:
        """Give back every resource this holder still has (a toolbox's `stop` calls this)."""
        try:
            await self._actor.release_holder.remote(self._holder)
        except ray.exceptions.RayActorError:
            pass  # the pool is already gone

    async def stats(self) -> PoolStats:
        """The shared pool's counters."""
        stats: PoolStats = await self._actor.stats.remote()
        return stats

    async def health(self) -> Health:
        """The shared pool's health; never raises."""
        try:
            health: Health = await self._actor.health.remote()
        except Exception as exc:
            return Health(ok=False, detail=f"pool actor unreachable: {type(exc).__name__}")
        return health

    async def shutdown(self, timeout_s: float | None = None) -> PoolStats:
        """Drain the pool for every holder (closing all its resources), end its actor, and return final stats."""
        await self._actor.drain.remote(timeout_s)
        stats: PoolStats = await self._actor.stats.remote()
        ray.kill(self._actor, no_restart=True)
        return stats


def _as_failure(error: ToolError) -> ToolFailure:
    kinds: dict[str, type[ToolFailure]] = {"transient": Transient, "timeout": TimedOut, "cancelled": Cancelled}
    return kinds.get(error.category, ToolFailure)(error.message, code=error.code, retryable=error.retryable,
                                                  details=error.details)


@overload
def create_resource_pool(factory: Callable[[], T | Awaitable[T]], *, min_size: int = 0, max_size: int = 10,
                         health_check: Callable[[T], Any] | None = None, max_idle_s: float | None = 300.0,
                         acquire_timeout_s: float = 30.0, close: Callable[[T], Any] | None = None,
                         health_period_s: float | None = 30.0, name: str | None = None,
                         shared: Literal[False] = False) -> ResourcePool[T]: ...
@overload
def create_resource_pool(factory: Callable[[], T | Awaitable[T]], *, min_size: int = 0, max_size: int = 10,
                         health_check: Callable[[T], Any] | None = None, max_idle_s: float | None = 300.0,
                         acquire_timeout_s: float = 30.0, close: Callable[[T], Any] | None = None,
                         health_period_s: float | None = 30.0, name: str | None = None, shared: Literal[True],
                         namespace: str | None = None, detached: bool = False,
                         lease_ttl_s: float | None = None) -> SharedResourcePool[T]: ...


def create_resource_pool(
    factory: Callable[[], T | Awaitable[T]],
    *,
    min_size: int = 0,
    max_size: int = 10,
    health_check: Callable[[T], Any] | None = None,
    max_idle_s: float | None = 300.0,
    acquire_timeout_s: float = 30.0,
    close: Callable[[T], Any] | None = None,
    health_period_s: float | None = 30.0,
    name: str | None = None,
    shared: bool = False,
    namespace: str | None = None,
    detached: bool = False,
    lease_ttl_s: float | None = None,
) -> ResourcePool[T] | SharedResourcePool[T]:
    """A pool of resources made by ``factory``: local to each process, or ``shared`` in one Ray actor.

    Hand it to a toolbox as ``Toolbox(resources={"db": pool})``; tools borrow with
    ``async with ctx.resources["db"].lease() as conn``. Health is checked on borrow and every
    ``health_period_s`` in the background; broken resources are closed and replaced; ``drain()`` (run by the
    toolbox's ``stop``, and so by a deployment's graceful shutdown) closes everything.

    Args:
        factory: Makes one resource (sync or async). For a shared pool, resources must be picklable.
        min_size: Resources kept open when idle.
        max_size: Most resources open at once.
        health_check: ``(resource) -> bool | None``; False or an exception means broken.
        max_idle_s: Close resources idle longer than this (down to ``min_size``).
        acquire_timeout_s: Longest a borrower waits.
        close: How to close one (default: its ``aclose()`` or ``close()``).
        health_period_s: Background check period (None: no background checks).
        name: Label for errors and stats; for a shared pool, its Ray actor is named ``armorer.pool:<name>``.
        shared: Run the pool in its own Ray actor, shared by every holder.
        namespace: Ray namespace of a shared pool.
        detached: Keep a shared pool alive after this driver exits.
        lease_ttl_s: Shared pools only: take back leases held longer than this (covers holders that died).

    Returns:
        A `ResourcePool`, or a `SharedResourcePool` handle when ``shared``.

    Raises:
        pydantic.ValidationError: for sizes or times out of range.
        ConfigError: when a shared pool of that name already exists.

    Example:
        >>> import asyncio
        >>> pool = create_resource_pool(lambda: {"connected": True}, max_size=2, name="db")
        >>> async def borrow():
        ...     async with pool.lease() as conn:
        ...         return conn["connected"]
        >>> asyncio.run(borrow())
        True
    """
    settings = PoolOptions(min_size=min_size, max_size=max_size, max_idle_s=max_idle_s,
                           acquire_timeout_s=acquire_timeout_s, health_period_s=health_period_s)
    if not shared:
        return ResourcePool(factory, health_check=health_check, close=close, name=name, **_pool_kwargs(settings))
    if not ray.is_initialized():
        ray.init()
    label = str(name or getattr(factory, "__name__", "pool"))
    try:
        actor = PoolHostActor.options(
            name=f"armorer.pool:{label}", namespace=namespace, num_cpus=0, max_concurrency=1_000,
            lifetime="detached" if detached else None,
        ).remote(factory, {**_pool_kwargs(settings), "health_check": health_check, "close": close}, label,
                 lease_ttl_s)
    except ValueError as exc:
        raise ConfigError(f"a shared resource pool named {label!r} already exists") from exc
    return SharedResourcePool(actor, label)


def _pool_kwargs(settings: PoolOptions) -> dict[str, Any]:
    return settings.model_dump(exclude={"health_timeout_s"})
