"""How long `import armorer_ray` takes, beside the floor (`import pydantic, asyncio` and one model class).

Each case runs in a fresh interpreter, alternating cases so load drifts hit them alike; the table gives the
median and minimum over the runs and the ratio of the medians to the floor. ``--tree PATH`` measures the package
found at PATH instead (for example a `git worktree` of an older commit), so before/after share one run:

    python -m benchmarks.import_time --runs 15 --tree /tmp/before
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks._table import machine_header, print_table

CASES = {
    "floor: import pydantic, asyncio + 1 model": (
        "import pydantic, asyncio\nclass M(pydantic.BaseModel):\n    x: int"
    ),
    "import armorer_ray": "import armorer_ray",
    "from armorer_ray import Toolbox, ToolCall, tool": "from armorer_ray import Toolbox, ToolCall, tool",
    "the same + a toolbox query (bm25s, numpy)": (
        "from armorer_ray import Toolbox, tool\n"
        "Toolbox([tool(name='a', description='Send mail.')(lambda: 1)]).query(text='mail')"
    ),
}


ROOT = Path(__file__).resolve().parents[1]


def time_once(code: str, tree: str) -> float:
    """Seconds to run ``code`` after interpreter start-up, in a fresh process importing the package at ``tree``."""
    probe = f"import time\n_t = time.perf_counter()\n{code}\nprint(time.perf_counter() - _t)"
    env = {**os.environ, "PYTHONPATH": tree}
    # Run from an empty folder: `python -c` puts the working directory first on sys.path, ahead of PYTHONPATH.
    with tempfile.TemporaryDirectory() as empty:
        done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=env,
                              cwd=empty)
    return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--tree", action="append", default=[], help="also measure the package at this path")
    options = parser.parse_args()
    trees = [("this checkout", str(ROOT))] + [(tree, tree) for tree in options.tree]
    times: dict[tuple[str, str], list[float]] = {}
    for _ in range(options.runs):
        for label, tree in trees:
            for case, code in CASES.items():
                times.setdefault((label, case), []).append(time_once(code, tree))
    floor = statistics.median(times[("this checkout", next(iter(CASES)))])
    print(machine_header(["pydantic", "numpy", "bm25s"]))
    rows = [(f"{case} [{label}]" if len(trees) > 1 else case, statistics.median(values) * 1000,
             min(values) * 1000, statistics.median(values) / floor)
            for (label, case), values in times.items()]
    print_table(f"import time, {options.runs} fresh processes per case (ms)",
                ["case", "median ms", "min ms", "x floor"], rows)


if __name__ == "__main__":
    main()
