"""`create_app`: the web graph builder, a thin Starlette app over the public API (workflows, toolbox, store).

The page (a built single-page app shipped in ``armorer_ray/ui/static``) talks to a JSON API; state-changing
requests are POSTs guarded by `armorer_ray.ui.security.Guard` (Host check, optional token, CSRF).
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from armorer_ray.errors import ConfigError, MissingExtraError
from armorer_ray.stores import MemoryStore, Store, open_store
from armorer_ray.toolbox import Toolbox
from armorer_ray.ui.board import BoardError, RunBoard
from armorer_ray.ui.describe import graph_json, scrub, tool_json
from armorer_ray.ui.playground import PlaygroundRefusal, call_tool
from armorer_ray.ui.security import Guard
from armorer_ray.workflow import Workflow, WorkflowError

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

__all__ = ["STATIC_DIR", "create_app"]

STATIC_DIR = Path(__file__).parent / "static"
_TOKEN_CHARS = re.compile(r"^[A-Za-z0-9._~-]+$")


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


def _catalogue(named: Mapping[str, Workflow], toolbox: Toolbox | None) -> Toolbox:
    if toolbox is not None:
        return toolbox
    boxes = [wf.toolbox for wf in named.values()]
    if not boxes:
        return Toolbox()
    first = boxes[0]
    extra = [item for box in boxes[1:] for item in box.tools() if first.get_tool(item.id) is None]
    return first.extend(*extra) if extra else first


def _shell(csrf: str, executors: Sequence[str]) -> str:
    config = json.dumps({"csrf": csrf, "executors": list(executors)}).replace("<", "\\u003c")
    return ('<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<link rel="icon" href="data:,"><title>armorer-ray workflows</title>'
            '<link rel="stylesheet" href="/static/app.css"></head>'
            f'<body><script type="application/json" id="config">{config}</script>'
            '<div id="root"><noscript>This page needs JavaScript.</noscript></div>'
            '<script src="/static/app.js"></script></body></html>')


def _ray_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("ray") is not None


def create_app(workflows: Mapping[str, Workflow] | Sequence[Workflow], *, toolbox: Toolbox | None = None,
               checkpoint: Store | str | None = None, token: str | None = None, hosts: Sequence[str] = (),
               max_queued: int = 256, ping_s: float | None = 15.0) -> Starlette:
    """Build the web graph builder: run, watch, debug and build workflows; call single tools.

    Args:
        workflows: Workflows by URL name, or a sequence of workflows named by ``Workflow.name``.
        toolbox: The catalogue the builder and playground use (default: the workflows' tools, through the first
            workflow's toolbox and its policies).
        checkpoint: The store runs checkpoint into, and run history is read from (a `Store` or URL; default: a
            `MemoryStore`, so history lasts as long as the server). Share it with other processes to see
            their runs.
        token: An access token (16+ characters of ``A-Za-z0-9._~-``) every request must carry; needed to serve
            beyond loopback (see `armorer_ray.ui.security.check_bind`).
        hosts: ``Host`` names allowed besides the loopback ones (the names the server is reached by).
        max_queued: Events kept per page; past it the oldest are dropped and the page is told.
        ping_s: Seconds between SSE keep-alive comments (None: none).

    Returns:
        A Starlette app; serve it with ``uvicorn.run(app, host="127.0.0.1")``.

    Raises:
        MissingExtraError: when Starlette or sse-starlette is not installed.
        ConfigError: for two workflows with one name, a name with ``/``, a non-workflow, ``max_queued < 1``,
            or a malformed token.

    Example:
        >>> from armorer_ray import tool
        >>> from armorer_ray.workflow import create_workflow
        >>> one = tool(name="one", description="Return 1.")(lambda: 1)
        >>> app = create_app([create_workflow(nodes={"a": one}, name="tiny")])
        >>> sorted(route.path for route in app.routes)[:3]
        ['/', '/api/builder/validate', '/api/events']
    """
    try:
        from sse_starlette.sse import EventSourceResponse
        from starlette.applications import Starlette
        from starlette.middleware import Middleware
        from starlette.responses import HTMLResponse, JSONResponse
        from starlette.routing import Mount, Route
        from starlette.staticfiles import StaticFiles
    except ModuleNotFoundError as exc:
        raise MissingExtraError("the web graph builder (armorer_ray.ui)", "web") from exc
    if max_queued < 1:
        raise ConfigError(f"max_queued must be at least 1, got {max_queued}")
    if token is not None and (len(token) < 16 or not _TOKEN_CHARS.match(token)):
        raise ConfigError("token must be at least 16 characters of A-Za-z0-9._~-")
    named = _by_name(workflows)
    # A store given by URL is the app's own: opened at each startup, closed at shutdown (so the app can restart).
    board = RunBoard(named, checkpoint if isinstance(checkpoint, Store) else MemoryStore(), max_queued=max_queued)
    catalogue = _catalogue(named, toolbox)
    csrf = secrets.token_urlsafe(32)
    executors = ["local", "ray"] if _ray_available() else ["local"]

    def refused(exc: BoardError | PlaygroundRefusal) -> Response:
        body: dict[str, Any] = {"error": str(exc)}
        if isinstance(exc, BoardError) and exc.details is not None:
            body["details"] = exc.details
        if isinstance(exc, PlaygroundRefusal) and exc.needs_confirmation:
            body["needs_confirmation"] = True
        return JSONResponse(body, status_code=exc.status)

    async def body_of(request: Request) -> dict[str, Any]:
        try:
            data = await request.json()
        except ValueError as exc:
            raise BoardError(400, "the body must be JSON") from exc
        if not isinstance(data, dict):
            raise BoardError(400, "the body must be a JSON object")
        return data

    async def shell(request: Request) -> Response:
        return HTMLResponse(_shell(csrf, executors))

    async def list_workflows(request: Request) -> Response:
        return JSONResponse([{"name": key, "nodes": len(wf.plan.order)} for key, wf in board.workflows.items()])

    async def one_workflow(request: Request) -> Response:
        try:
            key = request.path_params["name"]
            return JSONResponse(graph_json(key, board.workflow(key)))
        except BoardError as exc:
            return refused(exc)

    async def tools(request: Request) -> Response:
        return JSONResponse([tool_json(item) for item in catalogue.tools()])

    async def runs(request: Request) -> Response:
        try:
            if request.method == "GET":
                return JSONResponse(await board.history(request.query_params.get("workflow", "")))
            data = await body_of(request)
            inputs = data.get("inputs") or {}
            executor = data.get("executor", "local")
            if not isinstance(inputs, dict) or executor not in executors:
                raise BoardError(422, f"inputs must be an object and executor one of {executors}")
            breakpoints = data.get("breakpoints") or []
            if not isinstance(breakpoints, list) or not all(isinstance(n, str) for n in breakpoints):
                raise BoardError(422, "breakpoints must be a list of node names")
            run_id = board.start_run(str(data.get("workflow", "")), inputs, executor=executor,
                                     breakpoints=breakpoints)
            return JSONResponse({"run_id": run_id}, status_code=202)
        except BoardError as exc:
            return refused(exc)

    async def one_run(request: Request) -> Response:
        key, run_id = request.path_params["name"], request.path_params["run_id"]
        try:
            return JSONResponse(await board.snapshot(key, run_id))
        except BoardError as exc:
            return refused(exc)

    async def run_action(request: Request) -> Response:
        key, run_id, action = (request.path_params[part] for part in ("name", "run_id", "action"))
        try:
            data = await body_of(request)
            if action == "cancel":
                await board.cancel(key, run_id)
            elif action == "approve":
                reason = data.get("reason")
                await board.approve(key, run_id, str(data.get("node", "")), bool(data.get("granted")),
                                    str(reason) if reason else None, input=data.get("input"))
            elif action in ("continue", "step"):
                arguments = data.get("arguments")
                if arguments is not None and not isinstance(arguments, dict):
                    raise BoardError(422, "arguments must be a JSON object")
                await board.debug_step(key, run_id, str(data.get("node", "")), action, arguments)
            else:
                raise BoardError(404, f"no action {action!r}")
            return JSONResponse({"ok": True}, status_code=202)
        except BoardError as exc:
            return refused(exc)

    async def events(request: Request) -> Response:
        client = board.subscribe()

        async def stream() -> AsyncIterator[dict[str, str]]:
            try:
                # Sent once subscribed: a page that waits for it, then fetches a run's state, misses nothing.
                yield {"event": "hello", "data": "{}"}
                while True:
                    dropped, item = await client.get()
                    if dropped:
                        yield {"event": "dropped", "data": json.dumps({"count": dropped})}
                    yield {"event": "run", "data": json.dumps(item, separators=(",", ":"))}
            finally:
                board.unsubscribe(client)

        response: Response = EventSourceResponse(stream(), ping=ping_s)
        return response

    async def playground(request: Request) -> Response:
        try:
            data = await body_of(request)
            arguments = data.get("arguments") or {}
            if not isinstance(arguments, dict):
                raise BoardError(422, "arguments must be a JSON object")
            return JSONResponse(await call_tool(catalogue, str(data.get("tool", "")), arguments,
                                                confirm=data.get("confirm") is True))
        except (BoardError, PlaygroundRefusal) as exc:
            return refused(exc)

    def built(data: Mapping[str, Any]) -> Workflow:
        # The page may name tools and write conditions, never code: an import path would let it run any callable.
        for name, entry in dict(data.get("nodes") or {}).items():
            if isinstance(entry, Mapping) and entry.get("policy"):
                raise BoardError(422, f"node {name!r}: policies cannot be set from the page")
        for item in data.get("edges") or ():
            when = item.get("when") if isinstance(item, Mapping) else None
            if isinstance(when, Mapping) and "import" in when:
                raise BoardError(422, "edge conditions from the page must be Condition objects, not import paths")
        try:
            return Workflow.from_json(data, catalogue)
        except WorkflowError as exc:
            raise BoardError(422, str(exc), {"type": type(exc).__name__}) from exc
        except (KeyError, TypeError, ValueError) as exc:
            raise BoardError(422, f"malformed workflow JSON: {exc}", {"type": type(exc).__name__}) from exc

    async def validate(request: Request) -> Response:
        try:
            data = await body_of(request)
            wf = built(data)
            return JSONResponse({"ok": True, "graph": graph_json(wf.name, wf)})
        except BoardError as exc:
            return refused(exc)

    async def add_workflow(request: Request) -> Response:
        try:
            data = await body_of(request)
            wf = built(data)
            if wf.name in board.workflows or "/" in wf.name:
                raise BoardError(409, f"a workflow named {wf.name!r} exists (or the name has '/'); rename it")
            board.add(wf.name, wf)
            return JSONResponse({"name": wf.name}, status_code=201)
        except BoardError as exc:
            return refused(exc)

    async def legacy_json(request: Request) -> Response:
        key = request.path_params["name"]
        try:
            graph = graph_json(key, board.workflow(key))
        except BoardError as exc:
            return refused(exc)
        if not graph["exportable"]:
            return JSONResponse({"error": graph["export_error"]}, status_code=409)
        return JSONResponse(scrub(graph["export"]))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if isinstance(checkpoint, str):
            board.store = open_store(checkpoint)
        board.start()
        try:
            yield
        finally:
            await board.stop()
            if isinstance(checkpoint, str):
                await board.store.close()

    routes = [
        Route("/", shell), Route("/workflows/{name}.json", legacy_json), Route("/workflows/{name}", shell),
        Route("/api/workflows", list_workflows), Route("/api/workflows", add_workflow, methods=["POST"]),
        Route("/api/workflows/{name}", one_workflow), Route("/api/tools", tools),
        Route("/api/tools/call", playground, methods=["POST"]),
        Route("/api/runs", runs, methods=["GET", "POST"]), Route("/api/runs/{name}/{run_id}", one_run),
        Route("/api/runs/{name}/{run_id}/{action}", run_action, methods=["POST"]),
        Route("/api/events", events), Route("/api/builder/validate", validate, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC_DIR, check_dir=False), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan,
                    middleware=[Middleware(Guard, csrf=csrf, token=token, hosts=hosts)])  # type: ignore[arg-type]
    app.state.board = board
    app.state.csrf = csrf
    return app

