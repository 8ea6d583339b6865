"""The front half every built-in store shares: argument checks, namespacing, the closed flag, error translation.

Backends subclass `BaseStore` and implement the private primitives (`_get`, `_set`, ...) on full, already
prefixed and validated keys; third-party stores need not inherit from it, since `Store` is a Protocol.
"""

from __future__ import annotations

import math
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable
from types import TracebackType
from typing import ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, JsonValue, field_validator
from typing_extensions import Self

from armorer_ray.errors import ConfigError, StoreError
from armorer_ray.stores.codec import decode_json, encode_json

T = TypeVar("T")

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

# Expired entries are dropped lazily on read; a sweep at most this often on writes keeps dead rows from piling up
# without putting a full scan on every call's path.
PURGE_INTERVAL_S = 60.0

_COUNTER = re.compile(rb"-?[0-9]+")


class StoreOptions(BaseModel):
    """Options every built-in backend shares.

    Attributes:
        key_prefix: Prepended to every key and log name, so several applications can share one database without
            seeing each other's state; `keys` returns keys with it removed.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    key_prefix: str = ""

    @field_validator("key_prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        check_text(value, "key_prefix")
        return value


def check_text(value: str, what: str) -> None:
    """Refuse text that some backend cannot store as a key: NUL (PostgreSQL text) and lone surrogates (UTF-8)."""
    if "\x00" in value:
        raise ConfigError(f"{what} must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ConfigError(f"{what} must be encodable as UTF-8 (no lone surrogates)") from exc


def check_key(value: object, what: str = "key") -> str:
    """Return `value` if it is a usable key (a non-empty str storable by every backend), else raise ConfigError."""
    if not isinstance(value, str):
        raise ConfigError(f"{what} must be a str, got {type(value).__name__}")
    if not value:
        raise ConfigError(f"{what} must not be empty")
    check_text(value, what)
    return value


def check_prefix(value: object) -> str:
    """Like `check_key`, but the empty prefix (everything in the namespace) is allowed."""
    if not isinstance(value, str):
        raise ConfigError(f"prefix must be a str, got {type(value).__name__}")
    check_text(value, "prefix")
    return value


def check_ttl(value: object) -> float | None:
    """Return a ttl in seconds (None for no expiry); zero, negative, NaN, infinite or non-numbers raise ConfigError."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"ttl_s must be a positive number of seconds or None, got {type(value).__name__}")
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"ttl_s must be a positive, finite number of seconds, got {value!r}")
    return float(value)


def check_int(value: object, what: str, *, minimum: int = INT64_MIN) -> int:
    """Return `value` if it is an int (not a bool) in [minimum, INT64_MAX], else raise ConfigError."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{what} must be an int, got {type(value).__name__}")
    if not minimum <= value <= INT64_MAX:
        raise ConfigError(f"{what} must be between {minimum} and {INT64_MAX}, got {value}")
    return value


def parse_counter(value: bytes, key: str) -> int:
    """Read a counter's stored bytes (ASCII decimal); anything else is a StoreError, as Redis's INCRBY makes it."""
    if not _COUNTER.fullmatch(value):
        raise StoreError(f"cannot increment {key!r}: its value is not an integer")
    return int(value)


def add_counter(current: int, amount: int, key: str) -> int:
    """Add with the 64-bit bounds Redis and PostgreSQL enforce, so every backend overflows the same way."""
    total = current + amount
    if not INT64_MIN <= total <= INT64_MAX:
        raise StoreError(f"cannot increment {key!r}: the result overflows a 64-bit integer")
    return total


def prefix_upper_bound(prefix: str) -> str | None:
    """The least string greater than every string starting with `prefix`, in code-point order; None if unbounded.

    SQL backends turn `startswith(prefix)` into the index-friendly range `prefix <= key < bound` this way, instead of
    LIKE patterns whose wildcards and case rules differ between SQLite and PostgreSQL.

    Example:
        >>> prefix_upper_bound("run/")
        'run0'
        >>> prefix_upper_bound("") is None
        True
    """
    chars = list(prefix)
    while chars:
        code = ord(chars[-1]) + 1
        if code > 0x10FFFF:
            chars.pop()
            continue
        if 0xD800 <= code <= 0xDFFF:
            code = 0xE000  # keys cannot hold surrogates, so the next storable character follows them
        chars[-1] = chr(code)
        return "".join(chars)
    return None


def is_live(expires_at: float | None, now: float) -> bool:
    """Whether an entry with this expiry time (None: never) is still visible at `now`."""
    return expires_at is None or expires_at > now


class PurgeClock:
    """Says when a lazy sweep of expired entries is due; one per store, monotonic so clock changes cannot stall it."""

    def __init__(self) -> None:
        self._next = time.monotonic() + PURGE_INTERVAL_S

    def is_due(self) -> bool:
        now = time.monotonic()
        if now < self._next:
            return False
        self._next = now + PURGE_INTERVAL_S
        return True


class BaseStore(ABC):
    """Shared behaviour of the built-in stores; the public methods are documented on `Store`.

    Subclasses set `backend` (a name for messages), pass the driver's exception types to translate, and
    implement the private primitives, which receive full (prefixed) keys and validated arguments.
    """

    backend: ClassVar[str]

    def __init__(self, *, key_prefix: str, driver_errors: tuple[type[BaseException], ...]) -> None:
        self._key_prefix = key_prefix
        self._driver_errors = driver_errors
        self._closed = False

    # --- the Store protocol -------------------------------------------------------------------------------------

    async def get(self, key: str) -> bytes | None:
        """See `Store.get`."""
        return await self._call("get", self._get(self._full(key)))

    async def set(self, key: str, value: bytes, *, ttl_s: float | None = None, if_absent: bool = False) -> bool:
        """See `Store.set`."""
        full = self._full(key)
        if not isinstance(value, bytes):
            raise ConfigError(f"value must be bytes, got {type(value).__name__}; use set_json for JSON values")
        return await self._call("set", self._set(full, value, check_ttl(ttl_s), bool(if_absent)))

    async def pop(self, key: str) -> bytes | None:
        """See `Store.pop`."""
        return await self._call("pop", self._pop(self._full(key)))

    async def delete(self, key: str) -> bool:
        """See `Store.delete`."""
        return await self._call("delete", self._delete(self._full(key)))

    async def delete_prefix(self, prefix: str) -> int:
        """See `Store.delete_prefix`."""
        self._check_open()
        return await self._call("delete_prefix", self._delete_prefix(self._key_prefix + check_prefix(prefix)))

    async def keys(self, prefix: str = "") -> list[str]:
        """See `Store.keys`."""
        self._check_open()
        full = await self._call("keys", self._keys(self._key_prefix + check_prefix(prefix)))
        cut = len(self._key_prefix)
        return [key[cut:] for key in full]

    async def incr(self, key: str, amount: int = 1, *, ttl_s: float | None = None) -> int:
        """See `Store.incr`."""
        full = self._full(key)
        return await self._call("incr", self._incr(full, check_int(amount, "amount"), check_ttl(ttl_s)))

    async def append(self, log: str, record: JsonValue) -> int:
        """See `Store.append`."""
        full = self._full(log, "log")
        return await self._call("append", self._append(full, encode_json(record)))

    async def read_log(self, log: str, start: int = 0, limit: int | None = None) -> list[JsonValue]:
        """See `Store.read_log`."""
        full = self._full(log, "log")
        start = check_int(start, "start", minimum=0)
        if limit is not None:
            limit = check_int(limit, "limit", minimum=0)
        raw = await self._call("read_log", self._read_log(full, start, limit))
        return [decode_json(item) for item in raw]

    async def close(self) -> None:
        """See `Store.close`."""
        if self._closed:
            return
        self._closed = True
        await self._call("close", self._close())

    async def __aenter__(self) -> Self:
        self._check_open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # --- plumbing -------------------------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"this {self.backend} store is closed")

    def _full(self, key: object, what: str = "key") -> str:
        self._check_open()
        return self._key_prefix + check_key(key, what)

    async def _call(self, operation: str, pending: Awaitable[T]) -> T:
        # Driver exceptions become StoreError here, at the boundary, so callers catch one type whatever the backend.
        try:
            return await pending
        except StoreError:
            raise
        except self._driver_errors as exc:
            raise StoreError(f"{self.backend} store: {operation} failed: {type(exc).__name__}: {exc}") from exc

    # --- what a backend implements (keys are full, arguments validated) -------------------------------------------

    @abstractmethod
    async def _get(self, key: str) -> bytes | None: ...

    @abstractmethod
    async def _set(self, key: str, value: bytes, ttl_s: float | None, if_absent: bool) -> bool: ...

    @abstractmethod
    async def _pop(self, key: str) -> bytes | None: ...

    @abstractmethod
    async def _delete(self, key: str) -> bool: ...

    @abstractmethod
    async def _delete_prefix(self, prefix: str) -> int: ...

    @abstractmethod
    async def _keys(self, prefix: str) -> list[str]: ...

    @abstractmethod
    async def _incr(self, key: str, amount: int, ttl_s: float | None) -> int: ...

    @abstractmethod
    async def _append(self, log: str, record: bytes) -> int: ...

    @abstractmethod
    async def _read_log(self, log: str, start: int, limit: int | None) -> list[bytes]: ...

    @abstractmethod
    async def _close(self) -> None: ...
