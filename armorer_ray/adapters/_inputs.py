"""What adapters accept: a tool, a definition dict, a list of them, or a toolbox."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from armorer_ray.errors import ConfigError
from armorer_ray.tools import Tool

AdapterInput = Any  # Tool | dict | Iterable[Tool | dict] | Toolbox: kept loose for provider-side dicts


def definitions(source: AdapterInput) -> tuple[list[dict[str, Any]], bool]:
    """Serialised definitions of ``source`` and whether it was a single item."""
    if isinstance(source, Tool):
        return [source.to_json()], True
    if isinstance(source, dict):
        return [_checked(source)], True
    tools = getattr(source, "tools", None)
    items: Iterable[Any] = tools() if callable(tools) else source
    if isinstance(items, str | bytes) or not isinstance(items, Iterable):
        raise ConfigError("Invalid tool input: expected Tool, a definition dict, a list of them, or a Toolbox")
    return [item.to_json() if isinstance(item, Tool) else _checked(item) for item in items], False


def _checked(item: object) -> dict[str, Any]:
    if isinstance(item, dict) and item.get("schemaVersion") == "2020-12" and "name" in item and "schema" in item:
        return item
    raise ConfigError("Invalid tool input: expected Tool or a serialized definition (schemaVersion 2020-12)")


def without_dialect(schema: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in schema.items() if key != "$schema"}
