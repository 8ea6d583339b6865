"""Schema evolution: is a new version of a tool a drop-in replacement for the old one?

`check_compatibility` compares the parameter schemas of two tool versions the way a caller experiences them:
a change is *breaking* when some call that the old version accepted is refused by the new one (a new required
parameter, a removed parameter under ``forbid``, a changed type, a narrowed enum), and *additive* otherwise.

Example:
    >>> from armorer_ray import tool
    >>> v1 = tool(name="search", description="Search.", version="1.0.0")(lambda query, limit=10: [])
    >>> v2 = tool(name="search", description="Search.", version="2.0.0")(lambda query, site, limit=10: [])
    >>> report = check_compatibility(v1, v2)
    >>> report.compatible, report.breaking
    (False, ['new required parameter "site"'])
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from armorer_ray.tools import Tool

__all__ = ["Compatibility", "check_compatibility"]


class Compatibility(BaseModel):
    """The verdict of `check_compatibility`."""

    model_config = ConfigDict(frozen=True)

    old: str
    new: str
    breaking: list[str]
    additive: list[str]

    @property
    def compatible(self) -> bool:
        """True when every call the old version accepted is accepted by the new one."""
        return not self.breaking


def _shape(schema: dict[str, Any]) -> Any:
    """The part of a property schema that decides which values are accepted."""
    return {key: schema[key] for key in ("type", "anyOf", "oneOf", "items", "$ref", "format") if key in schema}


def _allowed(schema: dict[str, Any]) -> list[Any] | None:
    """The enumerated values a property accepts (a ``const`` is a one-value enum), or None for any."""
    if "enum" in schema:
        return list(schema["enum"])
    return [schema["const"]] if "const" in schema else None


def check_compatibility(old: Tool, new: Tool) -> Compatibility:
    """Compare the parameters of two versions of a tool (top-level properties, types and enums).

    Args:
        old: The version callers use today.
        new: The candidate replacement.

    Returns:
        Breaking and additive changes, each as a sentence.
    """
    old_schema, new_schema = old.json_schema, new.json_schema
    old_props: dict[str, Any] = old_schema.get("properties", {})
    new_props: dict[str, Any] = new_schema.get("properties", {})
    old_required, new_required = set(old_schema.get("required", ())), set(new_schema.get("required", ()))
    new_forbids_extra = new_schema.get("additionalProperties") is False
    breaking: list[str] = []
    additive: list[str] = []
    for name in sorted(set(old_props) - set(new_props)):
        if new_forbids_extra:
            breaking.append(f'parameter "{name}" was removed (calls that pass it are now refused)')
        else:
            additive.append(f'parameter "{name}" was removed (now ignored)')
    for name in sorted(set(new_props) - set(old_props)):
        if name in new_required:
            breaking.append(f'new required parameter "{name}"')
        else:
            additive.append(f'new optional parameter "{name}"')
    for name in sorted(set(old_props) & set(new_props)):
        before, after = old_props[name], new_props[name]
        if _shape(before) != _shape(after):
            breaking.append(f'parameter "{name}" changed type')
        old_enum, new_enum = _allowed(before), _allowed(after)
        if old_enum is not None and (new_enum is None or not set(map(repr, old_enum)) <= set(map(repr, new_enum))):
            if new_enum is not None:
                removed = sorted(set(map(repr, old_enum)) - set(map(repr, new_enum)))
                breaking.append(f'parameter "{name}" no longer accepts {", ".join(removed)}')
        elif old_enum is None and new_enum is not None:
            breaking.append(f'parameter "{name}" is now restricted to {new_enum}')
        if name in new_required and name not in old_required:
            breaking.append(f'parameter "{name}" became required')
        elif name in old_required and name not in new_required:
            additive.append(f'parameter "{name}" became optional')
    if old.output_json_schema is not None and new.output_json_schema != old.output_json_schema:
        additive.append("the output model changed (check consumers of the result)")
    return Compatibility(old=old.id, new=new.id, breaking=breaking, additive=additive)
