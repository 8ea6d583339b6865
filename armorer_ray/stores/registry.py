"""The registry of store backends: URL scheme → where the backend lives and which extra installs its driver.

Backends are imported on first use, so ``import armorer_ray.stores`` never imports redis-py or psycopg.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol, cast

from armorer_ray._registry import import_backend, lookup, register
from armorer_ray.errors import ConfigError
from armorer_ray.stores.protocols import Store

__all__ = ["BackendSpec", "StoreFactory", "backends", "open_store", "register_backend"]


class StoreFactory(Protocol):
    """What a registered backend provides: a constructor from a URL (the built-in store classes are factories).

    Example:
        >>> from armorer_ray.stores import MemoryStore
        >>> factory: StoreFactory = MemoryStore
        >>> type(factory.from_url("memory://")).__name__
        'MemoryStore'
    """

    def from_url(self, url: str) -> Store:
        """Build a store from its URL; a ConfigError for a URL it cannot read."""
        ...


@dataclass(frozen=True)
class BackendSpec:
    """Where a backend lives: ``module:attr`` names a `StoreFactory`, and `extra` the pip extra with its driver.

    Attributes:
        module: The module to import on first use.
        attr: The factory's name in that module.
        extra: The ``armorer-ray[...]`` extra that installs the driver, or None if it needs none.

    Example:
        >>> backends["redis"]
        BackendSpec(module='armorer_ray.stores.redis', attr='RedisStore', extra='redis')
    """

    module: str
    attr: str
    extra: str | None = None


_backends: dict[str, BackendSpec] = {
    "memory": BackendSpec("armorer_ray.stores.memory", "MemoryStore"),
    "sqlite": BackendSpec("armorer_ray.stores.sqlite", "SqliteStore"),
    "redis": BackendSpec("armorer_ray.stores.redis", "RedisStore", "redis"),
    "rediss": BackendSpec("armorer_ray.stores.redis", "RedisStore", "redis"),
    "unix": BackendSpec("armorer_ray.stores.redis", "RedisStore", "redis"),
    "postgresql": BackendSpec("armorer_ray.stores.postgres", "PostgresStore", "postgres"),
    "postgres": BackendSpec("armorer_ray.stores.postgres", "PostgresStore", "postgres"),
}
backends: Mapping[str, BackendSpec] = MappingProxyType(_backends)
"""The registered backends by URL scheme; read-only (add to it with `register_backend`)."""


def register_backend(scheme: str, spec: BackendSpec, *, replace: bool = False) -> None:
    """Make `open_store` accept URLs with this scheme.

    Args:
        scheme: The URL scheme (and bare name), such as ``"dynamodb"``.
        spec: Where the backend's factory lives.
        replace: Overwrite an existing registration instead of refusing.

    Raises:
        ConfigError: The scheme is already registered and `replace` is False.

    Example:
        >>> register_backend("memory", BackendSpec("armorer_ray.stores.memory", "MemoryStore"))
        Traceback (most recent call last):
        ...
        armorer_ray.errors.ConfigError: store backend 'memory' is already registered; pass replace=True to override it
    """
    register("store backend", _backends, scheme, spec, replace=replace)


def open_store(url_or_name: str) -> Store:
    """Open a store from a URL (a bare scheme such as ``"sqlite"`` means ``"sqlite://"``); nothing connects yet.

    ``memory://``, ``sqlite:///relative.db`` / ``sqlite:////absolute.db`` / ``sqlite://`` (the default file),
    ``redis://127.0.0.1:6379/0`` (also ``rediss://``, ``unix://``), ``postgresql://user@host/db`` (also
    ``postgres://``). Query parameters set the backend's option fields, such as ``?key_prefix=app/``.

    Args:
        url_or_name: A URL, or a bare scheme such as ``"sqlite"``.

    Returns:
        The store, not yet connected.

    Raises:
        ConfigError: An unknown scheme, or options the backend rejects.
        MissingExtraError: The backend's driver is not installed; the message names the pip install.

    Example:
        >>> import asyncio
        >>> async def demo():
        ...     async with open_store("memory://?key_prefix=app/") as store:
        ...         await store.set("k", b"v")
        ...         return await store.get("k")
        >>> asyncio.run(demo())
        b'v'
    """
    if not isinstance(url_or_name, str):
        raise ConfigError(f"a store URL must be a str, got {type(url_or_name).__name__}")
    scheme, separator, _ = url_or_name.partition("://")
    url = url_or_name if separator else f"{url_or_name}://"
    spec = lookup("store backend", _backends, scheme)
    module = import_backend("store backend", scheme, spec.module, spec.extra)
    factory = cast(StoreFactory, getattr(module, spec.attr))
    return factory.from_url(url)
