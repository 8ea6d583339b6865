"""Targets: ``module:attribute`` strings naming a toolbox (or a workflow) to load, as the CLI and Serve take them.

Here rather than in `armorer_ray.cli` so that Serve's application builder and the ``armorer serve`` command
load targets without importing the CLI, which imports them (cli -> serve.command -> targets, no cycle).
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

from armorer_ray.errors import ConfigError
from armorer_ray.toolbox import Toolbox
from armorer_ray.tools import Tool

__all__ = ["import_target", "load_toolbox"]


def import_target(target: str, kinds: tuple[type, ...]) -> Any:
    """Import ``module:attribute`` (the current directory is importable); a callable that is not one of
    ``kinds`` is a factory, called with no arguments.

    Raises:
        ConfigError: for a malformed target, a failed import, or a factory that fails.
    """
    module_name, sep, attribute = target.partition(":")
    if not sep or not module_name or not attribute:
        raise ConfigError(f"target must look like module:attribute, got {target!r}")
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        value: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            value = getattr(value, part)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"cannot import {target!r}: {exc}") from exc
    if callable(value) and not isinstance(value, kinds):
        try:
            value = value()
        except Exception as exc:  # a factory that needs arguments, or fails: say which target
            raise ConfigError(f"{target!r} is callable but calling it with no arguments failed: {exc}") from exc
    return value


def load_toolbox(target: str) -> Toolbox:
    """Import ``module:attribute`` and turn it into a toolbox.

    Raises:
        ConfigError: when the target cannot be imported or is not a toolbox, tool or list of tools.
    """
    value = import_target(target, (Tool, Toolbox))
    if isinstance(value, Toolbox):
        return value
    if isinstance(value, Tool):
        return Toolbox([value])
    if isinstance(value, list | tuple) and all(isinstance(item, Tool) for item in value):
        return Toolbox(value)
    raise ConfigError(f"{target!r} is a {type(value).__name__}, not a Toolbox, Tool or list of tools")
