"""Start cost of a sandboxed call: ms per call of a no-op body, in-process vs. sandboxed, per boundary setting.

Run from the repository root: ``python -m benchmarks.sandbox_start [calls]``. Every row runs the same no-op tool
through `Toolbox.execute` after a warm-up. To compare with an older armorer_ray, run the script with that
version first on PYTHONPATH: rows whose options the older version lacks are skipped.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import sys
import time
import warnings
from typing import Any

from armorer_ray import Toolbox, ToolCall, tool
from armorer_ray.sandbox import SandboxExecutor, SandboxLimits
from benchmarks._table import machine_header, print_table


@tool
def noop() -> int:
    """Do nothing."""
    return 1


async def _per_call_ms(box: Toolbox, calls: int) -> float:
    for _ in range(3):  # warm-up: the fork server, the first workers
        await box.execute(ToolCall(name="noop"))
    started = time.perf_counter()
    for _ in range(calls):
        result = await box.execute(ToolCall(name="noop"))
        assert result.result == 1, result
    elapsed = (time.perf_counter() - started) * 1000.0 / calls
    await box.stop()
    return elapsed


def _rows(calls: int) -> list[tuple[str, Any]]:
    accepted = inspect.signature(SandboxExecutor).parameters
    limits = SandboxLimits(wall_s=30, cpu_s=5, memory_bytes=512 * 2**20)
    cases: list[tuple[str, dict[str, Any] | None]] = [
        ("in-process (LocalExecutor)", None),
        ("sandbox, warm=1, json results", {"results": "json"}),
        ("sandbox, warm=0, json results", {"results": "json", "warm": 0}),
        ("sandbox, warm=1, same uid", {"results": "json", "separate_uid": False}),
        ("sandbox, warm=1, uid per call", {"results": "json", "separate_uid": True}),
        ("sandbox, warm=1, no PID namespace, no cgroup", {"results": "json", "pid_namespace": False,
                                                          "cgroup": False}),
        ("sandbox, warm=1, PID namespace only", {"results": "json", "cgroup": False}),
        ("sandbox, warm=1, cgroup only", {"results": "json", "pid_namespace": False}),
    ]
    rows: list[tuple[str, Any]] = []
    for label, options in cases:
        if options is not None and not set(options) <= set(accepted):
            rows.append((label, "n/a"))
            continue
        if options is not None and options.get("separate_uid") and os.geteuid() != 0:
            rows.append((label, "needs root"))
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            executor = None if options is None else SandboxExecutor(limits, **options)
        box = Toolbox([noop], executor=executor) if executor is not None else Toolbox([noop])
        rows.append((label, round(asyncio.run(_per_call_ms(box, calls)), 3)))
    return rows


def main() -> None:
    calls = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    import armorer_ray

    print(machine_header(["pydantic", "cloudpickle"]))
    print(f"armorer_ray from {os.path.dirname(armorer_ray.__file__)}; {calls} sequential calls per row; "
          f"uid {os.geteuid()}")
    print_table("ms per call", ["case", "ms/call"], _rows(calls))


if __name__ == "__main__":
    main()
