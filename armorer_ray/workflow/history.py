"""Run history: the runs a checkpoint store holds for a workflow, whichever process ran them.

Read-only over the layout `armorer_ray.workflow.checkpoints` writes (``workflow/<name>/<run id>/...``): the
inputs and start time (``meta``), the succeeded nodes (``node/*``), the paused ones (``paused/*``) and how the
latest attempt ended (``finished``). A run with no ``finished`` record is still running, or its process died.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import JsonValue

from armorer_ray.stores import Store, get_json

__all__ = ["StoredRun", "list_runs", "read_run"]

StoredStatus = Literal["succeeded", "failed", "paused", "unfinished"]


@dataclass(frozen=True)
class StoredRun:
    """One checkpointed run, as a store shows it.

    Attributes:
        workflow: The workflow's name.
        run_id: The run's id.
        status: The latest attempt's status, or ``unfinished`` when it recorded no end.
        started_at: When it was first started (seconds since the epoch; 0 when unknown).
        finished_at: When its latest attempt ended (None: unfinished).
        inputs: Its inputs.
        nodes: Per node: the saved `NodeRun` JSON of a succeeded node, else what the end record says
            (``status``, ``reason``, ``error``, ``attempts``, ``duration_ms``); paused nodes add ``pause``.
    """

    workflow: str
    run_id: str
    status: StoredStatus
    started_at: float
    finished_at: float | None
    inputs: dict[str, JsonValue]
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)

    def summary(self) -> dict[str, JsonValue]:
        """The run without its nodes, as JSON."""
        return {"workflow": self.workflow, "run_id": self.run_id, "status": self.status,
                "started_at": self.started_at, "finished_at": self.finished_at, "inputs": self.inputs}


def _prefix(workflow: str, run_id: str = "") -> str:
    return f"workflow/{workflow}/{run_id}/" if run_id else f"workflow/{workflow}/"


async def read_run(store: Store, workflow: str, run_id: str) -> StoredRun | None:
    """One run of ``workflow`` in ``store``, or None when nothing was checkpointed under ``run_id``.

    Example:
        >>> import asyncio
        >>> from armorer_ray import tool
        >>> from armorer_ray.stores import MemoryStore
        >>> from armorer_ray.workflow import create_workflow
        >>> one = tool(name="one", description="Return 1.")(lambda: 1)
        >>> store = MemoryStore()
        >>> _ = create_workflow(nodes={"a": one}, name="tiny").run_sync(checkpoint=store, run_id="r1")
        >>> found = asyncio.run(read_run(store, "tiny", "r1"))
        >>> found.status, found.nodes["a"]["status"], found.nodes["a"]["output"]
        ('succeeded', 'succeeded', 1)
    """
    prefix = _prefix(workflow, run_id)
    meta = await get_json(store, prefix + "meta")
    if not isinstance(meta, dict):
        return None
    finished = await get_json(store, prefix + "finished")
    nodes: dict[str, dict[str, Any]] = {}
    ended = finished.get("nodes") if isinstance(finished, dict) else None
    if isinstance(ended, dict):
        nodes.update({name: dict(data) for name, data in ended.items() if isinstance(data, dict)})
    for key in await store.keys(prefix + "node/"):
        data = await get_json(store, key)
        if isinstance(data, dict) and data.get("status") == "succeeded":
            nodes[key.removeprefix(prefix + "node/")] = dict(data)
    paused = False
    for key in await store.keys(prefix + "paused/"):
        data = await get_json(store, key)
        name = key.removeprefix(prefix + "paused/")
        if isinstance(data, dict) and nodes.get(name, {}).get("status") != "succeeded":
            paused = True
            entry = nodes.setdefault(name, {})
            entry.update(status="paused", reason=data.get("message"),
                         pause={"action": data.get("action"), "message": data.get("message")})
    started = [float(n["started_at"]) for n in nodes.values() if n.get("started_at")]
    recorded = meta.get("started_at")
    started_at = float(recorded) if isinstance(recorded, int | float) else (min(started) if started else 0.0)
    status: StoredStatus = "unfinished"
    finished_at: float | None = None
    if isinstance(finished, dict):
        ended_at = finished.get("finished_at")
        finished_at = float(ended_at) if isinstance(ended_at, int | float) else None
        status = "paused" if paused else ("succeeded" if finished.get("status") == "succeeded" else "failed")
    inputs = meta.get("inputs")
    return StoredRun(workflow, run_id, status, started_at, finished_at,
                     dict(inputs) if isinstance(inputs, dict) else {}, nodes)


async def list_runs(store: Store, workflow: str, *, limit: int = 50) -> list[StoredRun]:
    """The runs of ``workflow`` in ``store``, newest first (by start time), at most ``limit``.

    Example:
        >>> import asyncio
        >>> from armorer_ray import tool
        >>> from armorer_ray.stores import MemoryStore
        >>> from armorer_ray.workflow import create_workflow
        >>> one = tool(name="one", description="Return 1.")(lambda: 1)
        >>> wf, store = create_workflow(nodes={"a": one}, name="tiny"), MemoryStore()
        >>> for run_id in ("old", "new"):
        ...     _ = wf.run_sync(checkpoint=store, run_id=run_id)
        >>> [run.run_id for run in asyncio.run(list_runs(store, "tiny"))]
        ['new', 'old']
    """
    prefix = _prefix(workflow)
    ids = sorted({key.removeprefix(prefix).removesuffix("/meta") for key in await store.keys(prefix)
                  if key.endswith("/meta") and key.count("/") == prefix.count("/") + 1})
    runs = [found for run_id in ids if (found := await read_run(store, workflow, run_id)) is not None]
    runs.sort(key=lambda run: run.started_at, reverse=True)
    return runs[:limit]
