"""Serving a registry: version routing and migrations on every path a call can take, seen by every layer."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from ray import cloudpickle as pickle

from armorer_ray import ConfigError, Toolbox, ToolCall, ToolResult, combine_toolboxes, tool
from armorer_ray.actors._private.spec import ToolboxSpec
from armorer_ray.context import CallContext
from armorer_ray.events import Event
from armorer_ray.middleware.base import Next
from armorer_ray.registry import Migration, Registry, create_registry
from armorer_ray.stores import MemoryStore
from armorer_ray.versioned import VersionedToolbox, Versioning
from armorer_ray.workflow import Node, ToolboxRecipe, create_workflow


def search_registry() -> Registry:
    """search 2.0.0 (query) reads calls for ^1 (q); 3.0.0 (query, limit) reads calls for ^2."""
    v2 = tool(name="search", version="2.0.0", description="Search v2.")(lambda query: {"v": 2, "query": query})
    v3 = tool(name="search", version="3.0.0", description="Search v3.")(
        lambda query, limit: {"v": 3, "query": query, "limit": limit})
    registry = create_registry()
    registry.register(v2, migrations=[Migration("^1", lambda a: {"query": a.pop("q"), **a}, note="q → query")])
    registry.register(v3, migrations=[Migration("^2", lambda a: {**a, "limit": 10}, note="limit added")])
    return registry


OLD_CALL = {"id": "old", "name": "search@1.0.0", "arguments": {"q": "ray"}}
UPGRADED = {"v": 3, "query": "ray", "limit": 10}


class Recorder:
    """A middleware that records the calls it sees."""

    def __init__(self) -> None:
        self.seen: list[ToolCall] = []

    async def __call__(self, call: ToolCall, ctx: CallContext, next: Next) -> ToolResult:
        self.seen.append(call)
        return await next(call, ctx)


def assert_migrated(result: ToolResult, call_id: str = "old") -> None:
    assert result.outcome == "success", result.error
    assert (result.call_id, result.result, result.migrated_from) == (call_id, UPGRADED, "1.0.0")
    assert result.tool_id == "default:search@3.0.0"


def test_middleware_policies_and_events_see_the_upgraded_call() -> None:
    recorder = Recorder()
    seen_by_policy: list[dict[str, Any]] = []
    box = search_registry().toolbox(middleware=[recorder], policy=lambda ctx: seen_by_policy.append(dict(ctx.params)))
    events: dict[str, list[Event]] = {}
    for kind in ("call", "tool.started", "migrated", "tool.finished"):
        box.on(kind, lambda event, kind=kind: events.setdefault(kind, []).append(event))
    assert_migrated(box.execute_sync(OLD_CALL))
    [call] = recorder.seen
    assert (call.id, call.name, call.arguments) == ("old", "default:search@3.0.0", {"query": "ray", "limit": 10})
    assert seen_by_policy == [{"query": "ray", "limit": 10}]
    assert events["call"][0].detail["call"].arguments == {"query": "ray", "limit": 10}
    assert events["tool.started"][0].detail["params"] == {"query": "ray", "limit": 10}
    [migrated] = events["migrated"]
    assert migrated.detail["call"].arguments == {"q": "ray"}  # the call as written, before the upgrade
    assert (migrated.detail["from_version"], migrated.detail["to_version"]) == ("1.0.0", "3.0.0")
    assert migrated.detail["notes"] == ["q → query", "limit added"]
    assert [e.type for e in events["migrated"] + events["call"]] == ["migrated", "call"]  # upgraded first


def test_a_batch_migrates_each_old_call_and_leaves_current_ones_alone() -> None:
    box = search_registry().toolbox()
    results = box.execute_sync([OLD_CALL, {"id": "new", "name": "search", "arguments": {"query": "x", "limit": 1}},
                                {"id": "v2", "name": "search@2.0.0", "arguments": {"query": "y"}},
                                {"id": "bad", "name": "search@0.1.0", "arguments": {}}], concurrency=2)
    assert_migrated(results[0])
    assert (results[1].result, results[1].migrated_from) == ({"v": 3, "query": "x", "limit": 1}, None)
    assert (results[2].result, results[2].migrated_from) == ({"v": 2, "query": "y"}, None)  # still registered
    assert results[3].error is not None and results[3].error.category == "not_found"  # no migration reaches it


def test_a_streamed_call_is_migrated() -> None:
    box = search_registry().toolbox()

    async def read() -> list[object]:
        return [item async for item in box.stream(OLD_CALL)]

    [result] = asyncio.run(read())
    assert isinstance(result, ToolResult)
    assert_migrated(result)


def test_json_text_arguments_are_migrated_and_non_objects_fail_as_migration_errors() -> None:
    box = search_registry().toolbox()
    assert_migrated(box.execute_sync({**OLD_CALL, "arguments": '{"q": "ray"}'}))
    for bad in ('{"q": ', "[1, 2]"):
        result = box.execute_sync({**OLD_CALL, "arguments": bad})
        assert result.error is not None
        assert (result.error.category, result.error.code) == ("validation", "MIGRATION_FAILED")


def test_every_toolbox_made_from_the_options_routes_and_migrates() -> None:
    box = search_registry().toolbox(name="versions")
    extra = tool(name="other", description="Other.")(lambda: "other")
    copies = {
        "extend": box.extend(extra),  # what a workflow node's variant is
        "combine": combine_toolboxes(box, Toolbox([extra])),
        "recipe": pickle.loads(pickle.dumps(ToolboxRecipe.of(box)))(),  # a Ray workflow worker's toolbox
        "spec": pickle.loads(pickle.dumps(ToolboxSpec.of(box))).build(),  # a deployment replica's toolbox
    }
    for where, copy in copies.items():
        assert type(copy) is Toolbox, where
        assert_migrated(copy.execute_sync(OLD_CALL))
        assert copy.get_tool("search@>=2").version == "3.0.0", where  # type: ignore[union-attr]
    assert copies["extend"].execute_sync({"name": "other"}).result == "other"  # tools outside the registry too


def test_a_workflow_node_naming_a_range_runs_the_negotiated_version() -> None:
    registry = search_registry()
    box = registry.toolbox()
    node = Node(tool="search@>=2", inputs={"query": "$inputs.q"}, arguments={"limit": 2})
    workflow = create_workflow(nodes={"find": node}, toolbox=box, name="find")
    run = workflow.run_sync({"q": "ray"}, checkpoint=MemoryStore())
    assert run.status == "succeeded", run
    assert run.outputs == {"find": {"v": 3, "query": "ray", "limit": 2}}


def test_versioning_is_a_policy_any_toolbox_can_take() -> None:
    registry = search_registry()
    box = Toolbox(registry.tools(), policy=[Versioning(registry)])
    assert_migrated(box.execute_sync(OLD_CALL))
    assert box.get_tool("search").version == "3.0.0"  # type: ignore[union-attr]
    assert box.get_tool("search@1.0.0") is None  # a retired version resolves only for a call it can migrate


def test_a_versioned_toolbox_keeps_the_policies_of_given_options() -> None:
    from armorer_ray import Decision, ToolboxOptions

    deny = ToolboxOptions(policies=[lambda ctx: Decision.deny("closed")])
    box = VersionedToolbox(search_registry(), options=deny)
    result = box.execute_sync(OLD_CALL)
    assert result.error is not None and result.error.code == "POLICY_DENIED"
    assert result.migrated_from == "1.0.0"


def test_a_failed_migration_is_heard_by_refusal_hooks() -> None:
    heard: list[ToolResult] = []

    class Refusals:
        def visible(self, tool: object, caller: object) -> bool:
            return True

        async def after_refusal(self, call: ToolCall, result: ToolResult) -> None:
            heard.append(result)

    registry = create_registry().register(
        tool(name="search", version="2.0.0", description="S.")(lambda query: query),
        migrations=[Migration("^1", lambda a: {"query": a["missing"]})])
    result = registry.toolbox(policy=[Refusals()]).execute_sync(OLD_CALL)
    assert result.error is not None and result.error.code == "MIGRATION_FAILED"
    assert heard == [result]


def test_a_versioned_toolbox_refuses_bad_options_like_a_toolbox() -> None:
    with pytest.raises(ConfigError, match="unknown toolbox option"):
        search_registry().toolbox(colour="blue")


def test_a_hidden_version_stays_not_found_and_its_migration_never_runs() -> None:
    ran: list[str] = []

    class StaffOnly:
        def visible(self, tool: object, caller: Any) -> bool:
            return caller.user_id == "ada"

    def upgrade(arguments: dict[str, Any]) -> dict[str, Any]:
        ran.append("upgrade")
        return {"query": arguments["q"]}

    v2 = tool(name="search", version="2.0.0", description="Search.")(lambda query: query)
    box = create_registry().register(v2, migrations=[Migration("^1", upgrade)]).toolbox(policy=[StaffOnly()])
    hidden = box.execute_sync({**OLD_CALL, "user_id": "bob"})
    assert hidden.error is not None and hidden.error.category == "not_found" and ran == []
    shown = box.execute_sync({**OLD_CALL, "user_id": "ada"})
    assert (shown.result, shown.migrated_from, ran) == ("ray", "1.0.0", ["upgrade"])


def test_a_version_registered_after_the_toolbox_was_made_does_not_capture_calls() -> None:
    registry = search_registry()
    box = registry.toolbox()
    registry.register(tool(name="search", version="4.0.0", description="Search v4.")(lambda query: "v4"))
    # The registry now prefers 4.0.0, which the toolbox does not hold: the toolbox's own resolution answers.
    assert box.execute_sync({"name": "search", "arguments": {"query": "x", "limit": 1}}).result == {
        "v": 3, "query": "x", "limit": 1}
