"""HTTP and MCP ingress on Ray Serve: a toolbox served to agents outside the cluster, authenticated and limited.

`toolbox_app` needs the ``serve`` extra (``pip install 'armorer-ray[serve]'``: Ray Serve, Starlette, the MCP
SDK); `create_http_app` runs under any ASGI server. Names load on first use (as the package root's do), so
``import armorer_ray.serve`` works, and stays light, without the extra. See docs/deploy.md.

Example:
    >>> from armorer_ray.serve import BearerTokens, Principal, RequestLimits
    >>> RequestLimits(rate_per_s=5, burst=10).burst
    10
"""

from typing import TYPE_CHECKING

from armorer_ray._exports import lazy_exports
from armorer_ray.errors import MissingExtraError

if TYPE_CHECKING:
    from armorer_ray.serve.application import ServeOptions, toolbox_app
    from armorer_ray.serve.auth import AllowAnonymous, Authenticator, BearerTokens, GatewayHeaders, Principal
    from armorer_ray.serve.caller import CallerToolbox
    from armorer_ray.serve.http import ResumeRequest, create_http_app
    from armorer_ray.serve.limits import RateLimiter, RequestLimits

_EXPORTS = {
    "ServeOptions": "armorer_ray.serve.application",
    "toolbox_app": "armorer_ray.serve.application",
    "AllowAnonymous": "armorer_ray.serve.auth",
    "Authenticator": "armorer_ray.serve.auth",
    "BearerTokens": "armorer_ray.serve.auth",
    "GatewayHeaders": "armorer_ray.serve.auth",
    "Principal": "armorer_ray.serve.auth",
    "CallerToolbox": "armorer_ray.serve.caller",
    "ResumeRequest": "armorer_ray.serve.http",
    "create_http_app": "armorer_ray.serve.http",
    "RateLimiter": "armorer_ray.serve.limits",
    "RequestLimits": "armorer_ray.serve.limits",
}

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

_load, __dir__ = lazy_exports(__name__, globals(), _EXPORTS, __all__)


def __getattr__(name: str) -> object:
    try:
        return _load(name)
    except ModuleNotFoundError as exc:  # Starlette (the web routes) is missing
        raise MissingExtraError(f"armorer_ray.serve.{name}", "serve") from exc
