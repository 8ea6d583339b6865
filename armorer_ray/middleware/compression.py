"""`Compression`: pack large results for the trip across processes, and `decompress_content` to unpack them.

A packed result keeps ``outcome`` and everything else, but ``result`` is None and ``content`` is base64 text of
the compressed UTF-8 JSON of the original ``content``; ``compression`` names the codec (``gzip``, ``br`` or
``zstd``). Base64 text keeps the result valid JSON and picklable. ``ToolResult.value()`` unpacks it, and
`decompress_content` does so for any consumer, such as a provider adapter, that needs the content itself.
"""

from __future__ import annotations

import base64
import gzip
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from pydantic_core import from_json, to_json

from armorer_ray._registry import import_backend
from armorer_ray.errors import ConfigError
from armorer_ray.results import ToolCall, ToolResult, build_result

if TYPE_CHECKING:
    from armorer_ray.context import CallContext
    from armorer_ray.middleware.base import Next

__all__ = ["Codec", "Compression", "decompress_content"]

Codec = Literal["gzip", "br", "zstd"]


@dataclass(frozen=True, slots=True)
class _CodecSpec:
    module: str  # imported on first use
    extra: str | None  # the pip extra that provides it; None for the standard library
    default_level: int


_CODECS: Mapping[str, _CodecSpec] = MappingProxyType({
    "gzip": _CodecSpec("gzip", None, 6),
    "br": _CodecSpec("brotli", "compression", 5),
    "zstd": _CodecSpec("zstandard", "compression", 3),
})


def _module(name: str) -> Any:
    spec = _CODECS.get(name)
    if spec is None:
        raise ConfigError(f"unknown compression codec {name!r}; known: {', '.join(sorted(_CODECS))}")
    return import_backend("compression codec", name, spec.module, spec.extra or "compression")


def _compressor(name: str, level: int) -> Callable[[bytes], bytes]:
    module = _module(name)
    if name == "gzip":
        return lambda data: gzip.compress(data, compresslevel=level, mtime=0)
    if name == "br":
        return lambda data: module.compress(data, quality=level)
    return module.ZstdCompressor(level=level).compress  # type: ignore[no-any-return]  # zstandard is untyped (imported lazily)


def _decompress(name: str, data: bytes) -> bytes:
    module = _module(name)
    if name == "zstd":
        return module.ZstdDecompressor().decompress(data)  # type: ignore[no-any-return]  # zstandard is untyped (imported lazily)
    return module.decompress(data)  # type: ignore[no-any-return]  # brotli is untyped (imported lazily)


def decompress_content(result: ToolResult) -> Any:
    """The original content of a result packed by `Compression` (the content itself when it is not packed).

    Args:
        result: A result, packed or not.

    Returns:
        The content as it was before packing: JSON values (the shaped output, not a model instance).

    Raises:
        ConfigError: for an unknown codec name.
        MissingExtraError: when the codec's package is not installed.

    Example:
        >>> rows = {"rows": ["same row"] * 100}
        >>> packed = Compression(min_bytes=10).pack(
        ...     ToolResult(call_id="c", tool_name="t", outcome="success", result=rows, content=rows))
        >>> packed.compression, packed.result, len(packed.content)
        ('gzip', None, 68)
        >>> decompress_content(packed) == rows
        True
    """
    if result.compression is None:
        return result.content
    return from_json(_decompress(result.compression, base64.b64decode(result.content)))


class Compression:
    """Compress the content of successful results whose JSON is at least ``min_bytes`` long.

    The packed result is smaller wherever it travels: to a Ray caller, into a shared cache, into an audit log.
    Consumers call ``result.value()`` (or `decompress_content`) to get the content back; a result that would
    not shrink is left as it was. Put this layer innermost, so that a `Cache` or `Dedupe` around it keeps and
    shares the packed form. ``br`` and ``zstd`` need ``pip install 'armorer-ray[compression]'`` (checked when
    the layer is made); ``gzip`` is in the standard library.

    Args:
        codec: ``gzip``, ``br`` (brotli) or ``zstd``.
        min_bytes: Smallest JSON size, in bytes, worth compressing.
        level: Codec level (default: gzip 6, brotli 5, zstd 3).

    Raises:
        ConfigError: for an unknown codec or a negative ``min_bytes``.
        MissingExtraError: when the codec's package is not installed.

    Example:
        >>> from armorer_ray import Toolbox, ToolCall
        >>> from armorer_ray.testing import mock_tool
        >>> report = mock_tool("report", impl=lambda: {"lines": ["all systems nominal"] * 200})
        >>> box = Toolbox([report], middleware=[Compression("gzip", min_bytes=1024)])
        >>> result = box.execute_sync(ToolCall(name="report"))
        >>> result.compression, result.result, len(result.content) < 1000
        ('gzip', None, True)
        >>> result.value()["lines"][0]
        'all systems nominal'
    """

    __slots__ = ("_compress", "codec", "level", "min_bytes")

    def __init__(self, codec: Codec = "gzip", *, min_bytes: int = 1024, level: int | None = None) -> None:
        if not isinstance(min_bytes, int) or min_bytes < 0:
            raise ConfigError(f"Compression min_bytes must be an integer >= 0, got {min_bytes!r}")
        if codec not in _CODECS:
            raise ConfigError(f"unknown compression codec {codec!r}; known: {', '.join(sorted(_CODECS))}")
        self.codec: Codec = codec
        self.min_bytes = min_bytes
        self.level = level if level is not None else _CODECS[codec].default_level
        self._compress = _compressor(codec, self.level)

    def pack(self, result: ToolResult) -> ToolResult:
        """``result`` with its content compressed, or unchanged when it is small, not a success, or would not shrink.

        Args:
            result: A result from the inner layers.

        Returns:
            The packed or the original result.

        Example:
            >>> small = ToolResult(call_id="c", tool_name="t", outcome="success", result="hi", content="hi")
            >>> Compression().pack(small) is small
            True
        """
        if result.outcome != "success" or result.compression is not None:
            return result
        content = result.content
        if isinstance(content, str) and len(content) * 4 < self.min_bytes:
            return result  # UTF-8 needs at most 4 bytes a character: too small without serialising
        raw = to_json(content, fallback=str)  # as content shaping renders what JSON cannot hold
        if len(raw) < self.min_bytes:
            return result
        packed = base64.b64encode(self._compress(raw)).decode("ascii")
        if len(packed) >= len(raw):
            return result
        fields = dict(result.__dict__)
        fields.update(result=None, content=packed, compression=self.codec)
        return build_result(**fields)

    async def __call__(self, call: ToolCall, ctx: CallContext, next: Next) -> ToolResult:
        """Run the inner layers and pack their result.

        Args:
            call: The call.
            ctx: Its context.
            next: The inner layers.

        Returns:
            The packed result (see `pack`).
        """
        return self.pack(await next(call, ctx))
