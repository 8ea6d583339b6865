"""Checkpoints: each succeeded node's run, kept in a `Store` so a failed run resumes without redoing them.

Layout, under ``workflow/<name>/<run id>/``: ``meta`` holds the workflow's structure fingerprint and the run's
inputs; ``node/<node>`` holds one succeeded `NodeRun` as JSON; ``paused/<node>`` holds a `PausedNode` (what it
asked, and the id and argument digest of each call that paused), what `Workflow.resume` checks approvals against;
``finished`` holds how the latest attempt ended: the run's status and each node's status, reason and error.
Nodes are written when they settle; a resumed run restores the succeeded ones and runs the rest. A node that
later succeeds or fails loses its paused record; one skipped or cancelled keeps it (its call never ran again).
Spliced nodes are written under their own names, so an expansion that is generated again with the same names
reuses what already succeeded.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import JsonValue
from pydantic_core import to_jsonable_python

from armorer_ray.json_values import digest
from armorer_ray.stores import Store, get_json, set_json
from armorer_ray.workflow.approvals import PausedNode
from armorer_ray.workflow.errors import CheckpointError
from armorer_ray.workflow.results import NodeRun

__all__ = ["Checkpoints"]


class Checkpoints:
    """The checkpoints of one run of one workflow in a store.

    Args:
        store: Any `Store` (memory, SQLite, Redis, PostgreSQL).
        workflow: The workflow's name.
        run_id: The run's id.

    Example:
        >>> import asyncio
        >>> from armorer_ray.stores import MemoryStore
        >>> async def demo():
        ...     async with MemoryStore() as store:
        ...         marks = Checkpoints(store, "etl", "run-1")
        ...         await marks.open("fingerprint", {"day": "mon"})
        ...         await marks.save(NodeRun("fetch", "succeeded", output=[1, 2]))
        ...         return await Checkpoints(store, "etl", "run-1").open("fingerprint", {"day": "mon"})
        >>> asyncio.run(demo())["fetch"].output
        [1, 2]
    """

    def __init__(self, store: Store, workflow: str, run_id: str) -> None:
        self.store = store
        self._prefix = f"workflow/{workflow}/{run_id}/"
        self._workflow, self._run_id = workflow, run_id
        self._paused: set[str] = set()  # nodes with a paused record: only theirs are deleted when they settle

    async def open(self, fingerprint: str, inputs: Mapping[str, Any]) -> dict[str, NodeRun]:
        """Start or resume the run: record its structure and inputs, or check them; return the saved nodes.

        Args:
            fingerprint: A digest of the workflow's structure.
            inputs: The run's inputs.

        Returns:
            The succeeded nodes already saved for this run, by name (empty for a new run).

        Raises:
            CheckpointError: when the stored run has another structure or other inputs, or the inputs are not JSON.
        """
        try:
            json_inputs = to_jsonable_python(dict(inputs))
        except Exception as exc:
            raise CheckpointError(f"checkpointed runs need JSON inputs: {exc}") from exc
        meta = await get_json(self.store, self._prefix + "meta")
        if meta is None:
            await set_json(self.store, self._prefix + "meta",
                           {"fingerprint": fingerprint, "inputs": json_inputs, "inputs_digest": digest(json_inputs),
                            "started_at": time.time()})
            self._paused = set()
            return {}
        if not isinstance(meta, dict) or meta.get("fingerprint") != fingerprint:
            raise CheckpointError(f"run {self._run_id} of {self._workflow!r} was checkpointed by a workflow with "
                                  "another structure; start a new run id")
        if meta.get("inputs_digest") != digest(json_inputs):
            raise CheckpointError(f"run {self._run_id} of {self._workflow!r} was checkpointed with other inputs; "
                                  "resume it with the same inputs (Workflow.resume reads them back)")
        saved: dict[str, NodeRun] = {}
        for key in await self.store.keys(self._prefix + "node/"):
            data = await get_json(self.store, key)
            if isinstance(data, dict) and data.get("status") == "succeeded":
                run = NodeRun.from_json(data)
                saved[run.node] = run
        self._paused = {key.removeprefix(self._prefix + "paused/")
                        for key in await self.store.keys(self._prefix + "paused/")}
        return saved

    async def paused(self) -> dict[str, PausedNode]:
        """The nodes the run's latest attempt left paused, by name (none that has since succeeded).

        Example:
            >>> import asyncio
            >>> from armorer_ray import ToolCall
            >>> from armorer_ray.stores import MemoryStore
            >>> from armorer_ray.workflow.approvals import WaitingCall
            >>> call = ToolCall(id="run-1/publish", name="publish")
            >>> async def demo():
            ...     marks = Checkpoints(MemoryStore(), "site", "run-1")
            ...     await marks.open("fingerprint", {})
            ...     await marks.save(NodeRun("publish", "paused", reason="publish?", waiting=(WaitingCall.of(call),)))
            ...     return await marks.paused()
            >>> found = asyncio.run(demo())["publish"]
            >>> found.message, [waiting.call_id for waiting in found.calls]
            ('publish?', ['run-1/publish'])
        """
        succeeded = {key.removeprefix(self._prefix + "node/") for key in await self.store.keys(self._prefix + "node/")}
        found: dict[str, PausedNode] = {}
        for key in await self.store.keys(self._prefix + "paused/"):
            data = await get_json(self.store, key)
            if isinstance(data, dict):
                paused = PausedNode.from_json(data)
                if paused.node not in succeeded:  # a crash between writing the success and dropping the pause
                    found[paused.node] = paused
        return found

    async def inputs(self) -> dict[str, JsonValue] | None:
        """The inputs a run was started with, or None when nothing was checkpointed under its id."""
        meta = await get_json(self.store, self._prefix + "meta")
        if isinstance(meta, dict) and isinstance(meta.get("inputs"), dict):
            return meta["inputs"]  # type: ignore[return-value]
        return None

    async def save(self, run: NodeRun) -> None:
        """Record a node that settled (and was not itself restored): its run when it succeeded, its waiting calls
        when it paused; settling any other way but skipped or cancelled drops an earlier pause.

        Raises:
            CheckpointError: when its output is not JSON.
        """
        if run.restored:
            return
        if run.status == "succeeded":
            await set_json(self.store, f"{self._prefix}node/{run.node}", run.to_json())
        if run.status == "paused" and run.waiting:  # an expansion paused by a spliced node has no call waiting
            first = next((r.action for r in run.results if r.action is not None), None)
            record = PausedNode(run.node, first.type if first is not None else "approval", run.reason, run.waiting)
            await set_json(self.store, f"{self._prefix}paused/{run.node}", record.to_json())
            self._paused.add(run.node)
        elif run.status in ("succeeded", "failed", "paused") and run.node in self._paused:
            await self.store.delete(f"{self._prefix}paused/{run.node}")
            self._paused.discard(run.node)

    async def finish(self, status: str, runs: Iterable[NodeRun]) -> None:
        """Record how the run's latest attempt ended: its status and, per node, status, reason and error message.

        Run history (`armorer_ray.workflow.history`) reads it to show runs made by any process.
        """
        nodes: dict[str, JsonValue] = {
            run.node: {"status": run.status, "reason": run.reason,
                       "error": run.error.model_dump(mode="json") if run.error is not None else None,
                       "attempts": run.attempts, "duration_ms": run.duration_ms, "started_at": run.started_at}
            for run in runs}
        await set_json(self.store, self._prefix + "finished",
                       {"status": status, "finished_at": time.time(), "nodes": nodes})
