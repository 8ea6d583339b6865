"""Multi-tenancy: per-tenant tool visibility, a tenant's view of a shared toolbox, quotas and context values.

Each piece plugs into the one pipeline: `TenantAccess` is a toolbox policy (a visibility rule applied when a call
is resolved), `TenantView` a wrapper over a toolbox, `Quota` and `TenantContext` middleware. See docs/tenancy.md.

Example:
    >>> from armorer_ray import Toolbox, ToolCall
    >>> from armorer_ray.testing import mock_tool
    >>> box = Toolbox([mock_tool("search", tags=["public"])],
    ...               policy=TenantAccess({"acme": TenantGrant(tags={"public"})}))
    >>> [t.name for t in TenantView(box, "acme")], [t.name for t in TenantView(box, "globex")]
    (['search'], [])
"""

from armorer_ray.middleware.quota import Quota
from armorer_ray.middleware.tenant_context import TenantContext
from armorer_ray.tenancy.access import TenantAccess, TenantGrant, ToolPredicate
from armorer_ray.tenancy.view import TenantView

__all__ = ["Quota", "TenantAccess", "TenantContext", "TenantGrant", "TenantView", "ToolPredicate"]
