"""Throughput with 1, 2 and 4 replicas and with autoscaling from 1, for a CPU-light and a CPU-heavy tool, side by
side; then how long autoscaling takes to reach its steady state, and how long a deployment takes to get its full
capacity back after every process of a worker node is killed.

Run: `.venv/bin/python benchmarks/scaling.py` (about five minutes). It starts its own local cluster with
`cluster/local.py` (head + 2 workers, 1 CPU each, stopped by process id at the end) and is its driver. Each case
runs a batch of calls through `Deployment.execute` after a warm-up batch; the figure is calls per second over the
measured batch. Replicas ask for 0 CPUs; per-replica concurrency is capped (8 light, 2 heavy calls) so that
replicas, not one replica's event loop, carry the load.

- light: ``await asyncio.sleep(0.02)``: waiting, as most tool calls do.
- heavy: ~20 ms of pure-Python arithmetic: one core per replica process at most, and the machine's cores cap
  everything above that.
- autoscale (cold): `Autoscaling(min_replicas=1, max_replicas=4, upscale_delay_s=0)` from one replica, timed from
  the first call, scale-up included; "steady after" is when the replica count last changed during that batch.
- autoscale (warm): the same deployment, a second batch right after (before it scales down).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import ray

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _table import machine_header, print_table

from armorer_ray import Toolbox, ToolCall, tool
from armorer_ray.actors import ActorOptions, Autoscaling, Deployment, DeploymentOptions, deploy

ROOT = Path(__file__).resolve().parents[1]
CALLS = {"light": 1_600, "heavy": 240}
CONCURRENCY = {"light": 8, "heavy": 2}


@tool(read_only=True, idempotent=True)
async def light(i: int) -> int:
    """Wait 20 ms (I/O-bound)."""
    await asyncio.sleep(0.02)
    return i


@tool(read_only=True, idempotent=True)
def heavy(i: int) -> int:
    """About 20 ms of arithmetic (CPU-bound)."""
    total = 0
    for k in range(120_000):
        total += k * k % 7
    return i + total % 1


def _local() -> Any:
    spec = importlib.util.spec_from_file_location("cluster_local", ROOT / "cluster" / "local.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _deploy(kind: str, replicas: int, autoscaling: Autoscaling | None = None) -> Deployment:
    cap = CONCURRENCY[kind]
    return deploy(Toolbox([light, heavy]), replicas, options=DeploymentOptions(max_concurrency=cap, batch_size=cap,
                                                                               max_queued=10_000),
                  actor_options=ActorOptions(num_cpus=0, placement_strategy="SPREAD"), autoscaling=autoscaling)


async def _throughput(dep: Deployment, kind: str) -> float:
    calls = [ToolCall(name=kind, arguments={"i": i}) for i in range(CALLS[kind])]
    started = time.perf_counter()
    results = await dep.execute(calls)
    elapsed = time.perf_counter() - started
    assert all(r.ok for r in results), [r.content for r in results if not r.ok][:3]
    return len(calls) / elapsed


async def _fixed(kind: str, replicas: int) -> float:
    dep = _deploy(kind, replicas)
    try:
        await dep.ready(timeout_s=180)
        await dep.execute([ToolCall(name=kind, arguments={"i": i}) for i in range(CONCURRENCY[kind] * replicas * 4)])
        return await _throughput(dep, kind)
    finally:
        await dep.shutdown(drain=False, timeout_s=5)


async def _autoscaled(kind: str) -> tuple[float, float, float, int]:
    policy = Autoscaling(min_replicas=1, max_replicas=4, target_ongoing_calls=CONCURRENCY[kind],
                         upscale_delay_s=0, downscale_delay_s=60, metrics_period_s=0.25)
    dep = _deploy(kind, 1, policy)
    try:
        await dep.ready(timeout_s=180)
        await dep.execute(ToolCall(name=kind, arguments={"i": 0}))
        changes: list[tuple[float, int]] = []
        done = asyncio.Event()

        async def watch() -> None:
            last = 1
            while not done.is_set():
                count = len((await dep.stats()).replicas)
                if count != last:
                    changes.append((time.perf_counter(), count))
                    last = count
                await asyncio.sleep(0.1)

        watcher = asyncio.ensure_future(watch())
        started = time.perf_counter()
        cold = await _throughput(dep, kind)
        done.set()
        await watcher
        steady_s = (changes[-1][0] - started) if changes else 0.0
        warm = await _throughput(dep, kind)
        return cold, warm, steady_s, len((await dep.stats()).replicas)
    finally:
        await dep.shutdown(drain=False, timeout_s=5)


async def _recovery(state: dict[str, Any]) -> tuple[float, float, float]:
    """Four light replicas on the workers; kill a worker node; time until all four are healthy again elsewhere."""
    dep = deploy(Toolbox([light, heavy]), 4, options=DeploymentOptions(max_concurrency=8, batch_size=8,
                                                                       health_period_s=1.0, unhealthy_after=2),
                 actor_options=ActorOptions(num_cpus=0, placement_strategy="SPREAD", resources={"worker_node": 0.001}))
    try:
        await dep.ready(timeout_s=180)
        before = await _throughput(dep, "light")
        nodes = {r.node_id for r in (await dep.stats()).replicas}
        victim = next(key for key, pid in state["workers_by_resource"].items()
                      if any(n["NodeID"] in nodes and key in n["Resources"] for n in _live_nodes()))
        killed_at = time.perf_counter()
        _local().kill_node(state, state["workers_by_resource"][victim])
        while True:
            stats = await dep.stats()
            if stats.healthy_replicas == 4 and len(stats.replicas) == 4 and stats.replacements >= 1:
                break
            if time.perf_counter() - killed_at > 600:
                raise TimeoutError("capacity not recovered within 600 s")
            await asyncio.sleep(0.25)
        recovered_s = time.perf_counter() - killed_at
        after = await _throughput(dep, "light")
        return recovered_s, before, after
    finally:
        await dep.shutdown(drain=False, timeout_s=5)


def _live_nodes() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = ray.nodes()  # type: ignore[no-untyped-call]
    return [row for row in rows if row["Alive"]]


async def main_async(state: dict[str, Any]) -> None:
    rows = []
    for kind in ("light", "heavy"):
        figures = {n: await _fixed(kind, n) for n in (1, 2, 4)}
        cold, warm, steady_s, reached = await _autoscaled(kind)
        base = figures[1]
        rows.append((kind, *(figures[n] for n in (1, 2, 4)), cold, warm,
                     f"{figures[2] / base:.2f}x / {figures[4] / base:.2f}x / {warm / base:.2f}x",
                     f"{steady_s:.1f} s ({reached})"))
    print(machine_header(["ray", "pydantic"]))
    print("machine shared with other jobs while measuring: figures are indicative, ratios more than absolutes")
    print_table("calls/s through Deployment.execute (local cluster: head + 2 workers)",
                ["tool", "1 replica", "2 replicas", "4 replicas", "autoscale cold", "autoscale warm",
                 "2 / 4 / auto-warm vs 1", "autoscale steady after (replicas)"], rows)
    recovered_s, before, after = await _recovery(state)
    print()
    print_table("worker node killed (all its processes), 4 SPREAD replicas on the 2 workers",
                ["case", "value"],
                [("light calls/s before", before), ("light calls/s after recovery", after),
                 ("time to full capacity (4 healthy replicas)", f"{recovered_s:.1f} s")])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.parse_args()
    local = _local()
    state = local.up(2, 1, 100 * 1024 * 1024)
    try:
        os.environ["RAY_AUTH_MODE"] = "disabled"
        ray.init(address=state["address"], log_to_driver=False)
        asyncio.run(main_async(state))
    finally:
        ray.shutdown()
        local.down(state)
        print(json.dumps({"cluster": "stopped"}), file=sys.stderr)


if __name__ == "__main__":
    main()
