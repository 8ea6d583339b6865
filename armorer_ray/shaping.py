"""Output shaping: turn a tool's return value into the ``content`` a model sees, within a size budget."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, PositiveInt

from armorer_ray.json_values import canonical_json, to_json_compatible

__all__ = ["OutputShaping", "shape_output"]


class OutputShaping(BaseModel):
    """How to present a tool's output to the model.

    Attributes:
        serialization: ``json`` keeps a JSON-compatible value; ``string`` renders non-strings as canonical JSON text.
        max_bytes: Cap on the UTF-8 size of string content, applied when ``truncate`` is on.
        max_chars: Cap on the length of string content in characters (Armorer's ``truncate.length``); used when
            ``max_bytes`` is not set.
        truncate: Cut string content longer than ``max_bytes`` (else ``max_chars``, else 1 MiB) and append
            ``suffix``.
        suffix: Appended to truncated content, so the model knows it was cut.

    Example:
        >>> shape_output({"rows": list(range(100))}, OutputShaping(serialization="string", max_bytes=12))
        '{"rows":[0,1...'
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    serialization: Literal["json", "string"] = "json"
    max_bytes: PositiveInt | None = None
    max_chars: PositiveInt | None = None
    truncate: bool = True
    suffix: str = "..."


_DEFAULT_LIMIT = 1 << 20


def shape_output(value: Any, shaping: OutputShaping | None) -> Any:
    """The ``content`` for ``value``: JSON-compatible, stringified and truncated as ``shaping`` says."""
    content = to_json_compatible(value)
    if shaping is None:
        return content
    if shaping.serialization == "string" and not isinstance(content, str):
        # canonical_json converts whatever nested values the containers still hold
        content = canonical_json(content)
    if shaping.truncate and isinstance(content, str) and shaping.max_chars is not None and shaping.max_bytes is None:
        # Characters, as Armorer counts: "héllo wörld" cut at 4 is "héll", whatever its UTF-8 size.
        return content if len(content) <= shaping.max_chars else content[: shaping.max_chars] + shaping.suffix
    if shaping.truncate and isinstance(content, str):
        limit = shaping.max_bytes or _DEFAULT_LIMIT
        encoded = content.encode()
        if len(encoded) > limit:
            # Cut on a code-point boundary: decoding with "ignore" drops a partial trailing character.
            content = encoded[:limit].decode(errors="ignore") + shaping.suffix
    return content
