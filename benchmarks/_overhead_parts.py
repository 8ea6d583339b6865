"""Where one in-process call's time goes: the parts of `Toolbox.execute` timed one by one (CPU time, best of 9).

Run on any tree (it reaches into private members, so it is a profiling aid, not a benchmark):
`PYTHONPATH=TREE python benchmarks/_overhead_parts.py`. docs/performance.md ("In-process calls") shows its output
for the tree before and after the fast path.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine
from typing import Any

from armorer_ray import Toolbox, ToolCall, tool
from armorer_ray.pipeline import DEFAULT_CALL_OPTIONS
from armorer_ray.results import build_result


async def lookup(user_id: int, fields: list[str], verbose: bool = False) -> dict[str, object]:
    """Look up a user."""
    return {"id": user_id, "n": len(fields), "verbose": verbose}


ARGS = {"user_id": 42, "fields": ["name", "email"], "verbose": True}


def timed(name: str, fn: Callable[[], object], n: int = 20_000) -> None:
    best = 1e9
    for _ in range(9):
        start = time.process_time()
        for _ in range(n):
            fn()
        best = min(best, (time.process_time() - start) / n * 1e6)
    print(f"{name:34s} {best:6.2f} us")


def drive(make: Callable[[], Coroutine[Any, Any, object]]) -> Callable[[], object]:
    """One step of a coroutine that does not wait: what ``await`` costs, without an event loop."""

    def step() -> object:
        coroutine = make()
        try:
            coroutine.send(None)
        except StopIteration as stop:
            return stop.value
        raise RuntimeError("the coroutine waited")

    return step


def main() -> None:
    the_tool = tool(lookup, description="Look up a user.")
    box = Toolbox([the_tool])
    call = ToolCall(name="lookup", arguments=ARGS)
    pipeline = box._pipeline
    model = the_tool.parameters

    async def anchor() -> object:
        params = model.model_validate(ARGS)
        return await lookup(**params.__dict__)

    timed("anchor: validate + await", drive(anchor))
    timed("resolve the tool", lambda: box._resolution().resolve("lookup", call))
    timed("ArgumentBounds.check", lambda: box._bounds.check(ARGS))
    timed("validate (the tool's validator)", lambda: the_tool._validate(ARGS))
    timed("build_result(**16 keywords)", lambda: build_result(
        call_id=call.id, tool_name=the_tool.name, tool_id=the_tool.id, outcome="success", result=1, content=2,
        error=None, action=None, output_validation=None, dry_run=False, input_digest=None, output_digest=None,
        started_at=0.0, duration_ms=1.0, compression=None, attempts=1))
    timed("Pipeline.run (admitted call)", drive(lambda: pipeline.run(the_tool, call, DEFAULT_CALL_OPTIONS)))
    timed("Toolbox._execute_one", drive(lambda: box._execute_one(call, DEFAULT_CALL_OPTIONS)))
    timed("Toolbox.execute(call)", drive(lambda: box.execute(call)))


if __name__ == "__main__":
    main()
