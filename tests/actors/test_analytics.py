"""`Deployment.analytics`: every replica keeps call analytics; the handle merges them into one snapshot."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from armorer_ray import ConfigError, Toolbox, ToolCall, tool
from armorer_ray.actors import Deployment
from tests.actors.conftest import by_value

by_value(__name__)
pytestmark = pytest.mark.ray


@tool(read_only=True, metadata={"cost": 0.5})
async def lookup(key: int) -> int:
    """Look a key up."""
    return key * 2


async def test_the_snapshot_merges_every_replica_and_reset_starts_a_new_window(
        launch: Callable[..., Deployment]) -> None:
    dep = launch(Toolbox([lookup]), replicas=2, max_concurrency=4, batch_size=4, analytics=True)
    await dep.ready()
    assert (await dep.analytics()).cells == []  # nothing finished yet

    calls = [ToolCall(name="lookup", arguments={"key": i}, tenant_id="acme" if i % 2 else "globex")
             for i in range(40)]
    calls += [ToolCall(name="lookup", arguments={"key": "not a number"}, tenant_id="acme") for _ in range(4)]
    results = await dep.execute(calls)
    assert sum(r.ok for r in results) == 40
    per_replica = [r.completed + r.failed for r in (await dep.stats()).replicas]

    snapshot = await dep.analytics(reset=True)
    stats = snapshot.by_tool()["default:lookup"]
    assert (stats.calls, stats.outcomes, stats.error_codes) == (44, {"success": 40, "error": 4},
                                                               {"VALIDATION_ERROR": 4})
    assert stats.cost == pytest.approx(22.0) and stats.p50_ms is not None and stats.p99_ms is not None
    assert snapshot.by_tenant()["acme"].calls == 24 and snapshot.by_tenant()["globex"].calls == 20
    assert sum(per_replica) == 44 and min(per_replica) > 0  # so both replicas' counts are in the merged snapshot

    after = await dep.analytics()
    assert after.cells == []  # the reset emptied every replica's window
    assert after.since >= snapshot.since


async def test_a_deployment_made_without_analytics_says_how_to_turn_them_on(
        launch: Callable[..., Deployment]) -> None:
    dep = launch(Toolbox([lookup]))
    assert (await dep.execute(ToolCall(name="lookup", arguments={"key": 1}))).result == 2
    with pytest.raises(ConfigError, match=r"DeploymentOptions\(analytics=True\)"):
        await dep.analytics()
