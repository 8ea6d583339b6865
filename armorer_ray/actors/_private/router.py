"""The handle's router: pick a replica, cap calls in flight per replica, queue the rest by priority, shed the excess.

Plain Python and thread-safe: one lock guards the counts, and a waiting caller gets its replica through its own
event loop (``call_soon_threadsafe``). A handle may serve several loops and threads at once (``execute_sync``
keeps one loop per thread, Ray completion callbacks run on Ray's own thread), so nothing here belongs to a loop.

Routing is power-of-two-choices: of two replicas drawn at random from those with room, the one with fewer calls
in flight wins. It balances nearly as well as scanning for the least loaded while keeping handles that share
replicas from all herding onto the same one (Mitzenmacher, "The Power of Two Choices in Randomized Load
Balancing", 2001).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Refusal", "ReplicaSlot", "Router", "RouterStats"]

# A replica whose call just failed is tried last for this long, so retries go elsewhere first.
SUSPECT_S = 2.0


class ReplicaSlot:
    """One life of one replica as the router sees it: its actor handle and the calls this handle has in flight on it.

    ``key`` names the replica *and* its actor life: a replica Ray restarts in place keeps its id and handle but
    comes back as a new slot (a new key), so what was learned about its old life (dead, or failed on by a call)
    does not hold against the new one.
    """

    __slots__ = ("actor", "dead", "healthy", "in_flight", "key", "life", "replica_id", "suspect_until")

    def __init__(self, replica_id: str, actor: Any, healthy: bool = True, life: str = "") -> None:
        self.replica_id = replica_id
        self.life = life
        self.key = f"{replica_id}/{life}"
        self.actor = actor
        self.healthy = healthy
        self.in_flight = 0
        self.suspect_until = 0.0
        self.dead = False

    def __repr__(self) -> str:
        return f"ReplicaSlot({self.replica_id!r}, in_flight={self.in_flight}, healthy={self.healthy})"


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a call was not admitted: ``BACKPRESSURE`` (retry later) or the deployment failed or stopped."""

    code: str
    message: str
    retryable: bool


@dataclass(frozen=True, slots=True)
class RouterStats:
    """Counts kept by one handle's router."""

    in_flight: int
    queued: int
    peak_queued: int
    admitted: int
    shed: int


_State = Literal["queued", "granted", "settled"]


class _Waiter:
    __slots__ = ("avoid", "future", "loop", "priority", "queued_at", "replica", "seq", "state", "weight")

    def __init__(self, priority: int, seq: int, weight: int, loop: asyncio.AbstractEventLoop, now: float,
                 avoid: frozenset[str] = frozenset()) -> None:
        self.avoid = avoid
        self.queued_at = now
        self.priority = priority
        self.seq = seq
        self.weight = weight
        self.loop = loop
        self.future: asyncio.Future[ReplicaSlot | Refusal] = loop.create_future()
        self.state: _State = "queued"
        self.replica: ReplicaSlot | None = None

    def __lt__(self, other: _Waiter) -> bool:  # heap order: higher priority first, then arrival
        return (-self.priority, self.seq) < (-other.priority, other.seq)


def _resolve(future: asyncio.Future[ReplicaSlot | Refusal], value: ReplicaSlot | Refusal) -> None:
    if not future.done():
        future.set_result(value)


class Router:
    """Admission and replica choice for one deployment handle.

    Args:
        max_concurrency: Calls in flight per replica (counted by weight: a batch chunk of k calls weighs k).
        max_queued: Calls waiting, plus calls submitted past the caps; beyond it, calls are refused.
        rng: Random source for the two choices (seed it in tests).
        clock: Monotonic clock.
        unavailable_timeout_s: Longest a call waits in the queue while no healthy replica is known; it is then
            refused with a retryable ``REPLICA_UNAVAILABLE``.
        first_timeout_s: The same, before the first replica set arrives (starting replicas takes longer).
    """

    def __init__(self, max_concurrency: int, max_queued: int, *, rng: random.Random | None = None,
                 clock: Callable[[], float] = time.monotonic, unavailable_timeout_s: float = 60.0,
                 first_timeout_s: float = 120.0) -> None:
        self._lock = threading.Lock()
        self._cap = max_concurrency
        self._max_queued = max_queued
        self._rng = rng or random.Random()
        self._clock = clock
        self._replicas: list[ReplicaSlot] = []
        self._heap: list[_Waiter] = []
        self._seq = itertools.count()
        self._queued = 0
        self._by_priority: dict[int, int] = {}  # weight queued per priority
        self._peak = 0
        self._admitted = 0
        self._shed = 0
        self._refusal: Refusal | None = None
        self._unavailable_s = unavailable_timeout_s
        self._first_s = first_timeout_s
        self._known = False  # whether a replica set arrived yet
        self._unavailable_since: float | None = self._clock()
        self._watchdog: threading.Timer | None = None

    # -- configuration ---------------------------------------------------------------------------------

    def configure(self, max_concurrency: int, max_queued: int, unavailable_timeout_s: float | None = None) -> None:
        """Change the caps (an attached handle learns them with the first snapshot)."""
        with self._lock:
            self._cap, self._max_queued = max_concurrency, max_queued
            if unavailable_timeout_s is not None:
                self._unavailable_s = unavailable_timeout_s
            self._grant_locked()

    def set_replicas(self, replicas: Sequence[tuple[str, Any, bool] | tuple[str, Any, bool, str]]) -> None:
        """Replace the replica set with ``(replica_id, actor, healthy[, life])`` rows; the counts of a replica
        carry over while its actor and life stay the same (a new life is a new slot: see `ReplicaSlot`)."""
        with self._lock:
            known = {slot.replica_id: slot for slot in self._replicas}
            fresh: list[ReplicaSlot] = []
            for row in replicas:
                replica_id, actor, healthy = row[0], row[1], row[2]
                life = row[3] if len(row) > 3 else ""
                slot = known.get(replica_id)
                if slot is None or slot.actor != actor or slot.life != life:
                    slot = ReplicaSlot(replica_id, actor, healthy, life)
                slot.healthy = healthy
                fresh.append(slot)
            self._replicas = fresh
            self._known = True
            self._note_availability_locked()
            self._grant_locked()

    def refuse_all(self, refusal: Refusal | None) -> None:
        """Refuse every waiting and future call with ``refusal`` (the deployment failed or stopped); None undoes it."""
        with self._lock:
            self._refusal = refusal
            if refusal is not None:
                for waiter in self._heap:
                    if waiter.state == "queued":
                        self._settle_locked(waiter, refusal)
                self._heap.clear()

    def replicas(self) -> list[ReplicaSlot]:
        """The current replica slots."""
        with self._lock:
            return list(self._replicas)

    def mark_failed(self, slot: ReplicaSlot, *, dead: bool = False) -> None:
        """A call on ``slot`` just failed with a lost replica: avoid it for a while, or for good when ``dead``
        (until a snapshot without it arrives)."""
        with self._lock:
            slot.suspect_until = self._clock() + SUSPECT_S
            slot.dead = slot.dead or dead
            self._note_availability_locked()

    # -- admission -------------------------------------------------------------------------------------

    async def acquire(self, weight: int, priority: int = 0,
                      avoid: frozenset[str] = frozenset()) -> ReplicaSlot | Refusal:
        """Reserve ``weight`` calls on a replica, waiting in the queue when all are full.

        ``avoid`` holds the `ReplicaSlot.key` of each replica life this call already failed on (a failover): it
        waits for another one (a replacement, or the same replica restarted by Ray) so that retries are not all
        spent on replicas lost together (a whole node).

        Returns:
            The replica (release it with `release`), or a `Refusal` when the queue is full or the deployment is
            gone. A caller cancelled while waiting leaves the queue, and any replica granted meanwhile is freed.
        """
        with self._lock:
            if self._refusal is not None:
                return self._refusal
            slot = self._take_free_locked(weight, avoid)
            if slot is not None:
                return slot
            if not self._make_room_locked(weight, priority):
                self._shed += weight
                return self._backpressure()
            waiter = _Waiter(priority, next(self._seq), weight, asyncio.get_running_loop(), self._clock(), avoid)
            heapq.heappush(self._heap, waiter)
            self._count_queued(priority, weight)
            self._peak = max(self._peak, self._queued)
            self._grant_locked()
            if waiter.state == "granted" and waiter.replica is not None:
                return waiter.replica
            self._arm_watchdog_locked(force=bool(avoid))
        try:
            return await waiter.future
        except asyncio.CancelledError:
            with self._lock:
                if waiter.state == "granted" and waiter.replica is not None:
                    self._release_locked(waiter.replica, weight)
                elif waiter.state == "queued":
                    waiter.state = "settled"
                    self._count_queued(priority, -weight)
                    self._grant_locked()
            raise

    def try_acquire(self, weight: int) -> ReplicaSlot | None:
        """Reserve ``weight`` calls on a replica with room right now, without waiting or queueing.

        Returns:
            The replica (release it with `release`), or None when the call would have to wait (every replica is
            full, or calls already wait in the queue and must not be overtaken) or be refused: `acquire` then
            takes the call and decides.
        """
        with self._lock:
            return None if self._refusal is not None else self._take_free_locked(weight)

    def try_acquire_ahead(self, weight: int, avoid: frozenset[str] = frozenset()) -> ReplicaSlot | None:
        """Reserve ``weight`` calls on a busy replica that can hold them in its own queue, up to twice its cap.

        For a batch's next chunk: sent while the replica runs the previous one, it starts as soon as calls there
        finish instead of a round trip later (the replica still runs at most ``max_concurrency`` calls at once).
        Taken only when no call waits in this handle's queue (it would be overtaken) and the calls past the caps
        stay within ``max_queued``; the least loaded such replica wins.

        Returns:
            The replica (release it with `release`), or None: then wait for room with `acquire`.
        """
        with self._lock:
            if self._refusal is not None or self._heap:
                return None
            limit = 2 * self._cap - weight
            tier = [s for s in self._eligible_locked(avoid) if s.in_flight <= limit]
            if not tier or self._backlog_locked() + weight > self._max_queued:
                return None
            slot = min(tier, key=lambda s: s.in_flight)
            slot.in_flight += weight
            self._admitted += weight
            return slot

    def acquire_now(self, weight: int, priority: int = 0) -> ReplicaSlot | Refusal | None:
        """Reserve without waiting: a replica with room, else the least loaded one past its cap (the call then
        waits in that replica's own queue and counts against ``max_queued``), else a `Refusal`.

        A call that cannot wait cannot be reordered either, so ``priority`` counts only when the backlog is full:
        as in `acquire`, the call then evicts (and refuses) a queued call of lower priority instead of being
        refused itself.

        Returns:
            None when no live replica is known.
        """
        with self._lock:
            if self._refusal is not None:
                return self._refusal
            slot = None if self._heap else self._pick_locked(weight)
            if slot is None:
                if not self._replicas:
                    return None
                if not self._make_room_locked(weight, priority):
                    self._shed += weight
                    return self._backpressure()
                slot = self._least_loaded_locked()
                if slot is None:
                    return None
            slot.in_flight += weight
            self._admitted += weight
            return slot

    def release(self, slot: ReplicaSlot, weight: int) -> None:
        """Give back ``weight`` calls reserved on ``slot`` and hand the room to waiting calls."""
        with self._lock:
            self._release_locked(slot, weight)

    def stats(self) -> RouterStats:
        """A snapshot of the counts."""
        with self._lock:
            return RouterStats(in_flight=sum(s.in_flight for s in self._replicas), queued=self._queued,
                               peak_queued=self._peak, admitted=self._admitted, shed=self._shed)

    # -- no replica to wait for: the handle-side deadline -----------------------------------------------

    def _note_availability_locked(self) -> None:
        available = any(s.healthy and not s.dead for s in self._replicas)
        if available:
            self._unavailable_since = None
        elif self._unavailable_since is None:
            self._unavailable_since = self._clock()
            self._arm_watchdog_locked()

    def _arm_watchdog_locked(self, delay_s: float | None = None, *, force: bool = False) -> None:
        # One timer per router, not per waiter: only while calls wait and no healthy replica is known (or a
        # failover waits for a replica other than those it failed on: ``force``).
        if self._watchdog is not None or not self._queued or (self._unavailable_since is None and not force):
            return
        limit = self._unavailable_s if self._known else self._first_s
        timer = threading.Timer(limit if delay_s is None else delay_s, self._expire)
        timer.daemon = True
        self._watchdog = timer
        timer.start()

    def _expire(self) -> None:
        with self._lock:
            self._watchdog = None
            since = self._unavailable_since
            now = self._clock()
            limit = self._unavailable_s if self._known else self._first_s
            refusal = Refusal("REPLICA_UNAVAILABLE", f"No replica of this deployment was available for {limit:g}s "
                              "(replicas are being replaced, or the controller is restarting); retry later",
                              retryable=True)
            next_due: float | None = None
            for waiter in self._heap:
                if waiter.state != "queued":
                    continue
                if waiter.avoid and any(s.healthy and not s.dead and s.key not in waiter.avoid
                                        for s in self._replicas):
                    continue  # a replica it may use exists: it waits for room, as any call does
                if since is None and not waiter.avoid:
                    continue
                due = max(waiter.queued_at, since or waiter.queued_at) + limit
                if due <= now:
                    self._settle_locked(waiter, refusal)
                else:
                    next_due = due if next_due is None else min(next_due, due)
            if next_due is not None:
                self._arm_watchdog_locked(max(0.05, next_due - now))

    # -- internals (lock held) -------------------------------------------------------------------------

    def _take_free_locked(self, weight: int, avoid: frozenset[str] = frozenset()) -> ReplicaSlot | None:
        if self._heap:  # calls wait ahead of this one
            return None
        slot = self._pick_locked(weight, avoid)
        if slot is not None:
            slot.in_flight += weight
            self._admitted += weight
        return slot

    def _backpressure(self) -> Refusal:
        return Refusal("BACKPRESSURE", f"Overloaded: the deployment's queue is full ({self._max_queued} calls "
                                       "waiting); retry later", retryable=True)

    def _release_locked(self, slot: ReplicaSlot, weight: int) -> None:
        slot.in_flight -= weight
        self._grant_locked()

    def _backlog_locked(self) -> int:
        cap = self._cap
        return self._queued + sum(max(0, s.in_flight - cap) for s in self._replicas)

    def _count_queued(self, priority: int, weight: int) -> None:
        self._queued += weight
        left = self._by_priority.get(priority, 0) + weight
        if left:
            self._by_priority[priority] = left
        else:
            del self._by_priority[priority]

    def _make_room_locked(self, weight: int, priority: int) -> bool:
        while self._backlog_locked() + weight > self._max_queued:
            # Shedding must stay cheap under overload: look for a victim only when a lower priority waits.
            if not self._by_priority or min(self._by_priority) >= priority:
                return False
            live = [w for w in self._heap if w.state == "queued"]
            victim = max(live, key=lambda w: (-w.priority, w.seq))  # lowest priority, newest
            if victim.priority >= priority:
                return False
            self._shed += victim.weight
            self._settle_locked(victim, self._backpressure())
        return True

    def _settle_locked(self, waiter: _Waiter, value: Refusal) -> None:
        waiter.state = "settled"
        self._count_queued(waiter.priority, -waiter.weight)
        try:
            waiter.loop.call_soon_threadsafe(_resolve, waiter.future, value)
        except RuntimeError:  # the waiter's loop is closed: nobody is left to tell
            pass

    def _grant_locked(self) -> None:
        heap = self._heap
        aside: list[_Waiter] = []  # waiting for a replica other than those they failed on: others go first
        while heap:
            head = heap[0]
            if head.state != "queued":
                heapq.heappop(heap)
                continue
            slot = self._pick_locked(head.weight, head.avoid)
            if slot is None:
                if head.avoid and self._pick_locked(head.weight) is not None:
                    aside.append(heapq.heappop(heap))
                    continue
                break
            heapq.heappop(heap)
            self._count_queued(head.priority, -head.weight)
            try:
                head.loop.call_soon_threadsafe(_resolve, head.future, slot)
            except RuntimeError:  # the waiter's loop is closed: it will never run the call
                head.state = "settled"
                continue
            head.state, head.replica = "granted", slot
            slot.in_flight += head.weight
            self._admitted += head.weight
        for waiter in aside:
            heapq.heappush(heap, waiter)
        if len(heap) > 2 * self._max_queued + 64:  # drop settled entries so the heap stays bounded
            self._heap = [w for w in heap if w.state == "queued"]
            heapq.heapify(self._heap)

    def _eligible_locked(self, avoid: frozenset[str] = frozenset()) -> list[ReplicaSlot]:
        # Best tier first: healthy and trusted, then trusted, then any live one. A call waits for room in the best
        # tier rather than going to a replica that just failed (it would likely fail again and burn a retry).
        now = self._clock()
        live = [s for s in self._replicas if not s.dead and s.key not in avoid]
        trusted = [s for s in live if s.suspect_until <= now] or live
        return [s for s in trusted if s.healthy] or trusted

    def _pick_locked(self, weight: int, avoid: frozenset[str] = frozenset()) -> ReplicaSlot | None:
        # A chunk sized before the caps were known (or lowered) may outweigh the cap: it then needs an idle replica.
        room = self._cap - min(weight, self._cap)
        tier = [s for s in self._eligible_locked(avoid) if s.in_flight <= room]
        if not tier:
            return None
        if len(tier) == 1:
            return tier[0]
        first, second = self._rng.sample(tier, 2)
        return first if first.in_flight <= second.in_flight else second

    def _least_loaded_locked(self) -> ReplicaSlot | None:
        tier = self._eligible_locked()
        return min(tier, key=lambda s: s.in_flight) if tier else None
