"""`ResourcePool`: clients or connections made by a factory, leased to tools through ``ctx.resources``.

A pool travels as its factory and options: pickling one (to ship a toolbox into a Ray actor) carries no open
resource, and the copy fills itself where it is used. Pure Python, so it works with or without Ray.

```
acquire ─► idle resource? ── health check ── ok ──► lease
              │                   └── broken: close, count it, try again
              └─ none: below max_size? ─► factory() ─► lease
                          └─ no: wait (FIFO) up to acquire_timeout_s ─► TimedOut POOL_TIMEOUT
release ─► back to idle (or closed when discarded or the pool drains)
background, every health_period_s: close broken and long-idle resources, refill to min_size
drain() ─► refuse new leases (Transient POOL_DRAINING), close idle ones, wait for leases to come back
```
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, NonNegativeInt, PositiveFloat, PositiveInt, model_validator

from armorer_ray.errors import TimedOut, Transient
from armorer_ray.lifecycle import Health

__all__ = ["Lease", "PoolOptions", "PoolStats", "ResourcePool"]

T = TypeVar("T")
log = logging.getLogger(__name__)


class PoolOptions(BaseModel):
    """Sizing and timing of a `ResourcePool`.

    Attributes:
        min_size: Resources kept open even when idle (made by `ResourcePool.start`).
        max_size: Most resources open at once; borrowers beyond it wait.
        max_idle_s: Idle resources older than this are closed (down to ``min_size``); None keeps them.
        acquire_timeout_s: Longest a borrower waits for a resource.
        health_period_s: How often idle resources are checked in the background; None turns that off.
        health_timeout_s: A health check slower than this counts as failed.

    Example:
        >>> PoolOptions(max_size=4).acquire_timeout_s
        30.0
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_size: NonNegativeInt = 0
    max_size: PositiveInt = 10
    max_idle_s: PositiveFloat | None = 300.0
    acquire_timeout_s: PositiveFloat = 30.0
    health_period_s: PositiveFloat | None = 30.0
    health_timeout_s: PositiveFloat = 5.0

    @model_validator(mode="after")
    def _sizes(self) -> PoolOptions:
        if self.min_size > self.max_size:
            raise ValueError(f"min_size ({self.min_size}) must not exceed max_size ({self.max_size})")
        return self


class PoolStats(BaseModel):
    """Counters of a `ResourcePool`; after a full drain, ``created == closed``.

    Attributes:
        name: The pool's name.
        created: Resources the factory made.
        closed: Resources closed (broken, idle too long, discarded, or drained).
        broken: Of those closed, the ones that failed a health check.
        idle: Open and waiting for a borrower.
        in_use: Leased now (or being made for a borrower).
        waiting: Borrowers waiting for a resource.
        draining: Whether the pool refuses new leases.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    created: int
    closed: int
    broken: int
    idle: int
    in_use: int
    waiting: int
    draining: bool


@dataclass(slots=True)
class _Slot(Generic[T]):
    resource: T
    idle_since: float = field(default_factory=time.monotonic)


class Lease(Generic[T]):
    """One borrowed resource; give it back with `release` (or use `ResourcePool.lease` as a context manager).

    Attributes:
        resource: The borrowed client or connection.
    """

    __slots__ = ("_pool", "_released", "_slot")

    def __init__(self, pool: ResourcePool[T], slot: _Slot[T]) -> None:
        self._pool = pool
        self._slot = slot
        self._released = False

    @property
    def resource(self) -> T:
        """The borrowed resource."""
        return self._slot.resource

    async def release(self, *, discard: bool = False, check: bool = False) -> None:
        """Return the resource (once; later calls do nothing).

        Args:
            discard: Close it instead of keeping it (it is broken, or must not be reused).
            check: Run the pool's health check first and discard it when the check fails.
        """
        if self._released:
            return
        self._released = True
        await self._pool._give_back(self._slot, discard=discard, check=check)


class _LeaseScope(Generic[T]):
    __slots__ = ("_lease", "_pool", "_timeout_s")

    def __init__(self, pool: ResourcePool[T], timeout_s: float | None) -> None:
        self._pool = pool
        self._timeout_s = timeout_s
        self._lease: Lease[T] | None = None

    async def __aenter__(self) -> T:
        self._lease = await self._pool.acquire(self._timeout_s)
        return self._lease.resource

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self._lease is not None:
            # After a failure inside the block the resource may be broken: check it before keeping it.
            await asyncio.shield(self._lease.release(check=exc_type is not None))


class ResourcePool(Generic[T]):
    """A bounded pool of resources made by ``factory``, checked on borrow and in the background.

    Factories, checks and closers may be sync or async; sync ones run in a worker thread so they never block
    the event loop (an actor's loop serves every call). A health check fails by returning False, raising, or
    taking longer than ``health_timeout_s``. Without ``close``, a resource's own ``aclose()`` or ``close()``
    is used when it has one.

    Args:
        factory: Makes one resource.
        min_size: Resources kept open even when idle.
        max_size: Most resources open at once.
        health_check: ``(resource) -> bool | None``; run on borrow and in the background.
        close: ``(resource) -> None``; how to close one.
        max_idle_s: Close resources idle longer than this (down to ``min_size``); None keeps them.
        acquire_timeout_s: Longest a borrower waits.
        health_period_s: Background check period; None turns background checks off.
        health_timeout_s: Deadline of one health check.
        name: Label for errors and stats (the key in ``resources`` is a good choice).

    Raises:
        pydantic.ValidationError: for sizes or times out of range.

    Example:
        >>> import asyncio
        >>> made = []
        >>> pool = ResourcePool(lambda: made.append(1) or {"conn": len(made)}, max_size=2, name="db")
        >>> async def use():
        ...     async with pool.lease() as conn:
        ...         value = conn["conn"]
        ...     await pool.drain()
        ...     return value, pool.stats().created, pool.stats().closed
        >>> asyncio.run(use())
        (1, 1, 1)
    """

    def __init__(
        self,
        factory: Callable[[], T | Awaitable[T]],
        *,
        min_size: int = 0,
        max_size: int = 10,
        health_check: Callable[[T], Any] | None = None,
        close: Callable[[T], Any] | None = None,
        max_idle_s: float | None = 300.0,
        acquire_timeout_s: float = 30.0,
        health_period_s: float | None = 30.0,
        health_timeout_s: float = 5.0,
        name: str | None = None,
    ) -> None:
        self.options = PoolOptions(min_size=min_size, max_size=max_size, max_idle_s=max_idle_s,
                                   acquire_timeout_s=acquire_timeout_s, health_period_s=health_period_s,
                                   health_timeout_s=health_timeout_s)
        self.factory = factory
        self.health_check = health_check
        self.closer = close
        self.name = name or getattr(factory, "__name__", "pool")
        self._idle: deque[_Slot[T]] = deque()
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._size = 0  # open + being made; never above max_size
        self._in_use = 0
        self._created = self._closed = self._broken = 0
        self._draining = False
        self._returned: asyncio.Event | None = None  # set by the last release while draining
        self._background: asyncio.Task[None] | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        # Factories travel, resources do not: the copy starts empty wherever it is unpickled.
        o = self.options
        return (_rebuild, (self.factory, self.health_check, self.closer, self.name, o.model_dump()))

    def __repr__(self) -> str:
        return f"ResourcePool({self.name!r}, size={self._size}/{self.options.max_size})"

    # -- lifecycle -------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Open ``min_size`` resources and start background checks (also done lazily by the first lease)."""
        self._start_background()
        await self._refill()

    async def drain(self, timeout_s: float | None = None) -> None:
        """Refuse new leases, close idle resources, and wait up to ``timeout_s`` for leases to come back.

        Resources still leased when the wait ends are closed as they are released.
        """
        self._draining = True
        if self._background is not None:
            self._background.cancel()
            self._background = None
        while self._waiters:  # waiters wake, see the pool draining, and fail with POOL_DRAINING
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
        while self._idle:
            slot = self._idle.pop()
            self._size -= 1
            await self._close(slot.resource)
        if self._in_use:
            self._returned = self._returned or asyncio.Event()
            try:
                await asyncio.wait_for(self._returned.wait(), timeout_s)
            except asyncio.TimeoutError:
                log.warning("pool %r drained with %d resources still leased", self.name, self._in_use)

    async def stop(self) -> None:
        """Drain without waiting for leases."""
        await self.drain(timeout_s=0)

    async def health(self) -> Health:
        """Whether the pool can lend; never raises."""
        if self._draining:
            return Health(ok=False, detail="draining")
        return Health(ok=True, detail=f"{self._in_use} in use, {len(self._idle)} idle of {self.options.max_size}")

    def stats(self) -> PoolStats:
        """A snapshot of the counters."""
        return PoolStats(name=self.name, created=self._created, closed=self._closed, broken=self._broken,
                         idle=len(self._idle), in_use=self._in_use, waiting=len(self._waiters),
                         draining=self._draining)

    # -- borrowing -------------------------------------------------------------------------------------

    def lease(self, timeout_s: float | None = None) -> _LeaseScope[T]:
        """``async with pool.lease() as resource:`` borrows one and gives it back at the end.

        After an exception inside the block the resource is health-checked before it is kept.

        Raises:
            TimedOut: (``POOL_TIMEOUT``) when none is free within the timeout.
            Transient: (``POOL_DRAINING``) when the pool is draining.
        """
        return _LeaseScope(self, timeout_s)

    async def acquire(self, timeout_s: float | None = None) -> Lease[T]:
        """Borrow a resource (healthy, or freshly made); give it back with `Lease.release`.

        Args:
            timeout_s: Longest wait (default ``acquire_timeout_s``).

        Returns:
            The lease.

        Raises:
            TimedOut: (``POOL_TIMEOUT``) when none is free within the timeout.
            Transient: (``POOL_DRAINING``) when the pool is draining.
            Exception: whatever the factory raised.
        """
        self._start_background()
        wait_s = self.options.acquire_timeout_s if timeout_s is None else timeout_s
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        while True:
            if self._draining:
                raise Transient(f"resource pool {self.name!r} is draining", code="POOL_DRAINING")
            if self._idle:
                slot = self._idle.pop()  # newest first: keeps a warm core and lets extras age out
                self._in_use += 1
                if await self._is_healthy(slot.resource):
                    return Lease(self, slot)
                self._in_use -= 1
                await self._discard(slot, broken=True)
                continue
            if self._size < self.options.max_size:
                self._size += 1
                self._in_use += 1
                try:
                    resource = await self._make()
                except BaseException:
                    self._size -= 1
                    self._in_use -= 1
                    self._wake()
                    raise
                return Lease(self, _Slot(resource))
            await self._wait(deadline - loop.time(), wait_s)

    async def _wait(self, remaining_s: float, wait_s: float) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(waiter, max(remaining_s, 0.0))
        except asyncio.TimeoutError:
            raise TimedOut(f"no {self.name!r} resource free within {wait_s}s", code="POOL_TIMEOUT") from None
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._wake()  # we were woken but are leaving: pass the turn on
            raise
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    async def _give_back(self, slot: _Slot[T], *, discard: bool, check: bool) -> None:
        if not discard and check and self.health_check is not None and not self._draining:
            discard = not await self._is_healthy(slot.resource)
            broken = discard
        else:
            broken = False
        self._in_use -= 1
        if discard or self._draining:
            await self._discard(slot, broken=broken)
        else:
            slot.idle_since = time.monotonic()
            self._idle.append(slot)
            self._wake()
        if self._draining and not self._in_use and self._returned is not None:
            self._returned.set()

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    # -- making, checking, closing ---------------------------------------------------------------------

    async def _make(self) -> T:
        resource = await _call(self.factory)
        self._created += 1
        return resource  # type: ignore[no-any-return]  # _call returns the factory's result untyped; the factory is typed -> T

    async def _is_healthy(self, resource: T) -> bool:
        if self.health_check is None:
            return True
        try:
            verdict = await asyncio.wait_for(_call(self.health_check, resource), self.options.health_timeout_s)
        except Exception as exc:
            log.info("pool %r: health check failed: %r", self.name, exc)
            return False
        return verdict is not False

    async def _discard(self, slot: _Slot[T], *, broken: bool) -> None:
        self._size -= 1
        if broken:
            self._broken += 1
        await self._close(slot.resource)
        self._wake()  # room for a fresh one

    async def _close(self, resource: T) -> None:
        own = getattr(resource, "aclose", None) or getattr(resource, "close", None)
        try:
            if self.closer is not None:
                await _call(self.closer, resource)
            elif callable(own):
                await _call(own)
        except Exception as exc:  # counted as closed: we tried, and will not try again
            log.warning("pool %r: closing a resource failed: %r", self.name, exc)
        finally:
            self._closed += 1

    # -- background ------------------------------------------------------------------------------------

    def _start_background(self) -> None:
        if self._background is None and not self._draining and self.options.health_period_s is not None:
            self._background = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        period = self.options.health_period_s or 0.0
        while not self._draining:
            await asyncio.sleep(period)
            try:
                await self.sweep()
            except Exception as exc:  # a sweep never kills the watcher
                log.warning("pool %r: background sweep failed: %r", self.name, exc)

    async def sweep(self) -> None:
        """Check idle resources now: close broken and long-idle ones, then refill to ``min_size``."""
        max_idle = self.options.max_idle_s
        now = time.monotonic()
        checking = list(self._idle)
        self._idle.clear()  # taken out while checked, so no borrower gets one mid-check
        keep: list[_Slot[T]] = []
        for slot in checking:
            expired = max_idle is not None and now - slot.idle_since > max_idle
            if expired and self._size - 1 >= self.options.min_size:
                await self._discard(slot, broken=False)
            elif not await self._is_healthy(slot.resource):
                await self._discard(slot, broken=True)
            else:
                keep.append(slot)
        if self._draining:
            for slot in keep:
                await self._discard(slot, broken=False)
            return
        self._idle.extendleft(reversed(keep))
        for _ in keep:
            self._wake()
        await self._refill()

    async def _refill(self) -> None:
        while not self._draining and self._size < self.options.min_size:
            self._size += 1
            try:
                resource = await self._make()
            except Exception as exc:
                self._size -= 1
                log.warning("pool %r: factory failed while refilling: %r", self.name, exc)
                return
            self._idle.appendleft(_Slot(resource))
            self._wake()


async def _call(fn: Callable[..., Any], *args: Any) -> Any:
    if inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(type(fn).__call__):
        return await fn(*args)
    # A sync factory, check or closer may block (connect, ping): keep it off the loop every call shares.
    outcome = await asyncio.to_thread(fn, *args)
    return await outcome if inspect.isawaitable(outcome) else outcome


def _rebuild(factory: Callable[[], Any], health_check: Callable[[Any], Any] | None, close: Callable[[Any], Any] | None,
             name: str, options: dict[str, Any]) -> ResourcePool[Any]:
    return ResourcePool(factory, health_check=health_check, close=close, name=name, **options)
