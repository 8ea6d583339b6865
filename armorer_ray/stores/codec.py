"""JSON on top of a byte store: one canonical encoding, and `get_json`/`set_json`/`pop_json` for any `Store`.

Stores hold bytes so a cache can keep pickles or compressed blobs untouched; checkpoints, approvals and audit records
are JSON, and go through these helpers so every backend stores them identically.
"""

from __future__ import annotations

import json

from pydantic import JsonValue

from armorer_ray.errors import ConfigError, StoreError
from armorer_ray.stores.protocols import Store

__all__ = ["decode_json", "encode_json", "get_json", "pop_json", "set_json"]


def encode_json(value: JsonValue) -> bytes:
    """Encode a JSON value as compact UTF-8 bytes that `decode_json` turns back into an equal value.

    Floats are written with ``repr`` precision, so they come back bit-for-bit; NaN and infinities have no JSON
    spelling and are refused rather than written as the non-standard ``NaN``.

    Args:
        value: None, a bool, int, float, str, or lists and str-keyed dicts of these.

    Returns:
        The encoded bytes.

    Raises:
        ConfigError: The value is not JSON (a set, bytes, a non-str dict key, NaN, a cycle...).

    Example:
        >>> encode_json({"node": "fetch", "attempt": 2, "ok": True})
        b'{"node":"fetch","attempt":2,"ok":true}'
    """
    try:
        return json.dumps(value, separators=(",", ":"), allow_nan=False).encode("ascii")
    except (TypeError, ValueError, RecursionError) as exc:
        raise ConfigError(f"value is not JSON-serializable: {exc}") from exc


def decode_json(data: bytes) -> JsonValue:
    """Decode bytes written by `encode_json` (or any UTF-8 JSON document).

    Args:
        data: The stored bytes.

    Returns:
        The JSON value.

    Raises:
        StoreError: The stored bytes are not JSON, which means something else wrote them.

    Example:
        >>> decode_json(b'[1, 2.5, "three", null]')
        [1, 2.5, 'three', None]
    """
    try:
        value: JsonValue = json.loads(data)
    except (UnicodeDecodeError, ValueError) as exc:
        raise StoreError(f"stored value is not JSON: {exc}") from exc
    return value


async def get_json(store: Store, key: str) -> JsonValue | None:
    """Read a JSON value; None when the key is missing or expired.

    A stored JSON ``null`` also reads as None: use `Store.get` when the difference matters.

    Args:
        store: Any store.
        key: The key.

    Returns:
        The decoded value, or None.

    Raises:
        ConfigError: `key` is not a valid key.
        StoreError: The backend failed, the store is closed, or the stored bytes are not JSON.

    Example:
        >>> import asyncio
        >>> from armorer_ray.stores import MemoryStore
        >>> async def demo():
        ...     async with MemoryStore() as store:
        ...         await set_json(store, "run/42/fetch", {"status": "done", "rows": 3})
        ...         return await get_json(store, "run/42/fetch")
        >>> asyncio.run(demo())
        {'status': 'done', 'rows': 3}
    """
    data = await store.get(key)
    return None if data is None else decode_json(data)


async def set_json(
    store: Store, key: str, value: JsonValue, *, ttl_s: float | None = None, if_absent: bool = False
) -> bool:
    """Write a JSON value, with the semantics of `Store.set`.

    Args:
        store: Any store.
        key: The key.
        value: The JSON value.
        ttl_s: Seconds until the entry expires; None keeps it until deleted.
        if_absent: Write only if no live entry holds the key.

    Returns:
        Whether the value was written (always True unless `if_absent` found a live entry).

    Raises:
        ConfigError: A bad key or ttl, or a value that is not JSON.
        StoreError: The backend failed or the store is closed.

    Example:
        >>> import asyncio
        >>> from armorer_ray.stores import MemoryStore
        >>> async def demo():
        ...     async with MemoryStore() as store:
        ...         first = await set_json(store, "approval/7", {"tool": "send_email"}, if_absent=True)
        ...         second = await set_json(store, "approval/7", {"tool": "other"}, if_absent=True)
        ...         return first, second
        >>> asyncio.run(demo())
        (True, False)
    """
    return await store.set(key, encode_json(value), ttl_s=ttl_s, if_absent=if_absent)


async def pop_json(store: Store, key: str) -> JsonValue | None:
    """Atomically take a JSON value, with the exactly-once semantics of `Store.pop`.

    Args:
        store: Any store.
        key: The key.

    Returns:
        The decoded value for the one caller that took it; None for everyone else.

    Raises:
        ConfigError: `key` is not a valid key.
        StoreError: The backend failed, the store is closed, or the stored bytes are not JSON.

    Example:
        >>> import asyncio
        >>> from armorer_ray.stores import MemoryStore
        >>> async def demo():
        ...     async with MemoryStore() as store:
        ...         await set_json(store, "approval/7", {"approved": True})
        ...         return await pop_json(store, "approval/7"), await pop_json(store, "approval/7")
        >>> asyncio.run(demo())
        ({'approved': True}, None)
    """
    data = await store.pop(key)
    return None if data is None else decode_json(data)
