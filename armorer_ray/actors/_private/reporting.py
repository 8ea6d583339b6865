"""`Deployment.stats` assembled from the controller's report and the handle's own counts."""

from __future__ import annotations

from typing import Any

from armorer_ray.actors._private.controller import ControllerReport
from armorer_ray.actors._private.dispatch import Counters
from armorer_ray.actors._private.router import RouterStats
from armorer_ray.actors._private.snapshot import replica_prefix
from armorer_ray.actors.stats import DeploymentStats, HandleStats, ReplicaStats

__all__ = ["deployment_stats"]


def deployment_stats(name: str, report: ControllerReport, routed: RouterStats, counters: Counters) -> DeploymentStats:
    """The public stats model for one deployment, as seen through one handle."""
    prefix = replica_prefix(name)
    replicas = []
    for record, fresh in report.replicas:
        extra: dict[str, Any] = {}
        if fresh is not None:
            extra = {"node_id": fresh.node_id, "pid": fresh.pid, "in_flight": fresh.in_flight,
                     "completed": fresh.completed, "failed": fresh.failed, "pools": dict(fresh.pools)}
        replicas.append(ReplicaStats(replica_id=record.replica_id, actor_name=prefix + record.replica_id,
                                     healthy=record.healthy, consecutive_failures=record.failures,
                                     restarts=record.restarts, responding=fresh is not None, **extra))
    handle = HandleStats(in_flight=routed.in_flight, queued=routed.queued, peak_queued=routed.peak_queued,
                         admitted=routed.admitted, shed=routed.shed, failovers=counters.failovers,
                         replica_died=counters.replica_died, cancelled=counters.cancelled)
    return DeploymentStats(name=name, replicas=replicas, replacements=report.replacements, handle=handle,
                           error=report.error, stopped=report.stopped)
