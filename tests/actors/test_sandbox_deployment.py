"""A deployed toolbox with a SandboxExecutor: each replica runs bodies in worker processes of its own."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from armorer_ray import SandboxExecutor, SandboxLimits, Toolbox, tool
from armorer_ray.actors import Deployment
from tests.actors.conftest import by_value

by_value(__name__)
pytestmark = pytest.mark.ray


@tool
def where() -> dict[str, int]:
    """Report the process the body runs in (as the host counts: /proc is the host's) and its parent."""
    return {"pid": int(os.readlink("/proc/self")), "parent": os.getppid()}


@tool
def hog(megabytes: int) -> int:
    """Allocate a buffer."""
    return len(bytearray(megabytes * 2**20))


async def test_replicas_run_sandboxed_bodies_under_the_limits(launch: Callable[..., Deployment]) -> None:
    executor = SandboxExecutor(SandboxLimits(wall_s=60, memory_bytes=100 * 2**20), warm=0)
    dep = launch(Toolbox([where, hog], executor=executor))
    first = await dep.execute({"name": "where"})
    second = await dep.execute({"name": "where"})
    assert first.ok and second.ok, (first.error, second.error)
    assert os.getpid() not in (first.result["pid"], second.result["pid"], first.result["parent"])
    assert first.result["pid"] != second.result["pid"]
    error = (await dep.execute({"name": "hog", "arguments": {"megabytes": 400}})).error
    assert error is not None and (error.code, error.category) == ("SANDBOX_MEMORY", "internal")
