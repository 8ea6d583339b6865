"""Where a Ray workflow run's time goes: the driver under cProfile, the workers from Ray's timeline.

Run: `PYTHONPATH=. python -m benchmarks.workflow_profile [--batch/--no-batch] [--compiled]` from the repository
root. It runs the 100-node layered DAG of `benchmarks.workflow` beside plain ObjectRef composition, prints the
two medians, the driver's top functions over 5 runs of ours, and each task kind's median time per phase
(deserialize arguments, execute, store outputs) from ``ray.timeline`` (docs/performance.md reads them).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import cProfile
import json
import pstats
import statistics
import tempfile
import time
from typing import Any

import ray

from armorer_ray.stores import MemoryStore
from armorer_ray.workflow.compiled import CompiledRayExecutor
from armorer_ray.workflow.ray_executor import RayWorkflowExecutor
from benchmarks.workflow import layered_graph, run_plain, workflow_of


def phases(path: str) -> dict[str, dict[str, float]]:
    """Per task name, the median microseconds of the task and of each of its phases."""
    with open(path) as handle:
        events = [e for e in json.load(handle) if e.get("ph") == "X"]
    tasks = [e for e in events if not e["name"].startswith("task:") and e["name"] != "submit_task"]
    by_worker: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for event in events:
        if event["name"].startswith("task:"):
            by_worker[event["tid"]].append(event)
    out: dict[str, dict[str, list[float]]] = collections.defaultdict(lambda: collections.defaultdict(list))
    for task in tasks:
        out[task["name"]]["total"].append(task["dur"])
        for part in by_worker[task["tid"]]:
            if task["ts"] <= part["ts"] <= task["ts"] + task["dur"]:
                out[task["name"]][part["name"]].append(part["dur"])
    return {name: {k: statistics.median(v) for k, v in parts.items()} for name, parts in out.items()}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--compiled", action="store_true")
    args = parser.parse_args()
    ray.init(include_dashboard=False, log_to_driver=False)
    graph = layered_graph(10, 10)
    wf = workflow_of(graph)
    executor: Any = CompiledRayExecutor() if args.compiled else RayWorkflowExecutor(batch=args.batch)
    wf.events.on(["node.started", "node.succeeded", "node.failed", "node.retrying"], lambda event: None)
    store = MemoryStore()

    async def ours_once() -> None:  # every feature on, as benchmarks/workflow.py runs it
        await wf.run(executor=executor, on_error="fail_fast", checkpoint=store)

    for _ in range(3):
        run_plain(graph)
        await ours_once()
    plain, ours = [], []
    for _ in range(7):
        start = time.perf_counter()
        run_plain(graph)
        plain.append(time.perf_counter() - start)
        start = time.perf_counter()
        await ours_once()
        ours.append(time.perf_counter() - start)
    print(f"plain {statistics.median(plain) * 1000:.1f} ms, ours {statistics.median(ours) * 1000:.1f} ms")
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(5):
        await ours_once()
    profile.disable()
    pstats.Stats(profile).sort_stats("cumulative").print_stats(40)
    with tempfile.NamedTemporaryFile(suffix=".json") as handle:
        ray.timeline(handle.name)
        for name, parts in phases(handle.name).items():
            print(name, {k: round(v) for k, v in parts.items()})
    if isinstance(executor, CompiledRayExecutor):
        await executor.close()
    ray.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
