"""A deployed versioned toolbox negotiates versions and migrates old calls inside its replicas."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from armorer_ray import ToolResult, tool
from armorer_ray.actors import Deployment
from armorer_ray.registry import Migration, create_registry
from tests.actors.conftest import by_value

by_value(__name__)
pytestmark = pytest.mark.ray


def upgrade(arguments: dict[str, object]) -> dict[str, object]:
    return {"query": arguments.pop("q"), **arguments}


def test_a_replica_migrates_a_call_for_a_retired_version(launch: Callable[..., Deployment]) -> None:
    v2 = tool(name="search", version="2.0.0", description="Search.")(lambda query: f"v2:{query}")
    registry = create_registry().register(v2, migrations=[Migration("^1", upgrade, note="q → query")])
    deployment = launch(registry.toolbox(name="versioned"))

    async def run() -> tuple[ToolResult, list[ToolResult], list[object]]:
        single = await deployment.execute({"id": "one", "name": "search@1.2.0", "arguments": {"q": "ray"}})
        batch = await deployment.execute([{"id": "a", "name": "search@1.0.0", "arguments": {"q": "a"}},
                                          {"id": "b", "name": "search@^2", "arguments": {"query": "b"}}])
        streamed = [item async for item in deployment.stream({"id": "s", "name": "search@1.0.0",
                                                               "arguments": {"q": "s"}})]
        return single, batch, streamed

    single, batch, streamed = asyncio.run(run())
    assert (single.result, single.migrated_from, single.tool_id) == ("v2:ray", "1.2.0", "default:search@2.0.0")
    assert [(r.result, r.migrated_from) for r in batch] == [("v2:a", "1.0.0"), ("v2:b", None)]
    final = streamed[-1]
    assert isinstance(final, ToolResult) and (final.result, final.migrated_from) == ("v2:s", "1.0.0")
