"""Checking files of tool definitions: ours (``armorer export``) and every provider's export shape.

`validate_definitions` recognises the shape (our serialised definitions, OpenAI Chat Completions or Responses,
Anthropic, Gemini, Bedrock Converse, Mistral, Cohere), checks the envelope of each tool, and checks every
parameter schema with a real JSON Schema validator (``jsonschema``, draft 2020-12 meta-schema), plus what the
meta-schema cannot see: ``required`` naming a property that does not exist, and, for OpenAI tools marked
``strict``, the strict-mode rules.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from armorer_ray.errors import ConfigError, MissingExtraError
from armorer_ray.tools import _validate_tags

__all__ = ["count_tools", "detect_shape", "schema_problems", "validate_definitions"]


def _items(data: object) -> list[Any]:
    if isinstance(data, Mapping):
        for key in ("tools", "functionDeclarations", "function_declarations"):
            if isinstance(data.get(key), list):
                return list(data[key])
        return [data]
    return list(data) if isinstance(data, list) else []


def detect_shape(data: object) -> str:
    """The export shape of ``data``: ``json``, ``openai``, ``openai-responses``, ``anthropic``, ``gemini``,
    ``bedrock``, ``mistral`` (same as ``openai``) or ``unknown``.

    Example:
        >>> detect_shape([{"name": "t", "description": "T.", "input_schema": {"type": "object"}}])
        'anthropic'
    """
    items = _items(data)
    first = items[0] if items and isinstance(items[0], Mapping) else {}
    if isinstance(data, Mapping) and "tools" in data and "toolSpec" in first:
        return "bedrock"
    if "schemaVersion" in first:
        return "json"
    if first.get("type") == "function" and isinstance(first.get("function"), Mapping):
        return "openai"
    if first.get("type") == "function" and "parameters" in first:
        return "openai-responses"
    if "input_schema" in first:
        return "anthropic"
    if "name" in first and "parameters" in first:
        return "gemini"
    return "unknown"


def _schema_of(shape: str, item: Mapping[str, Any]) -> tuple[str, Any, bool]:
    """(name, parameter schema, strict) of one tool in an export of ``shape``."""
    if shape == "json":
        return str(item.get("id", item.get("name", "?"))), item.get("schema"), False
    if shape == "openai":
        function = item.get("function") or {}
        return str(function.get("name", "?")), function.get("parameters"), bool(function.get("strict"))
    if shape == "openai-responses":
        return str(item.get("name", "?")), item.get("parameters"), bool(item.get("strict"))
    if shape == "anthropic":
        return str(item.get("name", "?")), item.get("input_schema"), False
    if shape == "bedrock":
        spec = item.get("toolSpec") or {}
        return str(spec.get("name", "?")), (spec.get("inputSchema") or {}).get("json"), False
    return str(item.get("name", "?")), item.get("parameters"), False


def _walk(node: object, path: str = "") -> Iterator[tuple[str, Mapping[str, Any]]]:
    if isinstance(node, Mapping):
        yield path, node
        for key, value in node.items():
            yield from _walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{path}/{index}")


def schema_problems(schema: object, *, strict: bool = False) -> list[str]:
    """What is wrong with one parameter schema (empty when nothing is).

    Example:
        >>> for problem in schema_problems({"type": "object", "properties": {"a": {"type": "strnig"}},
        ...                                 "required": ["b"]}):
        ...     print(problem)
        schema /properties/a/type: 'strnig' is not valid under any of the given schemas
        schema: required names 'b', which is not a property
    """
    try:
        from jsonschema import Draft202012Validator  # type: ignore[import-untyped]  # jsonschema ships no type hints
    except ModuleNotFoundError as exc:  # pragma: no cover - jsonschema comes with the test and mcp extras
        raise MissingExtraError("armorer validate", "mcp") from exc
    if not isinstance(schema, Mapping):
        return ["missing parameter schema"]
    problems = []
    for error in Draft202012Validator(Draft202012Validator.META_SCHEMA).iter_errors(schema):
        where = "/" + "/".join(str(part) for part in error.absolute_path) if error.absolute_path else ""
        problems.append(f"schema {where}: {error.message}".replace("schema : ", "schema: "))
    if schema.get("type") != "object":
        problems.append("schema: a tool's parameters must be an object schema")
    for where, node in _walk(schema):
        properties = node.get("properties")
        required = node.get("required")
        if isinstance(properties, Mapping) and isinstance(required, list):
            problems.extend(f"schema{where}: required names {name!r}, which is not a property"
                            for name in required if name not in properties)
        if strict and isinstance(properties, Mapping) and not where.endswith("/properties"):
            if node.get("additionalProperties") is not False:
                problems.append(f"schema{where}: strict mode needs additionalProperties: false")
            if sorted(required or []) != sorted(properties):
                problems.append(f"schema{where}: strict mode needs every property in required")
    return problems


def validate_definitions(data: object) -> list[str]:
    """Problems in an exported tool file of any supported shape (empty when it is valid).

    Example:
        >>> validate_definitions([{"type": "function", "function": {"name": "t", "description": "T.",
        ...     "parameters": {"type": "object", "properties": {}}}}])
        []
    """
    shape = detect_shape(data)
    items = _items(data)
    if shape == "unknown" or not items:
        if isinstance(data, list) and not data:
            return []
        return ["not a tool export: expected `armorer export` output (json, openai, openai-responses, anthropic, "
                "gemini, bedrock, mistral or cohere)"]
    problems: list[str] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            problems.append(f"[{index}]: not an object")
            continue
        name, schema, strict = _schema_of(shape, item)
        where = f"[{index}] {name}"
        if name in seen:
            problems.append(f"{where}: duplicate {'id' if shape == 'json' else 'name'}")
        seen.add(name)
        if shape == "json":
            problems.extend(_armorer_problems(where, item))
        problems.extend(f"{where}: {problem}" for problem in schema_problems(schema, strict=strict))
    return problems


def _armorer_problems(where: str, item: Mapping[str, Any]) -> list[str]:
    problems = []
    if item.get("schemaVersion") != "2020-12":
        problems.append(f"{where}: schemaVersion must be '2020-12'")
    problems.extend(f"{where}: missing {key}" for key in ("id", "name", "description", "schema") if not item.get(key))
    try:
        _validate_tags(str(item.get("name")), item.get("tags") or [])
    except ConfigError as exc:
        problems.append(f"{where}: {exc}")
    return problems


def count_tools(data: object) -> int:
    """How many tools an export holds, whatever its shape.

    Example:
        >>> count_tools({"tools": [{"toolSpec": {}}, {"toolSpec": {}}]})
        2
    """
    return len(_items(data))
