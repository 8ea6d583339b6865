"""The Ray Serve deployment class: each replica builds its toolbox and authenticator, then serves `create_http_app`.

Imports Ray Serve at module level; only `armorer_ray.serve.application` imports this module, on first use.
"""

from __future__ import annotations

from collections.abc import Callable

from ray import serve
from starlette.applications import Starlette

from armorer_ray.actors._private.spec import ToolboxSpec
from armorer_ray.serve.auth import Authenticator
from armorer_ray.serve.http import create_http_app
from armorer_ray.serve.limits import DoorLimiter, RequestLimits
from armorer_ray.serve.shared_limits import DeploymentRateLimiter

__all__ = ["ToolboxIngress"]

AuthenticatorSource = Authenticator | Callable[[], Authenticator]


def build_authenticator(source: AuthenticatorSource) -> Authenticator:
    """``source`` itself, or what the factory returns (called inside the replica, so secrets are read there)."""
    if isinstance(source, Authenticator):
        return source
    built = source()
    if not isinstance(built, Authenticator):
        raise TypeError(f"the authenticator factory returned {type(built).__name__}, which has no authenticate()")
    return built


def door_limiter(limits: RequestLimits) -> DoorLimiter | None:
    """The replica's rate limiter: shared by the deployment's replicas (the default), or None for its own."""
    if limits.rate_per_s is None or limits.rate_scope == "replica":
        return None
    context = serve.get_replica_context()
    return DeploymentRateLimiter(f"armorer.ingress-rate:{context.app_name}/{context.deployment}", limits)


@serve.deployment
@serve.ingress()
class ToolboxIngress:
    """One Serve replica: a toolbox built here (from its recipe or factory) behind the HTTP and MCP routes."""

    def __init__(self, spec: ToolboxSpec, authenticator: AuthenticatorSource, limits: RequestLimits,
                 mcp: bool) -> None:
        self._toolbox = spec.build()
        self._app = create_http_app(self._toolbox, authenticator=build_authenticator(authenticator),
                                    limits=limits, mcp=mcp, limiter=door_limiter(limits))

    def __serve_build_asgi_app__(self) -> Starlette:
        return self._app

    async def check_health(self) -> None:
        """Serve's health check: a stopped or draining toolbox makes Serve replace the replica."""
        health = await self._toolbox.health()
        if not health.ok:
            raise RuntimeError(f"toolbox unhealthy: {health.detail}")
