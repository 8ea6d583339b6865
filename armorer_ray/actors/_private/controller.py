"""`DeploymentController`: one named async actor per deployment that owns its replicas and supervises them.

It starts the replicas (each runs ``on_start`` once), probes them every ``health_period_s`` through the pipeline,
marks a failing replica unhealthy at once (handles steer away from it) and replaces it after
``unhealthy_after`` consecutive failures, or at once when it died or its node is gone, and tells handles about
every change through a long poll (`watch`). With `Autoscaling` it also sizes the replica set (`scaler.py`).
Handles never route through it: calls go straight from a handle to a replica.

Each controller life has an epoch; a controller Ray restarts adopts the replicas still running, starts the
missing ones, and handles follow it because a snapshot of a new epoch always replaces what they had.

The toolbox spec reaches it as bytes and is unpickled only inside replicas, so the controller needs none of the
tools' dependencies (a replica's ``runtime_env`` may provide them).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
import warnings
from typing import Any

import ray
from ray.exceptions import ActorDiedError, ActorUnavailableError
from ray.util.placement_group import PlacementGroup, remove_placement_group

from armorer_ray.actors._private.handles import HandleBook
from armorer_ray.actors._private.nodes import NodeView
from armorer_ray.actors._private.placement import (
    NewReplica,
    Placement,
    ReplicaPlan,
    acquire_placement_group,
    choose_node,
    create_replica,
    needs_placement_group,
    placement_group_name,
)
from armorer_ray.actors._private.records import ControllerReport, ReplicaRecord, describe
from armorer_ray.actors._private.replica import ReplicaReport
from armorer_ray.actors._private.scaler import Scaler
from armorer_ray.actors._private.snapshot import SNAPSHOT_EVENTS, ReplicaView, Snapshot, replica_prefix
from armorer_ray.actors._private.spec import Catalogue
from armorer_ray.actors._private.wire import WireOptions
from armorer_ray.actors.stats import ShutdownReport
from armorer_ray.errors import ToolError
from armorer_ray.lifecycle import Health
from armorer_ray.results import ToolCall, ToolResult

__all__ = ["ControllerActor", "ControllerReport", "DeploymentController", "ReplicaRecord"]

log = logging.getLogger(__name__)


class DeploymentController:
    """Owns and supervises the replicas of one deployment (made into a Ray actor by `deploy`)."""

    def __init__(self, plan: ReplicaPlan, group: PlacementGroup | None) -> None:
        self._plan = plan
        self._name = plan.name
        self._namespace = plan.namespace
        self._options = plan.options
        self._actor_options = plan.actor_options
        self._group = group
        self._epoch = uuid.uuid4().hex[:12]
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
        self._next_slot = plan.replicas
        self._retiring: dict[str, tuple[ReplicaRecord, asyncio.Task[None]]] = {}
        self.handles = HandleBook()
        self.nodes = NodeView()
        self._scaler = Scaler(self, plan.autoscaling) if plan.autoscaling is not None else None

    # -- what the scaler and supervisor share ----------------------------------------------------------

    @property
    def name(self) -> str:
        return self._name

    @property
    def plan(self) -> ReplicaPlan:
        return self._plan

    @property
    def options(self) -> Any:
        return self._options

    @property
    def replicas(self) -> list[ReplicaRecord]:
        return self._replicas

    @property
    def stopping(self) -> bool:
        return self._stopping

    @property
    def version(self) -> int:
        return self._version

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
                self._group = acquire_placement_group(placement_group_name(self._name), self._plan.replicas,
                                                      self._actor_options, self._plan.detached)
            if _reconstructed():
                # A restarted controller: replicas may still run. Never wait for the whole placement group here:
                # a bundle lost with its node would hold the deployment up while survivors serve unsupervised.
                self._replicas = await self._adopt()
            else:
                if self._group is not None:
                    await asyncio.wait_for(self._group.ready(), self._options.start_timeout_s)
                await self._start_replicas(initial)
            taken = {record.slot for record in self._replicas}
            want = max(self._target_count(), len(self._replicas))
            missing = [slot for slot in range(want) if slot not in taken][: want - len(self._replicas)]
            self._next_slot = max([self._next_slot, *(slot + 1 for slot in taken), *(s + 1 for s in missing)])
            if self._replicas:
                # Replicas adopted from an earlier life serve already: a missing one that cannot be placed or
                # started now (no free node for STRICT_SPREAD, say) is retried by supervision, not a failed start.
                started = await asyncio.gather(*(self.launch(slot) for slot in missing), return_exceptions=True)
                for item in started:
                    if isinstance(item, BaseException):
                        log.warning("could not start a missing replica (will retry): %s", describe(item))
                self._replicas += [item for item in started if isinstance(item, ReplicaRecord)]
            else:
                fresh = [create_replica(self._plan, slot, await self.place(slot)) for slot in missing]
                await self._start_replicas(tuple(fresh))
        except Exception as exc:
            self._error = f"deployment {self._name!r} failed to start: {describe(exc)}"
            log.error(self._error)
            await asyncio.gather(*(self._retire(record, drain=False) for record in self._replicas))
            self._replicas = []
        else:
            self._supervisor = asyncio.ensure_future(self._supervise())
            if self._scaler is not None:
                self._scaler.start()
        self._publish()

    def _target_count(self) -> int:
        return self._scaler.target if self._scaler is not None else self._plan.replicas

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
        adopted: list[ReplicaRecord] = []
        for actor_name in await self._named_replicas():
            try:
                actor = ray.get_actor(actor_name, namespace=self._namespace)
                report: ReplicaReport = await asyncio.wait_for(actor.start.remote(), self._options.health_timeout_s)
            except Exception as exc:  # died with its node or its owner: replaced below, and never waited for
                log.warning("not adopting replica %s: %s", actor_name, describe(exc))
                _kill(actor_name, self._namespace)
                continue
            slot = int(actor_name[len(prefix):].split("-", 1)[0])
            adopted.append(ReplicaRecord(report.replica_id, actor, slot, report.life_id, last=report))
            self._catalogue = report.catalogue
        limit = self._plan.autoscaling.max_replicas if self._plan.autoscaling else self._plan.replicas
        for extra in adopted[limit:]:
            await self._retire(extra, drain=True, timeout_s=self._options.drain_timeout_s)
        log.warning("controller restarted (epoch %s): adopted %d replica(s)", self._epoch, min(len(adopted), limit))
        return adopted[:limit]

    async def _named_replicas(self) -> list[str]:
        prefix = replica_prefix(self._name)
        named: list[dict[str, str]] = await asyncio.to_thread(ray.util.list_named_actors, True)
        return sorted(entry["name"] for entry in named
                      if entry.get("namespace") == self._namespace and entry["name"].startswith(prefix))

    async def place(self, slot: int) -> Placement:
        """Where a new replica for ``slot`` goes: its placement-group bundle while that bundle is placed on a live
        node, else a node chosen by the strategy among the live ones (never a wait on a lost bundle)."""
        group = self._group
        if group is not None and slot < self._plan.replicas and await self.nodes.bundle_is_placed(group, slot):
            return Placement(group=group, bundle_index=slot)
        if self._actor_options.placement_strategy == "DEFAULT":
            return Placement()
        used = [r.last.node_id for r in self._replicas if r.last is not None and not r.lost]
        return choose_node(self._actor_options, await self.nodes.live(), used)

    async def launch(self, slot: int | None = None) -> ReplicaRecord:
        """Create and start one replica (a new slot when ``slot`` is None)."""
        if slot is None:
            slot, self._next_slot = self._next_slot, self._next_slot + 1
        return await self._await_start(create_replica(self._plan, slot, await self.place(slot)))

    # -- supervision -----------------------------------------------------------------------------------

    async def _supervise(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self._options.health_period_s)
            try:
                await asyncio.gather(*(self._check(record) for record in list(self._replicas)))
                await self._refill()
            except Exception as exc:  # supervision must outlive any one bad round
                log.warning("health round failed: %s", describe(exc))

    async def _refill(self) -> None:
        # Replicas whose replacement could not be placed (STRICT_SPREAD without a free node, say) are retried
        # every round; so is a set below its target after a failed scale-up.
        missing = self._target_count() - len(self._replicas)
        if missing > 0 and not self._stopping and (self._scaler is None or not self._scaler.busy):
            started = await asyncio.gather(*(self.launch() for _ in range(missing)), return_exceptions=True)
            fresh = [item for item in started if isinstance(item, ReplicaRecord)]
            for item in started:
                if isinstance(item, BaseException):
                    log.warning("could not start a missing replica (will retry): %s", describe(item))
            await self.adopt_started(fresh)

    async def adopt_started(self, fresh: list[ReplicaRecord]) -> None:
        """Add replicas just started to the set (or stop them, when shutting down) and tell handles."""
        if self._stopping:
            await asyncio.gather(*(self._retire(r, drain=False) for r in fresh))
            return
        if fresh:
            self._replicas += fresh
            self._publish()

    async def _check(self, record: ReplicaRecord) -> None:
        options = self._options
        dead = restarting = False
        try:
            health: Health = await asyncio.wait_for(record.actor.probe.remote(options.probe, options.health_timeout_s),
                                                    options.health_timeout_s + 1.0)
            ok, detail = health.ok, health.detail
        except ActorDiedError as exc:  # restarts used up, or killed: it will not come back
            ok, dead, detail = False, True, describe(exc)
        except ActorUnavailableError as exc:  # Ray is restarting it (or cannot reach it for a moment)
            ok, restarting, detail = False, True, describe(exc)
        except Exception as exc:
            ok, detail = False, describe(exc)
        if self._stopping or record not in self._replicas or record.replacing:
            return
        if ok:
            record.unavailable_since = None
            await self._note_healthy(record)
            return
        if not dead and record.last is not None and not await self.nodes.is_alive(record.last.node_id):
            dead, detail = True, f"its node {record.last.node_id[:12]} is gone ({detail})"
        if restarting and not dead:
            await self._note_restarting(record, detail)
            return
        record.failures += 1
        log.warning("replica %s failed probe %d/%d: %s", record.replica_id, record.failures,
                    options.unhealthy_after, detail)
        if record.healthy:
            record.healthy = False
            self._publish()
        if dead or record.failures >= options.unhealthy_after:
            await self._replace(record, lost=dead)

    async def _note_restarting(self, record: ReplicaRecord, detail: str) -> None:
        # Ray is bringing it back on a live node: route around it, and replace it only when the restart takes longer
        # than a replica may take to start. (A replica whose node is gone is replaced at once, in `_check`.)
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
            await self._replace(record, lost=True)

    async def _note_healthy(self, record: ReplicaRecord) -> None:
        try:
            report: ReplicaReport = await asyncio.wait_for(record.actor.report.remote(), self._options.health_timeout_s)
        except Exception:
            return
        restarted = report.life_id != record.life_id
        if restarted:  # Ray restarted it in place: a new life, hooks ran again
            record.restarts += 1
            record.life_id = report.life_id
        record.last = report
        if record.failures or not record.healthy or restarted:
            # Handles learn the new life too: calls that failed over from the old one may use this one.
            record.failures, record.healthy = 0, True
            self._publish()

    async def _replace(self, record: ReplicaRecord, *, lost: bool) -> None:
        record.replacing = True
        if lost:
            # Gone for good (or its node is): stop Ray from restarting it into a lost bundle, and let the
            # replacement be placed among the nodes alive now.
            record.lost = True
            ray.kill(record.actor, no_restart=True)
        try:
            fresh = await self.launch(record.slot)
        except Exception as exc:
            record.replacing = False
            log.error("could not replace replica %s (will retry): %s", record.replica_id, describe(exc))
            return
        if self._stopping or record not in self._replicas:  # shut down, or scaled away meanwhile
            if not self._stopping and len(self._replicas) < self._target_count():
                await self.adopt_started([fresh])
            else:
                await self._retire(fresh, drain=False)
            return
        self._replicas[self._replicas.index(record)] = fresh
        self._replacements += 1
        self._publish()
        if not lost:  # out of the snapshot now, so handles send it nothing new; let calls in flight finish
            self.retire_later(record, drain=True, timeout_s=self._options.health_timeout_s)

    def retire_later(self, record: ReplicaRecord, *, drain: bool, timeout_s: float,
                     after_version: int | None = None) -> None:
        """Stop ``record`` in the background: once every live handle has seen ``after_version`` (a snapshot
        without it) and its calls have finished, or after ``timeout_s``."""
        task = asyncio.ensure_future(self._drain_then_retire(record, drain, timeout_s, after_version))
        self._retiring[record.replica_id] = (record, task)
        task.add_done_callback(lambda _: self._retiring.pop(record.replica_id, None))

    async def _drain_then_retire(self, record: ReplicaRecord, drain: bool, timeout_s: float,
                                 after_version: int | None) -> None:
        deadline = time.monotonic() + timeout_s
        if after_version is not None:
            # Handles ack a version by polling again right after applying it: a short poll here, not an event.
            while time.monotonic() < deadline:
                if not self.handles.lagging(after_version, now=time.monotonic()):
                    break
                await asyncio.sleep(0.05)
            while time.monotonic() < deadline:  # no handle routes to it now: wait until it holds no call
                try:
                    report: ReplicaReport = await asyncio.wait_for(record.actor.report.remote(),
                                                                   self._options.health_timeout_s)
                except Exception:
                    break
                if report.ongoing == 0:
                    break
                await asyncio.sleep(0.1)
        await self._retire(record, drain=drain, timeout_s=max(1.0, deadline - time.monotonic()))

    async def _retire(self, record: ReplicaRecord, *, drain: bool, timeout_s: float = 5.0) -> bool:
        """Stop one replica (hooks run when it answers) and kill it; True when it answered."""
        answered = True
        try:
            await asyncio.wait_for(record.actor.shutdown.remote(drain, timeout_s), timeout_s + 5.0)
        except Exception as exc:
            answered = False
            log.info("replica %s did not stop cleanly: %s", record.replica_id, describe(exc))
        ray.kill(record.actor, no_restart=True)
        return answered

    # -- handles ---------------------------------------------------------------------------------------

    def publish(self) -> int:
        """Tell handles the replica set changed; returns the new version."""
        self._publish()
        return self._version

    def _publish(self) -> None:
        self._version += 1
        self._changed.set()
        self._changed = asyncio.Event()

    def _snapshot(self) -> Snapshot:
        views = tuple(ReplicaView(r.replica_id, r.actor, r.healthy, r.life_id) for r in self._replicas)
        period = self._scaler.policy.metrics_period_s if self._scaler is not None else None
        scaling = tuple(self._scaler.events)[-SNAPSHOT_EVENTS:] if self._scaler is not None else ()
        return Snapshot(self._epoch, self._version, views, self._catalogue, self._options, self._error,
                        self._stopped, period, scaling)

    async def watch(self, known_epoch: str, known_version: int, timeout_s: float,
                    handle_id: str | None = None) -> Snapshot:
        """The current snapshot once it is newer than ``known_version`` of ``known_epoch`` (or after
        ``timeout_s``); a handle of another epoch (an earlier controller life) gets it at once."""
        if _reconstructed():
            self._ensure_starting()  # nobody calls start() on a restarted controller
        same_epoch = known_epoch == self._epoch
        if handle_id is not None:
            self.handles.seen(handle_id, version=known_version if same_epoch else -1, now=time.monotonic())
        # A life that has not started yet (adopting, starting replicas) has nothing to tell even a handle of an
        # earlier life: its empty replica set and tool catalogue would make the handle drop replicas that still
        # serve and forget which tools are idempotent (so calls lost meanwhile would not fail over).
        if self._version < 0 or (same_epoch and self._version <= known_version):
            changed = self._changed
            try:
                await asyncio.wait_for(changed.wait(), timeout_s)
            except asyncio.TimeoutError:
                pass
        return self._snapshot()

    async def note_backlog(self, handle_id: str, backlog: int) -> None:
        """A handle's calls not yet on a replica (it reports them while it has any, for autoscaling)."""
        self.handles.note_backlog(handle_id, backlog, now=time.monotonic())

    async def forward(self, call: ToolCall, options: WireOptions) -> ToolResult:
        """Run a call on some replica: used by a handle that has not received its first snapshot yet."""
        deadline = time.monotonic() + self._options.start_timeout_s
        while self._version < 0 and time.monotonic() < deadline:  # not started yet: wait for the first snapshot
            try:
                await asyncio.wait_for(self._changed.wait(), max(0.1, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                break
        healthy = [r for r in self._replicas if r.healthy] or self._replicas
        if not healthy:
            message = self._error or f"deployment {self._name!r} has no replica available"
            return ToolResult.failure(call.id, call.name, ToolError.of("transient", message,
                                                                      code="REPLICA_UNAVAILABLE"))
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
        records = list(self._replicas)
        reports = await asyncio.gather(*(self.fresh_report(r) for r in records))
        events = tuple(self._scaler.events) if self._scaler is not None else ()
        return ControllerReport(self._name, tuple(zip(records, reports, strict=True)), self._replacements, self._error,
                                self._stopped, self._target_count(), events, self._epoch)

    async def fresh_report(self, record: ReplicaRecord) -> ReplicaReport | None:
        """``record``'s self-report now, or None when it does not answer within ``health_timeout_s``."""
        try:
            fresh: ReplicaReport = await asyncio.wait_for(record.actor.report.remote(),
                                                          self._options.health_timeout_s)
        except Exception:
            return None
        record.last = fresh
        return fresh

    async def shutdown(self, drain: bool, timeout_s: float) -> ShutdownReport:
        """Drain (when asked) and stop every replica it can reach, kill them all (also replicas it does not track:
        left by a failed start or an earlier controller life), release the placement group; report each."""
        self._stopping = True
        for task in (self._supervisor, self._scaler.task if self._scaler is not None else None):
            if task is not None:
                task.cancel()
        if self._starting is not None and not self._starting.done():
            await asyncio.wait([self._starting], timeout=timeout_s)
        records = list(self._replicas)
        for record, task in list(self._retiring.values()):
            task.cancel()
            records.append(record)
        answered = await asyncio.gather(*(self._retire(r, drain=drain, timeout_s=timeout_s) for r in records))
        prefix = replica_prefix(self._name)
        stopped = [prefix + r.replica_id for r, ok in zip(records, answered, strict=True) if ok]
        killed = [prefix + r.replica_id for r, ok in zip(records, answered, strict=True) if not ok]
        errors: dict[str, str] = {}
        try:
            for actor_name in await self._named_replicas():  # untracked ones, and any a kill missed
                problem = _kill(actor_name, self._namespace)
                if problem is not None:
                    errors[actor_name] = problem
                elif actor_name not in stopped and actor_name not in killed:
                    killed.append(actor_name)
        except Exception as exc:
            errors["*"] = f"could not list the deployment's actors: {describe(exc)}"
        self._replicas = []
        if self._group is not None:
            remove_placement_group(self._group)
            self._group = None
        self._stopped = True
        self._publish()
        return ShutdownReport(stopped=stopped, killed=killed, errors=errors)


def _kill(actor_name: str, namespace: str | None) -> str | None:
    """Kill a named actor; None when done (or it was already gone), else why not."""
    try:
        actor = ray.get_actor(actor_name, namespace=namespace)
    except ValueError:
        return None
    try:
        ray.kill(actor, no_restart=True)
    except Exception as exc:
        return describe(exc)
    return None


def _reconstructed() -> bool:
    with warnings.catch_warnings():  # Ray's own property trips its deprecation warning about actor_id
        warnings.simplefilter("ignore")
        return bool(ray.get_runtime_context().was_current_actor_reconstructed)


# The actor class; `deploy` names it and sets its lifetime with `.options()`.
ControllerActor: Any = ray.remote(DeploymentController)
