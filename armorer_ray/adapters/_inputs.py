"""What adapters take in and hand back: tool inputs, provider tool calls in their loose shapes, and our results."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from armorer_ray.errors import ConfigError
from armorer_ray.results import ToolCall, ToolResult
from armorer_ray.tools import Tool

AdapterInput = Any  # Tool | dict | Iterable[Tool | dict] | Toolbox: kept loose for provider-side dicts


def definitions(source: AdapterInput) -> tuple[list[dict[str, Any]], bool]:
    """Serialised definitions of ``source`` and whether it was a single item.

    A deprecated tool's description says so (`model_facing_description`), so every provider export warns the
    model, which only reads names, descriptions and schemas.
    """
    if isinstance(source, Tool):
        return [_marked(source.to_json())], True
    if isinstance(source, dict):
        return [_marked(_checked(source))], True
    tools = getattr(source, "tools", None)
    items: Iterable[Any] = tools() if callable(tools) else source
    if isinstance(items, str | bytes) or not isinstance(items, Iterable):
        raise ConfigError("Invalid tool input: expected Tool, a definition dict, a list of them, or a Toolbox")
    return [_marked(item.to_json() if isinstance(item, Tool) else _checked(item)) for item in items], False


def model_facing_description(description: str, lifecycle: Mapping[str, Any] | None) -> str:
    """The description a model reads: a deprecated tool's ends by saying so and naming its replacement.

    Example:
        >>> model_facing_description("Find.", {"deprecated": True, "replaced_by": "default:search@2.0.0"})
        'Find. (Deprecated: use default:search@2.0.0 instead.)'
        >>> model_facing_description("Find.", {"deprecated": False})
        'Find.'
    """
    if not lifecycle or not lifecycle.get("deprecated"):
        return description
    replacement = lifecycle.get("replaced_by")
    note = lifecycle.get("message") or (f"use {replacement} instead" if replacement else "avoid it")
    return f"{description} (Deprecated: {str(note).rstrip('.')}.)"


def _marked(definition: dict[str, Any]) -> dict[str, Any]:
    lifecycle = definition.get("lifecycle")
    if not isinstance(lifecycle, Mapping) or not lifecycle.get("deprecated"):
        return definition
    return {**definition, "description": model_facing_description(str(definition.get("description", "")), lifecycle)}


def shaped(source: AdapterInput, shape: Callable[[dict[str, Any]], Any]) -> Any:
    """Each definition of ``source`` in a provider's shape: one for a single tool, a list for a list or toolbox."""
    defs, single = definitions(source)
    out = [shape(d) for d in defs]
    return out[0] if single else out


def _checked(item: object) -> dict[str, Any]:
    if isinstance(item, dict) and item.get("schemaVersion") == "2020-12" and "name" in item and "schema" in item:
        return item
    raise ConfigError("Invalid tool input: expected Tool or a serialized definition (schemaVersion 2020-12)")


def without_dialect(schema: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in schema.items() if key != "$schema"}


def as_mapping(item: object) -> Mapping[str, Any]:
    """A provider's item as a mapping: dicts as they are, SDK objects by ``model_dump()``, anything else empty."""
    if isinstance(item, Mapping):
        return item
    dump: Callable[[], Mapping[str, Any]] = getattr(item, "model_dump", dict)
    return dump()


def loose_call(call_id: str | None, name: str, arguments: object) -> ToolCall:
    """A `ToolCall` from a provider's fields: a missing id gets a fresh one, missing arguments become ``{}``.

    Anything else is kept as the model sent it (JSON text that does not parse, a list...): validation is the
    pipeline's job, where a bad call becomes an error that tells the model what was wrong with it.
    """
    return ToolCall(id=call_id or "", name=name, arguments={} if arguments is None else arguments)


def result_list(results: ToolResult | Sequence[ToolResult]) -> list[ToolResult]:
    """One result or several, as a list."""
    return [results] if isinstance(results, ToolResult) else list(results)
