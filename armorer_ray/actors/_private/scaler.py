"""Autoscaling inside the controller: measure the load, decide (`ScalingDecider`), start or drain replicas.

The load is what handles hold back (their queues and unsent batch calls, which they report while they have any)
plus what replicas hold (running or waiting for a slot). Scaling up asks Ray for the resources of the whole
target first (``ray.autoscaler.sdk.request_resources``), so on a cluster with an autoscaler the nodes come.
Scaling down takes replicas out of the snapshot, waits until every live handle has seen that and the replicas hold
no call, then stops them: no call is cut.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from armorer_ray.actors._private.placement import replica_bundle
from armorer_ray.actors._private.records import ReplicaRecord, describe
from armorer_ray.actors._private.scaling import ScalingDecider
from armorer_ray.actors.autoscaling import Autoscaling, ScalingEvent

if TYPE_CHECKING:
    from armorer_ray.actors._private.controller import DeploymentController

__all__ = ["Scaler"]

log = logging.getLogger(__name__)
EVENTS_KEPT = 100


class Scaler:
    """Sizes one controller's replica set.

    Args:
        controller: The controller it works for.
        policy: The deployment's `Autoscaling`.
    """

    def __init__(self, controller: DeploymentController, policy: Autoscaling) -> None:
        self._controller = controller
        self.policy = policy
        self.decider = ScalingDecider(policy)
        self.target = policy.clamp(controller.plan.replicas)
        self.events: deque[ScalingEvent] = deque(maxlen=EVENTS_KEPT)
        self._decided = 0  # decisions so far: the next one's `ScalingEvent.seq`
        self.task: asyncio.Task[None] | None = None
        self.busy = False
        self._metrics: _Metrics | None = None

    def start(self) -> None:
        """Start the measuring loop (once the first replicas are up)."""
        self._metrics = _Metrics(self._controller.name)
        self._metrics.replicas(len(self._controller.replicas), self.target)
        self.task = asyncio.ensure_future(self._loop())

    async def _loop(self) -> None:
        while not self._controller.stopping:
            await asyncio.sleep(self.policy.metrics_period_s)
            try:
                await self.step()
            except Exception as exc:  # scaling must outlive one bad round
                log.warning("autoscaling round failed: %s", describe(exc))

    async def measure(self) -> float:
        """Calls held back by handles plus calls held by replicas, now."""
        records = list(self._controller.replicas)
        reports = await asyncio.gather(*(self._controller.fresh_report(r) for r in records))
        held = sum(report.ongoing for report in reports if report is not None)
        return float(held + self._controller.handles.backlog(now=time.monotonic()))

    async def step(self) -> None:
        """One measurement and, when the decider says so, one scaling action."""
        controller = self._controller
        load = await self.measure()
        current = len(controller.replicas)
        wanted = self.decider.observe(now=time.monotonic(), load=load, current=current)
        if wanted == current or controller.stopping:
            return
        self.target = wanted
        direction = "up" if wanted > current else "down"
        reason = (f"load {load:g} over {current} replica(s) against a target of "
                  f"{self.policy.target_ongoing_calls:g} per replica")
        event = ScalingEvent(seq=self._decided, at=time.time(), direction=direction, from_replicas=current,
                             to_replicas=wanted, load=load, reason=reason)
        self._decided += 1
        self.events.append(event)
        log.info("deployment %s scales %s: %d -> %d (%s)", controller.name, direction, current, wanted, reason)
        if self._metrics is not None:
            self._metrics.decided(direction, current, wanted)
        if wanted > current:
            controller.publish()  # handles hear of the decision now, not once the new replicas are up
        await self._request_resources(wanted)
        if wanted > current:
            await self._grow(wanted - current)
        else:
            self._shrink(current - wanted)
        if self._metrics is not None:
            self._metrics.replicas(len(controller.replicas), self.target)

    async def _grow(self, count: int) -> None:
        self.busy = True
        try:
            started = await asyncio.gather(*(self._controller.launch() for _ in range(count)),
                                           return_exceptions=True)
        finally:
            self.busy = False
        for item in started:
            if isinstance(item, BaseException):  # the supervisor's refill retries it
                log.warning("could not start a replica while scaling up: %s", describe(item))
        await self._controller.adopt_started([item for item in started if isinstance(item, ReplicaRecord)])

    def _shrink(self, count: int) -> None:
        controller = self._controller
        # Least loaded first, newest first among equals: they have the least to drain.
        candidates = [r for r in controller.replicas if not r.replacing]
        ranked = sorted(candidates, key=lambda r: (r.last.ongoing if r.last else 0, -r.slot))
        victims = ranked[:count]
        for record in victims:
            controller.replicas.remove(record)
        version = controller.publish()
        for record in victims:
            controller.retire_later(record, drain=True, timeout_s=controller.options.drain_timeout_s,
                                    after_version=version)

    async def _request_resources(self, replicas: int) -> None:
        # Tells a Ray autoscaler, when the cluster has one, to keep room for the target; a no-op without one.
        try:
            from ray.autoscaler.sdk import request_resources

            bundle = replica_bundle(self._controller.plan.actor_options)
            await asyncio.to_thread(request_resources, bundles=[dict(bundle) for _ in range(replicas)])
        except Exception as exc:
            log.info("could not request resources from Ray's autoscaler: %s", describe(exc))


class _Metrics:
    """Ray metrics (exported with the cluster's Prometheus metrics) of one deployment's scaling."""

    def __init__(self, name: str) -> None:
        from ray.util.metrics import Counter, Gauge

        tags = {"deployment": name}
        self._replicas: Any = Gauge("armorer_deployment_replicas", "Replicas running", tag_keys=("deployment",))
        self._target: Any = Gauge("armorer_deployment_target_replicas", "Replicas autoscaling aims at",
                                  tag_keys=("deployment",))
        self._decisions: Any = Counter("armorer_deployment_scaling_decisions", "Scaling decisions",
                                       tag_keys=("deployment", "direction"))
        for metric in (self._replicas, self._target, self._decisions):
            metric.set_default_tags(tags)

    def replicas(self, running: int, target: int) -> None:
        self._replicas.set(running)
        self._target.set(target)

    def decided(self, direction: str, current: int, wanted: int) -> None:
        self._decisions.inc(1, tags={"direction": direction})
