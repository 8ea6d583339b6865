"""Schema rewrites some providers need: OpenAI strict mode, Gemini's Schema subset, and undoing them on calls.

Our parameter schemas are JSON Schema 2020-12 from pydantic. Providers accept subsets:

* OpenAI strict mode (function calling with ``strict: true``) needs every property in ``required`` and
  ``additionalProperties: false`` on every object, ``$defs`` included. `openai_strict` makes optional
  properties nullable and required, drops ``default`` and the keywords strict mode rejects (the toolbox still
  enforces them: a call breaking one gets a validation error). A schema with a free-form object (a ``dict``
  parameter, or ``additionalProperties`` allowed) cannot be strict: it is exported with ``strict: false``.
* Gemini's ``Schema`` has no ``exclusiveMinimum``/``exclusiveMaximum``, ``const``, ``$schema`` or type lists:
  `gemini_schema` inlines ``$ref``\\ s, turns exclusive bounds into inclusive ones plus a sentence in the
  description, ``const`` into a one-value ``enum``, and type lists into ``nullable``/``anyOf``.

`drop_strict_nulls` undoes the strict rewrite on the arguments a model sends: a ``null`` for a property that
was optional and not nullable means "left out", so it is removed before validation.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

__all__ = ["drop_strict_nulls", "gemini_schema", "openai_strict"]

# Keywords OpenAI's strict mode accepts besides structure (type, properties, items, anyOf, enum, $ref...).
_STRICT_OK = {"type", "properties", "required", "additionalProperties", "items", "anyOf", "enum", "const",
              "$ref", "$defs", "description", "title", "pattern", "format", "minimum", "maximum",
              "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minItems", "maxItems"}


class _NotStrict(Exception):
    """The schema has a construct strict mode cannot express."""


def openai_strict(schema: Mapping[str, Any]) -> dict[str, Any] | None:
    """``schema`` rewritten for OpenAI strict mode, or None when it cannot be (see the module docstring).

    Example:
        >>> openai_strict({"type": "object", "properties": {"a": {"type": "integer"},
        ...                "b": {"type": "string", "default": ""}}, "required": ["a"]})["properties"]["b"]
        {'type': ['string', 'null']}
        >>> openai_strict({"type": "object", "properties": {"d": {"type": "object"}}}) is None
        True
        >>> openai_strict({"type": "object", "properties": {}, "additionalProperties": False})["required"]
        []
    """
    try:
        out = _strict(dict(schema))
        if "$defs" in schema:
            out["$defs"] = {name: _strict(dict(sub)) for name, sub in schema["$defs"].items()}
    except _NotStrict:
        return None
    return out


def _strict(node: dict[str, Any]) -> dict[str, Any]:
    if "allOf" in node or "oneOf" in node or "not" in node or "if" in node:
        raise _NotStrict
    out = {key: value for key, value in node.items() if key in _STRICT_OK and key != "$defs"}
    if "const" in out:
        out["enum"] = [out.pop("const")]
    if "anyOf" in out:
        out["anyOf"] = [_strict(dict(option)) for option in out["anyOf"]]
    if isinstance(out.get("items"), Mapping):
        out["items"] = _strict(dict(out["items"]))
    kind = out.get("type")
    if kind == "object" or (isinstance(kind, list) and "object" in kind) or "properties" in out:
        properties = out.get("properties") or {}
        closed = node.get("additionalProperties") is False
        if node.get("additionalProperties") not in (None, False) or (not properties and not closed):
            raise _NotStrict  # a free-form object: strict mode would forbid every key
        required = set(node.get("required", ()))
        out["properties"] = {key: (_strict(dict(sub)) if key in required else _nullable(_strict(dict(sub))))
                             for key, sub in properties.items()}
        out["required"] = list(properties)
        out["additionalProperties"] = False
    return out


def _nullable(node: dict[str, Any]) -> dict[str, Any]:
    kind = node.get("type")
    if isinstance(kind, str) and "enum" not in node:
        return {**node, "type": [kind, "null"]} if kind != "null" else node
    if isinstance(kind, list):
        return node if "null" in kind else {**node, "type": [*kind, "null"]}
    if "anyOf" in node:
        options = node["anyOf"]
        if any(option.get("type") == "null" for option in options):
            return node
        return {**node, "anyOf": [*options, {"type": "null"}]}
    return {"anyOf": [node, {"type": "null"}]}


def _accepts_null(node: Mapping[str, Any], defs: Mapping[str, Any]) -> bool:
    node = _resolve(node, defs)
    kind = node.get("type")
    if kind == "null" or (isinstance(kind, list) and "null" in kind):
        return True
    return any(_accepts_null(option, defs) for option in node.get("anyOf", ()))


def _resolve(node: Mapping[str, Any], defs: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        target = defs.get(ref.removeprefix("#/$defs/"))
        if isinstance(target, Mapping):
            return target
    return node


def drop_strict_nulls(arguments: object, schema: Mapping[str, Any]) -> object:
    """``arguments`` without the ``null`` values strict mode made the model send for omitted optional properties.

    Example:
        >>> schema = {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "string"}},
        ...           "required": ["a"]}
        >>> drop_strict_nulls({"a": 1, "b": None}, schema)
        {'a': 1}
    """
    return _drop(arguments, schema, schema.get("$defs") or {})


def _drop(value: object, node: Mapping[str, Any], defs: Mapping[str, Any]) -> object:
    node = _resolve(node, defs)
    if isinstance(value, dict) and isinstance(node.get("properties"), Mapping):
        required = set(node.get("required", ()))
        out = {}
        for key, item in value.items():
            sub = node["properties"].get(key)
            if sub is None:
                out[key] = item
            elif item is None and key not in required and not _accepts_null(sub, defs):
                continue
            else:
                out[key] = _drop(item, sub, defs)
        return out
    if isinstance(value, list) and isinstance(node.get("items"), Mapping):
        return [_drop(item, node["items"], defs) for item in value]
    return value


# Gemini's Schema fields (google.genai.types.Schema), in their JSON Schema spelling.
_GEMINI_OK = {"type", "format", "description", "nullable", "enum", "items", "minItems", "maxItems",
              "properties", "required", "minProperties", "maxProperties", "minLength", "maxLength", "pattern",
              "minimum", "maximum", "anyOf", "propertyOrdering", "default", "title", "example"}


def gemini_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """``schema`` in the subset Gemini's ``FunctionDeclaration.parameters`` accepts (see the module docstring).

    Recursive models (a ``$ref`` reaching itself) are cut at the second visit to a free-form object.

    Example:
        >>> gemini_schema({"type": "object", "properties": {"n": {"type": "number", "exclusiveMinimum": 0}}})
        {'type': 'object', 'properties': {'n': {'type': 'number', 'minimum': 0, 'description': 'Must be > 0.'}}}
    """
    return _gemini(schema, schema.get("$defs") or {}, ())


def _gemini(node: Mapping[str, Any], defs: Mapping[str, Any], seen: tuple[str, ...]) -> dict[str, Any]:
    ref = node.get("$ref")
    if isinstance(ref, str):
        if ref in seen:
            return {"type": "object", "description": node.get("description", "(recursive)")}
        target = dict(_resolve(node, defs))
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _gemini(merged, defs, (*seen, ref))
    notes = []
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "const":
            out["enum"] = [value]
        elif key in ("exclusiveMinimum", "exclusiveMaximum"):
            bound = "minimum" if key == "exclusiveMinimum" else "maximum"
            out[bound] = value
            notes.append(f"Must be {'>' if bound == 'minimum' else '<'} {value}.")
        elif key in ("properties",):
            out[key] = {name: _gemini(sub, defs, seen) for name, sub in value.items()}
        elif key == "items" and isinstance(value, Mapping):
            out[key] = _gemini(value, defs, seen)
        elif key in ("anyOf", "oneOf"):
            options = [option for option in value if option.get("type") != "null"]
            if len(options) < len(value):
                out["nullable"] = True
            if len(options) == 1:
                out.update(_gemini(options[0], defs, seen))
            else:
                out["anyOf"] = [_gemini(option, defs, seen) for option in options]
        elif key == "type" and isinstance(value, list):
            kinds = [kind for kind in value if kind != "null"]
            if len(kinds) < len(value):
                out["nullable"] = True
            if len(kinds) == 1:
                out["type"] = kinds[0]
            else:
                out["anyOf"] = [{"type": kind} for kind in kinds]
        elif key in _GEMINI_OK:
            out[key] = copy.deepcopy(value)
    if "enum" in out:
        out["enum"] = [str(item) for item in out["enum"]]  # Gemini enums are strings
        out.setdefault("type", "string")
        if out["type"] != "string":
            out["type"] = "string"
    if notes:
        out["description"] = " ".join([out["description"], *notes]) if out.get("description") else " ".join(notes)
    return out
