"""The versioned registry: several versions of each tool, version negotiation, aliases and argument migrations.

A `Registry` holds tool definitions by id (``namespace:name@version``), with aliases. `Registry.resolve` answers
what a caller asked for: an exact id, an alias, a name (the highest non-deprecated version), or a version
range (``search@^1``: the highest compatible non-deprecated version; see `armorer_ray.versions`).

A version may declare `Migration` steps (`armorer_ray.migrations`) that upgrade the arguments of calls written
for older versions. A toolbox made by `Registry.toolbox` serves the registry through a `Versioning` policy
(`armorer_ray.versioned`): a call naming ``search@1.0.0`` after 1.0.0 was retired runs on the newest version
reachable by migrations, its arguments upgraded step by step before validation, and its result records
``migrated_from``. Deprecated versions still run when asked for exactly, with a ``deprecated`` event naming the
replacement. The rules of negotiation are in `armorer_ray.negotiation`; this module keeps the registrations.

Example:
    >>> from armorer_ray import ToolLifecycle, tool
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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Unpack

from armorer_ray.errors import ConfigError
from armorer_ray.identity import ToolIdentity
from armorer_ray.migrations import Migration, Resolution
from armorer_ray.negotiation import (
    VersionSelector,
    deprecation_notice,
    exact_id,
    matching,
    negotiate,
    normalize_ref,
    ordered,
    parse_ref,
)
from armorer_ray.tools import Tool
from armorer_ray.versions import is_range

if TYPE_CHECKING:
    from armorer_ray.options import ToolboxOptions, ToolboxSettings
    from armorer_ray.versioned import VersionedToolbox

__all__ = ["Migration", "Registry", "Resolution", "VersionSelector", "create_registry", "deprecation_notice"]


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
        self._by_name: dict[tuple[str, str], list[Tool]] = {}  # versions of a name, lowest first; cleared on change

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
        normalized = tuple(dict.fromkeys(a for a in (normalize_ref(alias) for alias in aliases) if a != tool_id))
        if tool_id in self._entries and not override:
            raise ConfigError(f"Tool already registered: {tool_id}")
        for alias in normalized:
            owner = self._aliases.get(alias)
            if owner is not None and owner != tool_id and not override:
                raise ConfigError(f"Alias already registered: {alias}")
        for migration in migrations:
            if not isinstance(migration, Migration):
                raise ConfigError(f"migrations must be Migration objects, got {type(migration).__name__}")
        if tool_id in self._entries:
            self.unregister(tool_id)
        self._entries[tool_id] = _Entry(tool, normalized, tuple(migrations))
        self._by_name.clear()
        for alias in normalized:
            self._aliases[alias] = tool_id
        return self

    def alias(self, alias: str, target: str) -> Registry:
        """Make ``alias`` answer for ``target`` (an id, or another alias: chains are followed by `resolve`).

        Raises:
            ConfigError: when the alias is already taken.
        """
        key = normalize_ref(alias)
        if key in self._aliases or key in self._entries:
            raise ConfigError(f"Alias already registered: {key}")
        self._aliases[key] = normalize_ref(target)
        return self

    def unregister(self, ref: str | ToolIdentity) -> bool:
        """Remove one version (and its aliases); False when it was not registered.

        Raises:
            ConfigError: when ``ref`` has no version.
        """
        tool_id = exact_id(ref)
        entry = self._entries.pop(tool_id, None)
        if entry is None:
            return False
        self._by_name.clear()
        for alias in [a for a, owner in self._aliases.items() if owner == tool_id]:
            del self._aliases[alias]
        return True

    def get(self, ref: str | ToolIdentity) -> Tool | None:
        """The tool registered under exactly this versioned id, or None.

        Raises:
            ConfigError: when ``ref`` has no version.
        """
        entry = self._entries.get(exact_id(ref))
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
        return list(self._versions(name, namespace))

    def _versions(self, name: str, namespace: str) -> list[Tool]:
        # Every routed call negotiates: the versions of a name are sorted once per registry change, not per call.
        key = (namespace, name)
        found = self._by_name.get(key)
        if found is None:
            found = self._by_name[key] = ordered([e.tool for e in self._entries.values()
                                                  if e.tool.name == name and e.tool.namespace == namespace])
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
        return matching(identity, self._versions(identity.name, identity.namespace),
                        allow_deprecated=allow_deprecated, selector=self._selector)

    def negotiate(self, ref: str | ToolIdentity) -> Resolution | None:
        """How to serve a call naming ``ref``: the version to run, and the migrations its arguments need.

        A name or range gets the best non-deprecated match (a deprecated one only when nothing else matches);
        an exact version that is registered runs as is; an exact version that is not registered runs on the
        highest version that migrations reach from it. None when nothing fits.

        Raises:
            ConfigError: for a reference that is not a tool id, an alias cycle or a chain that is too long.
        """
        identity = self._follow(ref)
        return negotiate(identity, self._versions(identity.name, identity.namespace), self.migrations,
                         self._selector)

    def _follow(self, ref: str | ToolIdentity) -> ToolIdentity:
        key = normalize_ref(ref) if isinstance(ref, str) else ref.id
        seen: list[str] = []
        while key in self._aliases and key not in self._entries:
            if key in seen:
                raise ConfigError(f"Alias cycle detected at {key}")
            if len(seen) >= self._max_depth:
                raise ConfigError(f"Alias resolution exceeded max depth at {key}")
            seen.append(key)
            key = self._aliases[key]
        return ref if isinstance(ref, ToolIdentity) and not seen else parse_ref(key)

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

    def toolbox(self, options: ToolboxOptions | None = None, **settings: Unpack[ToolboxSettings]) -> VersionedToolbox:
        """A `armorer_ray.versioned.VersionedToolbox` over the versions registered now, with ``options`` of
        `Toolbox`; a `armorer_ray.versioned.Versioning` policy negotiates versions and migrates calls in it and
        in every toolbox made from its options (``extend``, deployments, workflow workers)."""
        from armorer_ray.versioned import VersionedToolbox

        return VersionedToolbox(self, options, **settings)


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
