"""`create_app`: the read-only web graph view, a Starlette app over workflows and their live runs."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING

from armorer_ray.errors import ConfigError, MissingExtraError
from armorer_ray.toolbox import Toolbox
from armorer_ray.ui.live import EventFeed
from armorer_ray.ui.pages import index_page, workflow_page
from armorer_ray.workflow import Workflow, WorkflowConfigError

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

__all__ = ["create_app"]


def _by_name(workflows: Mapping[str, Workflow] | Sequence[Workflow]) -> dict[str, Workflow]:
    if isinstance(workflows, Mapping):
        found = dict(workflows)
    else:
        found = {}
        for wf in workflows:
            if not isinstance(wf, Workflow):
                raise ConfigError(f"create_app takes workflows, got a {type(wf).__name__}")
            if wf.name in found:
                raise ConfigError(f"two workflows are named {wf.name!r}; pass a mapping to name them apart")
            found[wf.name] = wf
    for name, wf in found.items():
        if not isinstance(name, str) or not name or "/" in name:
            raise ConfigError(f"workflow key {name!r} must be a non-empty string without '/' (it is a URL segment)")
        if not isinstance(wf, Workflow):
            raise ConfigError(f"workflow {name!r} is a {type(wf).__name__}, not a Workflow")
    return found


def create_app(workflows: Mapping[str, Workflow] | Sequence[Workflow], *, toolbox: Toolbox | None = None,
               max_queued: int = 256, ping_s: float | None = 15.0) -> Starlette:
    """Build the read-only graph view: pages for workflows, their structure as JSON, their live events as SSE.

    Routes: ``GET /`` (index of workflows, and of ``toolbox``'s tools), ``GET /workflows/{name}`` (the DAG as
    inline SVG, coloured by status as events arrive), ``GET /workflows/{name}.json`` (``Workflow.to_json()``),
    ``GET /workflows/{name}/events`` (Server-Sent Events: ``run`` events carrying `event_json`, ``dropped``
    events when a slow client lost some). Unknown names get a 404.

    Args:
        workflows: Workflows by URL name, or a sequence of workflows named by ``Workflow.name``.
        toolbox: A toolbox whose tools the index lists with their risk flags and tags.
        max_queued: Events kept per SSE client; past it the oldest are dropped (see `EventFeed`).
        ping_s: Seconds between SSE keep-alive comments (None: none).

    Returns:
        A Starlette app; serve it with ``uvicorn.run(app)``.

    Raises:
        MissingExtraError: when Starlette or sse-starlette is not installed.
        ConfigError: for two workflows with one name, a name with ``/``, a non-workflow, or ``max_queued < 1``.

    Example:
        >>> from armorer_ray import tool
        >>> from armorer_ray.workflow import create_workflow
        >>> one = tool(name="one", description="Return 1.")(lambda: 1)
        >>> app = create_app([create_workflow(nodes={"a": one}, name="tiny")])
        >>> [route.path for route in app.routes]
        ['/', '/workflows/{name}/events', '/workflows/{name}']
    """
    try:
        from sse_starlette.sse import EventSourceResponse
        from starlette.applications import Starlette
        from starlette.responses import HTMLResponse, JSONResponse
        from starlette.routing import Route
    except ModuleNotFoundError as exc:
        raise MissingExtraError("the web graph view (armorer_ray.ui)", "web") from exc
    if max_queued < 1:
        raise ConfigError(f"max_queued must be at least 1, got {max_queued}")
    named = _by_name(workflows)

    def not_found(name: str) -> Response:
        return JSONResponse({"error": f"no workflow {name!r}", "workflows": sorted(named)}, status_code=404)

    async def index(request: Request) -> Response:
        return HTMLResponse(index_page(named, toolbox))

    async def page(request: Request) -> Response:
        name: str = request.path_params["name"]
        if name in named:  # an exact name wins over the ".json" suffix, so a workflow may be called "x.json"
            return HTMLResponse(workflow_page(name, named[name]))
        stem = name.removesuffix(".json")
        if stem == name or stem not in named:
            return not_found(name)
        try:
            return JSONResponse(named[stem].to_json())
        except WorkflowConfigError as exc:  # a lambda condition has no JSON form; say so rather than fail
            return JSONResponse({"error": str(exc)}, status_code=409)

    async def events(request: Request) -> Response:
        name: str = request.path_params["name"]
        if name not in named:
            return not_found(name)
        hub = named[name].events

        async def stream() -> AsyncIterator[dict[str, str]]:
            with EventFeed(hub, max_queued=max_queued) as feed:
                # Sent once subscribed: a client that waits for it knows no later run is missed.
                yield {"event": "subscribed", "data": json.dumps({"workflow": name})}
                while True:
                    dropped, item = await feed.get()
                    if dropped:
                        yield {"event": "dropped", "data": json.dumps({"count": dropped})}
                    yield {"event": "run", "data": json.dumps(item, separators=(",", ":"))}

        response: Response = EventSourceResponse(stream(), ping=ping_s)
        return response

    return Starlette(routes=[Route("/", index), Route("/workflows/{name}/events", events),
                             Route("/workflows/{name}", page)])
