"""The door's rate limit shared by a deployment's replicas: holders with one name draw from one bucket per
principal, and a host lost with its replica comes back instead of failing or opening the door."""

from __future__ import annotations

import logging
import time
import uuid

import pytest

from armorer_ray.serve import RequestLimits

pytestmark = pytest.mark.ray
pytest.importorskip("ray.serve")

SLOW = RequestLimits(rate_per_s=0.001, burst=4)  # four requests, then nothing for a quarter of an hour


async def test_holders_with_one_name_share_each_principals_bucket(ray_runtime: object) -> None:
    from armorer_ray.serve.shared_limits import DeploymentRateLimiter

    name = f"door-{uuid.uuid4().hex[:8]}"
    first, second = DeploymentRateLimiter(name, SLOW), DeploymentRateLimiter(name, SLOW)  # two replicas
    waits = [await (first if i % 2 else second).admit("ada") for i in range(7)]
    assert waits[:4] == [0.0] * 4  # the burst, spent alternately through both holders
    assert all(wait > 60 for wait in waits[4:])  # then empty for both: the next token is minutes away
    assert await second.admit("bob") == 0.0  # another principal has its own bucket
    assert await DeploymentRateLimiter(f"{name}-other", SLOW).admit("ada") == 0.0  # another name, other buckets


async def test_a_host_that_died_is_replaced_and_the_limit_goes_on(ray_runtime: object,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    import ray

    from armorer_ray.serve.shared_limits import DeploymentRateLimiter

    name = f"door-{uuid.uuid4().hex[:8]}"
    holder = DeploymentRateLimiter(name, SLOW)
    assert [await holder.admit("ada") for _ in range(5)][-1] > 0
    ray.kill(ray.get_actor(name), no_restart=True)  # its owner went away, say
    deadline = time.monotonic() + 60
    with caplog.at_level(logging.WARNING, logger="armorer_ray.serve.shared_limits"):
        while True:  # the dead actor's name is released asynchronously: re-creation may take a moment
            wait = await holder.admit("ada")
            if wait == 0.0 or time.monotonic() > deadline:
                break
    assert wait == 0.0  # a fresh host: ada's bucket starts full again
    replacement = ray.get_actor(name)
    assert ray.get(replacement.lease.remote("ada", 10))[0] <= 3  # the replacement host is what counted the call
    assert "unreachable" not in caplog.text  # replaced, not degraded to a per-replica bucket


def test_a_limiter_needs_a_rate() -> None:
    from armorer_ray.serve.shared_limits import DeploymentRateLimiter

    with pytest.raises(ValueError, match="rate_per_s"):
        DeploymentRateLimiter("x", RequestLimits(rate_per_s=None))
