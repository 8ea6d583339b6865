"""`PolicyContextProvider`: compute values once per call for the policies after it (reference §8 ``policyContext``).

A provider is a policy that decides nothing: its function receives the `PolicyContext` and returns a mapping (or
None), shallow-merged into ``ctx.policy_context``, which the policies after it read. Put providers first: toolbox
policies run before tool policies, so a toolbox provider's keys come first and a tool provider's win on a clash,
as Armorer merges ``policyContext``. On a failed call the provider runs again before the after-hooks, on the
arguments as sent (validation may have failed), so they see it too.

Example:
    >>> from armorer_ray import Decision, Toolbox, tool
    >>> budgets = {"ada": 100}
    >>> provider = PolicyContextProvider(lambda ctx: {"budget": budgets.get(ctx.call.user_id, 0)})
    >>> def limit(ctx):
    ...     return None if ctx.params["amount"] <= ctx.policy_context["budget"] else Decision.deny("over budget")
    >>> spend = tool(name="spend", description="Spend.", mutates=True)(lambda amount: amount)
    >>> box = Toolbox([spend], policy=[provider, limit])
    >>> box.execute_sync({"name": "spend", "arguments": {"amount": 50}, "user_id": "ada"}).result
    50
    >>> box.execute_sync({"name": "spend", "arguments": {"amount": 50}, "user_id": "bob"}).error.message
    'over budget'
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from armorer_ray.errors import ConfigError
from armorer_ray.policy import PolicyContext

__all__ = ["PolicyContextProvider", "Provide"]

Provide = Callable[[PolicyContext], "Mapping[str, Any] | Awaitable[Mapping[str, Any] | None] | None"]


@dataclass(frozen=True, slots=True)
class PolicyContextProvider:
    """A policy that adds values to ``ctx.policy_context`` and never decides (see the module docstring).

    Args:
        provide: ``(ctx) -> mapping | None``, sync or async. Anything else it returns (a list...) is ignored.
    """

    provide: Provide

    def __post_init__(self) -> None:
        if not callable(self.provide):
            raise ConfigError(f"PolicyContextProvider needs a function, got {type(self.provide).__name__}")

    async def _merge(self, ctx: PolicyContext) -> None:
        value = self.provide(ctx)
        if inspect.isawaitable(value):
            value = await value
        if isinstance(value, Mapping):
            ctx.policy_context.update(value)

    async def before_execute(self, ctx: PolicyContext) -> None:
        """Merge the provider's values; allow (no opinion)."""
        await self._merge(ctx)

    async def after_execute(self, ctx: PolicyContext) -> None:
        """On a failed call, merge the provider's values again (its context may never have been built)."""
        if ctx.outcome == "error":
            await self._merge(ctx)
