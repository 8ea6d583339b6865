"""A deployed toolbox against what a Ray user writes by hand, and against the toolbox in-process; one run.

Run: `.venv/bin/python -m benchmarks.actors` (or `make bench`). One local Ray runtime; every actor asks for 0 CPUs.
The same function (`add`) runs everywhere; every case is warmed up first, and cases are interleaved sample by
sample (latency) or round by round (throughput), so background load hits them alike.

Rows (issue 14), each beside its anchor:

- one call, p50 and p99: ``ray.get(raw.run.remote(1, 2))`` on a raw async actor, against
  ``dep.execute_sync(call)`` and ``ray.get(dep.submit(call))`` (and, for reference, the async forms:
  ``await raw.run.remote(...)`` against ``await dep.execute(call)``). Target: ours <= 1.1x raw, p50 and p99.
- a batch of 20,000 calls: in-process ``await toolbox.execute(calls)`` (same toolbox, in the driver), against
  ``await dep.execute(calls)`` on 1 and on 2 replicas. Targets: 1 replica >= 0.5x in-process; 2 replicas >= 1.8x
  of 1 replica. On a 2-core machine the driver, the replicas and everything else share the two cores, so the
  2-replica figure is bounded by how little the driver does per call; the load average is printed with the
  numbers.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import ray

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _table import machine_header, print_table

from armorer_ray import Toolbox, ToolCall, tool
from armorer_ray.actors import ActorOptions, Deployment, DeploymentOptions, deploy

SAMPLES = 1_500  # per latency case
BATCH = 20_000
ROUNDS = 5  # per throughput case


async def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@ray.remote(num_cpus=0, max_concurrency=64)
class RawActor:
    """The anchor: an async actor method that calls the same function directly."""

    async def run(self, a: int, b: int) -> int:
        return await add(a, b)


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def sample_sync(cases: dict[str, Callable[[], object]]) -> dict[str, list[float]]:
    """Time each case SAMPLES times (µs), one sample of each case in turn."""
    for case in cases.values():
        for _ in range(50):
            case()
    samples: dict[str, list[float]] = {name: [] for name in cases}
    clock = time.perf_counter
    for _ in range(SAMPLES):
        for name, case in cases.items():
            start = clock()
            case()
            samples[name].append((clock() - start) * 1e6)
    return samples


async def sample_async(cases: dict[str, Callable[[], Awaitable[object]]]) -> dict[str, list[float]]:
    """`sample_sync` for awaitables."""
    for case in cases.values():
        for _ in range(50):
            await case()
    samples: dict[str, list[float]] = {name: [] for name in cases}
    clock = time.perf_counter
    for _ in range(SAMPLES):
        for name, case in cases.items():
            start = clock()
            await case()
            samples[name].append((clock() - start) * 1e6)
    return samples


async def throughput(cases: dict[str, Callable[[], Awaitable[list[object]]]]) -> dict[str, list[float]]:
    """Calls/s of each case per round (one warm-up round first), rounds interleaved."""
    for case in cases.values():
        await case()
    rates: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(ROUNDS):
        for name, case in cases.items():
            start = time.perf_counter()
            results = await case()
            elapsed = time.perf_counter() - start
            assert len(results) == BATCH
            rates[name].append(BATCH / elapsed)
    return rates


def make_deployment(replicas: int) -> Deployment:
    options = DeploymentOptions(max_queued=BATCH, health_period_s=30)
    return deploy(Toolbox([tool(add)]), replicas, actor_options=ActorOptions(num_cpus=0), options=options)


def latency_rows(samples: dict[str, list[float]], pairs: list[tuple[str, str, str]]) -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = []
    for label, ours, anchor in pairs:
        for name, q in (("p50", 0.5), ("p99", 0.99)):
            mine, theirs = percentile(samples[ours], q), percentile(samples[anchor], q)
            rows.append((f"{label}, {name}", mine, theirs, mine / theirs, "<= 1.10",
                         "met" if mine / theirs <= 1.10 else "NOT met"))
    return rows


def main() -> int:
    ray.init(num_cpus=8, include_dashboard=False, log_to_driver=False)
    print(machine_header(["ray", "pydantic", "armorer-ray"]))
    print(f"load average at start: {load()} (1, 5, 15 min; other processes compete for the same cores)\n")
    raw = RawActor.remote()
    one, two = make_deployment(1), make_deployment(2)
    asyncio.run(one.ready())
    asyncio.run(two.ready())
    call = ToolCall(name="add", arguments={"a": 1, "b": 2})
    assert one.execute_sync(call).result == 3
    assert ray.get(one.submit(call)).result == 3

    sync = sample_sync({
        "raw": lambda: ray.get(raw.run.remote(1, 2)),
        "execute_sync": lambda: one.execute_sync(call),
        "submit": lambda: ray.get(one.submit(call)),
    })

    async def async_part() -> tuple[dict[str, list[float]], dict[str, list[float]]]:
        latency = await sample_async({
            "raw async": lambda: raw.run.remote(1, 2),
            "execute": lambda: one.execute(call),
        })
        toolbox = Toolbox([tool(add)])
        calls = [ToolCall(name="add", arguments={"a": i, "b": 1}) for i in range(BATCH)]
        rates = await throughput({
            "in-process": lambda: toolbox.execute(calls),
            "1 replica": lambda: one.execute(calls),
            "2 replicas": lambda: two.execute(calls),
        })
        return latency, rates

    asynchronous, rates = asyncio.run(async_part())
    samples = {**sync, **asynchronous}
    print_table(f"One call through an actor (µs; {SAMPLES} samples per case, interleaved)",
                ["case", "ours µs", "raw actor µs", "ours / raw", "target", ""],
                latency_rows(samples, [
                    ("execute_sync vs ray.get(raw.remote)", "execute_sync", "raw"),
                    ("ray.get(submit) vs ray.get(raw.remote)", "submit", "raw"),
                    ("await execute vs await raw.remote", "execute", "raw async"),
                ]))
    print()
    best = {name: max(values) for name, values in rates.items()}
    median = {name: statistics.median(values) for name, values in rates.items()}
    rows: list[tuple[object, ...]] = [("in-process Toolbox.execute(list)", best["in-process"],
                                       median["in-process"], "anchor", "", "", "")]
    for name, anchor, target in (("1 replica", "in-process", 0.5), ("2 replicas", "1 replica", 1.8)):
        ratio = best[name] / best[anchor]
        rows.append((f"Deployment.execute(list), {name}", best[name], median[name],
                     f"vs {anchor}", ratio, f">= {target}", "met" if ratio >= target else "NOT met"))
    print_table(f"A batch of {BATCH:,} calls (calls/s; best and median of {ROUNDS} interleaved rounds)",
                ["case", "best calls/s", "median calls/s", "ratio of best", "", "target", ""], rows)
    print(f"\nload average at end: {load()}")
    for dep in (one, two):
        dep.shutdown_sync(drain=False)
    ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
