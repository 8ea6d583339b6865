"""Added cost per call of each middleware layer, and of a typical stack of five, beside the bare pipeline.

Run: `.venv/bin/python benchmarks/middleware.py` (or `make bench`). Every case runs `Toolbox.execute` in one
process on the same async tool and arguments, after a warm-up; each figure is the best of several interleaved
rounds (timeit's convention: the minimum is the least disturbed by other load), timed in this process's CPU
time, so that other programs on a shared machine do not inflate it (every case is CPU-bound on one thread). Layers are measured on the path
they take in steady state: a call that succeeds first time, a limit that admits, a closed circuit, a free slot.
Cache misses use a fresh argument per call (each one stored, the store at its bound evicting LRU), against a
bare pipeline that also gets fresh arguments; compression of a 4 KB result is set against a bare 4 KB result.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _table import machine_header, print_table

from armorer_ray import (
    AdmissionController,
    Cache,
    CallContext,
    CircuitBreaker,
    Compression,
    Dedupe,
    Fallback,
    Middleware,
    Next,
    RateLimit,
    Retry,
    Timeout,
    Toolbox,
    ToolCall,
    ToolResult,
    tool,
)

ROUNDS = 25
CALLS = 1_000
WARMUP = CALLS // 5
FRESH_CALLS = 1 + WARMUP + ROUNDS * CALLS  # one check call, the warm-up, the rounds


@tool(read_only=True)
async def lookup(user_id: int, fields: list[str]) -> dict[str, object]:
    """Look up a user."""
    return {"id": user_id, "fields": fields}


@tool(read_only=True)
async def report(user_id: int, fields: list[str]) -> dict[str, object]:
    """A 4 KB report."""
    return {"id": user_id, "lines": [f"line {n}: all systems nominal" for n in range(120)]}


async def passthrough(call: ToolCall, ctx: CallContext, next: Next) -> ToolResult:
    return await next(call, ctx)


ARGS = {"user_id": 42, "fields": ["name", "email"]}
CALL = ToolCall(name="lookup", arguments=ARGS)
REPORT_CALL = ToolCall(name="report", arguments=ARGS)


def fresh_calls() -> Callable[[], ToolCall]:
    """A different call each time (built beforehand, so building them is not timed)."""
    calls = [ToolCall(name="lookup", arguments={"user_id": n, "fields": ["name", "email"]}) for n in range(FRESH_CALLS)]
    position = iter(calls)
    return lambda: next(position)


def case(layers: Sequence[Middleware], call: ToolCall = CALL) -> Callable[[], Awaitable[object]]:
    box = Toolbox([lookup, report], middleware=layers)

    async def run() -> object:
        return await box.execute(call)

    return run


def fresh_case(layers: Sequence[Middleware]) -> Callable[[], Awaitable[object]]:
    box = Toolbox([lookup], middleware=layers)
    next_call = fresh_calls()

    async def run() -> object:
        return await box.execute(next_call())

    return run


def five(cache: Cache) -> list[Middleware]:
    return [cache, Dedupe(), Retry(), CircuitBreaker(), Timeout(30)]


async def measure_all(cases: list[tuple[str, Callable[[], Awaitable[object]]]]) -> dict[str, float]:
    """Best round per case; cases are interleaved round by round so background load hits them alike."""
    for _, fn in cases:
        for _ in range(WARMUP):
            await fn()
    rounds: dict[str, list[float]] = {name: [] for name, _ in cases}
    for _ in range(ROUNDS):
        for name, fn in cases:
            start = time.process_time()
            for index in range(CALLS):
                await fn()
                if index % 100 == 99:
                    # A loop turn now and then, as a server has: asyncio sweeps cancelled timers (one per Timeout
                    # call) only when the loop runs, and a heap of 25 000 dead timers would bill Timeout for it.
                    await asyncio.sleep(0)
            rounds[name].append((time.process_time() - start) / CALLS * 1e6)
    return {name: min(values) for name, values in rounds.items()}


async def main() -> int:
    hit_cache = Cache()
    stack_hit_cache = Cache()
    # (case, runner, baseline case it is compared with)
    plan: list[tuple[str, Callable[[], Awaitable[object]], str]] = [
        ("bare pipeline", case([]), "bare pipeline"),
        ("bare pipeline, fresh arguments", fresh_case([]), "bare pipeline, fresh arguments"),
        ("bare pipeline, 4 KB result", case([], REPORT_CALL), "bare pipeline, 4 KB result"),
        ("pass-through layer", case([passthrough]), "bare pipeline"),
        ("Timeout", case([Timeout(30)]), "bare pipeline"),
        ("Retry (success)", case([Retry()]), "bare pipeline"),
        ("Dedupe (one caller)", case([Dedupe()]), "bare pipeline"),
        ("Cache hit", case([hit_cache]), "bare pipeline"),
        ("Cache miss + store", fresh_case([Cache()]), "bare pipeline, fresh arguments"),
        ("RateLimit token bucket", case([RateLimit(10**9)]), "bare pipeline"),
        ("RateLimit sliding window", case([RateLimit(10**9, per_s=0.001, algorithm="sliding_window")]),
         "bare pipeline"),
        ("CircuitBreaker (closed)", case([CircuitBreaker()]), "bare pipeline"),
        ("Fallback (not needed)", case([Fallback("report")]), "bare pipeline"),
        ("AdmissionController (free slot)", case([AdmissionController(64)]), "bare pipeline"),
        ("Compression, small result", case([Compression()]), "bare pipeline"),
        ("Compression gzip, 4 KB result", case([Compression()], REPORT_CALL), "bare pipeline, 4 KB result"),
        ("stack of five, cache miss", fresh_case(five(Cache())), "bare pipeline, fresh arguments"),
        ("stack of five, cache hit", case(five(stack_hit_cache)), "bare pipeline"),
    ]
    for _, runner, _ in plan:
        result = await runner()
        if not (isinstance(result, ToolResult) and result.ok):
            raise SystemExit(f"a benchmark case failed: {result!r}")
    timings = await measure_all([(name, runner) for name, runner, _ in plan])
    rows = []
    for name, _, baseline in plan:
        base = timings[baseline]
        rows.append((name, timings[name], timings[name] - base, timings[name] / base))
    print(machine_header(["armorer-ray", "pydantic"]))
    print_table(f"CPU time per Toolbox.execute with middleware, best of {ROUNDS} interleaved rounds x {CALLS} calls",
                ["case", "us/call", "added us", "x baseline"], rows)
    print("\nstack of five (outermost first): Cache, Dedupe, Retry, CircuitBreaker, Timeout")
    print("baselines: fresh-argument cases against 'bare pipeline, fresh arguments'; 4 KB cases against the bare 4 KB")
    hits = hit_cache.stats.hits + stack_hit_cache.stats.hits
    print(f"cache hits served during the run: {hits}")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
