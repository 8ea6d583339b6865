"""``armorer serve TARGET``: the ingress on a Ray Serve instance, local by default, until Ctrl-C or SIGTERM."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType

import typer

from armorer_ray.cli_exits import usage_error
from armorer_ray.errors import ConfigError, MissingExtraError
from armorer_ray.targets import load_toolbox

__all__ = ["serve"]


def serve(target: str,
          port: int = typer.Option(8000, help="HTTP port of Serve's proxy."),
          host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
          tokens_file: Path = typer.Option(None, help="JSON file {token: {tenant_id, user_id}} of bearer tokens."),
          allow_anonymous: bool = typer.Option(False, "--allow-anonymous",
                                               help="Serve without authentication (loopback only)."),
          replicas: int = typer.Option(1, min=1, help="Serve replicas of the ingress."),
          address: str = typer.Option("local", help="Ray cluster to deploy on ('local' starts a private one)."),
          route_prefix: str = typer.Option("/", help="Path the routes are served under.")) -> None:
    """Serve TARGET over HTTP (/tools, /call, /batch, /resume) and MCP (/mcp) on Ray Serve (needs the serve extra)."""
    if allow_anonymous and host not in ("127.0.0.1", "localhost", "::1"):
        raise usage_error(f"--allow-anonymous serves without authentication; it is refused on {host!r} (loopback only)")
    try:
        from armorer_ray.serve.config import AppArgs

        load_toolbox(target)  # fail here, with the import error, rather than in a replica's log
        args = AppArgs(toolbox=target, tokens_file=str(tokens_file) if tokens_file else None,
                       allow_anonymous=allow_anonymous)
        args.authenticator()
        if tokens_file:
            from armorer_ray.serve.auth import BearerTokens

            BearerTokens.from_file(tokens_file)
        import ray
        from ray import serve as ray_serve
    except ImportError as exc:
        raise usage_error(str(MissingExtraError("armorer serve", "serve"))) from exc
    except ConfigError as exc:
        raise usage_error(str(exc)) from exc
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    ray.init(address=address, include_dashboard=False, log_to_driver=False)
    # After ray.init, which installs a SIGTERM handler that aborts the driver without shutting Serve down.
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        from armorer_ray.serve.application import ServeOptions, toolbox_app

        ray_serve.start(http_options={"host": host, "port": port})
        app = toolbox_app(target, authenticator=args.authenticator(), limits=args.limits(),
                          options=ServeOptions(num_replicas=replicas))
        ray_serve.run(app, name="armorer", route_prefix=route_prefix)
        typer.echo(f"serving {target} at http://{host}:{port}{route_prefix.rstrip('/')}/ (MCP at /mcp); "
                   "Ctrl-C stops", err=True)
        stop.wait()
    finally:
        ray_serve.shutdown()  # type: ignore[no-untyped-call]  # ray.serve is untyped
        ray.shutdown()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
