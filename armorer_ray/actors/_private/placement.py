"""Making replica actors: resources, runtime environment, restarts, placement, and names.

Both `deploy` (the first replicas, so their start overlaps the controller's) and the controller (replacements)
create replicas here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from ray.util.placement_group import PlacementGroup, get_placement_group, placement_group
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from armorer_ray.actors._private.replica import ReplicaActor
from armorer_ray.actors._private.snapshot import replica_prefix
from armorer_ray.actors.options import ActorOptions, DeploymentOptions

__all__ = ["NewReplica", "ReplicaPlan", "acquire_placement_group", "create_replica", "needs_placement_group",
           "placement_group_name", "replica_ray_options"]


@dataclass(frozen=True, slots=True)
class ReplicaPlan:
    """Everything needed to create replicas of one deployment (picklable: the controller keeps one)."""

    name: str
    namespace: str | None
    spec_blob: bytes
    replicas: int
    options: DeploymentOptions
    actor_options: ActorOptions
    detached: bool


@dataclass(frozen=True, slots=True)
class NewReplica:
    """A replica actor just created (not started yet)."""

    replica_id: str
    bundle_index: int
    actor: Any


def placement_group_name(name: str) -> str:
    """The name of a deployment's placement group."""
    return f"armorer.deployment:{name}:pg"


def create_replica(plan: ReplicaPlan, group: PlacementGroup | None, bundle_index: int) -> NewReplica:
    """Create (without waiting for) one replica actor in bundle ``bundle_index``."""
    replica_id = f"{bundle_index}-{uuid.uuid4().hex[:6]}"
    options = replica_ray_options(plan.actor_options, name=replica_prefix(plan.name) + replica_id,
                                  namespace=plan.namespace, max_concurrency=plan.options.max_concurrency,
                                  detached=plan.detached, group=group, bundle_index=bundle_index)
    actor = ReplicaActor.options(**options).remote(plan.spec_blob, replica_id, plan.options.max_concurrency,
                                                   plan.options.analytics)
    return NewReplica(replica_id, bundle_index, actor)


def needs_placement_group(options: ActorOptions) -> bool:
    """Whether the strategy is a placement group (``PACK``, ``STRICT_PACK``, ``STRICT_SPREAD``)."""
    return options.placement_strategy in ("PACK", "STRICT_PACK", "STRICT_SPREAD")


def acquire_placement_group(name: str, replicas: int, options: ActorOptions, detached: bool) -> PlacementGroup:
    """The deployment's named placement group (found again after a controller restart), one bundle per replica."""
    try:
        found: PlacementGroup = get_placement_group(name)
        return found
    except ValueError:
        pass
    bundle: dict[str, float] = {"CPU": options.num_cpus, "GPU": options.num_gpus, **options.resources}
    if options.memory_bytes:
        bundle["memory"] = float(options.memory_bytes)
    bundle = {key: value for key, value in bundle.items() if value > 0}
    # Ray refuses empty bundles; replicas asking for nothing still get a sliver, so the strategy has effect.
    bundle = bundle or {"CPU": 0.01}
    group: PlacementGroup = placement_group([dict(bundle) for _ in range(replicas)],
                                            strategy=options.placement_strategy, name=name,
                                            lifetime="detached" if detached else None)
    return group


def replica_ray_options(options: ActorOptions, *, name: str, namespace: str | None, max_concurrency: int,
                        detached: bool, group: PlacementGroup | None, bundle_index: int) -> dict[str, Any]:
    """Keyword arguments for ``ReplicaActor.options(...)``."""
    ray_options: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "max_concurrency": max_concurrency,
        "num_cpus": options.num_cpus,
        "num_gpus": options.num_gpus,
        "resources": dict(options.resources),
        "max_restarts": options.max_restarts,
        # Never let Ray re-run a call on a restarted replica: the handle decides, knowing which tools are idempotent.
        "max_task_retries": 0,
    }
    if options.memory_bytes:
        ray_options["memory"] = options.memory_bytes
    if options.runtime_env:
        ray_options["runtime_env"] = dict(options.runtime_env)
    if detached:
        ray_options["lifetime"] = "detached"
    if group is not None:
        ray_options["scheduling_strategy"] = PlacementGroupSchedulingStrategy(
            group, placement_group_bundle_index=bundle_index)
    elif options.placement_strategy == "SPREAD":
        ray_options["scheduling_strategy"] = "SPREAD"
    return ray_options
