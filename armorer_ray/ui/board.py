"""`RunBoard`: the server's view of runs. It starts, cancels, approves and steps runs through the public workflow
API (`Workflow.run`, `Workflow.resume`, `Checkpoints`, breakpoints) and keeps each run's node states for pages.

Runs go through `with_breakpoints` copies of the workflows (same structure, same checkpoints, one more policy),
so any run can stop at a breakpoint. The board listens to the workflows' run events (its copies' and the
originals', so runs made by other code in this process show too) and to the copies' ``tool.started`` events (a
node call's resolved arguments). Every state it hands out is `scrub` bed: no resume token leaves it.
Runs of other processes come from the checkpoint store (`armorer_ray.workflow.history`).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Literal

from pydantic import JsonValue

from armorer_ray.context import Approval
from armorer_ray.events import Event
from armorer_ray.stores import Store, get_json, set_json
from armorer_ray.ui.describe import input_schema, scrub
from armorer_ray.ui.live import RUN_EVENTS, event_json
from armorer_ray.workflow import Workflow, WorkflowConfigError
from armorer_ray.workflow.breakpoints import (
    BREAKPOINT_MESSAGE,
    Breakpoints,
    call_node,
    check_arguments,
    continue_from,
    with_breakpoints,
)
from armorer_ray.workflow.checkpoints import Checkpoints
from armorer_ray.workflow.history import list_runs, read_run

__all__ = ["BoardError", "RunBoard"]

Executor = Literal["local", "ray"]
_ENDED = ("succeeded", "failed", "skipped", "cancelled", "paused")


class BoardError(Exception):
    """A request the board refuses: ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str, details: JsonValue = None) -> None:
        super().__init__(message)
        self.status, self.details = status, details


class _Client:
    """One page's bounded queue of board items (oldest dropped first, counted)."""

    def __init__(self, limit: int) -> None:
        self.items: deque[dict[str, JsonValue]] = deque()
        self.limit, self.dropped = limit, 0
        self.ready = asyncio.Event()

    def put(self, item: dict[str, JsonValue]) -> None:
        if len(self.items) >= self.limit:
            self.items.popleft()
            self.dropped += 1
        self.items.append(item)
        self.ready.set()

    async def get(self) -> tuple[int, dict[str, JsonValue]]:
        while not self.items:
            self.ready.clear()
            await self.ready.wait()
        dropped, self.dropped = self.dropped, 0
        return dropped, self.items.popleft()


class RunBoard:
    """Runs of some workflows: live ones in memory, all of them in ``store``.

    Args:
        workflows: Workflows by URL name.
        store: The checkpoint store every run started here uses (and history is read from).
        max_queued: Items kept per page; past it the oldest are dropped.
        keep_runs: Ended runs kept in memory; older ones are forgotten here (pages then read them from the store,
            without the call arguments only this server saw).
    """

    def __init__(self, workflows: Mapping[str, Workflow], store: Store, *, max_queued: int = 256,
                 keep_runs: int = 200) -> None:
        self.workflows = dict(workflows)
        self.store, self.max_queued, self.keep_runs = store, max_queued, keep_runs
        self.points = Breakpoints()
        self.debug: dict[str, Workflow] = {}
        self.runs: dict[tuple[str, str], dict[str, Any]] = {}
        self.executors: dict[tuple[str, str], Executor] = {}
        self.tasks: dict[tuple[str, str], asyncio.Task[None]] = {}
        self.clients: set[_Client] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stops: list[Callable[[], None]] = []
        self._writes: set[asyncio.Future[None]] = set()

    # -- lifecycle ---------------------------------------------------------------------------------------

    def start(self) -> None:
        """Subscribe to the workflows' events (call on the server's loop, at startup)."""
        self._loop = asyncio.get_running_loop()
        for key in list(self.workflows):
            self._watch(key)

    def add(self, key: str, workflow: Workflow) -> None:
        """Add a workflow (one built in the page), and watch it."""
        self.workflows[key] = workflow
        if self._loop is not None:
            self._watch(key)

    def _watch(self, key: str) -> None:
        original = self.workflows[key]
        debug = self.debug[key] = with_breakpoints(original, self.points)
        def on_run(event: Event) -> None:
            self._deliver(self._on_run, key, event)

        def on_call(event: Event) -> None:
            self._deliver(self._on_call, key, event)

        for hub in (original.events, debug.events):
            self._stops.append(hub.on(RUN_EVENTS, on_run))
        self._stops.append(debug.toolbox.events.on("call.started", on_call))

    async def stop(self) -> None:
        """Unsubscribe, and cancel runs still going."""
        for stop in self._stops:
            stop()
        self._stops.clear()
        tasks = list(self.tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _deliver(self, handler: Callable[[str, Event], None], key: str, event: Event) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            handler(key, event)
        else:  # a run on another thread: the state is only touched on the server's loop
            loop.call_soon_threadsafe(handler, key, event)

    def subscribe(self) -> _Client:
        """A page's queue of items (remove it with `unsubscribe`)."""
        client = _Client(self.max_queued)
        self.clients.add(client)
        return client

    def unsubscribe(self, client: _Client) -> None:
        """Stop feeding a page's queue."""
        self.clients.discard(client)

    def _broadcast(self, item: dict[str, JsonValue]) -> None:
        for client in self.clients:
            client.put(item)

    # -- state from events -------------------------------------------------------------------------------

    def _run_state(self, key: str, run_id: str) -> dict[str, Any]:
        state = self.runs.get((key, run_id))
        if state is None:
            state = self.runs[(key, run_id)] = {
                "workflow": key, "run_id": run_id, "status": "running", "started_at": time.time(),
                "finished_at": None, "inputs": {}, "nodes": {}, "error": None, "live": True,
                "breakpoints": sorted(self.points.get(run_id))}
        return state

    def _on_run(self, key: str, event: Event) -> None:
        item = scrub(event_json(event))
        assert isinstance(item, dict)
        run_id = str(item.get("run_id"))
        state = self._run_state(key, run_id)
        node = item.get("node")
        if event.type == "run.started":
            state.update(status="running", finished_at=None, error=None,
                         inputs=scrub(event.detail.get("inputs", {})))
        elif event.type == "run.finished":
            state.update(status=item["status"], finished_at=time.time())
        elif isinstance(node, str):
            entry = state["nodes"].setdefault(node, {"node": node, "arguments": {}})
            entry["status"] = item["status"]
            if item["status"] != "paused":
                entry.pop("pause", None)
            if event.type == "node.retrying":
                entry.update(attempt=item.get("attempt"), last_error=item.get("error"))
            run = item.get("run")
            if isinstance(run, dict):
                entry.update({k: v for k, v in run.items() if k != "node"})
                entry["restored"] = bool(event.detail.get("restored"))
                if item["status"] == "paused":
                    entry["pause"] = item["pause"] = _pause(run)
                    if entry["pause"]["kind"] == "breakpoint":
                        self._keep_arguments(key, run_id, node, entry["arguments"])
        item["workflow"] = key
        self._broadcast(item)

    def _on_call(self, key: str, event: Event) -> None:
        call = event.detail.get("call")
        call_id = str(getattr(call, "id", "") or "")
        named = call_node(call_id)
        if named is None or (key, named[0]) not in self.runs:
            return
        run_id, node = named
        arguments = scrub(event.detail.get("params"))
        entry = self._run_state(key, run_id)["nodes"].setdefault(node, {"node": node, "arguments": {}})
        entry["arguments"][call_id] = arguments
        self._broadcast({"type": "node.arguments", "workflow": key, "run_id": run_id, "node": node,
                         "call_id": call_id, "arguments": arguments})

    def _keep_arguments(self, key: str, run_id: str, node: str, arguments: Mapping[str, Any]) -> None:
        # Kept in the store so a page (or a restarted server) still shows them while the run waits.
        name = self.workflows[key].name
        self._spawn(set_json(self.store, f"ui/{name}/{run_id}/arguments/{node}", scrub(dict(arguments))))

    def _spawn(self, work: Awaitable[Any]) -> None:
        async def run() -> None:
            await work

        task = asyncio.ensure_future(run())
        self._writes.add(task)  # held until done, so the write is not garbage-collected mid-way
        task.add_done_callback(self._writes.discard)

    # -- queries -----------------------------------------------------------------------------------------

    def workflow(self, key: str) -> Workflow:
        """The workflow named ``key``; a 404 `BoardError` when there is none."""
        found = self.workflows.get(key)
        if found is None:
            raise BoardError(404, f"no workflow {key!r}", {"workflows": [*sorted(self.workflows)]})
        return found

    async def history(self, key: str, limit: int = 50) -> list[JsonValue]:
        """Runs of ``key``, newest first: live ones and those in the store (any process's)."""
        name = self.workflow(key).name
        found: dict[str, dict[str, Any]] = {run.run_id: run.summary() for run in await list_runs(
            self.store, name, limit=limit)}
        for (run_key, run_id), state in self.runs.items():
            if run_key == key:
                found[run_id] = {k: state[k] for k in ("workflow", "run_id", "status", "started_at",
                                                        "finished_at", "inputs")}
        for summary in found.values():
            summary["workflow"] = key
        ordered = sorted(found.values(), key=lambda run: float(run.get("started_at") or 0.0), reverse=True)
        return scrub(ordered[:limit])  # type: ignore[return-value]  # scrub keeps the shape: a list of run objects stays one

    async def snapshot(self, key: str, run_id: str) -> dict[str, JsonValue]:
        """The state of one run: live when this server runs it, else read from the store."""
        wf = self.workflow(key)
        live = self.runs.get((key, run_id))
        if live is not None:
            return scrub(live)  # type: ignore[return-value]  # scrub keeps the shape: a run object stays one
        stored = await read_run(self.store, wf.name, run_id)
        if stored is None:
            raise BoardError(404, f"no run {run_id!r} of workflow {key!r}")
        nodes: dict[str, Any] = {}
        for node, data in stored.nodes.items():
            entry = {"node": node, "arguments": {}, **data}
            if data.get("status") == "paused":
                pause = data.get("pause") or {}
                message = pause.get("message") or ""
                kind = "breakpoint" if message.startswith(BREAKPOINT_MESSAGE) else pause.get("action", "approval")
                entry["pause"] = {"kind": kind, "message": message}
                saved = await get_json(self.store, f"ui/{wf.name}/{run_id}/arguments/{node}")
                if isinstance(saved, dict):
                    entry["arguments"] = saved
            nodes[node] = entry
        return scrub({**stored.summary(), "workflow": key, "nodes": nodes, "error": None, "live": False,
                      "breakpoints": sorted(self.points.get(run_id))})  # type: ignore[return-value]  # scrub keeps the shape of a run object

    # -- actions -----------------------------------------------------------------------------------------

    def start_run(self, key: str, inputs: Mapping[str, Any], *, executor: Executor = "local",
                  breakpoints: Iterable[str] = ()) -> str:
        """Start a run in the background; its id. Refuses unknown breakpoints and missing required inputs."""
        wf = self.workflow(key)
        chosen = sorted(set(breakpoints))
        unknown = [node for node in chosen if node not in wf.plan.nodes]
        if unknown:
            raise BoardError(422, f"breakpoints name unknown nodes: {', '.join(unknown)}")
        if chosen and executor != "local":
            # Ray workers cache the workflow's toolbox, breakpoints included, so changes would not reach them.
            raise BoardError(422, "breakpoints need the local executor")
        required = input_schema(wf).get("required")
        missing = [key for key in required if key not in inputs] if isinstance(required, list) else []
        if missing:
            raise BoardError(422, f"inputs missing: {', '.join(str(key) for key in missing)}")
        run_id = uuid.uuid4().hex
        self.points.set(run_id, chosen)
        state = self._run_state(key, run_id)
        state["inputs"], state["breakpoints"] = scrub(dict(inputs)), chosen
        self.executors[(key, run_id)] = executor
        self._launch(key, run_id, self.debug[key].run(dict(inputs), executor=executor, checkpoint=self.store,
                                                       run_id=run_id))
        return run_id

    def _launch(self, key: str, run_id: str, work: Awaitable[Any]) -> None:
        if (key, run_id) in self.tasks:
            raise BoardError(409, f"run {run_id} is already running")

        async def guarded() -> None:
            try:
                await work
            except asyncio.CancelledError:
                self._cancelled(key, run_id)
            except Exception as exc:  # a refused run (missing input, bad checkpoint): shown, never raised
                state = self._run_state(key, run_id)
                state.update(status="failed", error=f"{type(exc).__name__}: {exc}", finished_at=time.time())
                self._broadcast({"type": "run.error", "workflow": key, "run_id": run_id, "status": "failed",
                                 "error": state["error"]})
            finally:
                self.tasks.pop((key, run_id), None)
                self._forget_old_runs()

        self.tasks[(key, run_id)] = asyncio.ensure_future(guarded())

    def _forget_old_runs(self) -> None:
        ended = [found for found, state in self.runs.items()
                 if found not in self.tasks and state["status"] != "running"]
        for found in sorted(ended, key=lambda k: self.runs[k]["started_at"])[:max(0, len(ended) - self.keep_runs)]:
            del self.runs[found]
            self.executors.pop(found, None)

    def _cancelled(self, key: str, run_id: str) -> None:
        state = self._run_state(key, run_id)
        for entry in state["nodes"].values():
            if entry.get("status") not in _ENDED:
                entry["status"] = "cancelled"
                entry["reason"] = "cancelled from the page"
        state.update(status="cancelled", finished_at=time.time())
        self._broadcast({"type": "run.cancelled", "workflow": key, "run_id": run_id, "status": "cancelled",
                         "nodes": scrub({n: e["status"] for n, e in state["nodes"].items()})})

    async def cancel(self, key: str, run_id: str) -> None:
        """Cancel a run this server is running (its node calls are cancelled; checkpoints stay)."""
        task = self.tasks.get((key, run_id))
        if task is None:
            raise BoardError(409, f"run {run_id} is not running here")
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    async def _paused(self, key: str, run_id: str, node: str) -> dict[str, Any]:
        wf = self.workflow(key)
        paused = await Checkpoints(self.store, wf.name, run_id).paused()
        if node not in paused:
            raise BoardError(409, f"node {node!r} of run {run_id} is not paused",
                             {"paused": [*sorted(paused)]})
        if (key, run_id) in self.tasks:
            raise BoardError(409, f"run {run_id} is still running")
        record = paused[node]
        kind = "breakpoint" if (record.message or "").startswith(BREAKPOINT_MESSAGE) else record.action
        return {"kind": kind, "message": record.message}

    async def approve(self, key: str, run_id: str, node: str, granted: bool, reason: str | None = None,
                      by: str = "web ui", input: JsonValue = None) -> None:
        """Approve or reject a node paused for approval (or answer one paused for input, with ``input``): the run
        resumes with that decision."""
        pause = await self._paused(key, run_id, node)
        if pause["kind"] == "breakpoint":
            raise BoardError(409, f"node {node!r} is at a breakpoint: step or continue it instead")
        if pause["kind"] == "input" and granted and input is None:
            raise BoardError(422, f"node {node!r} waits for input: send it with the approval")
        self._resume(key, run_id, {node: Approval(granted, input, by=by, reason=reason)})

    async def debug_step(self, key: str, run_id: str, node: str, action: Literal["continue", "step"],
                         arguments: Mapping[str, Any] | None = None) -> None:
        """Go on from a breakpoint: ``continue`` clears the run's breakpoints, ``step`` sets one on every other
        node; ``arguments`` (checked against the tool's schema first) replace the paused call's."""
        pause = await self._paused(key, run_id, node)
        if pause["kind"] != "breakpoint":
            raise BoardError(409, f"node {node!r} is paused for {pause['kind']}, not at a breakpoint")
        wf = self.workflow(key)
        if arguments is not None:
            try:
                problems = check_arguments(wf, node, arguments)
            except WorkflowConfigError as exc:
                raise BoardError(422, str(exc)) from exc
            if problems:
                raise BoardError(422, f"the arguments do not match {node}'s schema", problems)  # type: ignore[arg-type]  # a list of messages is JSON
        chosen = [] if action == "continue" else [name for name in wf.plan.order if name != node]
        self.points.set(run_id, chosen)
        self._run_state(key, run_id)["breakpoints"] = chosen
        self._resume(key, run_id, {node: continue_from(node, arguments, by="web ui")})

    def _resume(self, key: str, run_id: str, approvals: Mapping[str, Approval]) -> None:
        executor = self.executors.get((key, run_id), "local")
        self._run_state(key, run_id)["status"] = "running"  # at once, so no page reads the old pause as current
        self._launch(key, run_id, self.debug[key].resume(run_id, checkpoint=self.store, executor=executor,
                                                         approvals=approvals))


def _pause(run: Mapping[str, Any]) -> dict[str, JsonValue]:
    reason = run.get("reason") or ""
    if reason.startswith(BREAKPOINT_MESSAGE):
        return {"kind": "breakpoint", "message": reason}
    action = next((r.get("action") for r in run.get("results", ()) if isinstance(r, dict) and r.get("action")), None)
    kind = action.get("type", "approval") if isinstance(action, dict) else "approval"
    return {"kind": kind, "message": reason}
