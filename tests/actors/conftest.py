"""Shared helpers for the actor tests: a counter actor, and deployments that are always shut down.

Tool bodies defined in these test modules are pickled by value (`by_value`), so replicas need not import
``tests``; every actor asks for ``num_cpus=0`` so a 2-core machine can host several replicas.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import ray
from ray import cloudpickle

from armorer_ray import Toolbox
from armorer_ray.actors import ActorOptions, Deployment, DeploymentOptions, deploy


def by_value(module_name: str) -> None:
    """Pickle functions and classes of ``module_name`` by value when they travel to Ray workers."""
    cloudpickle.register_pickle_by_value(sys.modules[module_name])


by_value(__name__)

NO_CPU = ActorOptions(num_cpus=0, max_restarts=0)


class Counter:
    """Counts and logs across processes: tools and hooks in replicas report here."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.events: list[str] = []
        self.running: dict[str, int] = {}
        self.peak: dict[str, int] = {}

    async def hit(self, key: str) -> int:
        self.counts[key] = self.counts.get(key, 0) + 1
        return self.counts[key]

    async def log(self, event: str) -> None:
        self.events.append(event)

    async def enter(self, key: str) -> None:
        self.running[key] = self.running.get(key, 0) + 1
        self.peak[key] = max(self.peak.get(key, 0), self.running[key])

    async def leave(self, key: str) -> None:
        self.running[key] -= 1

    async def snapshot(self) -> dict[str, Any]:
        return {"counts": dict(self.counts), "events": list(self.events), "peak": dict(self.peak)}


CounterActor = ray.remote(num_cpus=0)(Counter)


@pytest.fixture
def counter(ray_runtime: object) -> Iterator[Any]:
    """A fresh counter actor, killed after the test."""
    actor = CounterActor.remote()
    yield actor
    ray.kill(actor)


@pytest.fixture(scope="module")
def module_counter(ray_runtime: object) -> Iterator[Any]:
    """A counter actor shared by a module's tests (key events by call id to keep them apart)."""
    actor = CounterActor.remote()
    yield actor
    ray.kill(actor)


def read(counter: Any) -> dict[str, Any]:
    """The counter's state (blocking; call from sync code or between awaits in tests only)."""
    state: dict[str, Any] = ray.get(counter.snapshot.remote())
    return state


@pytest.fixture
def launch(ray_runtime: object) -> Iterator[Callable[..., Deployment]]:
    """``launch(toolbox, replicas=..., **options)``: a deployment with 0-CPU replicas, shut down after the test."""
    yield from launcher()


@pytest.fixture(scope="module")
def module_launch(ray_runtime: object) -> Iterator[Callable[..., Deployment]]:
    """`launch` for deployments shared by a module's tests (starting actors is the slow part of these tests)."""
    yield from launcher()


def launcher() -> Iterator[Callable[..., Deployment]]:
    made: list[Deployment] = []

    def make(toolbox: Toolbox | Callable[[], Toolbox], replicas: int = 1, *, name: str | None = None,
             actor_options: ActorOptions = NO_CPU, **options: Any) -> Deployment:
        dep = deploy(toolbox, replicas, name, actor_options=actor_options,
                     options=DeploymentOptions(**options) if options else None)
        made.append(dep)
        return dep

    yield make
    for dep in made:
        asyncio.run(dep.shutdown(drain=False, timeout_s=5))
