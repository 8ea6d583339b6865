"""Results as bytes for shared cache servers: JSON, never pickle, so a shared server cannot inject code."""

from __future__ import annotations

import json
from collections.abc import Sequence

from pydantic import JsonValue

from armorer_ray.results import ToolResult

__all__ = ["decode_result", "encode_result", "read_stamped", "stamp"]


def encode_result(result: ToolResult) -> bytes:
    """JSON bytes of ``result``; raises pydantic's serialisation error for a ``result`` that is not JSON-able."""
    return result.__pydantic_serializer__.to_json(result)


def decode_result(data: bytes | str) -> ToolResult:
    """The result read back; ``result`` holds JSON values (a model comes back as a dict)."""
    return ToolResult.model_validate_json(data)


# Stores that invalidate by generation counters (memcached, any `Store`) stamp each entry with its labels'
# generations at write time; a read compares the stamp with the counters now and treats a mismatch as gone.


def stamp(body: bytes, label_keys: Sequence[str], generations: Sequence[JsonValue]) -> bytes:
    """``body`` behind a one-line JSON header recording each label key's generation when it was written."""
    return json.dumps({"l": list(label_keys), "g": list(generations)}).encode() + b"\n" + body


def read_stamped(raw: bytes) -> tuple[list[str], list[JsonValue], bytes]:
    """The label keys, their recorded generations and the body of an entry written by `stamp`."""
    header, _, body = raw.partition(b"\n")
    recorded = json.loads(header)
    return recorded["l"], recorded["g"], body
