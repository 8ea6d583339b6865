"""Rebuilding tools and toolboxes from their JSON definitions (reference §16: ``create_toolbox(toolbox.to_json())``).

`Toolbox.to_json` and `Tool.to_json` write provider-neutral definitions with no code in them. `toolbox_from_json`
reads them back: identity, description, tags, metadata, risk, lifecycle, examples and the parameter schema come
from the JSON, and the body of each tool from ``get_tool``, a resolver the caller supplies (Armorer's
``getTool``), so code is never loaded from data.

Example:
    >>> from armorer_ray import Toolbox, tool
    >>> @tool(tags=["math"], version="1.0.0")
    ... def add(a: int, b: int) -> int:
    ...     "Add two integers."
    ...     return a + b
    >>> rebuilt = toolbox_from_json(Toolbox([add]).to_json(), get_tool=lambda definition: lambda a, b: a + b)
    >>> rebuilt.execute_sync({"name": "add", "arguments": {"a": 2, "b": 3}}).result, rebuilt.get_tool("add").tags
    (5, ('math',))
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from armorer_ray.errors import ConfigError
from armorer_ray.toolbox import Toolbox
from armorer_ray.tools import Lifecycle, Tool, ToolOptions

__all__ = ["BodyResolver", "tool_from_json", "toolbox_from_json"]

BodyResolver = Callable[[Mapping[str, Any]], "Callable[..., Any] | Tool"]
"""Given a definition (without code), the function that runs it, or a `Tool` whose body to use."""

_RISK_KEYS = {"read_only": "read_only", "readOnly": "read_only", "mutates": "mutates", "dangerous": "dangerous"}


def tool_from_json(definition: Mapping[str, Any], body: Callable[..., Any] | Tool) -> Tool:
    """A `Tool` from one serialized definition (``schemaVersion`` 2020-12) and the body that runs it.

    Raises:
        ConfigError: when the definition is not a serialized tool or its body is not callable.
    """
    if not isinstance(definition, Mapping) or definition.get("schemaVersion") != "2020-12":
        raise ConfigError("Invalid tool input: expected a serialized tool definition (schemaVersion 2020-12)")
    from armorer_ray.adapters.mcp import model_from_json_schema  # the JSON Schema -> model reader (no mcp import)

    identity = definition.get("identity") or {}
    name = identity.get("name") or definition.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError("Invalid tool input: a serialized tool definition needs a name")
    if isinstance(body, Tool):
        body = body._body  # type: ignore[assignment]
    if not callable(body):
        raise ConfigError(f'Tool "{name}" has invalid execute. Expected a function; ensure get_tool returns one.')
    display = definition.get("display") or {}
    options: ToolOptions = {
        "name": name,
        "description": definition.get("description") or display.get("description") or "",
        "namespace": identity.get("namespace", "default"),
        "parameters": model_from_json_schema(name, definition.get("schema") or {"type": "object"}),
    }
    if identity.get("version"):
        options["version"] = identity["version"]
    if display.get("title") and display["title"] != name:
        options["title"] = display["title"]
    if display.get("examples"):
        options["examples"] = display["examples"]
    for key in ("tags", "metadata"):
        if definition.get(key):
            options[key] = definition[key]  # type: ignore[literal-required]
    for key, value in (definition.get("risk") or {}).items():
        if key in _RISK_KEYS and isinstance(value, bool):
            options[_RISK_KEYS[key]] = value  # type: ignore[literal-required]
        elif key == "permissions":
            options["permissions"] = tuple(value)
    if definition.get("lifecycle"):
        options["lifecycle"] = Lifecycle.model_validate(definition["lifecycle"])
    return Tool(body, **options)


def toolbox_from_json(definitions: Iterable[Mapping[str, Any]], *, get_tool: BodyResolver,
                      **options: Any) -> Toolbox:
    """A `Toolbox` from `Toolbox.to_json` output, with bodies from ``get_tool`` and ``options`` of `Toolbox`.

    Aliases in the definitions are registered again.

    Raises:
        ConfigError: for a definition that is not a serialized tool, or a body ``get_tool`` cannot give.
    """
    if isinstance(definitions, str | bytes | Mapping):
        raise ConfigError("toolbox_from_json() expects a list of serialized tool definitions")
    box = Toolbox(**options)
    for definition in definitions:
        body = get_tool(definition)
        box.register(tool_from_json(definition, body), aliases=tuple(definition.get("aliases") or ()))
    return box
