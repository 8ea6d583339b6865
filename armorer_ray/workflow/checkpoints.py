"""Checkpoints: each succeeded node's run, kept in a `Store` so a failed run resumes without redoing them.

Layout, under ``workflow/<name>/<run id>/``: ``meta`` holds the workflow's structure fingerprint and the run's
inputs; ``node/<node>`` holds one `NodeRun` as JSON. Only succeeded nodes are written, when they settle; a
resumed run restores them and runs the rest. Spliced nodes are written under their own names, so an expansion
that is generated again with the same names reuses what already succeeded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import JsonValue
from pydantic_core import to_jsonable_python

from armorer_ray.json_values import digest
from armorer_ray.stores import Store, get_json, set_json
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
                           {"fingerprint": fingerprint, "inputs": json_inputs, "inputs_digest": digest(json_inputs)})
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
        return saved

    async def inputs(self) -> dict[str, JsonValue] | None:
        """The inputs a run was started with, or None when nothing was checkpointed under its id."""
        meta = await get_json(self.store, self._prefix + "meta")
        if isinstance(meta, dict) and isinstance(meta.get("inputs"), dict):
            return meta["inputs"]  # type: ignore[return-value]
        return None

    async def save(self, run: NodeRun) -> None:
        """Write a node's run when it succeeded (and was not itself restored).

        Raises:
            CheckpointError: when its output is not JSON.
        """
        if run.status == "succeeded" and not run.restored:
            await set_json(self.store, f"{self._prefix}node/{run.node}", run.to_json())
