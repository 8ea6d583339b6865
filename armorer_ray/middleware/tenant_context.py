"""`TenantContext`: context values that only one tenant's calls see, such as its API keys."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from armorer_ray.errors import ConfigError
from armorer_ray.results import ToolCall, ToolResult

if TYPE_CHECKING:
    from armorer_ray.context import CallContext
    from armorer_ray.middleware.base import Next

__all__ = ["TenantContext"]


class TenantContext:
    """Merge a tenant's own values over the toolbox context, for that tenant's calls only.

    Keep tenant secrets here rather than in ``Toolbox(context=...)``, which every call sees: a call's
    ``ctx.values`` becomes the toolbox (and tool) context with its tenant's values on top, so tenant A's key
    is never in tenant B's context, and a call with no tenant, or a tenant not listed, sees none. The values
    are copied at construction and read-only. Layers outside this one, and policies, still see the shared context:
    put it first in the toolbox's middleware, so every other layer and the body see the tenant's values.

    Args:
        values: Tenant id -> the context values its calls get.

    Raises:
        ConfigError: when a tenant id is empty or its values are not a mapping.

    Example:
        >>> from armorer_ray import CallContext, Toolbox, ToolCall, tool
        >>> @tool
        ... def whose_key(ctx: CallContext) -> str:
        ...     "Say which API key the call would use."
        ...     return f"{ctx['region']}:{ctx.get('api_key', 'none')}"
        >>> box = Toolbox([whose_key], context={"region": "eu"},
        ...               middleware=[TenantContext({"acme": {"api_key": "sk-acme"}, "globex": {"api_key": "sk-glx"}})])
        >>> [box.execute_sync(ToolCall(name="whose_key", tenant_id=t)).result for t in ("acme", "globex", None)]
        ['eu:sk-acme', 'eu:sk-glx', 'eu:none']
    """

    __slots__ = ("values",)

    def __init__(self, values: Mapping[str, Mapping[str, Any]]) -> None:
        copied: dict[str, Mapping[str, Any]] = {}
        for tenant, own in values.items():
            if not isinstance(tenant, str) or not tenant:
                raise ConfigError(f"TenantContext tenant ids must be non-empty strings, got {tenant!r}")
            if not isinstance(own, Mapping):
                raise ConfigError(f"TenantContext values for {tenant!r} must be a mapping, got {type(own).__name__}")
            copied[tenant] = MappingProxyType(dict(own))
        self.values: Mapping[str, Mapping[str, Any]] = MappingProxyType(copied)

    async def __call__(self, call: ToolCall, ctx: CallContext, next: Next) -> ToolResult:
        """Run the inner layers with the call's tenant values merged into ``ctx.values``.

        Args:
            call: The call.
            ctx: Its context; ``ctx.values`` is replaced for this call only (each call has its own context).
            next: The inner layers.

        Returns:
            The inner result.
        """
        own = self.values.get(call.tenant_id) if call.tenant_id is not None else None
        if own:
            ctx.values = MappingProxyType({**ctx.values, **own})
        return await next(call, ctx)
