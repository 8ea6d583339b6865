"""JSON value checks and canonical JSON: metadata must be JSON, digests must be deterministic."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any

from pydantic_core import to_jsonable_python

from armorer_ray.errors import ConfigError

__all__ = ["assert_json_value", "canonical_json", "digest", "to_json_compatible"]


def assert_json_value(value: object, path: str = "metadata") -> None:
    """Check that ``value`` is a JSON tree (dict with str keys, list, str, finite number, bool, None).

    Args:
        value: The value to check.
        path: Name of the value, used as the root of the path in the error message.

    Raises:
        ConfigError: naming the path of the first offending value, e.g. ``metadata.nested[2]``.

    Example:
        >>> assert_json_value({"a": [1, float("nan")]})
        Traceback (most recent call last):
        ...
        armorer_ray.errors.ConfigError: Non-finite number at metadata.a[1]
    """
    _check(value, path, set())


def _check(value: object, path: str, seen: set[int]) -> None:
    if value is None or isinstance(value, str | bool | int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ConfigError(f"Non-finite number at {path}")
        return
    if isinstance(value, dict | list | tuple):
        marker = id(value)
        if marker in seen:
            raise ConfigError(f"Circular reference detected at {path}")
        seen.add(marker)
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise ConfigError(f"Non-string key {key!r} is not valid JSON at {path}")
                _check(item, f"{path}.{key}", seen)
        else:
            for index, item in enumerate(value):
                _check(item, f"{path}[{index}]", seen)
        seen.discard(marker)
        return
    kind = "Function" if callable(value) else f"Value of type {type(value).__name__}"
    raise ConfigError(f"{kind} is not valid JSON at {path}")


# Builtin containers pass through as-is: converting them costs microseconds per call on the hot path, and
# pydantic serialises whatever they hold when the result itself is dumped.
_PLAIN = frozenset({str, int, float, bool, dict, list})


def to_json_compatible(value: Any) -> Any:
    """Convert models, dataclasses, sets, datetimes... into plain JSON-compatible Python values.

    Example:
        >>> to_json_compatible((1, {2, 3}))
        [1, [2, 3]]
    """
    if value is None or type(value) in _PLAIN:
        return value
    return to_jsonable_python(value, fallback=str)


def canonical_json(value: Any) -> str:
    """Compact JSON with recursively sorted keys: equal values give equal text.

    Example:
        >>> canonical_json({"b": 1, "a": {"d": 2, "c": [3]}})
        '{"a":{"c":[3],"d":2},"b":1}'
    """
    # Full conversion here (not the hot-path shortcut): nested dates, sets or models must not make digests raise.
    return json.dumps(to_jsonable_python(value, fallback=str), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False)


def digest(value: Any) -> str:
    """SHA-256 hex digest of the canonical JSON of ``value``.

    Example:
        >>> digest({"a": 1}) == digest({"a": 1})
        True
    """
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()


def sorted_json(value: Any) -> Any:
    """A copy of a JSON value with every object's keys sorted (for stable serialisation)."""
    if isinstance(value, Mapping):
        return {key: sorted_json(value[key]) for key in sorted(value)}
    if isinstance(value, list | tuple):
        return [sorted_json(item) for item in value]
    return value
