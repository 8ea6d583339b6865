"""The driver's record of a run: node runs in settle order, node events on the workflow's hub, checkpoints.

Event types, each with ``run_id``, ``workflow`` and (for node events) ``node`` in its detail:
``run.started``; ``node.queued`` (every node, when the run is accepted); ``node.started`` (its calls begin);
``node.retrying`` (with ``attempt`` and ``error``); then one of ``node.succeeded``, ``node.failed``,
``node.skipped``, ``node.cancelled``, ``node.paused`` (with ``run``, the `NodeRun`, and ``restored``);
finally ``run.finished`` (with ``result``, the `RunResult`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from armorer_ray.errors import ToolError
from armorer_ray.events import EventHub
from armorer_ray.workflow.checkpoints import Checkpoints
from armorer_ray.workflow.results import NodeRun

__all__ = ["RunRecorder"]


class RunRecorder:
    """Collects a run's node runs, emits their events and writes their checkpoints."""

    def __init__(self, hub: EventHub, workflow: str, run_id: str, checkpoints: Checkpoints | None) -> None:
        self.hub, self.workflow, self.run_id = hub, workflow, run_id
        self.checkpoints = checkpoints
        self.nodes: dict[str, NodeRun] = {}
        self._started: set[str] = set()

    def emit(self, kind: str, **detail: object) -> None:
        """Emit an event tagged with this run, if anyone listens."""
        if self.hub.wants(kind):
            self.hub.emit(kind, {"run_id": self.run_id, "workflow": self.workflow, **detail})

    def queued(self, nodes: Iterable[str]) -> None:
        """Every node of the plan is accepted into the run."""
        for node in nodes:
            self.emit("node.queued", node=node)

    def started(self, node: str) -> None:
        """A node's calls begin (reported once)."""
        if node not in self._started:
            self._started.add(node)
            self.emit("node.started", node=node)

    def retrying(self, node: str, attempt: int, error: ToolError) -> None:
        """A node's failed call will run again."""
        self.emit("node.retrying", node=node, attempt=attempt, error=error)

    async def settled(self, run: NodeRun, *, with_children: bool = False) -> None:
        """A node ended: record it, report it, and checkpoint it when it succeeded.

        Args:
            run: The node's run.
            with_children: Also record its spliced nodes first (they ran where no event could reach us).
        """
        if with_children:
            for child in run.children:
                await self.settled(child, with_children=True)
        if run.status not in ("skipped",) and not run.restored and run.node not in self._started:
            # On Ray a node's start is learnt with its result; report it first, so every node's events keep order.
            self.started(run.node)
        for attempt, error in run.retries:  # retries made on a Ray worker, reported where the local executor would
            self.retrying(run.node, attempt, error)
        flat = replace(run, children=(), retries=()) if run.children or run.retries else run
        self.nodes[run.node] = flat
        self.emit(f"node.{run.status}", node=run.node, run=flat, restored=run.restored)
        if self.checkpoints is not None:
            await self.checkpoints.save(flat)
