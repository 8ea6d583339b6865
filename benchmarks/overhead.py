"""Per-call cost of `Toolbox.execute` beside its anchor, pydantic validate + await of the same function.

Run: `python benchmarks/overhead.py` (or `make bench`); `--baseline PATH` adds the same cases measured on
another checkout's ``armorer_ray`` (for example `git worktree add --detach /tmp/before main`), so a change is
measured before and after in one run.

Every tree runs in a worker process of its own (this file with ``--worker``, ``PYTHONPATH`` set to the tree); the
parent asks the workers for one round at a time, alternating between them, so background load hits both alike.
A round runs each case over ``CALLS`` calls of the same async function with the same arguments; each figure is
the best round (timeit's convention: the minimum is the least disturbed by other load on the machine). Time is
the worker's CPU time (`time.process_time`), not wall time, so that the time it waits for a core on a busy machine
is not counted; everything measured runs on the worker's one thread.

Cases: a bare ``await``; the anchor (``model_validate`` then ``await fn(**params)``); one `Toolbox.execute(call)`;
one call's share of `Toolbox.execute([1,000 calls])`; single calls with a policy, with a ``call.finished``
listener (``tool.finished`` on trees older than the event catalogue) and with `Analytics` attached; LangChain's
``StructuredTool.ainvoke`` when langchain-core is installed.
Targets (issue 14 item 5): a single call at most 2.5x the anchor; a call in a 1,000-call batch at most 0.8x a
single call.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROUNDS = 15
CALLS = 3_000
BATCH = 1_000
REPO = Path(__file__).resolve().parent.parent

ANCHOR = "pydantic validate + await"
SINGLE = "Toolbox.execute(call)"
IN_BATCH = f"Toolbox.execute([{BATCH:,} calls]) per call"


async def lookup(user_id: int, fields: list[str], verbose: bool = False) -> dict[str, object]:
    """Look up a user."""
    return {"id": user_id, "n": len(fields), "verbose": verbose}


ARGS = {"user_id": 42, "fields": ["name", "email"], "verbose": True}


def build_cases() -> list[tuple[str, int, Callable[[], Awaitable[object]]]]:
    """The cases as ``(name, calls per invocation, invocation)``, on the ``armorer_ray`` this process imports."""
    from armorer_ray import Decision, Toolbox, ToolCall, tool
    from armorer_ray.telemetry import Analytics

    the_tool = tool(lookup, description="Look up a user.")
    model = the_tool.parameters
    plain = Toolbox([the_tool])
    with_policy = Toolbox([the_tool], policy=lambda ctx: None if ctx.params["user_id"] > 0 else Decision.deny())
    listened = Toolbox([the_tool])
    finished: list[object] = []
    from armorer_ray import events

    listened.on("call.finished" if hasattr(events, "CallFinished") else "tool.finished", finished.append)
    counted = Toolbox([the_tool])
    Analytics().attach(counted)  # what DeploymentOptions(analytics=True) adds to every call in a replica
    call = ToolCall(name="lookup", arguments=ARGS)
    batch = [call] * BATCH

    async def bare() -> object:
        return await lookup(**ARGS)  # type: ignore[arg-type]

    async def validated() -> object:
        params = model.model_validate(ARGS)
        return await lookup(**params.__dict__)

    async def single() -> object:
        return await plain.execute(call)

    async def batched() -> object:
        return await plain.execute(batch)

    async def single_policy() -> object:
        return await with_policy.execute(call)

    async def single_listened() -> object:
        finished.clear()
        return await listened.execute(call)

    async def single_analytics() -> object:
        return await counted.execute(call)

    cases: list[tuple[str, int, Callable[[], Awaitable[object]]]] = [
        ("bare await", 1, bare),
        (ANCHOR, 1, validated),
        (SINGLE, 1, single),
        (IN_BATCH, BATCH, batched),
        ("Toolbox.execute + policy", 1, single_policy),
        ("Toolbox.execute + event listener", 1, single_listened),
        ("Toolbox.execute + Analytics", 1, single_analytics),
    ]
    try:
        from langchain_core.tools import StructuredTool
    except ImportError:
        return cases
    lc_tool = StructuredTool.from_function(coroutine=lookup, name="lookup", description="Look up a user.")

    async def langchain() -> object:
        return await lc_tool.ainvoke(ARGS)

    cases.append(("langchain StructuredTool.ainvoke", 1, langchain))
    return cases


async def one_round(cases: list[tuple[str, int, Callable[[], Awaitable[object]]]], calls: int) -> dict[str, float]:
    """Microseconds per call of each case over ``calls`` calls."""
    out: dict[str, float] = {}
    for name, per, fn in cases:
        start = time.process_time()
        for _ in range(max(1, calls // per)):
            await fn()
        out[name] = (time.process_time() - start) / (max(1, calls // per) * per) * 1e6
    return out


def worker() -> int:
    """Answer each line on stdin with one round, as a JSON line (the first round warms up)."""

    import armorer_ray

    print(json.dumps({"armorer_ray": str(Path(armorer_ray.__file__).resolve().parent.parent)}), flush=True)

    async def serve() -> None:
        cases = build_cases()
        result = await cases[2][2]()
        assert getattr(result, "result", None) == await lookup(**ARGS), result  # type: ignore[arg-type]
        for line in sys.stdin:
            calls = int(line)
            print(json.dumps(await one_round(cases, calls)), flush=True)

    asyncio.run(serve())
    return 0


class Worker:
    """A worker process measuring the ``armorer_ray`` of one tree."""

    def __init__(self, tree: Path) -> None:
        env = {**os.environ, "PYTHONPATH": str(tree)}
        self.tree = tree
        self.process = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--worker"], env=env,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        imported = json.loads(self.process.stdout.readline() or "{}").get("armorer_ray")
        if imported != str(tree):  # an editable install of another tree must not stand in for this one
            raise SystemExit(f"the worker for {tree} imported armorer_ray from {imported}")

    def round(self, calls: int) -> dict[str, float]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(f"{calls}\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit(f"the worker for {self.tree} stopped (see its error above)")
        timings: dict[str, float] = json.loads(line)
        return timings

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=60)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, help="another checkout to measure side by side (its repo root)")
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--calls", type=int, default=CALLS)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _table import machine_header, print_table

    trees = {"ours": REPO} | ({"baseline": args.baseline.resolve()} if args.baseline else {})
    workers = {label: Worker(tree) for label, tree in trees.items()}
    best: dict[str, dict[str, float]] = {label: {} for label in workers}
    try:
        for each in workers.values():
            each.round(max(BATCH, args.calls // 5))  # warm-up
        for _ in range(args.rounds):
            for label, each in workers.items():
                for name, us in each.round(args.calls).items():
                    best[label][name] = min(us, best[label].get(name, us))
    finally:
        for each in workers.values():
            each.close()
    load = os.getloadavg()
    print(machine_header(["armorer-ray", "pydantic", "langchain-core"]))
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; best of {args.rounds} interleaved rounds x "
          f"{args.calls:,} calls; trees: " + ", ".join(f"{label} {tree}" for label, tree in trees.items()))
    ours = best["ours"]
    header = ["case", "us/call", f"x {ANCHOR}", f"x {SINGLE}"]
    rows: list[list[object]] = []
    base = best.get("baseline", {})
    if base:
        header += ["baseline us/call", "baseline x anchor", "ours / baseline"]
    for name, us in ours.items():
        row: list[object] = [name, us, us / ours[ANCHOR], us / ours[SINGLE]]
        if base:
            then = base.get(name)
            row += ([then, then / base[ANCHOR], us / then] if then else ["-", "-", "-"])
        rows.append(row)
    print_table("Per-call cost (us), in-process", header, rows)
    single_ratio, batch_ratio = ours[SINGLE] / ours[ANCHOR], ours[IN_BATCH] / ours[SINGLE]
    print(f"\nsingle call: {single_ratio:.2f}x the anchor (target <= 2.5x); a call in a {BATCH:,}-call batch: "
          f"{batch_ratio:.2f}x a single call (target <= 0.8x)")
    if base:
        print(f"baseline: single {base[SINGLE] / base[ANCHOR]:.2f}x the anchor, batch "
              f"{base[IN_BATCH] / base[SINGLE]:.2f}x a single call")
    print("targets met" if single_ratio <= 2.5 and batch_ratio <= 0.8 else "TARGETS NOT MET")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
