"""Calls, results and call options as plain lists between a handle and its replicas.

Ray serializes an actor call's arguments and returns with msgpack, and hands every value msgpack cannot encode
natively to pickle through a Python hook, one call per value. Pydantic models cost 20-45 µs each that way, and
even tuples take the hook (Ray packs with ``strict_types``); lists of strings, numbers, dicts and None are encoded
in C, under 1 µs per call. Both ends are ours and the values were validated where they were made, so models are
rebuilt here without validation. Refs handed to users (`Deployment.submit`) still carry real `ToolResult` models
(which pickle as tuples of their fields, see `armorer_ray.results`).

Call options travel as the part of the pipeline's `CallOptions` that can cross a process: the deadline, the
dry-run flag and the approval. The abort signal stays with the handle, which cancels through Ray; where chunks go
is the replica's own business.
"""

from __future__ import annotations

import operator
from typing import Any

from armorer_ray.pipeline import DEFAULT_CALL_OPTIONS, CallOptions
from armorer_ray.results import ToolCall, ToolResult, model_from_values

__all__ = ["PackedCall", "PackedResult", "WireOptions", "pack_call", "pack_options", "pack_result", "unpack_call",
           "unpack_options", "unpack_result"]

PackedCall = list[Any]
"""A `ToolCall`'s field values in declaration order."""

PackedResult = list[Any]
"""A `ToolResult`'s field values in declaration order."""

WireOptions = list[Any] | None
"""``[timeout_s, dry_run, approval]``, or None when all three are the defaults (nothing to send per call)."""

_call_values = operator.itemgetter(*ToolCall.model_fields)
_result_values = operator.itemgetter(*ToolResult.model_fields)


def pack_call(call: ToolCall) -> PackedCall:
    """The call's field values."""
    return list(_call_values(call.__dict__))


def unpack_call(packed: PackedCall) -> ToolCall:
    """The `ToolCall` whose fields are ``packed`` (no validation: it was validated where it was made)."""
    return model_from_values(ToolCall, packed)


def pack_result(result: ToolResult) -> PackedResult:
    """The result's field values."""
    return list(_result_values(result.__dict__))


def unpack_result(packed: PackedResult) -> ToolResult:
    """The `ToolResult` whose fields are ``packed``."""
    return model_from_values(ToolResult, packed)


def pack_options(options: CallOptions) -> WireOptions:
    """What of ``options`` travels to the replica (the signal stays here: the handle cancels through Ray)."""
    if options.timeout_s is None and not options.dry_run and options.approval is None:
        return None
    return [options.timeout_s, options.dry_run, options.approval]


def unpack_options(wire: WireOptions) -> CallOptions:
    """The pipeline's `CallOptions` for options that travelled as ``wire``."""
    if wire is None:
        return DEFAULT_CALL_OPTIONS
    timeout_s, dry_run, approval = wire
    return CallOptions(timeout_s=timeout_s, dry_run=dry_run, approval=approval)
