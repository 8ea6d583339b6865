"""HTTP and MCP ingress on Ray Serve: a toolbox served to agents outside the cluster, authenticated and limited.

`toolbox_app` needs the ``serve`` extra (``pip install 'armorer-ray[serve]'``: Ray Serve, Starlette, the MCP
SDK); `create_http_app` runs under any ASGI server with the ``web`` extra. Both are imported on first use, so
``import armorer_ray.serve`` works without them. See docs/deploy.md.

Example:
    >>> from armorer_ray.serve import BearerTokens, Principal, RequestLimits
    >>> RequestLimits(rate_per_s=5, burst=10).burst
    10
"""

from typing import TYPE_CHECKING

from armorer_ray.errors import MissingExtraError
from armorer_ray.serve.application import ServeOptions, toolbox_app
from armorer_ray.serve.auth import AllowAnonymous, Authenticator, BearerTokens, GatewayHeaders, Principal
from armorer_ray.serve.caller import CallerToolbox
from armorer_ray.serve.limits import RateLimiter, RequestLimits

if TYPE_CHECKING:
    from armorer_ray.serve.http import ResumeRequest, create_http_app

__all__ = [
    "AllowAnonymous",
    "Authenticator",
    "BearerTokens",
    "CallerToolbox",
    "GatewayHeaders",
    "Principal",
    "RateLimiter",
    "RequestLimits",
    "ResumeRequest",
    "ServeOptions",
    "create_http_app",
    "toolbox_app",
]


def __getattr__(name: str) -> object:
    if name in ("create_http_app", "ResumeRequest"):
        try:
            from armorer_ray.serve import http
        except ImportError as exc:
            raise MissingExtraError("armorer_ray.serve.create_http_app", "web") from exc
        return getattr(http, name)
    raise AttributeError(f"module 'armorer_ray.serve' has no attribute {name!r}")
