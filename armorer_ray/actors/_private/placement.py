"""Ray actor options for replicas: resources, runtime environment, restarts, and placement."""

from __future__ import annotations

from typing import Any

from ray.util.placement_group import PlacementGroup, get_placement_group, placement_group
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from armorer_ray.actors.options import ActorOptions

__all__ = ["acquire_placement_group", "needs_placement_group", "replica_ray_options"]


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
