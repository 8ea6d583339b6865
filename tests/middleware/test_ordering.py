"""The middleware protocol: where layers sit in the onion, what they see, and how the pipeline treats them."""

from __future__ import annotations

from typing import Any

from armorer_ray import CallContext, Toolbox, ToolCall, ToolResult, tool
from armorer_ray.middleware import Middleware, Next
from armorer_ray.testing import mock_tool


class Mark:
    """Appends its label on the way in and out."""

    def __init__(self, label: str, trail: list[str]) -> None:
        self.label, self.trail = label, trail

    async def __call__(self, call: ToolCall, ctx: CallContext, next: Next) -> ToolResult:
        self.trail.append(f"{self.label}>")
        result = await next(call, ctx)
        self.trail.append(f"<{self.label}")
        return result


async def test_toolbox_layers_wrap_tool_layers_and_the_first_is_outermost() -> None:
    trail: list[str] = []
    inner = mock_tool("inner", impl=lambda: trail.append("body"), middleware=[Mark("t1", trail), Mark("t2", trail)])
    box = Toolbox([inner], middleware=[Mark("b1", trail), Mark("b2", trail)])
    assert isinstance(Mark("x", trail), Middleware)
    await box.execute(ToolCall(name="inner"))
    assert trail == ["b1>", "b2>", "t1>", "t2>", "body", "<t2", "<t1", "<b2", "<b1"]


async def test_layers_see_validated_params_and_the_tool() -> None:
    seen: dict[str, Any] = {}

    async def look(call: ToolCall, ctx: CallContext, next: Next) -> ToolResult:
        seen["params"], seen["tool"] = ctx.params, ctx.tool.name
        return await next(call, ctx)

    @tool
    def add(a: int, b: int) -> int:
        "Add two integers."
        return a + b

    box = Toolbox([add], middleware=[look])
    assert (await box.execute(ToolCall(name="add", arguments={"a": "2", "b": 3}))).result == 5
    assert seen["params"].a == 2 and seen["tool"] == "add"
    seen.clear()
    invalid = await box.execute(ToolCall(name="add", arguments={"a": "x", "b": 3}))
    assert invalid.error is not None and invalid.error.category == "validation"
    assert seen == {}, "middleware runs only for calls that passed validation"


async def test_a_layer_that_rewrites_the_call_gets_its_arguments_validated() -> None:
    async def rewrite(call: ToolCall, ctx: CallContext, next: Next) -> ToolResult:
        return await next(call.model_copy(update={"arguments": {"a": "not a number", "b": 1}}), ctx)

    @tool
    def add(a: int, b: int) -> int:
        "Add two integers."
        return a + b

    result = await Toolbox([add], middleware=[rewrite]).execute(ToolCall(name="add", arguments={"a": 1, "b": 1}))
    assert result.error is not None and result.error.category == "validation"


async def test_a_layer_that_raises_becomes_an_error_result() -> None:
    async def broken(call: ToolCall, ctx: CallContext, next: Next) -> ToolResult:
        raise RuntimeError("layer bug")

    result = await Toolbox([mock_tool("t")], middleware=[broken]).execute(ToolCall(name="t"))
    assert result.error is not None and result.error.category == "internal" and "layer bug" in result.error.message
