"""`Deployment.stats` assembled from the controller's report and the handle's own counts."""

from __future__ import annotations

from typing import Any

import ray

from armorer_ray.actors._private.dispatch import Counters
from armorer_ray.actors._private.records import ControllerReport
from armorer_ray.actors._private.router import RouterStats
from armorer_ray.actors._private.snapshot import replica_prefix
from armorer_ray.actors.stats import DeploymentStats, HandleStats, ReplicaStats, ShutdownReport

__all__ = ["deployment_stats", "stop_orphans"]


def deployment_stats(name: str, report: ControllerReport, routed: RouterStats, counters: Counters) -> DeploymentStats:
    """The public stats model for one deployment, as seen through one handle."""
    prefix = replica_prefix(name)
    replicas = []
    for record, fresh in report.replicas:
        extra: dict[str, Any] = {}
        if fresh is not None:
            extra = {"node_id": fresh.node_id, "pid": fresh.pid, "in_flight": fresh.in_flight, "ongoing": fresh.ongoing,
                     "completed": fresh.completed, "failed": fresh.failed, "pools": dict(fresh.pools)}
        replicas.append(ReplicaStats(replica_id=record.replica_id, actor_name=prefix + record.replica_id,
                                     healthy=record.healthy, consecutive_failures=record.failures,
                                     restarts=record.restarts, responding=fresh is not None, **extra))
    handle = HandleStats(in_flight=routed.in_flight, queued=routed.queued, peak_queued=routed.peak_queued,
                         admitted=routed.admitted, shed=routed.shed, failovers=counters.failovers,
                         replica_died=counters.replica_died, cancelled=counters.cancelled)
    return DeploymentStats(name=name, replicas=replicas, replacements=report.replacements, handle=handle,
                           error=report.error, stopped=report.stopped, target_replicas=report.target,
                           scaling=list(report.events), epoch=report.epoch)


def stop_orphans(name: str, namespace: str | None) -> ShutdownReport:
    """Kill every replica actor of deployment ``name`` found by name (blocking; for when its controller is gone)."""
    prefix = replica_prefix(name)
    killed: list[str] = []
    errors: dict[str, str] = {}
    for entry in ray.util.list_named_actors(all_namespaces=True):
        actor_name = entry["name"]
        if entry.get("namespace") != namespace or not actor_name.startswith(prefix):
            continue
        try:
            ray.kill(ray.get_actor(actor_name, namespace=namespace), no_restart=True)
            killed.append(actor_name)
        except ValueError:
            pass  # gone meanwhile
        except Exception as exc:
            errors[actor_name] = f"{type(exc).__name__}: {exc}"
    return ShutdownReport(killed=killed, errors=errors)
