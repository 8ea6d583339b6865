"""`toolbox_app`: a toolbox as a Ray Serve application (HTTP routes and MCP), with Serve's scaling options."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, JsonValue, PositiveInt

from armorer_ray.errors import ConfigError, MissingExtraError
from armorer_ray.serve.auth import Authenticator
from armorer_ray.serve.limits import RequestLimits
from armorer_ray.toolbox import Toolbox

if TYPE_CHECKING:
    from ray.serve import Application

__all__ = ["ServeOptions", "toolbox_app"]


class ServeOptions(BaseModel):
    """Options of the Serve deployment, passed to ``serve.deployment`` as given (Serve validates them).

    Attributes:
        name: Deployment name; a Serve config's ``deployments: [{name: ...}]`` overrides options by this name.
        num_replicas: Fixed replicas, or ``"auto"`` for Serve's default autoscaling (None: Serve's default, 1).
        autoscaling_config: Serve's ``AutoscalingConfig`` as a mapping (``min_replicas``, ``max_replicas``,
            ``target_ongoing_requests``...); excludes a fixed ``num_replicas``.
        max_ongoing_requests: Requests one replica runs at once before Serve queues them elsewhere.
        ray_actor_options: Resources of each replica (``num_cpus``, ``memory``, ``runtime_env``...).

    Example:
        >>> ServeOptions(autoscaling_config={"min_replicas": 1, "max_replicas": 4}).name
        'ToolboxIngress'
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = "ToolboxIngress"
    num_replicas: PositiveInt | Literal["auto"] | None = None
    autoscaling_config: dict[str, JsonValue] | None = None
    max_ongoing_requests: PositiveInt | None = None
    ray_actor_options: dict[str, JsonValue] | None = None


def toolbox_app(toolbox_or_factory: Toolbox | Callable[[], Toolbox] | str, *,
                authenticator: Authenticator | Callable[[], Authenticator], limits: RequestLimits | None = None,
                mcp: bool = True, options: ServeOptions | None = None) -> Application:
    """A Ray Serve application serving a toolbox over HTTP and MCP, each replica running the one pipeline.

    Routes: ``GET /tools[?format=json|openai|mcp]``, ``POST /call``, ``POST /batch``, ``POST /resume``,
    ``GET /healthz`` (unauthenticated) and MCP streamable HTTP at ``/mcp``. See `create_http_app`.

    Args:
        toolbox_or_factory: A toolbox (travels as its tools and options), a zero-argument function building
            one inside each replica, or a ``module:attribute`` import path resolved there.
        authenticator: Who may call, or a zero-argument function building the authenticator inside each
            replica (so a token file is read on the replica's node, never pickled). There is no default:
            choose `BearerTokens`, or `AllowAnonymous` knowingly.
        limits: Request size, batch length and per-principal rate, per replica.
        mcp: Serve MCP at ``/mcp``.
        options: Replicas, autoscaling and resources of the Serve deployment.

    Returns:
        The bound application, for ``serve.run(app)`` or a Serve config's ``import_path``.

    Raises:
        MissingExtraError: without Ray Serve (``pip install 'armorer-ray[serve]'``).
        ConfigError: for a fixed ``num_replicas`` together with an ``autoscaling_config``.

    Example:
        >>> from armorer_ray.serve import BearerTokens, Principal
        >>> app = toolbox_app("examples.demo_tools:build_toolbox",  # doctest: +SKIP
        ...                   authenticator=BearerTokens({"a-long-enough-token": Principal(tenant_id="acme")}),
        ...                   options=ServeOptions(autoscaling_config={"min_replicas": 1, "max_replicas": 3}))
    """
    options = options or ServeOptions()
    if isinstance(options.num_replicas, int) and options.autoscaling_config is not None:
        raise ConfigError("give num_replicas or autoscaling_config, not both: autoscaling sets the replica count")
    try:
        from armorer_ray.serve.replica import ToolboxIngress
    except ImportError as exc:
        raise MissingExtraError("armorer_ray.serve.toolbox_app", "serve") from exc
    if isinstance(toolbox_or_factory, str):
        from armorer_ray.targets import load_toolbox

        toolbox_or_factory = partial(load_toolbox, toolbox_or_factory)
    from armorer_ray.actors._private.spec import ToolboxSpec

    deployment_options = options.model_dump(exclude_none=True)
    deployment = ToolboxIngress.options(**deployment_options)  # type: ignore[attr-defined]  # @serve.deployment adds options at run time
    application: Application = deployment.bind(ToolboxSpec.of(toolbox_or_factory), authenticator,
                                               limits or RequestLimits(), mcp)
    return application
