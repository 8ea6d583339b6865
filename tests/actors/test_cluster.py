"""On a real two-node cluster: replicas spread over nodes, a detached deployment outlives its driver and another
driver attaches to it by name. The cluster is started with ``cluster/local.py`` on free ports and stopped by
process id, so the session's own Ray runtime is never touched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def run(*args: str, timeout_s: float = 240.0) -> str:
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    env.pop("RAY_ADDRESS", None)
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=timeout_s)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    return lines[-1] if lines else ""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    state = tmp_path_factory.mktemp("cluster") / "state.json"
    try:
        address = run("cluster/local.py", "up", "--workers", "1", "--cpus", "1", "--state", str(state))
        yield address
    finally:
        if state.exists():
            run("cluster/local.py", "down", "--state", str(state))


def driver(mode: str, address: str, name: str) -> dict[str, Any]:
    line = run("tests/actors/cluster_driver.py", mode, "--address", address, "--name", name)
    result: dict[str, Any] = json.loads(line)
    return result


def test_replicas_spread_over_nodes_and_a_second_driver_attaches(cluster: str) -> None:
    name = f"spread-{uuid.uuid4().hex[:6]}"
    deployed = driver("deploy", cluster, name)  # this driver exits; the detached deployment stays
    assert deployed["ok"]
    assert len(deployed["replica_nodes"]) == 2  # one replica per node (STRICT_SPREAD)
    # Calls are served only by replica nodes; which replicas the router picks for a few calls depends on load.
    assert deployed["nodes"] and set(deployed["nodes"]) <= set(deployed["replica_nodes"])
    attached = driver("attach", cluster, name)  # a new driver finds it by name, uses it, shuts it down
    assert attached["ok"] and set(attached["nodes"]) <= set(deployed["replica_nodes"])
