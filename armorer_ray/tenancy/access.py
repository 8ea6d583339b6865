"""`TenantAccess`: which tools each tenant may see and call, as a toolbox visibility rule.

Put it in a toolbox's ``policy=``. The toolbox then resolves each call only among the tools its tenant is
granted, so a call for another tenant's tool ends ``not_found`` exactly as a call for a tool that does not exist,
and `TenantView` lists only the granted tools. ``not_found`` rather than ``permission``: a permission error would
confirm that the tool exists, and its validation errors (validation runs before policies) would describe its
parameters; not-found tells a tenant nothing about tools it cannot use.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from pydantic import BaseModel, ConfigDict, PrivateAttr, field_validator

from armorer_ray.errors import ConfigError
from armorer_ray.identity import parse_tool_id
from armorer_ray.policy import CallerLike
from armorer_ray.tools import Tool

__all__ = ["TenantAccess", "TenantGrant", "ToolPredicate"]

ToolPredicate = Callable[[Tool], bool]
"""``(tool) -> bool``: a grant written as code."""


class TenantGrant(BaseModel):
    """The tools one tenant may use: any tool that matches one clause (an empty grant matches none).

    Attributes:
        tools: Tool ids; ``namespace:name`` grants every version, a bare name means the ``default`` namespace.
        namespaces: Every tool in these namespaces.
        tags: Every tool with at least one of these tags.

    Example:
        >>> from armorer_ray.testing import mock_tool
        >>> grant = TenantGrant(tools={"search"}, namespaces={"crm"})
        >>> grant.allows(mock_tool("search")), grant.allows(mock_tool("delete_user"))
        (True, False)
        >>> TenantGrant.model_validate_json(grant.model_dump_json()) == grant
        True
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    tools: frozenset[str] = frozenset()
    namespaces: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()
    # (namespace, name, version or None) of every id in ``tools``, parsed once: `allows` is a few set lookups
    # whatever the number of ids granted (it runs for every tool on every listing a tenant makes).
    _ids: frozenset[tuple[str, str, str | None]] = PrivateAttr(default=frozenset())

    def model_post_init(self, context: object, /) -> None:
        parsed = (parse_tool_id(item) for item in self.tools)
        self._ids = frozenset((i.namespace, i.name, i.version) for i in parsed)

    @field_validator("tools")
    @classmethod
    def _parsable(cls, value: frozenset[str]) -> frozenset[str]:
        for item in value:
            parse_tool_id(item)  # a blank id raises ConfigError, which pydantic reports as a validation error
        return value

    def allows(self, tool: Tool) -> bool:
        """Whether this grant covers ``tool``.

        Args:
            tool: The tool.

        Returns:
            True when the tool's namespace, one of its tags, or its id matches a clause.

        Example:
            >>> from armorer_ray.testing import mock_tool
            >>> TenantGrant(tags={"public"}).allows(mock_tool("faq", tags=["public"]))
            True
        """
        if tool.namespace in self.namespaces or not self.tags.isdisjoint(tool.tags):
            return True
        ids = self._ids
        return (tool.namespace, tool.name, None) in ids or (
            tool.version is not None and (tool.namespace, tool.name, tool.version) in ids)


Rule = TenantGrant | ToolPredicate


@dataclass(frozen=True)
class TenantAccess:
    """Per-tenant tool visibility: a toolbox policy whose ``visible`` hides every tool not granted to the caller.

    A tenant missing from ``grants`` sees only the ``shared`` tools. A call with no tenant is judged as
    ``default_tenant``; with the default (None) it sees nothing at all, so a call that forgot its tenant can never
    reach a tenant's tools. A predicate must return True to grant (a truthy non-bool does not); one that raises
    hides the tool (fail closed) rather than failing the lookup.

    Args:
        grants: Tenant id -> a `TenantGrant`, or a predicate ``(tool) -> bool``.
        shared: A grant every tenant has besides its own (None: no shared tools).
        default_tenant: The tenant calls without one are treated as (None: such calls see no tool).

    Raises:
        ConfigError: when a grant is neither a `TenantGrant` nor callable, or a tenant id is empty.

    Example:
        >>> from armorer_ray import Toolbox, ToolCall
        >>> from armorer_ray.testing import mock_tool
        >>> access = TenantAccess({"acme": TenantGrant(tags={"crm"}), "globex": lambda tool: tool.name == "billing"})
        >>> box = Toolbox([mock_tool("contacts", tags=["crm"]), mock_tool("billing")], policy=access)
        >>> box.execute_sync(ToolCall(name="contacts", tenant_id="acme")).outcome
        'success'
        >>> hidden = box.execute_sync(ToolCall(name="billing", tenant_id="acme"))
        >>> hidden.error.category, hidden.error.message
        ('not_found', 'Tool not found: billing. Available tools: contacts')
        >>> box.execute_sync(ToolCall(name="contacts")).error.category
        'not_found'
    """

    grants: Mapping[str, Rule]
    shared: Rule | None = None
    default_tenant: str | None = None

    def __post_init__(self) -> None:
        for tenant, rule in [*self.grants.items(), *([("(shared)", self.shared)] if self.shared else [])]:
            if not isinstance(tenant, str) or not tenant:
                raise ConfigError(f"TenantAccess tenant ids must be non-empty strings, got {tenant!r}")
            if not (isinstance(rule, TenantGrant) or callable(rule)):
                raise ConfigError(f"TenantAccess grant for {tenant!r} must be a TenantGrant or a (tool) -> bool "
                                  f"function, got {type(rule).__name__}")
        if self.default_tenant is not None and not self.default_tenant:
            raise ConfigError("TenantAccess default_tenant must be a non-empty string or None")
        # Copied: a caller mutating its dict later must not widen a running toolbox's grants.
        object.__setattr__(self, "grants", MappingProxyType(dict(self.grants)))

    def tenant_of(self, caller: CallerLike) -> str | None:
        """The tenant a caller is judged as: its own, else ``default_tenant``.

        Example:
            >>> from armorer_ray import Caller
            >>> TenantAccess({}, default_tenant="public").tenant_of(Caller())
            'public'
        """
        return caller.tenant_id or self.default_tenant

    def visibility_key(self, caller: CallerLike) -> str | None:
        """What this rule's answer depends on: the caller's tenant (callers of one tenant see the same tools).

        The toolbox caches, per key, the index of the tools a key sees, so resolving a name costs a few
        dictionary lookups whatever the number of tools and grants. A grant given as a predicate must therefore
        decide from the tool alone (as its ``(tool) -> bool`` signature already says).

        Example:
            >>> from armorer_ray import Caller
            >>> TenantAccess({}).visibility_key(Caller(tenant_id="acme", user_id="ada"))
            'acme'
        """
        return self.tenant_of(caller)

    def visible(self, tool: Tool, caller: CallerLike) -> bool:
        """The visibility rule: whether ``caller``'s tenant is granted ``tool``.

        Args:
            tool: A registered tool.
            caller: A `ToolCall` or `Caller`.

        Returns:
            True when the tenant's grant or the shared grant covers the tool.

        Example:
            >>> from armorer_ray import Caller
            >>> from armorer_ray.testing import mock_tool
            >>> access = TenantAccess({"acme": TenantGrant(tools={"search"})}, shared=TenantGrant(tags={"public"}))
            >>> faq = mock_tool("faq", tags=["public"])
            >>> access.visible(faq, Caller(tenant_id="acme")), access.visible(faq, Caller(tenant_id="unknown"))
            (True, True)
            >>> access.visible(mock_tool("search"), Caller(tenant_id="unknown")), access.visible(faq, Caller())
            (False, False)
        """
        tenant = self.tenant_of(caller)
        if tenant is None:
            return False
        own = self.grants.get(tenant)
        return (own is not None and _allows(own, tool)) or (self.shared is not None and _allows(self.shared, tool))


def _allows(rule: Rule, tool: Tool) -> bool:
    if isinstance(rule, TenantGrant):
        return rule.allows(tool)
    try:
        return rule(tool) is True
    except Exception:  # a failing predicate hides the tool: resolution must not raise, and must fail closed
        return False
