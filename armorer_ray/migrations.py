"""Argument migrations: how a tool version upgrades calls written for the versions before it.

A version declares `Migration` steps (``Registry.register(tool, migrations=[...])``). A call written for a
version that is no longer served is upgraded along a *path*: from the version it names, the next registered
version whose migrations read it, then the next, until the version that runs. `Resolution` is the outcome of
negotiation (`armorer_ray.negotiation`): the version that runs, the version asked for, and the path's steps.

Example:
    >>> from armorer_ray import tool
    >>> v2 = tool(name="search", version="2.0.0", description="Search.")(lambda query: query)
    >>> step = Migration("^1", lambda args: {"query": args.pop("q"), **args}, note="q renamed to query")
    >>> Resolution(v2, "1.0.0", (("2.0.0", step),)).migrate({"q": "ray", "limit": 3})
    {'query': 'ray', 'limit': 3}
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from armorer_ray.errors import ConfigError
from armorer_ray.identity import compare_versions
from armorer_ray.tools import Tool
from armorer_ray.versions import is_range, parse_range

__all__ = ["Migration", "Resolution", "Upgrade", "migration_path"]

Upgrade = Callable[[dict[str, Any]], dict[str, Any]]
"""Old arguments (a fresh dict it may change) to new arguments."""


@dataclass(frozen=True, slots=True)
class Migration:
    """How the version it is registered with upgrades the arguments of calls written for older versions.

    Attributes:
        from_versions: The older versions it reads, as a version or range (``"1.0.0"``, ``"^1"``, ``"<2"``).
        upgrade: Old arguments (a fresh dict it may change) to new arguments.
        note: What changed, for logs and the ``migrated`` event.

    Raises:
        ConfigError: for an ``upgrade`` that is not callable or a ``from_versions`` that is not a version or range.

    Example:
        >>> Migration("^1", lambda args: {"query": args["q"]}, note="q renamed to query").accepts("1.4.0")
        True
    """

    from_versions: str
    upgrade: Upgrade
    note: str = ""

    def __post_init__(self) -> None:
        if not callable(self.upgrade):
            raise ConfigError(f"Migration.upgrade must be callable, got {type(self.upgrade).__name__}")
        parse_range(self.from_versions)  # fail at declaration, not at the first old call

    def accepts(self, version: str) -> bool:
        """Whether this migration reads calls written for ``version``."""
        text = self.from_versions
        return parse_range(text if is_range(text) else f"={text}").contains(version)


@dataclass(frozen=True, slots=True)
class Resolution:
    """What a reference resolved to, and how to get a call written for it there.

    Attributes:
        tool: The version that will run.
        requested: The version the caller named (a version or range), None when it named none.
        steps: Migrations to apply in order, each with the version it upgrades to; empty when none are needed.
    """

    tool: Tool
    requested: str | None
    steps: tuple[tuple[str, Migration], ...] = ()

    @property
    def notes(self) -> list[str]:
        """The notes of the steps that have one, in order."""
        return [step.note for _, step in self.steps if step.note]

    def migrate(self, arguments: object) -> dict[str, Any]:
        """Apply the steps to a copy of ``arguments`` (a mapping, or JSON text of an object).

        Raises:
            ConfigError: when the arguments are not an object, or a step does not return a mapping; whatever a
                step raises.
        """
        if isinstance(arguments, str | bytes):
            try:
                arguments = json.loads(arguments)
            except ValueError as exc:
                raise ConfigError(f"arguments are not valid JSON: {exc}") from None
        if not isinstance(arguments, Mapping):
            raise ConfigError(f"arguments must be an object, got {type(arguments).__name__}")
        current = dict(arguments)
        for version, step in self.steps:
            upgraded = step.upgrade(dict(current))
            if not isinstance(upgraded, Mapping):
                raise ConfigError(f"migration to {version} returned {type(upgraded).__name__}, not a mapping")
            current = dict(upgraded)
        return current


def migration_path(start: str, target: Tool, versions: Sequence[Tool],
                   migrations_of: Callable[[str], Sequence[Migration]]) -> tuple[tuple[str, Migration], ...] | None:
    """The steps upgrading a call written for ``start`` to ``target``, or None when migrations do not reach it.

    Each step goes to the lowest later version with a migration that reads the current version.

    Args:
        start: The version the call was written for.
        target: The version to reach (it must be later than ``start``).
        versions: The registered versions of the tool, lowest first.
        migrations_of: The migrations a version (by tool id) declares.

    Example:
        >>> from armorer_ray import tool
        >>> v2 = tool(name="t", version="2.0.0", description="T.")(lambda x: x)
        >>> v3 = v2.replace(version="3.0.0")
        >>> steps = {v2.id: [Migration("^1", lambda a: a)], v3.id: [Migration("^2", lambda a: a)]}
        >>> [version for version, _ in migration_path("1.2.0", v3, [v2, v3], lambda i: steps.get(i, []))]
        ['2.0.0', '3.0.0']
    """
    if target.version is None or compare_versions(target.version, start) <= 0:
        return None
    later = [t for t in versions if t.version and compare_versions(t.version, start) > 0
             and compare_versions(t.version, target.version) <= 0]
    steps: list[tuple[str, Migration]] = []
    current = start
    while current != target.version:
        step = next(((t.version, m) for t in later if t.version and compare_versions(t.version, current) > 0
                     for m in migrations_of(t.id) if m.accepts(current)), None)
        if step is None:
            return None
        steps.append(step)
        current = step[0]
    return tuple(steps)
