"""`DeploymentController`: one named async actor per deployment that owns its replicas and supervises them.

It starts the replicas (each runs ``on_start`` once), probes them every ``health_period_s`` through the pipeline,
marks a failing replica unhealthy at once (handles steer away from it) and replaces it after
``unhealthy_after`` consecutive failures, and tells handles about every change through a long poll (`watch`).
Handles never route through it: calls go straight from a handle to a replica.

The toolbox spec reaches it as bytes and is unpickled only inside replicas, so the controller needs none of the
tools' dependencies (a replica's ``runtime_env`` may provide them).
"""

from __future__ import annotations

import asyncio
import logging
import time
import warnings
from dataclasses import dataclass
from typing import Any

import ray
from ray.exceptions import ActorDiedError, ActorUnavailableError
from ray.util.placement_group import PlacementGroup, remove_placement_group

from armorer_ray.actors._private.placement import (
    NewReplica,
    ReplicaPlan,
    acquire_placement_group,
    create_replica,
    needs_placement_group,
    placement_group_name,
)
from armorer_ray.actors._private.replica import CallOptions, ReplicaReport
from armorer_ray.actors._private.snapshot import ReplicaView, Snapshot, replica_prefix
from armorer_ray.actors._private.spec import Catalogue
from armorer_ray.lifecycle import Health
from armorer_ray.results import ToolCall, ToolResult

__all__ = ["ControllerActor", "ControllerReport", "DeploymentController", "ReplicaRecord"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ReplicaRecord:
    """The controller's view of one replica."""

    replica_id: str
    actor: Any
    bundle_index: int
    life_id: str
    healthy: bool = True
    failures: int = 0
    restarts: int = 0
    last: ReplicaReport | None = None
    unavailable_since: float | None = None  # monotonic time of the first probe that found Ray restarting it


@dataclass(frozen=True, slots=True)
class ControllerReport:
    """Supervision state plus each replica's latest self-report."""

    name: str
    replicas: tuple[tuple[ReplicaRecord, ReplicaReport | None], ...]
    replacements: int
    error: str | None
    stopped: bool


class DeploymentController:
    """Owns and supervises the replicas of one deployment (made into a Ray actor by `deploy`)."""

    def __init__(self, plan: ReplicaPlan, group: PlacementGroup | None) -> None:
        self._plan = plan
        self._name = plan.name
        self._namespace = plan.namespace
        self._size = plan.replicas
        self._options = plan.options
        self._actor_options = plan.actor_options
        self._group = group
        self._replicas: list[ReplicaRecord] = []
        self._catalogue = Catalogue()
        self._version = -1
        self._changed = asyncio.Event()
        self._starting: asyncio.Task[None] | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._error: str | None = None
        self._stopping = False
        self._stopped = False
        self._replacements = 0
        self._next_forward = 0
        self._retiring: set[asyncio.Task[None]] = set()

    # -- start -----------------------------------------------------------------------------------------

    def _ensure_starting(self, initial: tuple[NewReplica, ...] = ()) -> asyncio.Task[None]:
        if self._starting is None:
            self._starting = asyncio.ensure_future(self._start(initial))
        return self._starting

    async def start(self, initial: tuple[NewReplica, ...]) -> Snapshot:
        """Start with the replicas `deploy` created (once per controller life); return the first snapshot."""
        await asyncio.shield(self._ensure_starting(initial))
        return self._snapshot()

    async def _start(self, initial: tuple[NewReplica, ...]) -> None:
        try:
            if self._group is None and needs_placement_group(self._actor_options):
                self._group = acquire_placement_group(placement_group_name(self._name), self._size,
                                                      self._actor_options, self._plan.detached)
            if self._group is not None:
                await asyncio.wait_for(self._group.ready(), self._options.start_timeout_s)
            if _reconstructed():
                self._replicas = await self._adopt()  # a restarted controller: the replicas may still be running
            else:
                await self._start_replicas(initial)
            taken = {record.bundle_index for record in self._replicas}
            missing = [index for index in range(self._size) if index not in taken]
            await self._start_replicas(tuple(create_replica(self._plan, self._group, i) for i in missing))
        except Exception as exc:
            self._error = f"deployment {self._name!r} failed to start: {_describe(exc)}"
            log.error(self._error)
            await asyncio.gather(*(self._retire(record, drain=False) for record in self._replicas))
            self._replicas = []
        else:
            self._supervisor = asyncio.ensure_future(self._supervise())
        self._publish()

    async def _start_replicas(self, fresh: tuple[NewReplica, ...]) -> None:
        started = await asyncio.gather(*(self._await_start(new) for new in fresh), return_exceptions=True)
        failures = [item for item in started if isinstance(item, BaseException)]
        self._replicas += [item for item in started if isinstance(item, ReplicaRecord)]
        if failures:
            raise failures[0]

    async def _await_start(self, new: NewReplica) -> ReplicaRecord:
        try:
            report: ReplicaReport = await asyncio.wait_for(new.actor.start.remote(), self._options.start_timeout_s)
        except BaseException:
            ray.kill(new.actor, no_restart=True)
            raise
        self._catalogue = report.catalogue
        return ReplicaRecord(new.replica_id, new.actor, new.bundle_index, report.life_id, last=report)

    async def _adopt(self) -> list[ReplicaRecord]:
        prefix = replica_prefix(self._name)
        named = await asyncio.to_thread(ray.util.list_named_actors, True)
        adopted: list[ReplicaRecord] = []
        for entry in named:
            actor_name = entry["name"]
            if entry.get("namespace") != self._namespace or not actor_name.startswith(prefix):
                continue
            try:
                actor = ray.get_actor(actor_name, namespace=self._namespace)
                report: ReplicaReport = await asyncio.wait_for(actor.start.remote(), self._options.health_timeout_s)
            except Exception as exc:
                log.warning("not adopting replica %s: %s", actor_name, _describe(exc))
                continue
            bundle = int(actor_name[len(prefix):].split("-", 1)[0])
            adopted.append(ReplicaRecord(report.replica_id, actor, bundle, report.life_id, last=report))
            self._catalogue = report.catalogue
        return adopted[: self._size]

    async def _launch(self, bundle_index: int) -> ReplicaRecord:
        return await self._await_start(create_replica(self._plan, self._group, bundle_index))

    # -- supervision -----------------------------------------------------------------------------------

    async def _supervise(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self._options.health_period_s)
            try:
                await asyncio.gather(*(self._check(record) for record in list(self._replicas)))
            except Exception as exc:  # supervision must outlive any one bad round
                log.warning("health round failed: %s", _describe(exc))

    async def _check(self, record: ReplicaRecord) -> None:
        options = self._options
        dead = restarting = False
        try:
            health: Health = await asyncio.wait_for(record.actor.probe.remote(options.probe, options.health_timeout_s),
                                                    options.health_timeout_s + 1.0)
            ok, detail = health.ok, health.detail
        except ActorDiedError as exc:  # restarts used up, or killed: it will not come back
            ok, dead, detail = False, True, _describe(exc)
        except ActorUnavailableError as exc:  # Ray is restarting it (or cannot reach it for a moment)
            ok, restarting, detail = False, True, _describe(exc)
        except Exception as exc:
            ok, detail = False, _describe(exc)
        if self._stopping or record not in self._replicas:
            return
        if ok:
            record.unavailable_since = None
            await self._note_healthy(record)
            return
        if restarting:
            await self._note_restarting(record, detail)
            return
        record.failures += 1
        log.warning("replica %s failed probe %d/%d: %s", record.replica_id, record.failures,
                    options.unhealthy_after, detail)
        if record.healthy:
            record.healthy = False
            self._publish()
        if dead or record.failures >= options.unhealthy_after:
            await self._replace(record)

    async def _note_restarting(self, record: ReplicaRecord, detail: str) -> None:
        # Ray is already bringing it back: route around it, and replace it only when the restart takes longer
        # than a replica may take to start. Counting these probes as failures replaced replicas mid-restart.
        now = time.monotonic()
        if record.unavailable_since is None:
            record.unavailable_since = now
            log.warning("replica %s is unavailable (Ray restarting it?): %s", record.replica_id, detail)
        if record.healthy:
            record.healthy = False
            self._publish()
        if now - record.unavailable_since >= self._options.start_timeout_s:
            log.warning("replica %s unavailable for over %.0fs: replacing it", record.replica_id,
                        self._options.start_timeout_s)
            await self._replace(record)

    async def _note_healthy(self, record: ReplicaRecord) -> None:
        try:
            report: ReplicaReport = await asyncio.wait_for(record.actor.report.remote(), self._options.health_timeout_s)
        except Exception:
            return
        if report.life_id != record.life_id:  # Ray restarted it in place: a new life, hooks ran again
            record.restarts += 1
            record.life_id = report.life_id
        record.last = report
        if record.failures or not record.healthy:
            record.failures, record.healthy = 0, True
            self._publish()

    async def _replace(self, record: ReplicaRecord) -> None:
        try:
            fresh = await self._launch(record.bundle_index)
        except Exception as exc:
            log.error("could not replace replica %s (will retry): %s", record.replica_id, _describe(exc))
            return
        if self._stopping:
            await self._retire(fresh, drain=False)
            return
        self._replicas[self._replicas.index(record)] = fresh
        self._replacements += 1
        self._publish()
        # Out of the snapshot now, so handles send it nothing new; let calls in flight finish, then kill it.
        retiring = asyncio.ensure_future(self._retire(record, drain=True, timeout_s=self._options.health_timeout_s))
        self._retiring.add(retiring)
        retiring.add_done_callback(self._retiring.discard)

    async def _retire(self, record: ReplicaRecord, *, drain: bool, timeout_s: float = 5.0) -> None:
        try:
            await asyncio.wait_for(record.actor.shutdown.remote(drain, timeout_s), timeout_s + 5.0)
        except Exception as exc:
            log.info("replica %s did not stop cleanly: %s", record.replica_id, _describe(exc))
        ray.kill(record.actor, no_restart=True)

    # -- handles ---------------------------------------------------------------------------------------

    def _publish(self) -> None:
        self._version += 1
        self._changed.set()
        self._changed = asyncio.Event()

    def _snapshot(self) -> Snapshot:
        views = tuple(ReplicaView(r.replica_id, r.actor, r.healthy) for r in self._replicas)
        return Snapshot(self._version, views, self._catalogue, self._options, self._error, self._stopped)

    async def watch(self, known_version: int, timeout_s: float) -> Snapshot:
        """The current snapshot once it is newer than ``known_version`` (or after ``timeout_s``)."""
        if _reconstructed():
            self._ensure_starting()  # nobody calls start() on a restarted controller
        if self._version <= known_version:
            changed = self._changed
            try:
                await asyncio.wait_for(changed.wait(), timeout_s)
            except asyncio.TimeoutError:
                pass
        return self._snapshot()

    async def forward(self, call: ToolCall, options: CallOptions | None) -> ToolResult:
        """Run a call on some replica: used by a handle that has not received its first snapshot yet."""
        while self._version < 0:  # not started yet: wait for the first snapshot
            await self._changed.wait()
        healthy = [r for r in self._replicas if r.healthy] or self._replicas
        if not healthy:
            from armorer_ray.errors import ToolError

            message = self._error or f"deployment {self._name!r} has no replicas"
            return ToolResult.failure(call.id, call.name, ToolError.of("internal", message, code="NO_REPLICA"))
        self._next_forward += 1
        record = healthy[self._next_forward % len(healthy)]
        result: ToolResult = await record.actor.execute.remote(call, options)
        return result

    async def health(self) -> Health:
        """Healthy while at least one replica is; never raises."""
        if self._error:
            return Health(ok=False, detail=self._error)
        if self._stopped or self._stopping:
            return Health(ok=False, detail="stopped")
        healthy = sum(r.healthy for r in self._replicas)
        if self._version < 0:
            return Health(ok=False, detail="starting")
        return Health(ok=healthy > 0, detail=f"{healthy}/{len(self._replicas)} replicas healthy")

    async def report(self) -> ControllerReport:
        """Each replica's fresh self-report (None when it did not answer in time)."""

        async def one(record: ReplicaRecord) -> ReplicaReport | None:
            try:
                fresh: ReplicaReport = await asyncio.wait_for(record.actor.report.remote(),
                                                              self._options.health_timeout_s)
            except Exception:
                return None
            return fresh

        records = list(self._replicas)
        reports = await asyncio.gather(*(one(r) for r in records))
        return ControllerReport(self._name, tuple(zip(records, reports, strict=True)), self._replacements, self._error,
                                self._stopped)

    async def shutdown(self, drain: bool, timeout_s: float) -> None:
        """Drain (when asked) and stop every replica, kill them, release the placement group."""
        self._stopping = True
        if self._supervisor is not None:
            self._supervisor.cancel()
        if self._starting is not None and not self._starting.done():
            await asyncio.wait([self._starting], timeout=timeout_s)
        await asyncio.gather(*(self._retire(r, drain=drain, timeout_s=timeout_s) for r in self._replicas))
        self._replicas = []
        if self._group is not None:
            remove_placement_group(self._group)
            self._group = None
        self._stopped = True
        self._publish()


def _reconstructed() -> bool:
    with warnings.catch_warnings():  # Ray's own property trips its deprecation warning about actor_id
        warnings.simplefilter("ignore")
        return bool(ray.get_runtime_context().was_current_actor_reconstructed)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    if len(text) > 2_000:  # Ray errors put the remote traceback first and the cause last: keep both ends
        text = text[:500] + " ... " + text[-1_500:]
    return f"{type(exc).__name__}: {text}"


# The actor class; `deploy` names it and sets its lifetime with `.options()`.
ControllerActor: Any = ray.remote(DeploymentController)
