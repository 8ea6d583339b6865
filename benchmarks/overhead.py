"""Per-call cost of `Toolbox.execute` against a bare call, pydantic validation, and LangChain's StructuredTool.

Run: `.venv/bin/python benchmarks/overhead.py` (or `make bench`). All cases run in one process on the same
async function and arguments, after a warm-up; each figure is the best of several interleaved rounds
(timeit's convention: the minimum is the least disturbed by other load on the machine).
Targets (issue 2): our overhead over "pydantic validate + call" under 10 µs; at least 3x faster than LangChain.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _table import machine_header, print_table

from armorer_ray import Decision, Toolbox, ToolCall, tool
from armorer_ray.telemetry import Analytics

ROUNDS = 7
CALLS = 5_000


async def lookup(user_id: int, fields: list[str], verbose: bool = False) -> dict[str, object]:
    """Look up a user."""
    return {"id": user_id, "n": len(fields), "verbose": verbose}


ARGS = {"user_id": 42, "fields": ["name", "email"], "verbose": True}


async def measure_all(cases: list[tuple[str, Callable[[], Awaitable[object]]]]) -> dict[str, float]:
    """Best round per case; cases are interleaved round by round so background load hits them alike."""
    for _, fn in cases:
        for _ in range(CALLS // 5):
            await fn()
    rounds: dict[str, list[float]] = {name: [] for name, _ in cases}
    for _ in range(ROUNDS):
        for name, fn in cases:
            start = time.perf_counter()
            for _ in range(CALLS):
                await fn()
            rounds[name].append((time.perf_counter() - start) / CALLS * 1e6)
    return {name: min(values) for name, values in rounds.items()}


async def main() -> int:
    the_tool = tool(lookup, description="Look up a user.")
    model = the_tool.parameters
    plain = Toolbox([the_tool])
    with_policy = Toolbox([the_tool], policy=lambda ctx: None if ctx.params["user_id"] > 0 else Decision.deny())
    listened = Toolbox([the_tool])
    finished: list[object] = []
    listened.on("tool.finished", finished.append)
    counted = Toolbox([the_tool])
    Analytics().attach(counted)  # what DeploymentOptions(analytics=True) adds to every call in a replica
    call = ToolCall(name="lookup", arguments=ARGS)

    async def bare() -> object:
        return await lookup(**ARGS)  # type: ignore[arg-type]

    async def validated() -> object:
        params = model.model_validate(ARGS)
        return await lookup(**params.__dict__)

    async def ours() -> object:
        return await plain.execute(call)

    async def ours_policy() -> object:
        return await with_policy.execute(call)

    async def ours_events() -> object:
        finished.clear()
        return await listened.execute(call)

    async def ours_analytics() -> object:
        return await counted.execute(call)

    cases: list[tuple[str, Callable[[], Awaitable[object]]]] = [
        ("bare async call", bare),
        ("pydantic validate + call", validated),
        ("armorer-ray Toolbox.execute", ours),
        ("armorer-ray + policy", ours_policy),
        ("armorer-ray + event listener", ours_events),
        ("armorer-ray + Analytics", ours_analytics),
    ]
    langchain_available = True
    try:
        from langchain_core.tools import StructuredTool

        lc_tool = StructuredTool.from_function(coroutine=lookup, name="lookup", description="Look up a user.")

        async def langchain() -> object:
            return await lc_tool.ainvoke(ARGS)

        cases.append(("langchain StructuredTool.ainvoke", langchain))
    except ImportError:
        langchain_available = False

    assert (await ours()).result == await bare()  # type: ignore[union-attr]
    timings = await measure_all(cases)
    base = timings["pydantic validate + call"]
    rows = [(name, us, us / timings["bare async call"], us / base) for name, us in timings.items()]
    print(machine_header(["armorer-ray", "pydantic", "langchain-core"]))
    print_table(f"Per-call cost, best of {ROUNDS} interleaved rounds x {CALLS} calls",
                ["case", "us/call", "x bare", "x validate+call"], rows)
    overhead = timings["armorer-ray Toolbox.execute"] - base
    print(f"\nour overhead over validate+call: {overhead:.2f} us (target < 10 us)")
    ok = overhead < 10
    if langchain_available:
        speedup = timings["langchain StructuredTool.ainvoke"] / timings["armorer-ray Toolbox.execute"]
        print(f"speed-up over LangChain StructuredTool: {speedup:.1f}x (target >= 3x)")
        ok = ok and speedup >= 3
    else:
        print("langchain-core not installed: pip install 'armorer-ray[bench]' to compare")
    print("targets met" if ok else "TARGETS NOT MET")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
