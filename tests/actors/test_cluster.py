"""On a real three-node cluster (head + 2 workers): replicas spread over nodes, a detached deployment outlives its
driver and another driver attaches to it by name; and, for every placement strategy, every process of a worker node
holding a replica is killed while a 2,000-call mixed batch runs, with the controller lost at the same moment.

The cluster is started with ``cluster/local.py`` (Ray picks most ports, a node losing a port race is restarted) and
stopped by process id, so the session's own Ray runtime is never touched. After each node loss a fresh worker
joins, so every strategy starts from three nodes. Drivers run as subprocesses (`cluster_driver.py`).

Recovery bound: a lost replica is running again on a surviving node within ``RECOVERY_BOUND_S`` of the kill. It
is made of Ray declaring the node dead (~5 s with the cluster's health-check settings), one supervision period
(1 s here), a controller restart when it was lost, and one replica start; measured 9-47 s on this 2-core machine
under load. The bound is generous because the machine is shared.
"""

from __future__ import annotations

import importlib.util
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
pytestmark = [pytest.mark.cluster, pytest.mark.slow, pytest.mark.timeout(900)]
RECOVERY_BOUND_S = 90.0


def run(*args: str, timeout_s: float = 420.0) -> str:
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    env.pop("RAY_ADDRESS", None)
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=timeout_s)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    return lines[-1] if lines else ""


def local() -> Any:
    spec = importlib.util.spec_from_file_location("cluster_local", ROOT / "cluster" / "local.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def cluster_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    state = tmp_path_factory.mktemp("cluster") / "state.json"
    try:
        run("cluster/local.py", "up", "--workers", "2", "--cpus", "1", "--state", str(state))
        yield state
    finally:
        if state.exists():
            run("cluster/local.py", "down", "--state", str(state))


@pytest.fixture(scope="module")
def cluster(cluster_state: Path) -> str:
    address: str = json.loads(cluster_state.read_text())["address"]
    return address


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


# Each strategy costs 2-3 minutes on the loaded 2-core machine (all five: 12-15 minutes), so the suite runs two:
# STRICT_SPREAD (a bundle per node: the case where a lost bundle used to be waited on) and PACK, the soft strategy
# that puts both replicas on one node, so the kill loses every replica at once (calls fail over to replicas Ray
# restarts or a new controller life starts: the case that used to end idempotent calls REPLICA_UNAVAILABLE or
# REPLICA_DIED). ARMORER_CLUSTER_STRATEGIES=all runs the five; all passed with the fixes (docs/actors.md).
STRATEGIES = ("STRICT_SPREAD", "SPREAD", "PACK", "STRICT_PACK", "DEFAULT")
DEFAULT_STRATEGIES = ("STRICT_SPREAD", "PACK")
CHOSEN = os.environ.get("ARMORER_CLUSTER_STRATEGIES", ",".join(DEFAULT_STRATEGIES))
SELECTED = STRATEGIES if CHOSEN == "all" else tuple(s.strip().upper() for s in CHOSEN.split(",") if s.strip())


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_losing_a_worker_node_mid_batch(cluster: str, cluster_state: Path, strategy: str) -> None:
    if strategy not in SELECTED:
        pytest.skip(f"{strategy}: set ARMORER_CLUSTER_STRATEGIES=all (or a comma-separated list) to run it; "
                    "about 3 minutes per strategy on 2 cores")
    name = f"fault-{strategy.lower()}-{uuid.uuid4().hex[:4]}"
    try:
        line = run("tests/actors/cluster_driver.py", "fault", "--address", cluster, "--name", name,
                   "--strategy", strategy, "--state", str(cluster_state), "--calls", "2000")
        outcome: dict[str, Any] = json.loads(line)
        print(json.dumps(outcome))  # the measured recovery, for the record (pytest -s)
    finally:  # a fresh worker for the next strategy (the driver removed the killed one from the state)
        state = json.loads(cluster_state.read_text())
        if len(state["workers_by_resource"]) < 2:
            local().add_worker(state)
            cluster_state.write_text(json.dumps(state))

    assert outcome["results"] == 2000 and outcome["in_order"], outcome  # exactly one result per call
    assert outcome["lookups_ok"], outcome  # idempotent calls all succeed (failed over)
    assert set(outcome["write_failures"]) <= {"REPLICA_DIED"}, outcome  # writes: done, or REPLICA_DIED
    assert outcome["max_write_runs"] <= 1, outcome  # never run twice
    assert outcome["epoch_changed"], outcome  # the controller was lost and a new life took over
    assert outcome["recovered_s"] is not None and outcome["recovered_s"] <= RECOVERY_BOUND_S, outcome
    assert outcome["victim_node"] not in outcome["replica_nodes_after"], outcome  # re-created on survivors
    assert outcome["second_ok"], outcome  # the driver's old handle follows the new controller
    assert outcome["shutdown_ok"] and outcome["leftover"] == [], outcome  # shutdown leaves no replica
