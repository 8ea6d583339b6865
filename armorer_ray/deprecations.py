"""Renamed and moved public names: the table `armorer migrate` rewrites code with, and warnings that name the fix.

Each `Moved` entry says where a public name used to be and where it is now. Modules that lost a name keep it
reachable for a while through `moved_names`, which warns (``DeprecationWarning``) with the new import and the
command that rewrites a whole project.

Example:
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     from armorer_ray.telemetry.analytics import CostFunction
    >>> message = str(caught[0].message)
    >>> message.startswith("armorer_ray.telemetry.analytics.CostFunction is deprecated")
    True
    >>> "`from armorer_ray.telemetry.analytics import ResultCost`" in message, "armorer migrate" in message
    (True, True)
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["MOVED", "Moved", "available_moves", "moved_names"]


@dataclass(frozen=True, slots=True)
class Moved:
    """A public name that moved or was renamed.

    Attributes:
        old_module: Where it was imported from.
        old_name: Its old name.
        new_module: Where to import it from now.
        new_name: Its name now.
        why: One line on the change, for the migration report.
    """

    old_module: str
    old_name: str
    new_module: str
    new_name: str
    why: str = ""

    @property
    def fix(self) -> str:
        """The import to write instead."""
        return f"from {self.new_module} import {self.new_name}"


MOVED: tuple[Moved, ...] = (
    Moved("armorer_ray.telemetry.analytics", "CostFunction", "armorer_ray.telemetry.analytics", "ResultCost",
          "the analytics cost type, renamed so it is not confused with the Quota's CostFunction"),
    Moved("armorer_ray.telemetry", "CostFunction", "armorer_ray.telemetry", "ResultCost",
          "the analytics cost type, renamed so it is not confused with the Quota's CostFunction"),
    Moved("armorer_ray.pipeline", "PausedCall", "armorer_ray.paused", "PausedCall",
          "paused calls have their own module since the pipeline is compiled from options"),
    Moved("armorer_ray.tools", "Lifecycle", "armorer_ray.tools", "ToolLifecycle",
          "a tool's deprecation state, renamed apart from the lifecycle.Lifecycle protocol (start/drain/stop)"),
    Moved("armorer_ray", "Lifecycle", "armorer_ray", "ToolLifecycle",
          "a tool's deprecation state, renamed apart from the lifecycle.Lifecycle protocol (start/drain/stop)"),
)
"""Every rename `armorer migrate` knows, oldest first."""


def available_moves() -> tuple[Moved, ...]:
    """The entries of `MOVED` whose new name exists in this installation: a rename is offered only once the code
    it points to is there, so running `armorer migrate` early never breaks an import."""
    found = []
    for entry in MOVED:
        try:
            module = importlib.import_module(entry.new_module)
        except ImportError:
            continue
        if entry.new_name in vars(module) or entry.new_name in getattr(module, "__all__", ()):
            found.append(entry)
    return tuple(found)


def moved_names(module: str) -> Callable[[str], object]:
    """A module ``__getattr__`` that serves the names `MOVED` lists for ``module``, with a warning naming the fix.

    Args:
        module: The module's ``__name__``.

    Returns:
        The function to assign to the module's ``__getattr__``; it raises `AttributeError` for any other name.
    """
    table = {entry.old_name: entry for entry in MOVED if entry.old_module == module}

    def __getattr__(name: str) -> object:
        entry = table.get(name)
        if entry is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        warnings.warn(f"{module}.{name} is deprecated: use `{entry.fix}` "
                      "(`armorer migrate PATH --write` rewrites a project)", DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(entry.new_module), entry.new_name)

    return __getattr__
