"""A deployed toolbox against raw Ray actors calling the same function, side by side in one run.

Run: `.venv/bin/python benchmarks/actors.py` (or `make bench`). One local Ray runtime; every actor asks for 0 CPUs.
Cases, after a warm-up, interleaved round by round so background load hits them alike, best round kept:

- latency of one call: a raw async actor method that awaits the function, against `await dep.execute(call)`;
- per-call throughput: the same two with 200 calls in flight at once;
- batched throughput: `await dep.execute(calls)` with 2,000 calls (chunks of `batch_size`, one round trip each),
  against a raw actor method taking the whole list (the floor: no validation, no results per call);
- throughput with 1, 2 and 4 replicas (batched, and 200 concurrent single calls).

Targets (issue 5): one call within 1.25x of the raw round trip; batched throughput at least 10x the raw per-call
throughput (taken here as the better of raw sequential and raw concurrent, the stricter reading).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import ray

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _table import machine_header, print_table

from armorer_ray import Toolbox, ToolCall, tool
from armorer_ray.actors import ActorOptions, Deployment, DeploymentOptions, deploy

ROUNDS = 9
SEQUENTIAL = 150
CONCURRENT = 200
BATCH = 2_000


async def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@ray.remote(num_cpus=0, max_concurrency=64)
class RawActor:
    """The comparison: an async actor method that calls the same function directly."""

    async def run(self, a: int, b: int) -> int:
        return await add(a, b)

    async def run_many(self, pairs: list[tuple[int, int]]) -> list[int]:
        return [await add(a, b) for a, b in pairs]


Case = tuple[str, Callable[[], Awaitable[float]]]


async def best_rounds(cases: list[Case]) -> dict[str, float]:
    """Run each case once to warm up, then ROUNDS times interleaved; keep each case's best (lowest) figure."""
    for _, case in cases:
        await case()
    rounds: dict[str, list[float]] = {name: [] for name, _ in cases}
    for _ in range(ROUNDS):
        for name, case in cases:
            rounds[name].append(await case())
    return {name: min(values) for name, values in rounds.items()}


def sequential_us(call: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[float]]:
    async def run() -> float:
        start = time.perf_counter()
        for _ in range(SEQUENTIAL):
            await call()
        return (time.perf_counter() - start) / SEQUENTIAL * 1e6

    return run


def concurrent_us(call: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[float]]:
    async def run() -> float:
        start = time.perf_counter()
        await asyncio.gather(*(call() for _ in range(CONCURRENT)))
        return (time.perf_counter() - start) / CONCURRENT * 1e6

    return run


def batched_us(run_batch: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[float]]:
    async def run() -> float:
        start = time.perf_counter()
        await run_batch()
        return (time.perf_counter() - start) / BATCH * 1e6

    return run


def make_deployment(replicas: int) -> Deployment:
    toolbox = Toolbox([tool(add)])
    options = DeploymentOptions(max_concurrency=256, batch_size=256, max_queued=10_000, health_period_s=30)
    return deploy(toolbox, replicas, actor_options=ActorOptions(num_cpus=0), options=options)


async def main() -> int:
    ray.init(num_cpus=8, include_dashboard=False, log_to_driver=False)
    print(machine_header(["ray", "pydantic", "armorer-ray"]))
    print(f"load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())} "
          "(a shared machine: other processes compete for the same cores)\n")
    raw = RawActor.remote()
    deployments = {n: make_deployment(n) for n in (1, 2, 4)}
    for dep in deployments.values():
        await dep.ready()
    await raw.run.remote(1, 2)
    one = deployments[1]
    call = ToolCall(name="add", arguments={"a": 1, "b": 2})
    calls = [ToolCall(name="add", arguments={"a": i, "b": 1}) for i in range(BATCH)]
    pairs = [(i, 1) for i in range(BATCH)]

    head = await best_rounds([
        ("raw sequential", sequential_us(lambda: raw.run.remote(1, 2))),
        ("ours sequential", sequential_us(lambda: one.execute(call))),
        ("raw concurrent", concurrent_us(lambda: raw.run.remote(1, 2))),
        ("ours concurrent", concurrent_us(lambda: one.execute(call))),
        ("raw batched", batched_us(lambda: raw.run_many.remote(pairs))),
        ("ours batched", batched_us(lambda: one.execute(calls))),
    ])
    raw_per_call_best = min(head["raw sequential"], head["raw concurrent"])
    print_table("Latency and throughput, 1 replica (µs per call; calls/s = 1e6 / µs)",
                ["case", "ours µs", "raw Ray µs", "ours / raw", "ours calls/s", "raw calls/s"], [
        ("one call, sequential", head["ours sequential"], head["raw sequential"],
         head["ours sequential"] / head["raw sequential"], 1e6 / head["ours sequential"],
         1e6 / head["raw sequential"]),
        (f"{CONCURRENT} calls in flight", head["ours concurrent"], head["raw concurrent"],
         head["ours concurrent"] / head["raw concurrent"], 1e6 / head["ours concurrent"],
         1e6 / head["raw concurrent"]),
        (f"batch of {BATCH} (raw: one list call)", head["ours batched"], head["raw batched"],
         head["ours batched"] / head["raw batched"], 1e6 / head["ours batched"], 1e6 / head["raw batched"]),
    ])
    single_ratio = head["ours sequential"] / head["raw sequential"]
    batched_gain = raw_per_call_best / head["ours batched"]
    print()
    print(f"target 1: one call within 1.25x of the raw round trip: {single_ratio:.2f}x "
          f"-> {'met' if single_ratio <= 1.25 else 'NOT met'}")
    print(f"target 2: batched throughput >= 10x raw per-call throughput (best raw per-call: "
          f"{1e6 / raw_per_call_best:,.0f}/s): {batched_gain:.1f}x -> {'met' if batched_gain >= 10 else 'NOT met'}")
    print()

    scaling = await best_rounds([
        case for n, dep in deployments.items() for case in (
            (f"{n} batched", batched_us(lambda dep=dep: dep.execute(calls))),  # type: ignore[misc]
            (f"{n} concurrent", concurrent_us(lambda dep=dep: dep.execute(call))),  # type: ignore[misc]
        )
    ])
    base_batched, base_concurrent = scaling["1 batched"], scaling["1 concurrent"]
    print_table(f"Throughput by replica count (calls/s; on {os.cpu_count()} cores, replicas share them)",
                ["replicas", "batched calls/s", "vs 1 replica", f"{CONCURRENT} in flight calls/s", "vs 1 replica"],
                [(n, 1e6 / scaling[f"{n} batched"], base_batched / scaling[f"{n} batched"],
                  1e6 / scaling[f"{n} concurrent"], base_concurrent / scaling[f"{n} concurrent"])
                 for n in deployments])
    for dep in deployments.values():
        await dep.shutdown(drain=False)
    ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
