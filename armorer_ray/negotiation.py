"""Version negotiation: what a caller's reference means and which registered version serves it.

A reference is an exact id (``namespace:name@1.2.0``), a name (``search``, ``ops:search``) or a name with a
range (``search@^1``, see `armorer_ray.versions`). `negotiate` answers with a `Resolution`:

* a name or range: the best non-deprecated match (highest version when every candidate is semver, else the
  latest registered, or what a `VersionSelector` picks), a deprecated one only when nothing else matches;
* an exact version that is registered: that version, as is;
* an exact version that is not registered: the highest version whose declared migrations reach it (preferring
  versions that are not deprecated), with the steps that upgrade the call's arguments.

Example:
    >>> from armorer_ray import tool
    >>> v1 = tool(name="echo", version="1.0.0", description="Echo.")(lambda text: text)
    >>> v1_4 = v1.replace(version="1.4.0")
    >>> negotiate(parse_ref("echo@^1"), [v1, v1_4], lambda tool_id: ()).tool.version
    '1.4.0'
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from armorer_ray.errors import ConfigError
from armorer_ray.identity import ToolIdentity, compare_versions, format_tool_id, parse_tool_id
from armorer_ray.migrations import Migration, Resolution, migration_path
from armorer_ray.tools import Tool
from armorer_ray.versions import is_range, is_semver, parse_range

__all__ = ["VersionKey", "VersionSelector", "deprecation_notice", "exact_id", "is_deprecated", "matching",
           "negotiate", "normalize_ref", "ordered", "parse_ref", "select_version"]

VersionSelector = Callable[[Sequence[Tool]], "Tool | None"]
"""Picks one of several candidate versions (registration order); None means "none of them"."""


def parse_ref(text: str) -> ToolIdentity:
    """A reference as an identity; ``name@^1`` (a bare name with a version or range) is read too.

    Raises:
        ConfigError: for a reference that is not a string or not a tool id.

    Example:
        >>> parse_ref("search@^1").version, parse_ref("ops:search@1.0.0").namespace
        ('^1', 'ops')
    """
    if not isinstance(text, str):
        raise ConfigError(f"a tool reference must be a string, got {type(text).__name__}")
    if ":" not in text and "@" in text:
        name, _, version = text.rpartition("@")
        if name and (is_range(version) or is_semver(version)):
            return ToolIdentity(name=name, version=version)
    return parse_tool_id(text)


def normalize_ref(text: str) -> str:
    """A reference in its canonical spelling (``search@^1`` → ``default:search@^1``), so equal ones compare equal.

    Example:
        >>> normalize_ref("search@^1"), normalize_ref("search")
        ('default:search@^1', 'default:search')
    """
    identity = parse_ref(text)
    if identity.version is None or not is_range(identity.version):
        return format_tool_id(identity)
    return f"{format_tool_id(identity.model_copy(update={'version': None}))}@{identity.version}"


def exact_id(ref: str | ToolIdentity) -> str:
    """The id of a reference that names one version.

    Raises:
        ConfigError: when ``ref`` names no version.
    """
    identity = ref if isinstance(ref, ToolIdentity) else parse_ref(ref)
    if identity.version is None:
        raise ConfigError("Tool identity must include a version for get/unregister")
    return format_tool_id(identity)


def is_deprecated(tool: Tool) -> bool:
    """Whether the tool's lifecycle marks it deprecated."""
    return tool.lifecycle is not None and tool.lifecycle.deprecated


def deprecation_notice(tool: Tool) -> str | None:
    """The warning for a deprecated tool, naming its replacement; None when it is not deprecated.

    Example:
        >>> from armorer_ray import ToolLifecycle, tool
        >>> old = tool(name="find", description="Find.", version="1.0.0",
        ...            lifecycle=ToolLifecycle(deprecated=True, replaced_by="default:search@2.0.0"))(lambda q: q)
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


class VersionKey:
    """Sort key ordering tools by version with `compare_versions`."""

    __slots__ = ("version",)

    def __init__(self, tool: Tool) -> None:
        self.version = tool.version or ""

    def __lt__(self, other: VersionKey) -> bool:
        return compare_versions(self.version, other.version) < 0


def _all_semver(tools: Sequence[Tool]) -> bool:
    return all(t.version and is_semver(t.version) for t in tools)


def ordered(tools: Sequence[Tool]) -> list[Tool]:
    """The versions lowest first when every one is semver, else in the order given (registration order)."""
    return sorted(tools, key=VersionKey) if _all_semver(tools) else list(tools)


def select_version(candidates: Sequence[Tool], selector: VersionSelector | None = None) -> Tool | None:
    """The candidate a name or range gets: ``selector``'s pick, else the highest semver, else the last given."""
    if not candidates:
        return None
    if selector is not None:
        return selector(candidates)
    if _all_semver(candidates):
        return max(candidates, key=VersionKey)
    return candidates[-1]


def matching(identity: ToolIdentity, versions: Sequence[Tool], *, allow_deprecated: bool = False,
             selector: VersionSelector | None = None) -> Tool | None:
    """The version a name or range (``identity.version`` None or a range) selects among ``versions``."""
    wanted = parse_range(identity.version) if identity.version else None
    candidates = [t for t in versions if wanted is None or wanted.contains(t.version)]
    if not allow_deprecated:
        candidates = [t for t in candidates if not is_deprecated(t)]
    return select_version(candidates, selector)


def negotiate(identity: ToolIdentity, versions: Sequence[Tool], migrations_of: Callable[[str], Sequence[Migration]],
              selector: VersionSelector | None = None) -> Resolution | None:
    """How to serve a call naming ``identity`` (see the module docstring); None when nothing fits.

    Args:
        identity: What the call names (aliases already followed).
        versions: Every registered version of that tool, lowest first.
        migrations_of: The migrations a version (by tool id) declares.
        selector: Picks among candidate versions of a name or range.
    """
    requested = identity.version
    if requested is not None and not is_range(requested):
        found = next((t for t in versions if t.id == format_tool_id(identity)), None)
        if found is not None:
            return Resolution(found, requested)
    else:
        found = (matching(identity, versions, selector=selector)
                 or matching(identity, versions, allow_deprecated=True, selector=selector))
        return Resolution(found, requested) if found is not None else None
    reachable = []
    for candidate in reversed(versions):
        steps = migration_path(requested, candidate, versions, migrations_of)
        if steps:
            reachable.append((candidate, steps))
    current = [r for r in reachable if not is_deprecated(r[0])] or reachable
    if not current:
        return None
    tool, steps = current[0]
    return Resolution(tool, requested, steps)
