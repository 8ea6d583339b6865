"""The rules every registry of backends follows: no silent overwrite, a miss that lists the registered names, and
a missing optional driver reported as the pip install that provides it.

Each registry (embedders and vector stores, store URL schemes, compression codecs) keeps its own spec type and
private dict; these functions only give them one wording and one behaviour.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from types import ModuleType
from typing import TypeVar

from armorer_ray.errors import ConfigError, MissingExtraError

Spec = TypeVar("Spec")


def register(kind: str, registry: dict[str, Spec], name: str, spec: Spec, *, replace: bool) -> None:
    """Add ``spec`` under ``name``; a ConfigError if the name is taken and ``replace`` is False."""
    if name in registry and not replace:
        raise ConfigError(f"{kind} {name!r} is already registered; pass replace=True to override it")
    registry[name] = spec


def lookup(kind: str, registry: Mapping[str, Spec], name: str) -> Spec:
    """The spec under ``name``; a ConfigError naming every registered one if there is none."""
    spec = registry.get(name)
    if spec is None:
        raise ConfigError(f"unknown {kind} {name!r}; registered: {', '.join(sorted(registry))}")
    return spec


def import_backend(kind: str, name: str, module: str, extra: str | None) -> ModuleType:
    """Import a backend's module; a missing module becomes `MissingExtraError` naming ``extra``.

    Without an extra the backend needs nothing optional, so its ModuleNotFoundError is a real fault and is raised
    as it is.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if extra is None:
            raise
        raise MissingExtraError(f"{kind} {name!r}", extra) from exc
