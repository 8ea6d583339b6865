"""Making replica actors: resources, runtime environment, restarts, placement, and names.

Both `deploy` (the first replicas, so their start overlaps the controller's) and the controller (replacements)
create replicas here.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ray.util.placement_group import PlacementGroup, get_placement_group, placement_group
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy, PlacementGroupSchedulingStrategy

from armorer_ray.actors._private.replica import ReplicaActor
from armorer_ray.actors._private.snapshot import replica_prefix
from armorer_ray.actors.autoscaling import Autoscaling
from armorer_ray.actors.options import ActorOptions, ControllerOptions, DeploymentOptions
from armorer_ray.errors import DeploymentError

__all__ = ["NewReplica", "NodeInfo", "Placement", "ReplicaPlan", "acquire_placement_group", "choose_node",
           "controller_ray_options", "create_replica", "needs_placement_group", "placement_group_name",
           "replica_bundle", "replica_ray_options"]

HEAD_RESOURCE = "node:__internal_head__"  # Ray gives the head node this resource (1.0)


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
    autoscaling: Autoscaling | None = None


@dataclass(frozen=True, slots=True)
class Placement:
    """Where one replica goes: a bundle of the deployment's placement group, a node, or Ray's default choice."""

    group: PlacementGroup | None = None
    bundle_index: int = -1
    node_id: str | None = None
    soft: bool = True


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """A live Ray node and the resources it has in total."""

    node_id: str
    resources: Mapping[str, float]


@dataclass(frozen=True, slots=True)
class NewReplica:
    """A replica actor just created (not started yet)."""

    replica_id: str
    bundle_index: int
    actor: Any


def placement_group_name(name: str) -> str:
    """The name of a deployment's placement group."""
    return f"armorer.deployment:{name}:pg"


def create_replica(plan: ReplicaPlan, slot: int, where: Placement) -> NewReplica:
    """Create (without waiting for) one replica actor for slot ``slot``, placed as ``where`` says."""
    replica_id = f"{slot}-{uuid.uuid4().hex[:6]}"
    options = replica_ray_options(plan.actor_options, name=replica_prefix(plan.name) + replica_id,
                                  namespace=plan.namespace, max_concurrency=plan.options.max_concurrency,
                                  detached=plan.detached, group=where.group, bundle_index=where.bundle_index)
    if where.group is None and where.node_id is not None:
        options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(where.node_id, soft=where.soft)
    actor = ReplicaActor.options(**options).remote(plan.spec_blob, replica_id, plan.options.max_concurrency,
                                                   plan.options.analytics)
    return NewReplica(replica_id, slot, actor)


def choose_node(options: ActorOptions, nodes: Sequence[NodeInfo], used: Sequence[str]) -> Placement:
    """Where a replica goes when its placement-group bundle is lost (or the group has no bundle for it).

    The strategy still holds, but over the nodes alive now: ``STRICT_SPREAD`` takes a node with no replica (and
    raises when there is none, so that Ray's autoscaler is asked for one rather than the rule broken),
    ``SPREAD`` prefers one, ``STRICT_PACK`` and ``PACK`` go where most replicas are, ``DEFAULT`` lets Ray choose.
    A lost bundle never makes a replica wait for its old node.

    Args:
        options: The replicas' resources and strategy.
        nodes: The live nodes.
        used: The node of every other live replica (repeated per replica).

    Returns:
        The placement (never a placement-group bundle).

    Raises:
        DeploymentError: for ``STRICT_SPREAD`` when every live node that fits already has a replica.

    Example:
        >>> nodes = [NodeInfo("a", {"CPU": 2}), NodeInfo("b", {"CPU": 2})]
        >>> choose_node(ActorOptions(placement_strategy="STRICT_SPREAD"), nodes, ["a"]).node_id
        'b'
    """
    strategy = options.placement_strategy
    if strategy == "DEFAULT":
        return Placement()
    needs = replica_bundle(options)
    fits = [node for node in nodes if all(node.resources.get(key, 0.0) >= value for key, value in needs.items())]
    load = Counter(used)
    if strategy in ("SPREAD", "STRICT_SPREAD"):
        free = sorted((node.node_id for node in fits if node.node_id not in load), key=lambda n: n)
        if free:
            return Placement(node_id=free[0], soft=strategy == "SPREAD")
        if strategy == "STRICT_SPREAD":
            raise DeploymentError(f"STRICT_SPREAD: every live node that fits a replica ({len(fits)}) has one")
        return Placement()
    packed = [node.node_id for node in fits if node.node_id in load]
    if packed:
        return Placement(node_id=max(packed, key=lambda n: load[n]), soft=strategy == "PACK")
    return Placement()


def replica_bundle(options: ActorOptions) -> dict[str, float]:
    """The resources one replica reserves, as a placement-group bundle (never empty)."""
    bundle: dict[str, float] = {"CPU": options.num_cpus, "GPU": options.num_gpus, **options.resources}
    if options.memory_bytes:
        bundle["memory"] = float(options.memory_bytes)
    bundle = {key: value for key, value in bundle.items() if value > 0}
    # Ray refuses empty bundles; replicas asking for nothing still get a sliver, so the strategy has effect.
    return bundle or {"CPU": 0.01}


def controller_ray_options(options: ControllerOptions) -> dict[str, Any]:
    """Scheduling keyword arguments for the controller actor."""
    resources = dict(options.resources)
    ray_options: dict[str, Any] = {}
    if options.placement == "head":
        resources[HEAD_RESOURCE] = 0.001
    elif options.placement == "node" and options.node_id is not None:
        ray_options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(options.node_id, soft=options.soft)
    if resources:
        ray_options["resources"] = resources
    return ray_options


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
    bundle = replica_bundle(options)
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
