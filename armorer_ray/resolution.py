"""Name resolution: every way a call can name a tool, as dictionaries, per set of tools a caller may see.

A `NameIndex` answers "which tool does this name mean?" with a few dictionary lookups, whatever the number of
tools or of grants, and lists the names a caller may see. `Resolver` keeps one index over every tool and, when
the toolbox has visibility rules (`armorer_ray.tenancy.TenantAccess`...), one index per *visibility key*: rules
that declare ``visibility_key(caller)`` promise that callers with equal keys see the same tools, so the index of
the tools a tenant sees is built once per registry change and reused by every call, listing and export.

Why per-caller indexes rather than "find, then check visibility": a hidden name and a missing name then take the
same path (a dictionary miss in the caller's index), so neither the answer nor, beyond noise, its timing tells a
caller that a hidden tool exists; and the not-found listing costs nothing per miss.

Rules without a ``visibility_key`` are still honoured: the tool found is checked against them, and a miss
lists the visible tools by scanning (O(tools) per miss, as before this module existed).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import TYPE_CHECKING

from armorer_ray.errors import ConfigError
from armorer_ray.identity import compare_versions, parse_tool_id

if TYPE_CHECKING:
    from armorer_ray.policy import CallerLike
    from armorer_ray.tools import Tool

__all__ = ["MAX_CACHED_VIEWS", "NameIndex", "Resolver"]

MAX_CACHED_VIEWS = 1024
"""Per-key indexes kept (least recently used dropped past this): one per tenant actively calling."""

_LISTED = 20  # names a not-found error lists


class NameIndex:
    """The tools one caller may see, indexed by id, alias, bare name and ``namespace:name``.

    Args:
        order: Tool ids in registration order.
        tools: Id -> tool, for every registered tool.
        by_name: Bare name -> ids in the order a bare name prefers (the last one wins).
        aliases: Alias -> id.
        shown: Which tools to index (None: all).

    Example:
        >>> from armorer_ray.testing import mock_tool
        >>> a, b = mock_tool("a"), mock_tool("b")
        >>> index = NameIndex([a.id, b.id], {a.id: a, b.id: b}, {"a": [a.id], "b": [b.id]}, {"first": a.id},
        ...                   shown=lambda tool: tool.name != "b")
        >>> index.get("first").name, index.get("default:a").name, index.get("b"), index.listing
        ('a', 'a', None, 'a')
    """

    __slots__ = ("_by_id", "_by_name", "_by_namespace", "ambiguous", "listing", "tools")

    def __init__(self, order: Sequence[str], tools: Mapping[str, Tool], by_name: Mapping[str, Sequence[str]],
                 aliases: Mapping[str, str], shown: Callable[[Tool], bool] | None = None) -> None:
        visible = {tool_id: tools[tool_id] for tool_id in order if shown is None or shown(tools[tool_id])}
        self.tools: tuple[Tool, ...] = tuple(visible.values())
        by_id: dict[str, Tool] = dict(visible)
        for alias, owner in aliases.items():
            if owner in visible:
                by_id.setdefault(alias, visible[owner])  # an id always wins over an alias spelled the same
        self._by_id = by_id
        self._by_name: dict[str, Tool] = {}
        # A bare name tools of several namespaces share is ambiguous: it resolves to none of them (issue 17).
        self.ambiguous: dict[str, tuple[str, ...]] = {}
        grouped: dict[tuple[str, str], list[Tool]] = {}
        for name, ids in by_name.items():
            mine = [visible[i] for i in ids if i in visible]
            if mine:
                if len({tool.namespace for tool in mine}) > 1:
                    self.ambiguous[name] = tuple(sorted(tool.id for tool in mine))
                else:
                    self._by_name[name] = mine[-1]
                for tool in mine:
                    grouped.setdefault((tool.namespace, tool.name), []).append(tool)
        self._by_namespace = {key: _best(candidates) for key, candidates in grouped.items()}
        self.listing = ", ".join(sorted({*self._by_name, *self.ambiguous})[:_LISTED])

    def get(self, name_or_id: str) -> Tool | None:
        """The tool ``name_or_id`` means among the indexed tools, or None.

        Order: an exact id, an alias, a bare name (the latest registered; none when tools of several namespaces
        share it), ``namespace:name`` (the highest version, preferring versions not deprecated).
        """
        found = self._by_id.get(name_or_id) or self._by_name.get(name_or_id)
        if found is not None or ":" not in name_or_id:
            return found
        try:
            identity = parse_tool_id(name_or_id)  # O(len(name)): percent-decoding, never a scan of the tools
        except ConfigError:
            return None
        if identity.version is not None:
            return None
        return self._by_namespace.get((identity.namespace, identity.name))

    def __len__(self) -> int:
        return len(self.tools)


def _best(candidates: list[Tool]) -> Tool:
    # A version-less id prefers versions that are not deprecated, like a package resolver; ties: the later one.
    current = [t for t in candidates if not (t.lifecycle and t.lifecycle.deprecated)] or candidates
    best = current[0]
    for candidate in current[1:]:
        if compare_versions(candidate.version or "", best.version or "") >= 0:
            best = candidate
    return best


VisibilityRule = Callable[["Tool", "CallerLike"], bool]


class Resolver:
    """The indexes of one registry: all tools, and the tools each visibility key shows.

    Args:
        rules: The toolbox's visibility rules (bound ``visible`` methods).
        max_views: Per-key indexes kept.
    """

    __slots__ = ("_all", "_keys", "_rules", "_source", "_views", "max_views", "version")

    def __init__(self, rules: Sequence[VisibilityRule], max_views: int = MAX_CACHED_VIEWS) -> None:
        self._rules = tuple(rules)
        owners = [getattr(rule, "__self__", None) for rule in self._rules]
        keyers = [getattr(owner, "visibility_key", None) for owner in owners]
        # Cached per key only when every rule promises equal keys see equal tools.
        self._keys: tuple[Callable[[CallerLike], Hashable], ...] | None = (
            tuple(k for k in keyers if callable(k)) if all(callable(k) for k in keyers) else None)
        self._views: OrderedDict[tuple[Hashable, ...], NameIndex] = OrderedDict()
        self._all: NameIndex | None = None
        self.version = -1  # the registry version the indexes describe
        self._source: tuple[Sequence[str], Mapping[str, Tool], Mapping[str, Sequence[str]],
                            Mapping[str, str]] | None = None
        self.max_views = max_views

    def refresh(self, version: int, order: Sequence[str], tools: Mapping[str, Tool],
                by_name: Mapping[str, Sequence[str]], aliases: Mapping[str, str]) -> None:
        """Point at the registry as of ``version`` (copies the caller made); older indexes are dropped."""
        self.version = version
        self._source = (order, tools, by_name, aliases)
        self._all = None
        self._views.clear()

    def visible(self, tool: Tool, caller: CallerLike) -> bool:
        """Whether every rule shows ``tool`` to ``caller``."""
        return all(rule(tool, caller) for rule in self._rules)

    def index(self, caller: CallerLike | None = None) -> NameIndex | None:
        """The index of what ``caller`` sees (None caller: every tool), or None when it cannot be cached."""
        if caller is None or not self._rules:
            if self._all is None:
                self._all = self._build(None)
            return self._all
        if self._keys is None:
            return None
        key = tuple(keyer(caller) for keyer in self._keys)
        found = self._views.get(key)
        if found is None:
            found = self._views[key] = self._build(lambda tool: self.visible(tool, caller))
            while len(self._views) > self.max_views:
                self._views.popitem(last=False)
        else:
            self._views.move_to_end(key)
        return found

    def resolve(self, name_or_id: str, caller: CallerLike | None = None) -> Tool | None:
        """The tool a call by ``caller`` naming ``name_or_id`` reaches, or None (missing or hidden alike)."""
        index = self.index(caller)
        if index is not None:
            return index.get(name_or_id)
        assert caller is not None
        found = self.index(None).get(name_or_id)  # type: ignore[union-attr]  # the unfiltered index always exists
        if found is not None and self.visible(found, caller):
            return found
        # Rules without keys: the bare name or namespace:name may still mean a visible, older tool.
        return self._build(lambda tool: self.visible(tool, caller)).get(name_or_id)

    def sharing(self, name: str, caller: CallerLike | None = None) -> tuple[str, ...]:
        """The ids of the tools ``caller`` sees that share the ambiguous bare ``name`` (empty if it is not)."""
        index = self.index(caller)
        if index is None:
            index = self._build(lambda tool: self.visible(tool, caller))  # type: ignore[arg-type]  # caller was checked not None above
        return index.ambiguous.get(name, ())

    def tools(self, caller: CallerLike | None = None) -> tuple[Tool, ...]:
        """The tools ``caller`` sees, in registration order."""
        index = self.index(caller)
        if index is None:
            return tuple(t for t in self.index(None).tools if self.visible(t, caller))  # type: ignore[union-attr,arg-type]  # the unfiltered index always exists
        return index.tools

    def listing(self, caller: CallerLike | None = None) -> str:
        """The first names ``caller`` sees, sorted, comma-separated (for not-found errors)."""
        index = self.index(caller)
        if index is not None:
            return index.listing
        return ", ".join(sorted({t.name for t in self.tools(caller)})[:_LISTED])

    def _build(self, shown: Callable[[Tool], bool] | None) -> NameIndex:
        assert self._source is not None, "Resolver.refresh() must run before the first lookup"
        return NameIndex(*self._source, shown=shown)
