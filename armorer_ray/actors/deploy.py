"""`deploy` a toolbox as Ray actor replicas, or attach to a running deployment with `get_deployment`."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import ray
from ray.util.placement_group import remove_placement_group

from armorer_ray.actors._private.controller import ControllerActor
from armorer_ray.actors._private.placement import (
    Placement,
    ReplicaPlan,
    acquire_placement_group,
    controller_ray_options,
    create_replica,
    needs_placement_group,
    placement_group_name,
)
from armorer_ray.actors._private.snapshot import controller_name
from armorer_ray.actors._private.spec import ToolboxSpec
from armorer_ray.actors.autoscaling import Autoscaling
from armorer_ray.actors.deployment import Deployment
from armorer_ray.actors.options import ActorOptions, ControllerOptions, DeploymentOptions
from armorer_ray.errors import ConfigError, DeploymentError
from armorer_ray.toolbox import Toolbox

__all__ = ["deploy", "get_deployment"]


def _ensure_ray(address: str | None) -> None:
    if not ray.is_initialized():
        ray.init(address=address)


def deploy(
    toolbox: Toolbox | Callable[[], Toolbox],
    replicas: int = 1,
    name: str | None = None,
    *,
    namespace: str | None = None,
    detached: bool = False,
    options: DeploymentOptions | None = None,
    actor_options: ActorOptions | None = None,
    autoscaling: Autoscaling | None = None,
    controller: ControllerOptions | None = None,
    address: str | None = None,
) -> Deployment:
    """Run a toolbox as ``replicas`` Ray actors and return the handle; does not wait for them to start.

    The toolbox travels as its tools and options (or call a factory inside each replica, for toolboxes holding
    things that cannot be pickled); each replica builds its own, runs ``on_start`` once, and runs calls through
    the same pipeline. Calls made before the replicas are up wait in the handle's queue; ``await dep.ready()``
    surfaces a failed start. Ray is initialised (``ray.init(address=address)``) only if it is not already.

    Args:
        toolbox: The toolbox, or a zero-argument function that builds it inside each replica.
        replicas: How many actors run it (with ``autoscaling``: how many start, brought within its bounds).
        name: Unique name within the namespace (default: the toolbox's name plus a random suffix).
        namespace: Ray namespace (default: the current job's).
        detached: Keep running after this driver exits; attach later with `get_deployment`.
        options: Routing, queueing, batching and supervision.
        actor_options: Resources, runtime environment, placement and restarts of each replica.
        autoscaling: Let the controller size the replica set with the load (see `Autoscaling`).
        controller: Where the controller runs (default: the head node).
        address: Cluster address for ``ray.init`` when Ray is not initialised yet (None: local, or RAY_ADDRESS).

    Returns:
        The `Deployment` handle.

    Raises:
        ConfigError: for ``replicas < 1``, a name already taken, or a toolbox that cannot be pickled.

    Example:
        >>> dep = deploy(toolbox, replicas=2, actor_options=ActorOptions(num_cpus=0))  # doctest: +SKIP
        >>> dep = deploy(toolbox, autoscaling=Autoscaling(min_replicas=1, max_replicas=8))  # doctest: +SKIP
    """
    if replicas < 1:
        raise ConfigError(f"replicas must be at least 1, got {replicas}")
    _ensure_ray(address)
    spec = ToolboxSpec.of(toolbox)
    name = name or f"{spec.name}-{uuid.uuid4().hex[:6]}"
    namespace = namespace or ray.get_runtime_context().namespace
    options = options or DeploymentOptions()
    try:
        blob: bytes = ray.cloudpickle.dumps(spec)  # type: ignore[no-untyped-call]  # ray.cloudpickle is untyped
    except Exception as exc:
        raise ConfigError(f"toolbox {spec.name!r} cannot be pickled to send to replicas ({exc}); pass a function "
                          "that builds it instead: deploy(lambda: build_toolbox(), ...)") from exc
    if autoscaling is not None:
        replicas = autoscaling.clamp(replicas)
    plan = ReplicaPlan(name, namespace, blob, replicas, options, actor_options or ActorOptions(), detached,
                       autoscaling)
    group = None
    if needs_placement_group(plan.actor_options):
        group = acquire_placement_group(placement_group_name(name), replicas, plan.actor_options, detached)
    try:
        # Restarted whenever it dies (its state is rebuilt from the replicas still running), detached or not.
        handle = ControllerActor.options(
            name=controller_name(name), namespace=namespace, lifetime="detached" if detached else None,
            num_cpus=0, max_concurrency=1_000, max_restarts=-1,
            **controller_ray_options(controller or ControllerOptions()),
        ).remote(plan, group)
    except ValueError as exc:
        if group is not None:
            remove_placement_group(group)
        raise ConfigError(f"a deployment named {name!r} already exists in namespace {namespace!r}: attach to it "
                          "with get_deployment(name), or shut it down first") from exc
    # The first replicas are created here, not by the controller, so their processes start alongside its own
    # instead of after it: a deployment is ready after one actor start, not two in a row.
    initial = tuple(create_replica(plan, index, Placement(group, index) if group is not None else Placement())
                    for index in range(replicas))
    handle.start.remote(initial)  # the first calls wait in the handle's queue until the replicas are up
    return Deployment(name, namespace, handle, options)


def get_deployment(name: str, namespace: str | None = None, *, address: str | None = None) -> Deployment:
    """Attach to a running deployment by name, from any driver or actor connected to the cluster.

    Args:
        name: The deployment's name.
        namespace: Its Ray namespace (default: the current job's).
        address: Cluster address for ``ray.init`` when Ray is not initialised yet.

    Returns:
        A new handle (with its own routing counts) to the same replicas.

    Raises:
        DeploymentError: when no deployment of that name exists.

    Example:
        >>> dep = get_deployment("crm", namespace="agents")  # doctest: +SKIP
    """
    _ensure_ray(address)
    namespace = namespace or ray.get_runtime_context().namespace
    try:
        controller = ray.get_actor(controller_name(name), namespace=namespace)
    except ValueError as exc:
        raise DeploymentError(f"no deployment named {name!r} in namespace {namespace!r}") from exc
    return Deployment(name, namespace, controller)
