"""Toolbox from JSON (§16), policy-context providers (§8), per-side digests (§6), truncation by characters
(§7.3) and metadata factories (§2.6, §3), written from the reference's description."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from armorer_ray import ConfigError, Decision, Lifecycle, OutputShaping, Toolbox, tool
from armorer_ray.creation import create_tool
from armorer_ray.digests import Digests
from armorer_ray.policy import PolicyContext, PolicyHooks
from armorer_ray.policy_context import PolicyContextProvider
from armorer_ray.serialization import tool_from_json, toolbox_from_json
from armorer_ray.shaping import shape_output

# -- §16 toolbox from JSON --------------------------------------------------------------------------------------


def original() -> Toolbox:
    @tool(tags=["math"], version="1.2.0", namespace="calc", read_only=True, metadata={"owner": "m"},
          lifecycle=Lifecycle(deprecated=True, replaced_by="calc:add@2.0.0"), examples=[{"a": 1, "b": 2}])
    def add(a: int, b: int = 1) -> int:
        """Add two integers.

        Args:
            a: First.
            b: Second.
        """
        return a + b

    box = Toolbox()
    box.register(add, aliases=["plus"])
    return box


def test_a_toolbox_rebuilt_from_its_json_has_the_same_definitions_and_runs() -> None:
    box = original()
    resolved: list[str] = []

    def get_tool(definition: dict[str, Any]) -> Any:
        resolved.append(definition["id"])
        return lambda a, b: a + b

    rebuilt = toolbox_from_json(box.to_json(), get_tool=get_tool)
    assert rebuilt.to_json() == box.to_json()
    assert resolved == ["calc:add@1.2.0"]
    result = rebuilt.execute_sync({"name": "plus", "arguments": {"a": 2}})
    assert result.result == 3
    assert rebuilt.execute_sync({"name": "plus", "arguments": {"a": "x"}}).error.category == "validation"  # type: ignore[union-attr]


def test_get_tool_may_return_a_tool_whose_body_is_used_and_bad_inputs_are_refused() -> None:
    box = original()
    [definition] = box.to_json()
    rebuilt = tool_from_json(definition, box.get_tool("add"))  # type: ignore[arg-type]
    assert rebuilt.execute_sync({"a": 5, "b": 5}).result == 10
    with pytest.raises(ConfigError, match="has invalid execute"):
        tool_from_json(definition, 42)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="serialized tool definition"):
        tool_from_json({"name": "x"}, lambda: 1)
    with pytest.raises(ConfigError, match="list of serialized"):
        toolbox_from_json(definition, get_tool=lambda d: lambda: 1)  # type: ignore[arg-type]


# -- §8 policy context providers ----------------------------------------------------------------------------------


def test_toolbox_then_tool_providers_merge_and_after_hooks_see_the_result() -> None:
    seen: list[tuple[str | None, dict[str, Any]]] = []
    after = PolicyHooks(after=lambda ctx: seen.append((ctx.outcome, dict(ctx.policy_context))))
    echo = tool(name="echo", description="Echo.",
                policy=[PolicyContextProvider(lambda ctx: {"from_tool": True, "shared": "tool"})])(lambda n: n)
    box = Toolbox([echo], policy=[PolicyContextProvider(lambda ctx: {"from_toolbox": True, "shared": "box"}), after])
    assert box.execute_sync({"name": "echo", "arguments": {"n": 1}}).result == 1
    assert seen == [("success", {"from_toolbox": True, "from_tool": True, "shared": "tool"})]


def test_async_providers_and_non_mapping_values() -> None:
    async def slow(ctx: PolicyContext) -> dict[str, int]:
        await asyncio.sleep(0)
        return {"n": ctx.params["n"] * 2}

    checks: list[dict[str, Any]] = []
    gate = PolicyHooks(before=lambda ctx: checks.append(dict(ctx.policy_context)) or None)
    echo = tool(name="echo", description="Echo.")(lambda n: n)
    box = Toolbox([echo], policy=[PolicyContextProvider(lambda ctx: ["ignored"]), PolicyContextProvider(slow), gate])
    box.execute_sync({"name": "echo", "arguments": {"n": 4}})
    assert checks == [{"n": 8}]
    with pytest.raises(ConfigError):
        PolicyContextProvider("nope")  # type: ignore[arg-type]


def test_a_failed_call_runs_the_provider_again_for_the_after_hooks() -> None:
    calls: list[str | None] = []
    seen: list[dict[str, Any]] = []
    provider = PolicyContextProvider(lambda ctx: calls.append(ctx.outcome) or {"raw": dict(ctx.call.arguments)})
    after = PolicyHooks(after=lambda ctx: seen.append(dict(ctx.policy_context)))
    echo = tool(name="echo", description="Echo.", parameters={"n": int})(lambda n: n)
    box = Toolbox([echo], policy=[provider, after])
    assert box.execute_sync({"name": "echo", "arguments": {"n": "not a number"}}).error.category == "validation"  # type: ignore[union-attr]
    assert calls == ["error"]  # validation failed: no before-hooks ran, the provider ran once, for the after-hooks
    assert seen == [{"raw": {"n": "not a number"}}]


def test_a_provider_feeds_a_denial() -> None:
    provider = PolicyContextProvider(lambda ctx: {"role": "viewer"})
    deny = PolicyHooks(before=lambda ctx: Decision.deny(f"role {ctx.policy_context['role']}"))
    box = Toolbox([tool(name="echo", description="Echo.")(lambda n: n)], policy=[provider, deny])
    assert box.execute_sync({"name": "echo", "arguments": {"n": 1}}).error.message == "role viewer"  # type: ignore[union-attr]


# -- §6 per-side digests ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("setting", "has_input", "has_output"), [
    (True, True, True), (Digests(input=False), False, True), (Digests(output=False), True, False),
    (Digests(input=False, output=False), False, False), (False, False, False),
])
def test_digests_per_side(setting: Any, has_input: bool, has_output: bool) -> None:
    echo = tool(name="echo", description="Echo.", digests=setting)(lambda n: n)
    result = Toolbox([echo]).execute_sync({"name": "echo", "arguments": {"n": 1}})
    assert (result.input_digest is not None, result.output_digest is not None) == (has_input, has_output)
    if has_input:
        assert len(result.input_digest) == 64  # type: ignore[arg-type]


def test_a_toolbox_setting_applies_to_tools_without_one_and_denials_keep_the_input_digest() -> None:
    echo = tool(name="echo", description="Echo.")(lambda n: n)
    box = Toolbox([echo], digests=Digests(output=False), policy=lambda ctx: Decision.deny("no"))
    result = box.execute_sync({"name": "echo", "arguments": {"n": 1}})
    assert result.error is not None and result.input_digest is not None and result.output_digest is None


# -- §7.3 truncation by characters ---------------------------------------------------------------------------------


def test_truncation_by_characters_and_bytes_precedence() -> None:
    assert shape_output("abcdefghijkl", OutputShaping(max_chars=10)) == "abcdefghij..."
    assert shape_output("abcdefghijkl", OutputShaping(max_bytes=3, max_chars=10)) == "abc..."  # the reference's pin
    assert shape_output("héllo wörld", OutputShaping(max_chars=4, suffix="…")) == "héll…"
    assert shape_output("short", OutputShaping(max_chars=10)) == "short"
    assert shape_output("abcdefghijkl", OutputShaping(max_chars=3, truncate=False)) == "abcdefghijkl"
    long = tool(name="long", description="Long.", output=OutputShaping(max_chars=5))(lambda: "x" * 50)
    result = long.execute_sync()
    assert result.content == "xxxxx..." and result.result == "x" * 50


# -- §2.6 / §3 metadata factories -----------------------------------------------------------------------------------


def test_metadata_from_a_function_is_read_once_and_validated() -> None:
    calls: list[int] = []

    def factory() -> dict[str, Any]:
        calls.append(1)
        return {"mutates": True, "owner": "ops"}

    made = tool(name="m", description="M.", metadata=factory)(lambda: 1)
    assert made.metadata == {"mutates": True, "owner": "ops"} and made.is_mutating and "mutating" in made.tags
    made.replace(version="2")
    assert calls == [1]
    with pytest.raises(ConfigError, match="not valid JSON|JSON"):
        tool(name="bad", description="B.", metadata=lambda: {"when": object()})(lambda: 1)
    with pytest.raises(ConfigError, match="not a mapping"):
        tool(name="bad", description="B.", metadata=lambda: [1])(lambda: 1)  # type: ignore[arg-type,return-value]


def test_async_metadata_needs_create_tool() -> None:
    async def load() -> dict[str, Any]:
        return {"readOnly": True}

    with pytest.raises(ConfigError, match="create_tool"):
        tool(name="a", description="A.", metadata=load)(lambda: 1)  # type: ignore[arg-type]
    made = asyncio.run(create_tool(lambda: 1, name="a", description="A.", metadata=load))
    assert made.is_read_only
    awaited = asyncio.run(create_tool(lambda: 1, name="b", description="B.", metadata=load()))
    assert awaited.metadata == {"readOnly": True}
