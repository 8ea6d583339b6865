"""OpenAI Agents SDK integration (reference §24), against the real ``openai-agents`` package."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from armorer_ray import Decision, Toolbox, ToolExecutionError, tool
from armorer_ray.openai_agents import BuiltinTools, GateMessages, create_openai_tool_gate, to_openai_agent_tools

agents = pytest.importorskip("agents", reason="needs pip install 'armorer-ray[openai-agents]'")
from agents.tool_context import ToolContext  # noqa: E402


def catalogue() -> Toolbox:
    @tool(read_only=True)
    def read_file(path: str, limit: int = 10) -> dict[str, Any]:
        "Read a file."
        return {"path": path, "limit": limit}

    write = tool(name="write_file", description="Write a file.", mutates=True)(lambda path, text: len(text))
    wipe = tool(name="wipe", description="Wipe the disk.", mutates=True, dangerous=True)(lambda: "gone")
    return Toolbox([read_file, write, wipe], policy=lambda ctx: Decision.deny("no wiping") if ctx.tool.name == "wipe"
                   else None)


def invoke(function_tool: Any, arguments: object, call_id: str = "call-1") -> Any:
    raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
    context = ToolContext(context=None, tool_name=function_tool.name, tool_call_id=call_id, tool_arguments=raw)
    return asyncio.run(function_tool.on_invoke_tool(context, raw))


def test_one_function_tool_per_tool_with_the_risk_lists() -> None:
    made = to_openai_agent_tools(catalogue())
    assert all(isinstance(t, agents.FunctionTool) for t in made.tools)
    assert made.tool_names == ["read_file", "write_file", "wipe"]
    assert made.mutating_tool_names == ["write_file", "wipe"] and made.dangerous_tool_names == ["wipe"]
    schema = made.tools[0].params_json_schema
    assert "$schema" not in schema and schema["properties"]["path"]["type"] == "string"
    assert made.tools[0].strict_json_schema is True
    agent = agents.Agent(name="files", tools=made.tools)  # the SDK accepts them
    assert [t.name for t in agent.tools] == made.tool_names


def test_invocations_run_through_the_toolbox_pipeline() -> None:
    box = catalogue()
    seen: list[str] = []
    box.on("call.admitted", lambda event: seen.append(event.detail["call"].id))
    made = to_openai_agent_tools(box)
    assert invoke(made.tools[0], {"path": "a.txt", "limit": 3}, call_id="c-7") == {"path": "a.txt", "limit": 3}
    assert seen == ["c-7"]
    with pytest.raises(ToolExecutionError, match="no wiping"):
        invoke(made.tools[2], {})
    with pytest.raises(ToolExecutionError, match="ValidationError"):
        invoke(made.tools[0], {"path": 3})
    with pytest.raises(ToolExecutionError, match="ValidationError"):
        invoke(made.tools[0], "{not json")


def test_overrides_and_a_custom_result_format() -> None:
    made = to_openai_agent_tools(
        catalogue(),
        tool_configuration=lambda t: {"name": f"fs_{t.name}", "description": "Custom."} if t.name != "wipe" else None,
        format_result=lambda result: {"outcome": result.outcome, "content": result.content},
    )
    assert made.tool_names == ["fs_read_file", "fs_write_file", "wipe"]
    assert made.mutating_tool_names == ["fs_write_file", "wipe"]
    assert made.tools[0].description == "Custom."
    assert invoke(made.tools[2], {}) == {"outcome": "error", "content": "no wiping"}


def test_a_single_tool_and_a_list_are_accepted_and_anything_else_is_refused() -> None:
    box = catalogue()
    assert to_openai_agent_tools(box.get_tool("wipe")).tool_names == ["wipe"]  # type: ignore[arg-type]
    assert to_openai_agent_tools(box.tools()[:2]).tool_names == ["read_file", "write_file"]
    with pytest.raises(Exception, match="Invalid tool input"):
        to_openai_agent_tools([1, 2])  # type: ignore[list-item]


# -- the gate --------------------------------------------------------------------------------------------------------


def decide(gate: Any, name: str) -> tuple[str, str | None]:
    decision = asyncio.run(gate(name))
    return decision.behavior, decision.message


BUILTINS = BuiltinTools(read_only=["Read"], mutating=["Edit", "Bash"], dangerous=["Bash"])


def test_gate_defaults_allow_toolbox_tools_and_deny_unknown_names() -> None:
    gate = create_openai_tool_gate(catalogue(), builtin=BUILTINS)
    assert decide(gate, "write_file") == ("allow", None) and decide(gate, "wipe") == ("allow", None)
    assert decide(gate, "Edit") == ("allow", None) and decide(gate, "Read") == ("allow", None)
    assert decide(gate, "Teleport") == ("deny", "Tool not allowed: Teleport")
    assert decide(create_openai_tool_gate(catalogue(), allow_unknown=True), "Teleport") == ("allow", None)


def test_gate_read_only_mode_messages() -> None:
    gate = create_openai_tool_gate(catalogue(), read_only=True, builtin=BUILTINS)
    assert decide(gate, "read_file") == ("allow", None)
    assert decide(gate, "write_file") == ("deny", "Read-only mode: mutating tools disabled.")
    assert decide(gate, "Edit") == ("deny", "Read-only mode: mutating tools disabled.")


def test_gate_mutation_and_dangerous_switches() -> None:
    no_mutation = create_openai_tool_gate(catalogue(), allow_mutation=False, builtin=BUILTINS)
    assert decide(no_mutation, "write_file") == ("deny", "Use --apply to allow mutating tools.")
    careful = create_openai_tool_gate(catalogue(), allow_dangerous=False, builtin=BUILTINS)
    assert decide(careful, "wipe") == ("deny", "Use --dangerous to allow this tool.")
    assert decide(careful, "write_file") == ("allow", None)
    # The reference allowed a built-in listed as both mutating and dangerous; we check dangerous too.
    assert decide(careful, "Bash") == ("deny", "Use --dangerous to allow this tool.")
    custom = create_openai_tool_gate(catalogue(), read_only=True, messages=GateMessages(mutating="nope"))
    assert decide(custom, "write_file") == ("deny", "nope")


def test_gate_uses_overridden_names() -> None:
    gate = create_openai_tool_gate(catalogue(), read_only=True, tool_configuration=lambda t: {"name": f"fs_{t.name}"})
    assert decide(gate, "fs_write_file")[0] == "deny" and decide(gate, "write_file")[0] == "deny"
    assert decide(gate, "fs_read_file") == ("allow", None)
