"""`create_tool`: make a tool whose metadata comes from an async factory (reference §2.6 and §3).

`Tool` and `tool` accept metadata as a mapping or as a function of no arguments returning one. When the metadata
must be awaited (read from a service, a file loaded asynchronously), `create_tool` awaits it first, so the tool
is still built, validated and checked at once.

Example:
    >>> import asyncio
    >>> async def load_metadata():
    ...     return {"owner": "search-team", "readOnly": True}
    >>> made = asyncio.run(create_tool(lambda q: q, name="find", description="Find.", metadata=load_metadata))
    >>> made.metadata["owner"], made.is_read_only
    ('search-team', True)
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast

from pydantic import JsonValue

from armorer_ray.tools import Tool, ToolOptions

__all__ = ["MetadataSource", "create_tool"]

MetadataSource = (Mapping[str, JsonValue] | Awaitable[Mapping[str, JsonValue]]
                  | Callable[[], "Mapping[str, JsonValue] | Awaitable[Mapping[str, JsonValue]]"])
"""Metadata as a value, an awaitable, or a function returning either."""


async def create_tool(fn: Callable[..., Any] | str, *, metadata: MetadataSource | None = None,
                      **options: Any) -> Tool:
    """Await ``metadata`` (a value, an awaitable, or a function returning either), then build the `Tool`.

    Args:
        fn: The body, as for `Tool`.
        metadata: The metadata source.
        **options: Other `armorer_ray.tools.ToolOptions`.

    Raises:
        ConfigError: as `Tool` does (non-JSON metadata included).
    """
    value: Any = metadata() if callable(metadata) else metadata
    if inspect.isawaitable(value):
        value = await value
    if value is not None:
        options["metadata"] = value
    return Tool(fn, **cast(ToolOptions, options))
