"""Where a deployment's time goes: cProfile on the driver, py-spy on a replica (not a benchmark; no table).

Run: `python -m benchmarks.profile_deployment CASE [--spy]` with CASE one of ``sync`` (``execute_sync`` of one
call, repeated), ``submit`` (``ray.get(dep.submit(call))``), ``batch`` (``await dep.execute(20,000 calls)`` on one
replica). Prints the driver's cProfile (top functions by own time) for the measured loop; with ``--spy`` it also
records the replica process with ``py-spy record`` while the loop runs and prints the replica's functions by own
samples. docs/performance.md ("Deployments") holds the findings.
"""

from __future__ import annotations

import asyncio
import collections
import cProfile
import os
import pstats
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import ray

from armorer_ray import Toolbox, ToolCall, tool
from armorer_ray.actors import ActorOptions, Deployment, DeploymentOptions, deploy

SINGLE = 3_000
BATCH = 20_000
BATCH_ROUNDS = 4


async def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def _function(frame: str) -> str:
    return frame.rsplit(":", 1)[0] + ")" if frame.endswith(")") else frame  # drop the line number


def top_samples(raw_file: Path, limit: int = 25) -> tuple[list[str], list[str]]:
    """Own and inclusive samples per function from py-spy's ``raw`` (collapsed stacks) output."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw_file.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        frames = [_function(frame) for frame in stack.split(";")]
        own[frames[-1]] += int(count)
        for frame in set(frames):
            inclusive[frame] += int(count)
        total += int(count)

    def lines(counter: collections.Counter[str]) -> list[str]:
        return [f"{100 * n / max(1, total):5.1f}%  {frame}" for frame, n in counter.most_common(limit)]

    return lines(own), lines(inclusive)


def start_spy(pid: int, seconds: int) -> tuple[subprocess.Popen[bytes], Path]:
    out = Path(tempfile.mkdtemp()) / "replica.txt"
    spy = Path(sys.executable).parent / "py-spy"
    process = subprocess.Popen([str(spy), "record", "-p", str(pid), "-d", str(seconds), "-r", "500", "--gil", "-f", "raw",
                                "-o", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1.0)  # let it attach
    return process, out


def run_case(case: str, dep: Deployment) -> None:
    call = ToolCall(name="add", arguments={"a": 1, "b": 2})
    if case == "sync":
        for _ in range(SINGLE):
            dep.execute_sync(call)
    elif case == "submit":
        for _ in range(SINGLE):
            ray.get(dep.submit(call))
    else:
        calls = [ToolCall(name="add", arguments={"a": i, "b": 1}) for i in range(BATCH)]

        async def batches() -> None:
            for _ in range(BATCH_ROUNDS):
                start = time.perf_counter()
                results = await dep.execute(calls)
                assert len(results) == BATCH
                print(f"  batch: {BATCH / (time.perf_counter() - start):,.0f} calls/s")

        asyncio.run(batches())


def main() -> int:
    case = sys.argv[1] if len(sys.argv) > 1 else "batch"
    spy = "--spy" in sys.argv
    ray.init(num_cpus=8, include_dashboard=False, log_to_driver=False)
    dep = deploy(Toolbox([tool(add)]), 1, actor_options=ActorOptions(num_cpus=0),
                 options=DeploymentOptions(max_queued=BATCH, health_period_s=30))
    asyncio.run(dep.ready())
    run_case(case, dep)  # warm-up
    pid = asyncio.run(dep.stats()).replicas[0].pid
    spying = start_spy(pid, 30) if spy else None
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    run_case(case, dep)
    profiler.disable()
    print(f"{case}: {time.perf_counter() - start:.2f} s under cProfile; load average {os.getloadavg()}")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(22)
    if spying is not None:
        process, out = spying
        process.send_signal(signal.SIGINT)  # py-spy writes its output when interrupted
        process.wait(timeout=30)
        if out.exists():
            own, inclusive = top_samples(out)
            print("replica (py-spy --gil: samples holding the GIL), by own samples:")
            print("\n".join("  " + line for line in own))
            print("replica, by inclusive samples:")
            print("\n".join("  " + line for line in inclusive))
        else:
            print("py-spy wrote nothing:", process.stderr.read().decode() if process.stderr else "")
    dep.shutdown_sync(drain=False)
    ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
