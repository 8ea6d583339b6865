"""Importing optional dependencies on first use, with an error that names the extra to install."""

from __future__ import annotations

import importlib

from armorer_ray.errors import MissingExtraError


def require(module: str, what: str, extra: str) -> None:
    """Import ``module`` or raise `MissingExtraError` naming the extra that installs it.

    Args:
        module: The top-level module of the optional dependency, such as ``lancedb``.
        what: The feature that needs it, for the message, such as ``vector store 'lancedb'``.
        extra: The armorer-ray extra that installs it.

    Raises:
        MissingExtraError: If the import fails.

    Example:
        >>> require("json", "nothing", "none")
        >>> require("no_such_module_here", "vector store 'ghost'", "ghost")
        Traceback (most recent call last):
        ...
        armorer_ray.errors.MissingExtraError: vector store 'ghost' needs ...: pip install 'armorer-ray[ghost]'
    """
    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(what, extra) from exc
