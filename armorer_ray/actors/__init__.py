"""Ray actors: toolboxes deployed as supervised replicas, resource pools, and limits that hold across replicas.

Example:
    >>> from armorer_ray.actors import DeploymentOptions
    >>> DeploymentOptions(max_concurrency=16, batch_size=16).max_queued
    1000
"""

from armorer_ray.actors.autoscaling import Autoscaling, ScalingEvent
from armorer_ray.actors.concurrency import ClusterConcurrencyLimit
from armorer_ray.actors.deploy import deploy, get_deployment
from armorer_ray.actors.deployment import Deployment
from armorer_ray.actors.options import ActorOptions, ControllerOptions, DeploymentOptions, PlacementStrategy
from armorer_ray.actors.pool import SharedResourcePool, create_resource_pool
from armorer_ray.actors.rate_limit import ClusterRateLimit
from armorer_ray.actors.stats import DeploymentStats, HandleStats, ReplicaStats, ShutdownReport
from armorer_ray.resources import Lease, PoolStats, ResourcePool

__all__ = [
    "ActorOptions",
    "Autoscaling",
    "ClusterConcurrencyLimit",
    "ClusterRateLimit",
    "ControllerOptions",
    "Deployment",
    "DeploymentOptions",
    "DeploymentStats",
    "HandleStats",
    "Lease",
    "PlacementStrategy",
    "PoolStats",
    "ReplicaStats",
    "ResourcePool",
    "ScalingEvent",
    "SharedResourcePool",
    "ShutdownReport",
    "create_resource_pool",
    "deploy",
    "get_deployment",
]
