"""Toolset views: each changes what is offered, and every call still runs through the toolbox's one pipeline."""

from __future__ import annotations

import pytest

from armorer_ray import ConfigError, Toolbox, ToolCall, ToolResult, tool
from armorer_ray.testing import mock_tool
from armorer_ray.toolsets import (
    CombinedToolset,
    FilteredToolset,
    PrefixedToolset,
    RenamedToolset,
    Toolset,
    WrapperToolset,
)


@tool
async def count(n: int):  # type: ignore[no-untyped-def]  # an async generator tool: its chunks are what it yields
    "Count up to n."
    for i in range(n):
        yield i


def _box() -> Toolbox:
    seen: list[str] = []
    box = Toolbox([mock_tool("search"), mock_tool("delete", dangerous=True), count],
                  middleware=[_recording(seen)])
    box.seen = seen  # type: ignore[attr-defined]  # the test reads which calls reached the pipeline
    return box


def _recording(seen: list[str]):  # type: ignore[no-untyped-def]  # a middleware function
    async def layer(call, ctx, next):  # type: ignore[no-untyped-def]
        seen.append(call.name)
        return await next(call, ctx)
    return layer


def test_the_toolbox_and_every_view_are_toolsets() -> None:
    box = _box()
    views = [box, WrapperToolset(box), FilteredToolset(box, lambda t: True), RenamedToolset(box, {"s": "search"}),
             PrefixedToolset(box, prefix="p"), CombinedToolset([box])]
    assert all(isinstance(view, Toolset) for view in views)


def test_a_filtered_view_hides_and_refuses_and_runs_the_rest_through_the_pipeline() -> None:
    box = _box()
    safe = FilteredToolset(box, lambda t: not t.is_dangerous)
    assert [t.name for t in safe] == ["search", "count"] and "delete" not in safe and len(safe) == 2
    refused = safe.execute_sync({"name": "delete"})
    assert isinstance(refused, ToolResult) and refused.error is not None
    assert refused.error.category == "not_found" and refused.error.message.endswith("Available tools: count, search")
    assert safe.execute_sync({"name": "search"}).outcome == "success"  # type: ignore[union-attr]
    assert box.seen == ["search"]  # type: ignore[attr-defined]  # the refused call never reached the pipeline
    assert [d["name"] for d in safe.to_json()] == ["search", "count"]
    assert safe.query(text="search", select="name") == ["search"]


def test_renamed_and_prefixed_views_map_names_both_ways() -> None:
    box = _box()
    crm = PrefixedToolset(box, prefix="crm")
    assert [t.name for t in crm.tools()] == ["crm_search", "crm_delete", "crm_count"]
    assert crm.get_tool("crm_search") is crm.get_tool("crm_search")  # renamed copies are cached
    result = crm.execute_sync({"name": "crm_search"})
    assert isinstance(result, ToolResult) and result.tool_name == "crm_search" and result.outcome == "success"
    assert box.seen == ["search"]  # type: ignore[attr-defined]  # the inner name ran
    unprefixed = crm.execute_sync({"name": "search"})
    assert isinstance(unprefixed, ToolResult) and unprefixed.error is not None
    assert unprefixed.error.category == "not_found"
    renamed = RenamedToolset(box, {"find": "search"})
    assert [t.name for t in renamed.tools()] == ["find", "delete", "count"]
    assert renamed.get_tool("search") is None and renamed.get_tool("find") is not None
    with pytest.raises(ConfigError):
        PrefixedToolset(box, prefix="")


def test_a_combined_view_routes_each_call_to_the_first_set_that_resolves_it() -> None:
    first, second = Toolbox([mock_tool("a", outcomes=["first"])]), Toolbox([mock_tool("a"), mock_tool("b")])
    both = CombinedToolset([first, second])
    assert [t.name for t in both.tools()] == ["a", "b"]
    results = both.execute_sync([{"name": "a"}, {"name": "b"}, {"name": "zzz"}])
    assert isinstance(results, list)
    assert [r.outcome for r in results] == ["success", "success", "error"] and results[0].result == "first"
    assert results[2].error is not None and results[2].error.category == "not_found"


async def test_views_nest_and_stream() -> None:
    view = PrefixedToolset(FilteredToolset(_box(), lambda t: not t.is_dangerous), prefix="x")
    *chunks, result = [item async for item in view.stream(ToolCall(name="x_count", arguments={"n": 3}))]
    assert chunks == [0, 1, 2] and isinstance(result, ToolResult) and result.result == [0, 1, 2]
    assert result.tool_name == "x_count"
    refused = await view.execute({"name": "x_delete"})
    assert isinstance(refused, ToolResult) and refused.error is not None and refused.error.category == "not_found"


async def test_a_bad_call_in_a_view_is_a_validation_result_not_an_exception() -> None:
    result = await FilteredToolset(_box(), lambda t: True).execute({"arguments": {}})
    assert isinstance(result, ToolResult) and result.error is not None and result.error.category == "validation"
