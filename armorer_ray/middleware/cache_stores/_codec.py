"""Results as bytes for shared cache servers: JSON, never pickle, so a shared server cannot inject code."""

from __future__ import annotations

from armorer_ray.results import ToolResult

__all__ = ["decode_result", "encode_result"]


def encode_result(result: ToolResult) -> bytes:
    """JSON bytes of ``result``; raises pydantic's serialisation error for a ``result`` that is not JSON-able."""
    return result.__pydantic_serializer__.to_json(result)


def decode_result(data: bytes | str) -> ToolResult:
    """The result read back; ``result`` holds JSON values (a model comes back as a dict)."""
    return ToolResult.model_validate_json(data)
