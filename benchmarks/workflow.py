"""A 100-node layered DAG through armorer-ray's workflow engine on Ray, against the same DAG by hand with ray.dag.

Run: `.venv/bin/python benchmarks/workflow.py` (or `make bench`). One process, one local Ray runtime, the same
node function and graph for every case; a warm-up run per case starts the workers, then rounds are interleaved
so background load hits the cases alike, and each figure is the median of its rounds.

Cases:
- ``ray.dag``: each node a plain ``@ray.remote`` function bound to its parents' nodes, ``dag.execute()`` on a
  ``MultiOutputNode`` of the sinks, then ``ray.get``. No validation, no pipeline, no per-node result.
- ``armorer-ray (ray)``: ``create_workflow`` of the same graph, ``executor="ray"``: every node a ToolCall through
  the toolbox's pipeline in a Ray task, upstream refs passed as top-level arguments, and every node's
  `NodeRun` (with its ToolResult) returned and reported as events.
- ``armorer-ray (local)`` against ``toolbox.execute`` of the same 100 calls one after another: what the local
  scheduler adds per node on top of the pipeline.

Target (issue 6): the Ray case within 1.2x of ray.dag's wall time.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("RAY_DEDUP_LOGS", "0")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import ray
from _table import machine_header, print_table
from ray.dag import InputNode, MultiOutputNode

from armorer_ray import Toolbox, ToolCall, tool
from armorer_ray.workflow import Node, create_workflow
from armorer_ray.workflow.ray_executor import RayWorkflowExecutor

warnings.filterwarnings("ignore", message=r".*DAGNode\.execute")  # deprecated, but it is what we compare against

LAYERS, WIDTH, FAN_IN = 10, 10, 3
ROUNDS = 9


def combine(name: str, salt: int, upstream: dict[str, int]) -> dict[str, int]:
    """The node's work: a little arithmetic over its parents' values."""
    return {name: (salt + sum(upstream.values())) % 1_000_003}


@tool
async def step(name: str, salt: int, **upstream: int) -> dict[str, int]:
    """One node of the benchmark DAG (async, as I/O-bound agent tools are: no worker thread per call)."""
    return combine(name, salt, upstream)


@ray.remote
def dag_step(name: str, salt: int, *parents: dict[str, int]) -> dict[str, int]:
    merged: dict[str, int] = {}
    for parent in parents:
        merged.update(parent)
    return combine(name, salt, merged)


def layered_graph(seed: int = 1) -> dict[str, tuple[int, list[str]]]:
    """``{node: (salt, parents)}``: 10 layers of 10, each node drawing up to 3 parents from the layer above."""
    rng = random.Random(seed)
    graph: dict[str, tuple[int, list[str]]] = {}
    for layer in range(LAYERS):
        for index in range(WIDTH):
            above = [f"l{layer - 1}n{i}" for i in range(WIDTH)] if layer else []
            graph[f"l{layer}n{index}"] = (rng.randrange(1000), sorted(rng.sample(above, min(FAN_IN, len(above)))))
    return graph


def build_ray_dag(graph: dict[str, tuple[int, list[str]]]) -> MultiOutputNode:
    with InputNode() as _:
        bound = {}
        for name, (salt, parents) in graph.items():
            bound[name] = dag_step.bind(name, salt, *(bound[p] for p in parents))
        children = {p for _, parents in graph.values() for p in parents}
        return MultiOutputNode([bound[name] for name in graph if name not in children])


async def median_ms(run: object, rounds: list[float]) -> None:
    start = time.perf_counter()
    await run  # type: ignore[misc]
    rounds.append((time.perf_counter() - start) * 1000.0)


async def main() -> int:
    ray.init(include_dashboard=False, log_to_driver=False)
    graph = layered_graph()
    box = Toolbox([step])
    nodes = {name: Node(step, arguments={"name": name, "salt": salt}) for name, (salt, _) in graph.items()}
    edges = [(parent, name) for name, (_, parents) in graph.items() for parent in parents]
    wf = create_workflow(nodes=nodes, edges=edges, toolbox=box, entry=[n for n, (_, ps) in graph.items() if not ps])
    dag = build_ray_dag(graph)
    executor = RayWorkflowExecutor()

    async def run_dag() -> object:
        return await asyncio.gather(*dag.execute(0))

    async def run_ours() -> object:
        result = await wf.run(executor=executor)
        assert result.ok
        return result

    async def run_local() -> object:
        return await wf.run()

    calls = [ToolCall(name="step", arguments={"name": n, "salt": s}) for n, (s, _) in graph.items()]

    async def run_calls() -> object:
        return [await box.execute(call) for call in calls]

    expected = {k: v for out in await run_dag() for k, v in out.items()}
    ours = (await run_ours()).outputs
    assert {k: v for out in ours.values() for k, v in out.items()} == expected, "the two DAGs disagree"
    cases = {"ray.dag": run_dag, "armorer-ray (ray)": run_ours, "armorer-ray (local)": run_local,
             "toolbox.execute x100": run_calls}
    for fn in cases.values():  # warm-up: workers started, imports done, caches filled
        await fn()
        await fn()
    rounds: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(ROUNDS):
        for name, fn in cases.items():
            await median_ms(fn(), rounds[name])
    ms = {name: statistics.median(values) for name, values in rounds.items()}
    nodes_count = len(graph)
    print(machine_header(["ray", "pydantic", "armorer-ray"]))
    print(f"{nodes_count}-node layered DAG ({LAYERS} layers x {WIDTH}, up to {FAN_IN} parents), "
          f"{len(edges)} edges; median of {ROUNDS} interleaved rounds after warm-up; ray.init() on this machine")
    print_table("Ray: wall time per DAG run", ["case", "ms", "ratio to ray.dag"], [
        ["ray.dag (bind/execute)", ms["ray.dag"], 1.0],
        ["armorer-ray executor='ray'", ms["armorer-ray (ray)"], ms["armorer-ray (ray)"] / ms["ray.dag"]],
    ])
    per_node_local = ms["armorer-ray (local)"] / nodes_count * 1000.0
    per_call = ms["toolbox.execute x100"] / nodes_count * 1000.0
    print()
    print_table("Local executor: cost per node", ["case", "us per node"], [
        ["armorer-ray executor='local'", per_node_local],
        ["toolbox.execute, sequential", per_call],
        ["scheduler overhead per node", per_node_local - per_call],
    ])
    ray.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
