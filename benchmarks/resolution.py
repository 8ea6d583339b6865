"""Name resolution under tenancy: µs per call for a visible, a hidden and a missing name, and per listing.

Run from the repository root: ``python -m benchmarks.resolution [calls]``. 1,000 tools; tenant ``acme`` is granted
300 of them by id. Each row is the median of 5 runs of ``calls`` (default 200) calls through `Toolbox.execute` (or `TenantView.tools()`),
after a warm-up; the hidden and missing rows should match (neither may reveal that a hidden tool exists).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from armorer_ray import Toolbox, ToolCall, tool
from armorer_ray.tenancy import TenantAccess, TenantGrant, TenantView
from benchmarks._table import machine_header, print_table


def _box() -> Toolbox:
    tools = [tool(name=f"tool_{i}", description=f"Tool {i}.")(lambda: 1) for i in range(1000)]
    grant = TenantGrant(tools={f"default:tool_{i}" for i in range(0, 900, 3)})
    return Toolbox(tools, policy=TenantAccess({"acme": grant}))


def _median_us(run: Callable[[], object], repeat: int) -> float:
    run()
    samples = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(repeat):
            run()
        samples.append((time.perf_counter() - started) * 1e6 / repeat)
    return statistics.median(samples)


def main() -> None:
    import sys

    import armorer_ray

    calls = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    box = _box()
    view = TenantView(box, "acme")
    rows = [
        ("visible name (tool_0)", _median_us(lambda: box.execute_sync(ToolCall(name="tool_0", tenant_id="acme")), calls)),
        ("hidden name (tool_1)", _median_us(lambda: box.execute_sync(ToolCall(name="tool_1", tenant_id="acme")), calls)),
        ("missing name (tool_x)", _median_us(lambda: box.execute_sync(ToolCall(name="tool_x", tenant_id="acme")), calls)),
        ("TenantView.tools()", _median_us(view.tools, max(1, calls // 10))),
    ]
    print(machine_header(["pydantic"]))
    print(f"armorer_ray from {armorer_ray.__file__}")
    print(f"{calls} calls per run")
    print_table("µs per call (median of 5 runs)", ["case", "µs"], [(label, round(us, 1)) for label, us in rows])


if __name__ == "__main__":
    main()
