"""The versioned registry: several versions of each tool, version negotiation, aliases and argument migrations.

A `Registry` holds tool definitions by id (``namespace:name@version``), with aliases. `Registry.resolve` answers
what a caller asked for: an exact id, an alias, a name (the highest non-deprecated version), or a version
range (``search@^1``: the highest compatible non-deprecated version; see `armorer_ray.versions`).

A version may declare `Migration` steps that upgrade the arguments of calls written for older versions. A
toolbox made by `Registry.toolbox` applies them before validation: a call naming ``search@1.0.0`` after 1.0.0
was retired runs on the newest version reachable by migrations, with its arguments upgraded step by step, and
its result records ``migrated_from``. Deprecated versions still run when asked for exactly, with a
``deprecated`` event naming the replacement.

Example:
    >>> from armorer_ray import Lifecycle, tool
    >>> v1 = tool(name="search", version="1.0.0", description="Search.")(lambda q: f"v1:{q}")
    >>> v2 = tool(name="search", version="2.0.0", description="Search.")(lambda query, limit=5: f"v2:{query}")
    >>> registry = create_registry()
    >>> _ = registry.register(v2, migrations=[Migration("^1", lambda args: {"query": args.pop("q"), **args})])
    >>> registry.resolve("search").version, registry.resolve("search@^1") is None
    ('2.0.0', True)
    >>> box = registry.toolbox()
    >>> result = box.execute_sync({"name": "search@1.0.0", "arguments": {"q": "ray"}})
    >>> result.result, result.tool_id, result.migrated_from
    ('v2:ray', 'default:search@2.0.0', '1.0.0')
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from armorer_ray.errors import ConfigError
from armorer_ray.identity import ToolIdentity, compare_versions, format_tool_id, parse_tool_id
from armorer_ray.tools import Tool
from armorer_ray.versions import VersionRange, is_range, is_semver, parse_range

__all__ = ["Migration", "Registry", "Resolution", "VersionSelector", "create_registry", "deprecation_notice"]

VersionSelector = Callable[[Sequence[Tool]], "Tool | None"]
"""Picks one of several candidate versions (registration order); None means "none of them"."""

Upgrade = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Migration:
    """How the version it is registered with upgrades the arguments of calls written for older versions.

    Attributes:
        from_versions: The older versions it reads, as a version or range (``"1.0.0"``, ``"^1"``, ``"<2"``).
        upgrade: Old arguments (a fresh dict it may change) to new arguments.
        note: What changed, for logs and the ``migrated`` event.

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
        return _range(self.from_versions).contains(version)


def _range(text: str) -> VersionRange:
    return parse_range(text if is_range(text) else f"={text}")


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

    def migrate(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """Apply the steps to a copy of ``arguments``.

        Raises:
            ConfigError: when a step does not return a mapping.
        """
        current = dict(arguments)
        for version, step in self.steps:
            upgraded = step.upgrade(dict(current))
            if not isinstance(upgraded, Mapping):
                raise ConfigError(f"migration to {version} returned {type(upgraded).__name__}, not a mapping")
            current = dict(upgraded)
        return current


def deprecation_notice(tool: Tool) -> str | None:
    """The warning for a deprecated tool, naming its replacement; None when it is not deprecated.

    Example:
        >>> from armorer_ray import Lifecycle, tool
        >>> old = tool(name="find", description="Find.", version="1.0.0",
        ...            lifecycle=Lifecycle(deprecated=True, replaced_by="default:search@2.0.0"))(lambda q: q)
        >>> deprecation_notice(old)
        'tool default:find@1.0.0 is deprecated; use default:search@2.0.0 instead'
    """
    life = tool.lifecycle
    if life is None or not life.deprecated:
        return None
    notice = f"tool {tool.id} is deprecated"
    if life.replaced_by:
        notice += f"; use {life.replaced_by} instead"
    return notice + (f" ({life.message})" if life.message else "")


@dataclass(frozen=True, slots=True)
class _Entry:
    tool: Tool
    aliases: tuple[str, ...]
    migrations: tuple[Migration, ...]


class Registry:
    """Tool definitions by id, with aliases, version negotiation and migrations. See the module docstring.

    Args:
        version_selector: Picks among the candidate versions of a name (default: the highest when every candidate
            is semver, else the latest registered).
        max_alias_depth: Longest alias chain `resolve` follows.
    """

    def __init__(self, version_selector: VersionSelector | None = None, max_alias_depth: int = 10) -> None:
        if max_alias_depth < 1:
            raise ConfigError(f"max_alias_depth must be at least 1, got {max_alias_depth}")
        self._selector = version_selector
        self._max_depth = max_alias_depth
        self._entries: dict[str, _Entry] = {}
        self._aliases: dict[str, str] = {}

    # -- registration --------------------------------------------------------------------------------------

    def register(self, tool: Tool, *, aliases: Iterable[str] = (), override: bool = False,
                 migrations: Sequence[Migration] = ()) -> Registry:
        """Add one version of a tool.

        Args:
            tool: The definition.
            aliases: Other ids it answers to (an alias equal to its own id is ignored).
            override: Replace a tool with the same id (its aliases go with it) and take over aliases of others.
            migrations: How this version upgrades calls written for older ones.

        Raises:
            ConfigError: for a non-Tool, a duplicate id or an alias of another tool (without ``override``).
        """
        if not isinstance(tool, Tool):
            raise ConfigError(f"Registry.register() takes a Tool, got {type(tool).__name__}")
        tool_id = tool.id
        normalized = tuple(dict.fromkeys(a for a in (_normalize(alias) for alias in aliases) if a != tool_id))
        if tool_id in self._entries and not override:
            raise ConfigError(f"Tool already registered: {tool_id}")
        for alias in normalized:
            owner = self._aliases.get(alias)
            if owner is not None and owner != tool_id and not override:
                raise ConfigError(f"Alias already registered: {alias}")
        if tool_id in self._entries:
            self.unregister(tool_id)
        for migration in migrations:
            if not isinstance(migration, Migration):
                raise ConfigError(f"migrations must be Migration objects, got {type(migration).__name__}")
        self._entries[tool_id] = _Entry(tool, normalized, tuple(migrations))
        for alias in normalized:
            self._aliases[alias] = tool_id
        return self

    def alias(self, alias: str, target: str) -> Registry:
        """Make ``alias`` answer for ``target`` (an id, or another alias: chains are followed by `resolve`).

        Raises:
            ConfigError: when the alias is already taken.
        """
        key = _normalize(alias)
        if key in self._aliases or key in self._entries:
            raise ConfigError(f"Alias already registered: {key}")
        self._aliases[key] = _normalize(target)
        return self

    def unregister(self, ref: str | ToolIdentity) -> bool:
        """Remove one version (and its aliases); False when it was not registered.

        Raises:
            ConfigError: when ``ref`` has no version.
        """
        tool_id = _exact_id(ref)
        entry = self._entries.pop(tool_id, None)
        if entry is None:
            return False
        for alias in [a for a, owner in self._aliases.items() if owner == tool_id]:
            del self._aliases[alias]
        return True

    def get(self, ref: str | ToolIdentity) -> Tool | None:
        """The tool registered under exactly this versioned id, or None.

        Raises:
            ConfigError: when ``ref`` has no version.
        """
        entry = self._entries.get(_exact_id(ref))
        return entry.tool if entry else None

    # -- lookup ----------------------------------------------------------------------------------------------

    def tools(self) -> list[Tool]:
        """Every registered version, in registration order."""
        return [entry.tool for entry in self._entries.values()]

    def aliases(self, tool_id: str) -> tuple[str, ...]:
        """Aliases registered with a tool id."""
        entry = self._entries.get(tool_id)
        return entry.aliases if entry else ()

    def migrations(self, tool_id: str) -> tuple[Migration, ...]:
        """Migrations declared by one version."""
        entry = self._entries.get(tool_id)
        return entry.migrations if entry else ()

    def versions(self, name: str, namespace: str = "default") -> list[Tool]:
        """Every registered version of ``namespace:name``, lowest first (registration order for non-semver)."""
        found = [e.tool for e in self._entries.values() if e.tool.name == name and e.tool.namespace == namespace]
        if all(t.version and is_semver(t.version) for t in found):
            found.sort(key=_VersionKey)
        return found

    def resolve(self, ref: str | ToolIdentity, *, allow_deprecated: bool = False) -> Tool | None:
        """The version a reference names: exact id, alias, a range, or a name (see the module docstring).

        Args:
            ref: ``namespace:name@version``, ``name@^1``, a bare name, an alias, or a `ToolIdentity`.
            allow_deprecated: Let deprecated versions be chosen by name or range.

        Raises:
            ConfigError: for an alias cycle or a chain longer than ``max_alias_depth``.
        """
        identity = self._follow(ref)
        if identity.version is not None and not is_range(identity.version):
            entry = self._entries.get(identity.id)
            return entry.tool if entry else None
        wanted = parse_range(identity.version) if identity.version else None
        candidates = [t for t in self.versions(identity.name, identity.namespace)
                      if wanted is None or wanted.contains(t.version)]
        if not allow_deprecated:
            candidates = [t for t in candidates if not (t.lifecycle and t.lifecycle.deprecated)]
        return self._select(candidates)

    def negotiate(self, ref: str) -> Resolution | None:
        """How to serve a call naming ``ref``: the version to run, and the migrations its arguments need.

        A name or range gets the best non-deprecated match (a deprecated one only when nothing else matches);
        an exact version that is registered runs as is; an exact version that is not registered runs on the
        highest version that migrations reach from it. None when nothing fits.
        """
        identity = self._follow(ref)
        requested = identity.version
        found = self.resolve(identity) or self.resolve(identity, allow_deprecated=True)
        if found is not None:
            return Resolution(found, requested)
        if requested is None or is_range(requested):
            return None
        reachable = []
        for candidate in reversed(self.versions(identity.name, identity.namespace)):
            steps = self._path(requested, candidate)
            if steps:
                reachable.append((candidate, steps))
        current = [r for r in reachable if not (r[0].lifecycle and r[0].lifecycle.deprecated)] or reachable
        if not current:
            return None
        tool, steps = current[0]
        return Resolution(tool, requested, steps)

    def _path(self, start: str, target: Tool) -> tuple[tuple[str, Migration], ...] | None:
        if target.version is None or compare_versions(target.version, start) <= 0:
            return None
        later = [t for t in self.versions(target.name, target.namespace)
                 if t.version and compare_versions(t.version, start) > 0
                 and compare_versions(t.version, target.version) <= 0]
        steps: list[tuple[str, Migration]] = []
        current = start
        while current != target.version:
            step = next(((t.version, m) for t in later if t.version and compare_versions(t.version, current) > 0
                         for m in self.migrations(t.id) if m.accepts(current)), None)
            if step is None:
                return None
            steps.append(step)  # type: ignore[arg-type]
            current = step[0]  # type: ignore[assignment]
        return tuple(steps)

    def _follow(self, ref: str | ToolIdentity) -> ToolIdentity:
        key = _normalize(ref) if isinstance(ref, str) else ref.id
        seen: list[str] = []
        while key in self._aliases and key not in self._entries:
            if key in seen:
                raise ConfigError(f"Alias cycle detected at {key}")
            if len(seen) >= self._max_depth:
                raise ConfigError(f"Alias resolution exceeded max depth at {key}")
            seen.append(key)
            key = self._aliases[key]
        return ref if isinstance(ref, ToolIdentity) and not seen else _identity(key)

    def _select(self, candidates: list[Tool]) -> Tool | None:
        if not candidates:
            return None
        if self._selector is not None:
            return self._selector(candidates)
        if all(t.version and is_semver(t.version) for t in candidates):
            return max(candidates, key=_VersionKey)
        return candidates[-1]

    # -- export ----------------------------------------------------------------------------------------------

    def to_json(self) -> list[dict[str, Any]]:
        """Serialized definitions with sorted aliases and, for deprecated versions, the ``deprecation`` notice."""
        out = []
        for entry in self._entries.values():
            definition = entry.tool.to_json()
            definition["aliases"] = sorted(entry.aliases)
            notice = deprecation_notice(entry.tool)
            if notice:
                definition["deprecation"] = notice
            out.append(definition)
        return out

    def toolbox(self, **options: Any) -> Any:
        """A `armorer_ray.versioned.VersionedToolbox` over the versions registered now, with ``options`` of
        `Toolbox`; it negotiates versions and applies migrations before validation."""
        from armorer_ray.versioned import VersionedToolbox

        return VersionedToolbox(self, **options)


class _VersionKey:
    """Sort key ordering versions with `compare_versions`."""

    __slots__ = ("version",)

    def __init__(self, tool: Tool) -> None:
        self.version = tool.version or ""

    def __lt__(self, other: _VersionKey) -> bool:
        return compare_versions(self.version, other.version) < 0


def _identity(text: str) -> ToolIdentity:
    if ":" not in text and "@" in text:  # "name@^1": a bare name with a version or range
        name, _, version = text.rpartition("@")
        if name and (is_range(version) or is_semver(version)):
            return ToolIdentity(name=name, version=version)
    return parse_tool_id(text)


def _normalize(ref: str) -> str:
    if not isinstance(ref, str):
        raise ConfigError(f"a tool reference must be a string, got {type(ref).__name__}")
    identity = _identity(ref)
    return format_tool_id(identity) if identity.version is None or not is_range(identity.version) else (
        f"{format_tool_id(identity.model_copy(update={'version': None}))}@{identity.version}")


def _exact_id(ref: str | ToolIdentity) -> str:
    identity = ref if isinstance(ref, ToolIdentity) else _identity(ref)
    if identity.version is None:
        raise ConfigError("Tool identity must include a version for get/unregister")
    return format_tool_id(identity)


def create_registry(version_selector: VersionSelector | None = None, max_alias_depth: int = 10) -> Registry:
    """A new, empty `Registry` (Armorer's ``createRegistry``).

    Example:
        >>> from armorer_ray import tool
        >>> registry = create_registry()
        >>> for version in ("1.0.0", "1.4.0", "2.0.0-beta.1"):
        ...     _ = registry.register(tool(name="echo", version=version, description="Echo.")(lambda text: text))
        >>> registry.resolve("echo@^1").version, registry.resolve("default:echo").version
        ('1.4.0', '2.0.0-beta.1')
    """
    return Registry(version_selector, max_alias_depth)

