"""Layered DAGs (100 and 1,000 nodes) through armorer-ray's workflow engine on Ray, beside the same DAG by hand.

Run: `python -m benchmarks.workflow` (or `make bench`). One process, one local Ray runtime, the same node function
and graph for every case; warm-up runs start the workers (and compile the compiled case), then rounds are
interleaved so background load hits the cases alike, and each figure is the median of its rounds.

Cases, for each DAG:
- ``plain ObjectRef composition`` (the anchor): each node a plain ``@ray.remote`` task given its parents' refs,
  submitted at once in topological order, then ``ray.get`` of the sinks. What a Ray user writes by hand: no
  validation, no policy, no events, no per-node result.
- ``executor="ray"``: ``create_workflow`` of the same graph run with `RayWorkflowExecutor()`, every feature on:
  each node a ToolCall through the toolbox's pipeline (validation, the default argument-bounds policy), a retry
  policy on every node, ``on_error="fail_fast"``, a listener on every node event, a checkpoint of every node into a
  `MemoryStore`, and a `NodeRun` (with its ToolResult) per node in the result.
- the same with ``batch=False``: one Ray task per node, as the anchor has.
- ``compiled``: `CompiledRayExecutor` (opt-in, fixed-shape workflows), the same features, on 2 warm actors.

Targets (issue 14): ``executor="ray"`` at most 1.1x the anchor; compiled at most 0.5x.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("RAY_DEDUP_LOGS", "0")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import ray
from _table import machine_header, print_table

from armorer_ray import Toolbox, tool
from armorer_ray.events import Event
from armorer_ray.stores import MemoryStore
from armorer_ray.workflow import Node, NodeRetry, Workflow, create_workflow
from armorer_ray.workflow.compiled import CompiledRayExecutor
from armorer_ray.workflow.ray_executor import RayWorkflowExecutor

SHAPES = ((10, 10, 15), (20, 50, 5))  # (layers, width, rounds): 100 and 1,000 nodes
FAN_IN = 3
Graph = dict[str, tuple[int, list[str]]]


def combine(name: str, salt: int, upstream: dict[str, int]) -> dict[str, int]:
    """The node's work: a little arithmetic over its parents' values."""
    return {name: (salt + sum(upstream.values())) % 1_000_003}


@tool
async def step(name: str, salt: int, **upstream: int) -> dict[str, int]:
    """One node of the benchmark DAG (async, as I/O-bound agent tools are: no worker thread per call)."""
    return combine(name, salt, upstream)


@ray.remote
def plain_step(name: str, salt: int, *parents: dict[str, int]) -> dict[str, int]:
    merged: dict[str, int] = {}
    for parent in parents:
        merged.update(parent)
    return combine(name, salt, merged)


def layered_graph(layers: int, width: int, seed: int = 1) -> Graph:
    """``{node: (salt, parents)}``: layers of ``width`` nodes, each drawing up to 3 parents from the layer above."""
    rng = random.Random(seed)
    graph: Graph = {}
    for layer in range(layers):
        for index in range(width):
            above = [f"l{layer - 1}n{i}" for i in range(width)] if layer else []
            graph[f"l{layer}n{index}"] = (rng.randrange(1000), sorted(rng.sample(above, min(FAN_IN, len(above)))))
    return graph


def run_plain(graph: Graph) -> dict[str, int]:
    refs: dict[str, Any] = {}
    for name, (salt, parents) in graph.items():
        refs[name] = plain_step.remote(name, salt, *(refs[p] for p in parents))
    children = {p for _, parents in graph.values() for p in parents}
    return {k: v for out in ray.get([refs[n] for n in graph if n not in children]) for k, v in out.items()}


def workflow_of(graph: Graph) -> Workflow:
    retry = NodeRetry(attempts=2)
    nodes = {name: Node(step, arguments={"name": name, "salt": salt}, retry=retry) for name, (salt, _) in graph.items()}
    edges = [(parent, name) for name, (_, parents) in graph.items() for parent in parents]
    return create_workflow(nodes=nodes, edges=edges, toolbox=Toolbox([step]),
                           entry=[n for n, (_, ps) in graph.items() if not ps], name=f"bench{len(graph)}")


async def timed(run: Callable[[], Awaitable[object]], rounds: list[float]) -> None:
    start = time.perf_counter()
    await run()
    rounds.append((time.perf_counter() - start) * 1000.0)


async def measure(layers: int, width: int, rounds: int, compiled: CompiledRayExecutor) -> list[list[object]]:
    graph = layered_graph(layers, width)
    wf = workflow_of(graph)
    events: list[Event] = []
    wf.events.on(["node.started", "node.succeeded", "node.failed", "node.retrying"], events.append)
    store = MemoryStore()

    def ours(executor: Any) -> Callable[[], Awaitable[object]]:
        async def run() -> object:
            result = await wf.run(executor=executor, on_error="fail_fast", checkpoint=store)
            assert result.ok, result.by_status("failed")
            return result
        return run

    async def plain() -> object:
        return run_plain(graph)

    cases: dict[str, Callable[[], Awaitable[object]]] = {
        "plain": plain, "ray": ours(RayWorkflowExecutor()), "ray, batch=False": ours(RayWorkflowExecutor(batch=False)),
        "compiled": ours(compiled)}
    expected = run_plain(graph)
    await compiled.compile(wf)
    for name in ("ray", "ray, batch=False", "compiled"):
        result: Any = await cases[name]()
        got = {k: v for out in result.outputs.values() for k, v in out.items()}
        assert got == expected, f"{name} disagrees with the hand-written DAG"
    for run in cases.values():  # warm-up: workers started, imports done, caches filled
        await run()
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, run in cases.items():
            await timed(run, times[name])
    assert len(events) == 2 * len(graph) * 3 * (rounds + 2)  # each node started and succeeded, in every run
    ms = {name: statistics.median(values) for name, values in times.items()}
    # Each round's ratio to that round's anchor, then their median: load that drifts between rounds cancels out.
    ratio = {name: statistics.median(v / p for v, p in zip(values, times["plain"], strict=True))
             for name, values in times.items()}
    label = f"{len(graph)} nodes ({layers}x{width})"
    return [[f"{label}: plain ObjectRef composition", ms["plain"], 1.0],
            [f"{label}: executor='ray'", ms["ray"], ratio["ray"]],
            [f"{label}: executor='ray', batch=False", ms["ray, batch=False"], ratio["ray, batch=False"]],
            [f"{label}: CompiledRayExecutor", ms["compiled"], ratio["compiled"]]]


async def main() -> int:
    ray.init(include_dashboard=False, log_to_driver=False)
    compiled = CompiledRayExecutor(actors=2)
    rows: list[list[object]] = []
    try:
        for layers, width, rounds in SHAPES:
            rows.extend(await measure(layers, width, rounds, compiled))
    finally:
        await compiled.close()
    print(machine_header(["ray", "pydantic", "armorer-ray"]))
    print(f"layered DAGs, up to {FAN_IN} parents a node; ours with validation, policy, retries, fail_fast, events "
          f"and checkpoints on; median of interleaved rounds after warm-up; load average {os.getloadavg()[0]:.1f}")
    print_table("Ray: wall time per DAG run", ["case", "median ms", "median ratio to plain (per round)"], rows)
    ray.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
