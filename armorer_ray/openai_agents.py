"""OpenAI Agents SDK integration (reference §24): tools as ``agents.FunctionTool`` and a gate for tool names.

`to_openai_agent_tools` makes one ``FunctionTool`` per tool, whose invocation is a `ToolCall` through
`Toolbox.execute` (so validation, policies, middleware and events all apply), and lists the names of the
mutating and dangerous ones. `create_openai_tool_gate` decides, by name, whether an agent may use a tool: one
of the toolbox's (by its risk flags) or one of the SDK's built-in tools (by the lists you give).

The SDK is optional: ``pip install 'armorer-ray[openai-agents]'``.

Example:
    >>> import asyncio
    >>> from armorer_ray import Toolbox, tool
    >>> box = Toolbox([tool(name="read", description="Read.", read_only=True)(lambda path: path),
    ...                tool(name="rm", description="Delete.", mutates=True, dangerous=True)(lambda path: path)])
    >>> gate = create_openai_tool_gate(box, read_only=True, builtin=BuiltinTools(read_only=["WebSearch"]))
    >>> [asyncio.run(gate(name)).behavior for name in ("read", "rm", "WebSearch", "Bash")]
    ['allow', 'deny', 'allow', 'deny']
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from armorer_ray.errors import ConfigError, MissingExtraError, ToolExecutionError
from armorer_ray.policy import RiskPolicy
from armorer_ray.results import ToolCall, ToolResult
from armorer_ray.toolbox import Toolbox
from armorer_ray.tools import Tool

if TYPE_CHECKING:
    from agents import FunctionTool

__all__ = [
    "AgentToolConfiguration",
    "AgentTools",
    "BuiltinTools",
    "GateDecision",
    "GateMessages",
    "create_openai_tool_gate",
    "to_openai_agent_tools",
]

AgentToolConfiguration = Callable[[Tool], "Mapping[str, Any] | None"]
"""Per-tool overrides: ``{"name", "description", "parameters"}`` (any subset; a JSON Schema for parameters)."""

FormatResult = Callable[[ToolResult], Any]


@dataclass(frozen=True)
class AgentTools:
    """What `to_openai_agent_tools` returns: the SDK tools and the (possibly overridden) names by risk."""

    tools: list[FunctionTool]
    tool_names: list[str]
    mutating_tool_names: list[str]
    dangerous_tool_names: list[str]


def _agents() -> Any:
    try:
        import agents
    except ImportError as exc:
        raise MissingExtraError(f"the OpenAI Agents SDK integration ({exc})", "openai-agents") from exc
    return agents


def _source(source: Toolbox | Tool | Sequence[Tool]) -> tuple[Toolbox, list[Tool]]:
    if isinstance(source, Toolbox):
        return source, source.tools()
    if isinstance(source, Tool):
        return Toolbox([source]), [source]
    if isinstance(source, Sequence) and not isinstance(source, str | bytes):
        tools = list(source)
        if all(isinstance(item, Tool) for item in tools):
            return Toolbox(tools), tools
    raise ConfigError("Invalid tool input: expected Tool, a list of tools, or a Toolbox")


def _default_format(result: ToolResult) -> Any:
    if result.outcome == "error" and result.error is not None:
        raise ToolExecutionError(result.error, result)
    return result.result


def to_openai_agent_tools(source: Toolbox | Tool | Sequence[Tool], *,
                          tool_configuration: AgentToolConfiguration | None = None,
                          format_result: FormatResult | None = None) -> AgentTools:
    """``agents.FunctionTool`` objects for the tools of ``source``, each running through `Toolbox.execute`.

    Args:
        source: A toolbox (its policies and middleware apply), one tool, or a list of tools.
        tool_configuration: Per-tool overrides of name, description and parameters (JSON Schema).
        format_result: ``(ToolResult) -> output`` for the model; default: the raw result, and a raised
            `ToolExecutionError` (with the error message) when the call failed.

    Returns:
        The tools and the lists of names, mutating names and dangerous names (overridden names where given).

    Raises:
        ConfigError: for a source that is not tools.
        MissingExtraError: when ``openai-agents`` is not installed.
    """
    agents = _agents()
    box, tools = _source(source)
    out = AgentTools([], [], [], [])
    for item in tools:
        overrides = dict(tool_configuration(item) or {}) if tool_configuration is not None else {}
        name = overrides.get("name") or item.name
        schema = dict(overrides.get("parameters") or item.json_schema)
        schema.pop("$schema", None)
        invoke = _invoker(box, item, format_result or _default_format)
        try:
            made = agents.FunctionTool(name=name, description=overrides.get("description") or item.description,
                                       params_json_schema=schema, on_invoke_tool=invoke, strict_json_schema=True)
        except Exception:  # a schema strict mode cannot express (free-form objects): offered non-strict
            made = agents.FunctionTool(name=name, description=overrides.get("description") or item.description,
                                       params_json_schema=schema, on_invoke_tool=invoke, strict_json_schema=False)
        out.tools.append(made)
        out.tool_names.append(name)
        if item.risk.mutates:
            out.mutating_tool_names.append(name)
        if item.risk.dangerous:
            out.dangerous_tool_names.append(name)
    return out


def _invoker(box: Toolbox, item: Tool, format_result: FormatResult) -> Callable[[Any, str], Awaitable[Any]]:
    async def invoke(context: Any, arguments: str) -> Any:
        try:
            parsed = json.loads(arguments) if arguments and arguments.strip() else {}
        except ValueError:
            parsed = arguments  # the pipeline answers with a validation error naming the problem
        call = ToolCall(id=str(getattr(context, "tool_call_id", "") or ""), name=item.id,
                        arguments=parsed if parsed is not None else {})
        return format_result(await box.execute(call))

    return invoke


# -- the gate ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BuiltinTools:
    """Names of the SDK's (or your agent's) own tools, by what they can do."""

    read_only: Sequence[str] = ()
    mutating: Sequence[str] = ()
    dangerous: Sequence[str] = ()


@dataclass(frozen=True)
class GateMessages:
    """Denial messages; None keeps the reference's wording."""

    mutating: str | None = None
    dangerous: str | None = None
    unknown: str | None = None


@dataclass(frozen=True)
class GateDecision:
    """Whether an agent may use a tool, and why not."""

    behavior: Literal["allow", "deny"]
    message: str | None = field(default=None)


def create_openai_tool_gate(registry: Toolbox | Tool | Sequence[Tool], *, read_only: bool = False,
                            allow_mutation: bool | None = None, allow_dangerous: bool = True,
                            builtin: BuiltinTools | None = None, allow_unknown: bool = False,
                            tool_configuration: AgentToolConfiguration | None = None,
                            messages: GateMessages | None = None) -> Callable[[str], Awaitable[GateDecision]]:
    """An async ``gate(tool_name) -> GateDecision`` with the reference's decision order.

    A tool of ``registry`` (by its name, or its overridden name): mutating and (``read_only`` or not
    ``allow_mutation``) → deny; dangerous and not ``allow_dangerous`` → deny; else allow. A built-in: read-only →
    allow; mutating → deny when mutation is off; dangerous (also checked for mutating built-ins, where the
    reference allowed them: a built-in such as ``Bash`` in both lists is refused when ``allow_dangerous`` is
    False) → deny unless allowed; any other name → ``allow_unknown``.

    Raises:
        ConfigError: for a registry that is not tools.
    """
    _, tools = _source(registry)
    # The toolbox's own RiskPolicy decides for the registry's tools, so the gate and a call agree.
    policy = RiskPolicy(read_only=read_only, allow_mutation=True if allow_mutation is None else allow_mutation,
                        allow_dangerous=allow_dangerous)
    mutation = policy.allow_mutation
    builtin = builtin or BuiltinTools()
    words = messages or GateMessages()
    mutating_message = words.mutating or ("Read-only mode: mutating tools disabled." if read_only
                                          else "Use --apply to allow mutating tools.")
    dangerous_message = words.dangerous or ("Use --apply to allow mutating tools." if read_only or not mutation
                                            else "Use --dangerous to allow this tool.")
    by_name: dict[str, Tool] = {}
    for item in tools:
        overrides = tool_configuration(item) if tool_configuration is not None else None
        by_name[(overrides or {}).get("name") or item.name] = item

    async def gate(tool_name: str) -> GateDecision:
        found = by_name.get(tool_name)
        if found is not None:
            refused = policy.refusal(found)
            if refused is None:
                return GateDecision("allow")
            return GateDecision("deny", mutating_message if refused == "mutating" else dangerous_message)
        if tool_name in builtin.read_only:
            return GateDecision("allow")
        if tool_name in builtin.mutating and not mutation:
            return GateDecision("deny", mutating_message)
        if tool_name in builtin.dangerous and not allow_dangerous:
            return GateDecision("deny", dangerous_message)
        if tool_name in builtin.mutating or tool_name in builtin.dangerous or allow_unknown:
            return GateDecision("allow")
        return GateDecision("deny", words.unknown or f"Tool not allowed: {tool_name}")

    return gate
