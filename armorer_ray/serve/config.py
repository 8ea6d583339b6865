"""The application builder Serve configs name: ``import_path: armorer_ray.serve.config:build_app``.

``serve run armorer_ray.serve.config:build_app toolbox=module:attr tokens_file=/path`` and a RayService's
``serveConfigV2`` (``args:``) both land here. Replica counts, autoscaling and resources belong to the config's
``deployments: [{name: ToolboxIngress, ...}]`` section, which Serve applies on top of what this returns.
"""

# No `from __future__ import annotations`: Serve reads the builder's annotation at run time.

from functools import partial
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, PositiveFloat, PositiveInt, ValidationError

from armorer_ray.errors import ConfigError
from armorer_ray.serve.application import toolbox_app
from armorer_ray.serve.auth import AllowAnonymous, Authenticator, BearerTokens, Principal
from armorer_ray.serve.limits import RateScope, RequestLimits

if TYPE_CHECKING:
    from ray.serve import Application

__all__ = ["AppArgs", "build_app"]


class AppArgs(BaseModel):
    """What a Serve config passes as ``args`` (``serve run`` passes ``key=value`` strings, coerced here).

    Attributes:
        toolbox: ``module:attribute`` naming a toolbox, a tool list, or a function building one (imported in
            each replica).
        tokens_file: JSON file of bearer tokens (`BearerTokens.from_file`), read in each replica: mount the
            Secret on every Ray pod.
        allow_anonymous: Serve without authentication; only when ``tokens_file`` is not given. For loopback.
        mcp: Serve MCP at ``/mcp``.
        max_body_bytes, max_batch_calls, rate_per_s, burst, rate_scope: `RequestLimits` (``rate_per_s: 0`` turns
            the rate limit off; ``rate_scope: replica`` gives each replica its own buckets).

    Example:
        >>> AppArgs(toolbox="examples.demo_tools:build_toolbox", tokens_file="/etc/armorer/tokens.json").mcp
        True
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    toolbox: str
    tokens_file: str | None = None
    allow_anonymous: bool = False
    mcp: bool = True
    max_body_bytes: PositiveInt = RequestLimits().max_body_bytes
    max_batch_calls: PositiveInt = RequestLimits().max_batch_calls
    rate_per_s: float = 50.0
    burst: PositiveInt = RequestLimits().burst
    max_timeout_s: PositiveFloat = RequestLimits().max_timeout_s
    rate_scope: RateScope = RequestLimits().rate_scope

    def authenticator(self) -> "Authenticator | partial[BearerTokens]":
        """The authenticator, or a factory reading the token file inside each replica.

        Raises:
            ConfigError: with neither a token file nor ``allow_anonymous``, or with both.
        """
        if self.tokens_file and self.allow_anonymous:
            raise ConfigError("give tokens_file or allow_anonymous=true, not both")
        if self.tokens_file:
            return partial(BearerTokens.from_file, self.tokens_file)
        if self.allow_anonymous:
            return AllowAnonymous(Principal(user_id="anonymous"))
        raise ConfigError("the ingress refuses unauthenticated calls: pass tokens_file=<json file of bearer tokens>, "
                          "or allow_anonymous=true for a server on loopback only")

    def limits(self) -> RequestLimits:
        return RequestLimits(max_body_bytes=self.max_body_bytes, max_batch_calls=self.max_batch_calls,
                             rate_per_s=self.rate_per_s if self.rate_per_s > 0 else None, burst=self.burst,
                             max_timeout_s=self.max_timeout_s, rate_scope=self.rate_scope)


def build_app(args: dict) -> "Application":  # type: ignore[type-arg]  # Ray Serve's dict-typed app args
    """Serve's application builder: `AppArgs` in, `toolbox_app` out.

    Raises:
        ConfigError: for unknown or invalid args, or no authentication choice.
    """
    try:
        parsed = AppArgs.model_validate(args)
    except ValidationError as exc:
        raise ConfigError(f"invalid armorer_ray.serve.config:build_app args: {exc}") from exc
    return toolbox_app(parsed.toolbox, authenticator=parsed.authenticator(), limits=parsed.limits(), mcp=parsed.mcp)
