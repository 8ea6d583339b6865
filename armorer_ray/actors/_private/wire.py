"""Calls and results as plain tuples between a handle and its replicas.

Pickling a `ToolCall` or `ToolResult` model costs 30-40 µs each way (pydantic's state dance plus cloudpickle's
class lookups); the same fields as a tuple cost 2-8 µs. Both ends are ours and the values were validated where
they were made, so the model is rebuilt without validation, as `build_result` does. Refs handed to users
(`Deployment.submit`) still carry real `ToolResult` models.
"""

from __future__ import annotations

from typing import Any

from armorer_ray.results import ToolCall, ToolResult, build_result

__all__ = ["PackedCall", "PackedResult", "pack_call", "pack_result", "unpack_call", "unpack_result"]

PackedCall = tuple[Any, ...]
PackedResult = tuple[Any, ...]

_CALL_FIELDS = tuple(ToolCall.model_fields)
_RESULT_FIELDS = tuple(ToolResult.model_fields)
_new = object.__new__
_set = object.__setattr__


def pack_call(call: ToolCall) -> PackedCall:
    """The call's field values in declaration order."""
    values = call.__dict__
    return tuple(values[name] for name in _CALL_FIELDS)


def unpack_call(packed: PackedCall) -> ToolCall:
    """The `ToolCall` whose fields are ``packed`` (no validation: it was validated where it was made)."""
    call = _new(ToolCall)
    _set(call, "__dict__", dict(zip(_CALL_FIELDS, packed, strict=True)))
    _set(call, "__pydantic_fields_set__", set(_CALL_FIELDS))
    _set(call, "__pydantic_extra__", None)
    _set(call, "__pydantic_private__", None)
    return call


def pack_result(result: ToolResult) -> PackedResult:
    """The result's field values in declaration order."""
    values = result.__dict__
    return tuple(values[name] for name in _RESULT_FIELDS)


def unpack_result(packed: PackedResult) -> ToolResult:
    """The `ToolResult` whose fields are ``packed``."""
    return build_result(**dict(zip(_RESULT_FIELDS, packed, strict=True)))
